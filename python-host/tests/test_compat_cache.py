"""`sark_policy.compat.RustCache`: the PyO3 `RustCache`'s surface, methods
and errors, on the component's decision cache."""

from __future__ import annotations

import threading
import time

import pytest

from sark_policy.compat import RustCache

from .conftest import FakeClock


def test_get_set_delete_clear_size() -> None:
    cache = RustCache(100, 300)
    assert cache.get("key1") is None
    assert cache.set("key1", "value1") is None
    assert cache.get("key1") == "value1"
    assert cache.get("key2") is None
    cache.set("key1", "value2")  # replaces
    assert cache.get("key1") == "value2"
    cache.set("key2", "")
    assert cache.get("key2") == ""  # an empty string is a value, not a miss
    assert cache.size() == 2
    assert cache.delete("key1") is True
    assert cache.delete("key1") is False
    assert cache.get("key1") is None
    cache.clear()
    assert cache.size() == 0
    assert repr(cache) == "RustCache(size=0)"


def test_values_are_any_string() -> None:
    cache = RustCache(10, 60)
    for value in ['{"allow": true}', "not json", 'quote " and \\ backslash', "é ✓ 🦀", " x "]:
        cache.set("k", value)
        assert cache.get("k") == value
    cache.set("policy:decision:u:a:r:none", "v")  # keys with colons are plain keys
    assert cache.get("policy:decision:u:a:r:none") == "v"


def test_zero_size_or_ttl_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="max_size must be greater than 0"):
        RustCache(0, 10)
    with pytest.raises(ValueError, match="ttl_secs must be greater than 0"):
        RustCache(10, 0)
    with pytest.raises(OverflowError):
        RustCache(-1, 10)
    with pytest.raises(TypeError):
        RustCache(1.5, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RustCache(1 << 40, 10)  # over the component's capacity limit


def test_argument_types() -> None:
    cache = RustCache(10, 60)
    with pytest.raises(TypeError):
        cache.set("k", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.get(1)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        cache.set("k", "v", -1)
    with pytest.raises(TypeError):
        cache.set("k", "v", 1.5)  # type: ignore[arg-type]


def test_ttl_default_override_and_expiry(clock: FakeClock) -> None:
    cache = RustCache(100, 30, clock=clock)
    cache.set("default", "d")
    cache.set("short", "s", 5)
    cache.set("long", "l", ttl=600)
    cache.set("zero", "z", 0)  # expired at once
    assert cache.get("zero") is None
    clock.advance(4.999)
    assert cache.get("short") == "s"
    clock.advance(0.001)
    assert cache.get("short") is None  # expired: removed on lookup
    assert cache.size() == 2
    clock.advance(25)
    assert cache.get("default") is None
    assert cache.get("long") == "l"
    cache.set("a", "1", 1)
    cache.set("b", "2", 1)
    clock.advance(1)
    assert cache.size() == 3  # expired entries stay until looked up or cleaned
    assert cache.delete("a") is True  # an expired entry is still there to delete
    assert cache.cleanup_expired() == 1
    assert cache.size() == 1 and cache.get("long") == "l"


def test_expiry_with_the_real_clock() -> None:
    cache = RustCache(100, 1)
    cache.set("key1", "value1")
    cache.set("key2", "value2", 1)
    assert cache.get("key1") == "value1"
    time.sleep(1.1)
    assert cache.get("key1") is None
    assert cache.cleanup_expired() == 1  # key2
    assert cache.size() == 0


def test_lru_eviction() -> None:
    cache = RustCache(3, 300)
    for k in ("key1", "key2", "key3"):
        cache.set(k, k.replace("key", "value"))
    assert cache.get("key1") == "value1"  # key2 is now the least recently used
    cache.set("key4", "value4")
    assert cache.size() == 3
    assert cache.get("key2") is None
    assert [cache.get(k) for k in ("key1", "key3", "key4")] == ["value1", "value3", "value4"]
    assert cache.get_metrics()["evictions"] == 1


def test_metrics() -> None:
    cache = RustCache(10, 60)
    cache.set("k", "v")
    cache.get("k")
    cache.get("k")
    cache.get("missing")
    m = cache.get_metrics()
    assert (m["hits"], m["misses"], m["total_requests"]) == (2, 1, 3)
    assert (m["hit_rate"], m["miss_rate"]) == (66.67, 33.33)
    assert m["avg_cache_latency_ms"] > 0
    assert "sark_policy_cache_hits_total" in cache.prometheus()


def test_one_cache_from_many_threads() -> None:
    cache = RustCache(10_000, 300, pool_size=2)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(300):
                key = f"t{t}:k{i}"
                cache.set(key, f"v{t}.{i}")
                assert cache.get(key) == f"v{t}.{i}"
                shared = f"shared{i % 10}"
                cache.set(shared, str(t))
                assert cache.get(shared) in {str(n) for n in range(8)}
                if i % 3 == 0:
                    assert cache.delete(key) is True
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert cache.size() == 8 * 200 + 10
    m = cache.get_metrics()
    assert m["hits"] == 8 * 300 * 2 and m["misses"] == 0


def test_close() -> None:
    cache = RustCache(10, 60)
    cache.close()
    cache.close()
    with pytest.raises(Exception):
        cache.set("k", "v")
