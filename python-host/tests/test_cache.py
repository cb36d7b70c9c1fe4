"""PolicyCache: the seed's RustPolicyCache behaviour against the component."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import pytest

import sark_policy
from sark_policy import PolicyCache, Sensitivity, get_policy_cache, is_available

from .conftest import FakeClock

DECISION = {"allow": True, "reason": "user has permission"}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_defaults_and_custom_parameters() -> None:
    c = PolicyCache()
    assert (c.max_size, c.ttl_seconds, c.enabled, c.use_optimized_ttl) == (10000, 300, True, True)
    c = PolicyCache(max_size=5, ttl_seconds=60, enabled=False, use_optimized_ttl=False)
    assert (c.max_size, c.ttl_seconds, c.enabled, c.use_optimized_ttl) == (5, 60, False, False)
    assert PolicyCache.OPTIMIZED_TTL == {
        "critical": 60, "confidential": 120, "internal": 180, "public": 300, "default": 120}


def test_key_format_is_the_seeds() -> None:
    c = PolicyCache()
    assert c.cache_key("user-123", "execute", "tool:calculator") == (
        "policy:decision:user-123:execute:tool_calculator:none")
    ctx = {"ip": "10.0.0.1", "mfa": True, "nested": {"b": 1, "a": [1, 2]}}
    canonical = json.dumps(ctx, sort_keys=True, separators=(",", ":")).encode()
    key = c.cache_key("u", "a", "r", ctx)
    assert key == f"policy:decision:u:a:r:{hashlib.sha256(canonical).hexdigest()[:16]}"
    reordered = {"nested": {"a": [1, 2], "b": 1}, "mfa": True, "ip": "10.0.0.1"}
    assert c.cache_key("u", "a", "r", reordered) == key
    assert c.cache_key("u", "a", "r", {"ip": "10.0.0.2"}) != key
    assert c.cache_key("u", "a", "r", {}) == c.cache_key("u", "a", "r", None)


def test_json_round_trip_and_hit_miss_metrics() -> None:
    c = PolicyCache()
    decision = {"allow": True, "n": 3, "f": 1.5, "s": "é", "l": [None, False], "o": {"k": []}}
    assert run(c.get("u1", "read", "doc")) is None
    assert run(c.set("u1", "read", "doc", decision)) is True
    assert run(c.get("u1", "read", "doc")) == decision
    assert run(c.get("u1", "read", "doc", {"other": "context"})) is None
    assert run(c.get("u1", "read", "doc")) == decision
    m = c.get_metrics()
    assert (m["hits"], m["misses"], m["total_requests"]) == (2, 2, 4)
    assert (m["hit_rate"], m["miss_rate"]) == (50.0, 50.0)
    assert m["avg_cache_latency_ms"] > 0
    assert 0 < m["p50_latency_ms"] <= m["p95_latency_ms"] <= m["p99_latency_ms"]
    assert (m["recycles"], m["timeouts"], m["evictions"]) == (0, 0, 0)


def test_rates_round_like_the_seed() -> None:
    c = PolicyCache()
    assert c.get_metrics()["miss_rate"] == 100.0  # the seed's 100 - 0
    c.set_sync("u", "a", "r", DECISION)
    c.get_sync("u", "a", "r")
    c.get_sync("u", "a", "r")
    c.get_sync("x", "a", "r")
    m = c.get_metrics()
    assert (m["hit_rate"], m["miss_rate"]) == (66.67, 33.33)


def test_metric_keys_and_reset() -> None:
    c = PolicyCache()
    c.set_sync("u", "a", "r", DECISION)
    c.get_sync("u", "a", "r")
    assert set(c.get_metrics()) == {
        "hits", "misses", "total_requests", "evictions", "hit_rate", "miss_rate",
        "avg_cache_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
        "recycles", "timeouts"}
    c.reset_metrics()
    m = c.get_metrics()
    assert (m["hits"], m["misses"], m["total_requests"], m["avg_cache_latency_ms"]) == (0, 0, 0, 0.0)
    assert c.get_sync("u", "a", "r") == DECISION  # entries survive a metrics reset


def test_eviction_counting_lru() -> None:
    c = PolicyCache(max_size=2)
    c.set_sync("u1", "a", "r", 1)
    c.set_sync("u2", "a", "r", 2)
    assert c.get_sync("u1", "a", "r") == 1  # u1 now most recently used
    c.set_sync("u3", "a", "r", 3)  # evicts u2
    assert c.get_metrics()["evictions"] == 1
    assert c.get_sync("u2", "a", "r") is None
    assert (c.get_sync("u1", "a", "r"), c.get_sync("u3", "a", "r")) == (1, 3)
    c.set_sync("u1", "a", "r", 10)  # replacing an entry evicts nothing
    assert c.get_metrics()["evictions"] == 1
    assert c.size_sync() == 2


@pytest.mark.parametrize(
    ("sensitivity", "ttl"),
    [("critical", 60), ("confidential", 120), ("internal", 180), ("public", 300),
     (Sensitivity.CRITICAL, 60), ("CONFIDENTIAL", 120), (None, 300), ("unknown", 300)],
)
def test_ttl_by_sensitivity_expires_exactly_at_the_boundary(
    clock: FakeClock, sensitivity: str | None, ttl: int
) -> None:
    c = PolicyCache(clock=clock)
    assert c.set_sync("u", "a", "r", DECISION, sensitivity=sensitivity)
    clock.advance(ttl - 0.001)
    assert c.get_sync("u", "a", "r") == DECISION
    clock.advance(0.001)
    assert c.get_sync("u", "a", "r") is None


def test_explicit_ttl_overrides_sensitivity(clock: FakeClock) -> None:
    c = PolicyCache(clock=clock)
    c.set_sync("u", "a", "r", DECISION, ttl_seconds=5, sensitivity="public")
    clock.advance(4.999)
    assert c.get_sync("u", "a", "r") == DECISION
    clock.advance(0.001)
    assert c.get_sync("u", "a", "r") is None


def test_default_ttl_from_constructor(clock: FakeClock) -> None:
    c = PolicyCache(ttl_seconds=30, clock=clock)
    c.set_sync("u", "a", "r", DECISION)
    clock.advance(29.999)
    assert c.get_sync("u", "a", "r") == DECISION
    clock.advance(0.001)
    assert c.get_sync("u", "a", "r") is None


def test_optimized_ttl_off_uses_ttl_seconds_for_everything(clock: FakeClock) -> None:
    c = PolicyCache(ttl_seconds=200, use_optimized_ttl=False, clock=clock)
    c.set_sync("u", "a", "r", DECISION, sensitivity="critical")
    clock.advance(199)
    assert c.get_sync("u", "a", "r") == DECISION
    clock.advance(1)
    assert c.get_sync("u", "a", "r") is None


def test_cleanup_expired(clock: FakeClock) -> None:
    c = PolicyCache(clock=clock)
    c.set_sync("u1", "a", "r", 1, sensitivity="critical")
    c.set_sync("u2", "a", "r", 2, sensitivity="public")
    clock.advance(61)
    assert run(c.cleanup_expired()) == 1
    assert run(c.size()) == 1
    assert c.get_sync("u2", "a", "r") == 2


def test_delete_clear_size() -> None:
    c = PolicyCache()
    run(c.set("u", "a", "r", DECISION, {"k": "v"}))
    run(c.set("u2", "a", "r", DECISION))
    assert run(c.size()) == 2
    assert run(c.delete("u", "a", "r")) is False  # other context: other key
    assert run(c.delete("u", "a", "r", {"k": "v"})) is True
    assert run(c.delete("u", "a", "r", {"k": "v"})) is False
    assert run(c.clear()) is True
    assert run(c.size()) == 0
    assert run(c.get("u2", "a", "r")) is None


def test_disabled_cache_stores_and_counts_nothing() -> None:
    c = PolicyCache(enabled=False)
    assert run(c.set("u", "a", "r", DECISION)) is False
    assert run(c.get("u", "a", "r")) is None
    assert c.get_metrics()["total_requests"] == 0
    assert c.size_sync() == 0


def test_health_check() -> None:
    c = PolicyCache()
    assert run(c.health_check()) is True
    assert c.size_sync() == 0 and c.get_metrics()["total_requests"] == 0
    c.close()
    assert c.health_check_sync() is False


def test_never_raises_returns_safe_defaults(caplog: pytest.LogCaptureFixture) -> None:
    c = PolicyCache()
    with caplog.at_level(logging.WARNING, logger="sark_policy"):
        assert c.set_sync("u", "a", "r", {"bad": {1, 2}}) is False
        assert c.set_sync("u", "a", "r", DECISION, context={"bad": object()}) is False
        assert c.get_sync("u", "a", "r", context={"bad": object()}) is None
        assert c.delete_sync("u", "a", "r", context={"bad": object()}) is False
    assert sum("failed" in r.getMessage() for r in caplog.records) == 4
    c.close()  # every call now fails inside the component
    assert c.get_sync("u", "a", "r") is None
    assert c.set_sync("u", "a", "r", DECISION) is False
    assert (c.size_sync(), c.cleanup_expired_sync(), c.clear_sync()) == (0, 0, False)


def test_all_async_methods_match_sync(clock: FakeClock) -> None:
    c = PolicyCache(clock=clock)

    async def main() -> list[Any]:
        return [
            await c.set("u", "a", "r", DECISION, None, None, "critical"),
            await c.get("u", "a", "r", None, "critical"),
            await c.size(),
            await c.health_check(),
            await c.delete("u", "a", "r"),
            await c.cleanup_expired(),
            await c.clear(),
        ]

    assert run(main()) == [True, DECISION, 1, True, True, 0, True]


def test_prometheus_text() -> None:
    c = PolicyCache()
    c.set_sync("u", "a", "r", DECISION)
    c.get_sync("u", "a", "r")
    c.get_sync("v", "a", "r")
    text = c.prometheus()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert lines["sark_policy_cache_hits_total"] == "1"
    assert lines["sark_policy_cache_misses_total"] == "1"
    assert lines["sark_policy_cache_requests_total"] == "2"
    assert lines["sark_policy_cache_entries"] == "1"
    assert lines["sark_policy_cache_latency_seconds_count"] == "2"
    assert float(lines['sark_policy_cache_latency_seconds{quantile="0.99"}']) > 0
    assert "# TYPE sark_policy_cache_latency_seconds summary" in text
    assert c.prometheus("gw").startswith("# HELP gw_hits_total")


def test_singleton_and_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sark_policy._cache, "_instance", None)
    first = get_policy_cache(max_size=7, ttl_seconds=9)
    assert first is get_policy_cache() and first.max_size == 7 and first.ttl_seconds == 9
    assert is_available() is True

    def broken() -> None:
        raise FileNotFoundError("no component")

    monkeypatch.setattr(sark_policy._cache, "runtime", broken)
    assert is_available() is False
