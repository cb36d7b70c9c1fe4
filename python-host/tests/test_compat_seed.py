"""The seed gateway's code on sark_policy: its documented usage of the
`RustPolicyCache` wrapper ("Usage Example" in ../shared/seeds) runs
unchanged, first over `sark_policy.compat.RustCache` behind the one-line
import change in `sark._rust`, then with `PolicyCache` as the wrapper; and
`PolicyCache` keeps the wrapper's TTL table and key display.

The `sark` package here is a stand-in: a wrapper written from the seed's
description of `RustPolicyCache` (what SARK's own file does), over the
classes of `sark._rust`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sark_policy import PolicyCache

from .conftest import FakeClock

# `sark/_rust/__init__.py` after the migration: the one changed line.
SARK_RUST = """\
from sark_policy.compat import RustCache, RustOPAEngine

RUST_AVAILABLE = True
__all__ = ["RUST_AVAILABLE", "RustCache", "RustOPAEngine"]
"""

# The seed's wrapper, as its task report describes it: async methods over
# the synchronous RustCache (in a thread), JSON values, the seed key format,
# sensitivity TTLs and the metrics dict.
SEED_WRAPPER = '''\
import asyncio
import hashlib
import json
import time

from sark._rust import RustCache


class RustPolicyCache:
    KEY_PREFIX = "policy:decision"
    DEFAULT_MAX_SIZE = 10000
    DEFAULT_TTL_SECONDS = 300
    OPTIMIZED_TTL = {"critical": 60, "confidential": 120, "internal": 180,
                     "public": 300, "default": 120}

    def __init__(self, max_size=None, ttl_seconds=None, enabled=True, use_optimized_ttl=True):
        self.max_size = max_size or self.DEFAULT_MAX_SIZE
        self.ttl_seconds = ttl_seconds or self.DEFAULT_TTL_SECONDS
        self.enabled = enabled
        self.use_optimized_ttl = use_optimized_ttl
        self.cache = RustCache(self.max_size, self.ttl_seconds)
        self.reset_metrics()

    def reset_metrics(self):
        self.hits = self.misses = self.evictions = 0
        self.latency_ms = 0.0

    def _key(self, user_id, action, resource, context=None):
        digest = "none"
        if context:
            text = json.dumps(context, sort_keys=True)
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        clean = resource.replace(":", "_").replace("/", "_")
        return f"{self.KEY_PREFIX}:{user_id}:{action}:{clean}:{digest}"

    def _ttl(self, sensitivity):
        if not self.use_optimized_ttl or not sensitivity:
            return self.ttl_seconds
        return self.OPTIMIZED_TTL.get(sensitivity, self.ttl_seconds)

    async def get(self, user_id, action, resource, context=None, sensitivity=None):
        if not self.enabled:
            return None
        start = time.time()
        raw = await asyncio.to_thread(self.cache.get, self._key(user_id, action, resource, context))
        if raw:
            self.hits += 1
            elapsed = (time.time() - start) * 1000
            self.latency_ms += (elapsed - self.latency_ms) / self.hits
            return json.loads(raw)
        self.misses += 1
        return None

    async def set(self, user_id, action, resource, decision, context=None, ttl_seconds=None,
                  sensitivity=None):
        if not self.enabled:
            return False
        ttl = ttl_seconds if ttl_seconds is not None else self._ttl(sensitivity)
        if await asyncio.to_thread(self.cache.size) >= self.max_size:
            self.evictions += 1
        key = self._key(user_id, action, resource, context)
        await asyncio.to_thread(self.cache.set, key, json.dumps(decision), ttl)
        return True

    async def delete(self, user_id, action, resource, context=None):
        return await asyncio.to_thread(self.cache.delete, self._key(user_id, action, resource, context))

    async def clear(self):
        await asyncio.to_thread(self.cache.clear)
        return True

    async def size(self):
        return await asyncio.to_thread(self.cache.size)

    async def cleanup_expired(self):
        return await asyncio.to_thread(self.cache.cleanup_expired)

    async def health_check(self):
        probe = {"status": "ok"}
        await self.set("_system_", "health_check", "_health_check_", probe, None, 1)
        ok = await self.get("_system_", "health_check", "_health_check_") == probe
        await self.delete("_system_", "health_check", "_health_check_")
        return ok

    def get_metrics(self):
        total = self.hits + self.misses
        hit_rate = self.hits / total * 100 if total else 0.0
        return {"hits": self.hits, "misses": self.misses, "total_requests": total,
                "evictions": self.evictions, "hit_rate": round(hit_rate, 2),
                "miss_rate": round(100.0 - hit_rate, 2),
                "avg_cache_latency_ms": round(self.latency_ms, 2)}


_instance = None


def get_rust_policy_cache(max_size=None, ttl_seconds=None, enabled=True):
    global _instance
    if _instance is None:
        _instance = RustPolicyCache(max_size=max_size, ttl_seconds=ttl_seconds, enabled=enabled)
    return _instance


def is_rust_cache_available():
    return True
'''

POLICY_INIT_OVER_RUSTCACHE = """\
from .rust_cache import RustPolicyCache, get_rust_policy_cache, is_rust_cache_available
"""

# The other migration: sark_policy's PolicyCache is the wrapper itself.
POLICY_INIT_POLICYCACHE = """\
from sark_policy import PolicyCache as RustPolicyCache
from sark_policy import get_policy_cache as get_rust_policy_cache
from sark_policy import is_available as is_rust_cache_available
"""

# The seed's "Usage Example", unchanged but for `main()` around its awaits
# (and `raise SystemExit` for the bare `exit`, which `-c` scripts lack).
USAGE_EXAMPLE = """\
import asyncio

from sark.services.policy import (
    RustPolicyCache,
    get_rust_policy_cache,
    is_rust_cache_available,
)


async def main():
    # Check availability
    if not is_rust_cache_available():
        print("Rust cache not available - build with maturin")
        raise SystemExit(1)

    # Create cache
    cache = get_rust_policy_cache(
        max_size=10000,
        ttl_seconds=300,
        enabled=True,
    )

    # Cache policy decision
    decision = {"allow": True, "reason": "user has permission"}
    await cache.set(
        user_id="user-123",
        action="execute",
        resource="tool:calculator",
        decision=decision,
        sensitivity="confidential",  # Uses 120s TTL
    )

    # Retrieve cached decision
    cached = await cache.get(
        user_id="user-123",
        action="execute",
        resource="tool:calculator",
    )
    print(cached)  # {"allow": True, "reason": "user has permission"}

    # Get metrics
    metrics = cache.get_metrics()
    print(f"Hit rate: {metrics['hit_rate']}%")
    print(f"Avg latency: {metrics['avg_cache_latency_ms']}ms")

    # Cleanup expired entries
    removed = await cache.cleanup_expired()
    print(f"Removed {removed} expired entries")


asyncio.run(main())
"""

# A short TTL expires, cleanup removes what expired, and the metrics dict.
SHORT_TTL = """\
import asyncio

from sark.services.policy import RustPolicyCache, get_rust_policy_cache


async def main():
    cache = get_rust_policy_cache(max_size=100, ttl_seconds=1)
    decision = {"allow": False, "reason": "no"}
    assert await cache.set("u1", "read", "doc:1", decision) is True
    assert await cache.set("u2", "read", "doc/2", decision, {"ip": "10.0.0.1"}) is True
    assert await cache.set("u3", "read", "doc:3", decision, ttl_seconds=60) is True
    assert await cache.get("u1", "read", "doc:1") == decision
    assert await cache.get("u2", "read", "doc/2", {"ip": "10.0.0.1"}) == decision
    assert await cache.size() == 3
    await asyncio.sleep(1.2)
    assert await cache.get("u1", "read", "doc:1") is None
    assert await cache.cleanup_expired() == 1  # u2; u1 went on lookup
    assert await cache.size() == 1
    assert await cache.get("u3", "read", "doc:3") == decision
    metrics = cache.get_metrics()
    for key in ("hits", "misses", "total_requests", "evictions", "hit_rate", "miss_rate",
                "avg_cache_latency_ms"):
        assert key in metrics, key
    assert (metrics["hits"], metrics["misses"], metrics["total_requests"]) == (3, 1, 4), metrics
    assert (metrics["hit_rate"], metrics["miss_rate"]) == (75.0, 25.0), metrics
    assert await cache.health_check() is True
    assert await cache.delete("u3", "read", "doc:3") is True
    assert await cache.clear() is True and await cache.size() == 0
    cache.reset_metrics()
    assert cache.get_metrics()["total_requests"] == 0
    print("ok")


asyncio.run(main())
"""


def _sark(tmp_path: Path, policy_init: str) -> Path:
    """A `sark` package under `tmp_path`: `sark._rust` migrated, and
    `sark.services.policy` exporting the wrapper from `policy_init`."""
    root = tmp_path / "site"
    files = {
        "sark/__init__.py": "",
        "sark/_rust/__init__.py": SARK_RUST,
        "sark/services/__init__.py": "",
        "sark/services/policy/__init__.py": policy_init,
        "sark/services/policy/rust_cache.py": SEED_WRAPPER,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _run(site: Path, script: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=300, cwd=site)
    assert out.returncode == 0, out.stderr
    return out.stdout


WRAPPERS = {"seed wrapper over compat.RustCache": POLICY_INIT_OVER_RUSTCACHE,
            "PolicyCache as the wrapper": POLICY_INIT_POLICYCACHE}


@pytest.mark.parametrize("policy_init", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_the_usage_example_runs_unchanged(tmp_path: Path, policy_init: str) -> None:
    lines = _run(_sark(tmp_path, policy_init), USAGE_EXAMPLE).splitlines()
    assert lines[0] == "{'allow': True, 'reason': 'user has permission'}"
    assert lines[1] == "Hit rate: 100.0%"
    assert lines[2].startswith("Avg latency: ") and lines[2].endswith("ms")
    assert lines[3] == "Removed 0 expired entries"


@pytest.mark.parametrize("policy_init", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_a_short_ttl_expires_and_the_metrics_dict(tmp_path: Path, policy_init: str) -> None:
    assert _run(_sark(tmp_path, policy_init), SHORT_TTL).strip() == "ok"


def test_the_opa_engine_behind_the_one_line_change(tmp_path: Path) -> None:
    script = textwrap.dedent("""\
        from sark._rust import RUST_AVAILABLE, RustCache, RustOPAEngine
        from sark_policy.compat import OPACompilationError

        engine = RustOPAEngine()
        engine.load_policy("gateway", '''
        package sark.gateway
        import future.keywords.if
        default allow := false
        allow if input.user.role == "admin"
        ''')
        assert RUST_AVAILABLE and engine.has_policy("gateway")
        assert engine.evaluate("data.sark.gateway.allow", {"user": {"role": "admin"}}) is True
        assert engine.evaluate("data.sark.gateway.allow", {"user": {"role": "dev"}}) is False
        assert engine.evaluate("data.mcp.gateway.a2a.result.allow", {}) is False
        try:
            engine.load_policy("bad", "package bad\\nallow if {")
        except OPACompilationError:
            print("ok")
        """)
    assert _run(_sark(tmp_path, POLICY_INIT_OVER_RUSTCACHE), script).strip() == "ok"


# -- PolicyCache keeps the seed wrapper's behaviour ---------------------------

@pytest.mark.parametrize(
    ("sensitivity", "ttl"),
    [("critical", 60), ("confidential", 120), ("internal", 180), ("public", 300),
     ("default", 120), ("unknown", 250), (None, 250), ("", 250)],
)
def test_policycache_ttl_table(clock: FakeClock, sensitivity: str | None, ttl: int) -> None:
    c = PolicyCache(ttl_seconds=250, clock=clock)
    assert c.set_sync("u", "a", "r", {"allow": True}, sensitivity=sensitivity)
    clock.advance(ttl - 0.001)
    assert c.get_sync("u", "a", "r") == {"allow": True}
    clock.advance(0.001)
    assert c.get_sync("u", "a", "r") is None


def test_policycache_displays_the_seed_key() -> None:
    c = PolicyCache()
    assert c.cache_key("user-123", "execute", "tool:calculator") == (
        "policy:decision:user-123:execute:tool_calculator:none")
    assert c.cache_key("u", "a", "a:b/c", {}) == "policy:decision:u:a:a_b_c:none"
    key = c.cache_key("u", "a", "mcp://srv/tool", {"ip": "10.0.0.1"})
    prefix, digest = key.rsplit(":", 1)
    assert prefix == "policy:decision:u:a:mcp___srv_tool"
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert c.cache_key("u", "a", "r", {"ip": "10.0.0.1"}).endswith(digest)


def test_policycache_keeps_resources_apart_that_display_alike() -> None:
    # The display key folds `:` and `/` into `_`; the stored key does not,
    # so `doc:1` and `doc/1` (one display key) never share a decision.
    c = PolicyCache()
    assert c.cache_key("u", "a", "doc:1") == c.cache_key("u", "a", "doc/1")
    c.set_sync("u", "a", "doc:1", {"allow": True})
    assert c.get_sync("u", "a", "doc/1") is None
    assert c.get_sync("u", "a", "doc:1") == {"allow": True}
