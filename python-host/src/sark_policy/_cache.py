"""`PolicyCache`: a drop-in for the seed's `RustPolicyCache`, backed by the
component's decision cache in its own sandboxed instance."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from time import perf_counter
from typing import Any

from wasmtime.component import ResourceAny

from ._abi import Bindings, Trapped
from ._json import context_text, dumps, loads_exact
from ._metrics import Metrics, prometheus_text
from ._runtime import runtime
from ._sandbox import Sandbox, SandboxLimits
from ._ttl import DEFAULT_SENSITIVITY_TTLS, Clock, Sensitivity, TtlPolicy, to_ms

__all__ = ["PolicyCache", "get_policy_cache", "is_available"]

_log = logging.getLogger("sark_policy")
_KEY_MEMO = 65536  # keys remembered before the memo starts over


class PolicyCache:
    """Policy decisions cached by user, action, resource and context, with a
    TTL by sensitivity and LRU eviction: the seed's `RustPolicyCache` API.

    The async methods (`get`, `set`, ...) are the seed's; each has a sync
    twin ending in `_sync` for code without an event loop. The async ones
    run inline: a cache call takes microseconds, less than a thread hop.

    Like the seed, the cache API never raises: a failure is logged on the
    `sark_policy` logger and the call returns a safe default (None, False,
    0). A disabled cache (`enabled=False`) misses every `get` and stores
    nothing. Thread-safe: calls are serialised by the sandbox lock. If the
    instance ever traps it is replaced and the cached entries are lost
    (counted in `recycles`).

    Keys are the seed format `policy:decision:{user_id}:{action}:{resource}:
    {context_hash}` built by the component (`cache_key`), and memoised, since
    the key of a request never changes.
    """

    KEY_PREFIX = "policy:decision"
    DEFAULT_MAX_SIZE = 10000
    DEFAULT_TTL_SECONDS = 300
    #: TTL seconds by sensitivity (the seed's `OPTIMIZED_TTL`).
    OPTIMIZED_TTL: Mapping[str, int] = DEFAULT_SENSITIVITY_TTLS

    def __init__(
        self,
        max_size: int | None = None,
        ttl_seconds: int | None = None,
        enabled: bool = True,
        use_optimized_ttl: bool = True,
        *,
        clock: Clock = time.monotonic,
        limits: SandboxLimits | None = None,
    ) -> None:
        """A cache of at most `max_size` entries (default 10000) whose
        entries live `ttl_seconds` (default 300) unless a sensitivity or an
        explicit TTL says otherwise. `clock` returns seconds (default
        `time.monotonic`); tests pass a fake one. Raises `FileNotFoundError`
        when the package has no component, `LimitExceededError` for a
        capacity over 2**32 - 1."""
        self.max_size = max_size or self.DEFAULT_MAX_SIZE
        self.ttl_seconds = ttl_seconds or self.DEFAULT_TTL_SECONDS
        self.enabled = enabled
        self.use_optimized_ttl = use_optimized_ttl
        self._ttl = TtlPolicy(self.ttl_seconds, use_optimized_ttl, self.OPTIMIZED_TTL)
        self._clock = clock
        self._metrics = Metrics()
        # (user, action, resource, context JSON) -> key as UTF-8
        self._keys: dict[tuple[str, str, str, bytes], bytes] = {}
        self._sandbox = Sandbox(limits)
        self._resource: ResourceAny
        self._handle = 0
        with self._sandbox.loading() as abi:
            self._create(abi)
        self._sandbox.on_recycle(self._rebuild)

    def _create(self, abi: Bindings) -> None:
        self._resource = abi.new_cache(self.max_size)
        self._handle = abi.handle(self._resource)

    def _rebuild(self, replay: bool) -> None:
        self._create(self._sandbox.abi)

    def _key(self, abi: Bindings, user: str, action: str, resource: str,
             context: Mapping[str, Any] | None) -> bytes:
        """The key of a request as UTF-8, memoised. Raises
        `InvalidJsonError`, or `Trapped`."""
        memo = (user, action, resource, context_text(context))
        key = self._keys.get(memo)
        if key is None:
            key = abi.cache_key(*memo).encode()
            if len(self._keys) >= _KEY_MEMO:
                self._keys.clear()
            self._keys[memo] = key
        return key

    def cache_key(
        self, user_id: str, action: str, resource: str, context: Mapping[str, Any] | None = None
    ) -> str:
        """The seed-format key of a request, built by the component. Raises
        `InvalidJsonError` for a context that is not JSON."""
        sandbox = self._sandbox
        with sandbox.lock:
            try:
                return self._key(sandbox.abi, user_id, action, resource, context).decode()
            except Trapped as t:
                sandbox.fail(t)

    # -- the seed's operations, sync -------------------------------------------

    def get_sync(
        self,
        user_id: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        sensitivity: Sensitivity | str | None = None,
    ) -> Any:
        """The cached decision (as stored: usually a dict), or None on a
        miss, an expired entry, a disabled cache or an error. `sensitivity`
        is accepted for API compatibility and unused, as in the seed."""
        if not self.enabled:
            return None
        start = perf_counter()
        try:
            sandbox = self._sandbox
            with sandbox.lock:
                try:
                    key = self._key(sandbox.abi, user_id, action, resource, context)
                    raw = sandbox.abi.cache_get(self._handle, key, to_ms(self._clock()))
                except Trapped as t:
                    sandbox.fail(t)
                value = None if raw is None else loads_exact(raw)
                self._metrics.record(raw is not None, perf_counter() - start)
            return value
        except Exception as e:
            _log.warning("policy cache get failed: %s", e)
            return None

    def set_sync(
        self,
        user_id: str,
        action: str,
        resource: str,
        decision: Any,
        context: Mapping[str, Any] | None = None,
        ttl_seconds: float | None = None,
        sensitivity: Sensitivity | str | None = None,
    ) -> bool:
        """Caches `decision` (any JSON-serializable value) and returns True;
        False when disabled or on error. TTL: `ttl_seconds` if given, else
        the sensitivity's (critical 60, confidential 120, internal 180,
        public 300) when `use_optimized_ttl`, else the default."""
        if not self.enabled:
            return False
        try:
            value = dumps(decision, "decision")
            now_ms, expires_ms = self._ttl.window(self._clock(), sensitivity, ttl_seconds)
            sandbox = self._sandbox
            with sandbox.lock:
                try:
                    key = self._key(sandbox.abi, user_id, action, resource, context)
                    sandbox.abi.cache_set(self._handle, key, value, now_ms, expires_ms)
                except Trapped as t:
                    sandbox.fail(t)
            return True
        except Exception as e:
            _log.warning("policy cache set failed: %s", e)
            return False

    def delete_sync(
        self,
        user_id: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Removes a cached decision; True when there was one (live or
        expired), False otherwise or on error."""
        try:

            def op(abi: Bindings) -> bool:
                key = self._key(abi, user_id, action, resource, context)
                deleted: bool = abi.call("cache.delete", self._handle, key)
                return deleted

            return self._sandbox.call(op)
        except Exception as e:
            _log.warning("policy cache delete failed: %s", e)
            return False

    def clear_sync(self) -> bool:
        """Removes every entry; True, or False on error. Metrics are kept."""
        try:
            self._sandbox.call(lambda abi: abi.call("cache.clear", self._handle))
            return True
        except Exception as e:
            _log.warning("policy cache clear failed: %s", e)
            return False

    def size_sync(self) -> int:
        """Entries held, live or not yet cleaned up; 0 on error."""
        try:
            size: int = self._sandbox.call(lambda abi: abi.call("cache.size", self._handle))
            return size
        except Exception as e:
            _log.warning("policy cache size failed: %s", e)
            return 0

    def cleanup_expired_sync(self) -> int:
        """Removes the entries expired by now and returns how many; 0 on
        error."""
        try:
            now_ms = to_ms(self._clock())
            removed: int = self._sandbox.call(
                lambda abi: abi.call("cache.cleanup-expired", self._handle, now_ms)
            )
            return removed
        except Exception as e:
            _log.warning("policy cache cleanup failed: %s", e)
            return 0

    def health_check_sync(self) -> bool:
        """True when a probe entry can be stored, read back and removed (not
        counted in the metrics, and checked even when the cache is
        disabled); False otherwise."""
        probe = {"status": "ok"}
        try:

            def op(abi: Bindings) -> bool:
                key = self._key(abi, "_system_", "health_check", "_health_check_", None)
                now_ms = to_ms(self._clock())
                abi.cache_set(self._handle, key, dumps(probe), now_ms, now_ms + 1000)
                raw = abi.cache_get(self._handle, key, now_ms)
                abi.call("cache.delete", self._handle, key)
                return raw is not None and loads_exact(raw) == probe

            return self._sandbox.call(op)
        except Exception as e:
            _log.error("policy cache health check failed: %s", e)
            return False

    # -- the seed's operations, async (inline: no thread hop) ------------------

    async def get(
        self,
        user_id: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        sensitivity: Sensitivity | str | None = None,
    ) -> Any:
        """Async `get_sync`."""
        return self.get_sync(user_id, action, resource, context, sensitivity)

    async def set(
        self,
        user_id: str,
        action: str,
        resource: str,
        decision: Any,
        context: Mapping[str, Any] | None = None,
        ttl_seconds: float | None = None,
        sensitivity: Sensitivity | str | None = None,
    ) -> bool:
        """Async `set_sync`."""
        return self.set_sync(user_id, action, resource, decision, context, ttl_seconds, sensitivity)

    async def delete(
        self,
        user_id: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Async `delete_sync`."""
        return self.delete_sync(user_id, action, resource, context)

    async def clear(self) -> bool:
        """Async `clear_sync`."""
        return self.clear_sync()

    async def size(self) -> int:
        """Async `size_sync`."""
        return self.size_sync()

    async def cleanup_expired(self) -> int:
        """Async `cleanup_expired_sync`."""
        return self.cleanup_expired_sync()

    async def health_check(self) -> bool:
        """Async `health_check_sync`."""
        return self.health_check_sync()

    # -- metrics ------------------------------------------------------------------

    def _stats(self) -> tuple[int, ...]:
        try:
            stats: tuple[int, ...] = self._sandbox.call(
                lambda abi: abi.call("cache.stats", self._handle)
            )
            return stats
        except Exception as e:
            _log.warning("policy cache stats failed: %s", e)
            return (0, 0, 0, 0, 0, 0)

    def get_metrics(self) -> dict[str, Any]:
        """The seed's metrics dict (`hits`, `misses`, `total_requests`,
        `evictions`, `hit_rate`, `miss_rate`, `avg_cache_latency_ms`) plus
        `p50/p95/p99_latency_ms`, `recycles` and `timeouts`. Hits and misses
        count `get` calls; latencies are those of `get` as seen from Python;
        evictions are the component's count of live entries dropped for
        room (since the last recycle)."""
        stats = self._stats()
        with self._sandbox.lock:
            return self._metrics.snapshot(
                evictions=stats[2], recycles=self._sandbox.recycles, timeouts=self._sandbox.timeouts
            )

    def reset_metrics(self) -> None:
        """Zeroes every metric, including the component's counters."""
        with self._sandbox.lock:
            self._metrics.reset(self._sandbox.recycles, self._sandbox.timeouts)
            try:
                self._sandbox.call(lambda abi: abi.call("cache.reset-stats", self._handle))
            except Exception as e:
                _log.warning("policy cache reset-stats failed: %s", e)

    def prometheus(self, prefix: str = "sark_policy_cache") -> str:
        """The metrics in Prometheus text format (counters, an `entries`
        gauge and a latency summary in seconds)."""
        stats = self._stats()
        with self._sandbox.lock:
            snapshot = self._metrics.snapshot(
                evictions=stats[2], recycles=self._sandbox.recycles, timeouts=self._sandbox.timeouts
            )
            return prometheus_text(self._metrics, prefix, snapshot, entries=stats[4])

    def close(self) -> None:
        """Drops the cache in the guest and frees its instance; later calls
        raise `OtherPolicyError` (the cache API returns its defaults). Idempotent."""
        with self._sandbox.lock:
            if not self._sandbox.closed:
                self._sandbox.abi.drop(self._resource)
                self._sandbox.close()


_instance: PolicyCache | None = None
_instance_lock = threading.Lock()


def get_policy_cache(
    max_size: int | None = None, ttl_seconds: int | None = None, enabled: bool = True
) -> PolicyCache:
    """The process-wide `PolicyCache`, created by the first call with these
    arguments (later arguments are ignored, as in the seed)."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = PolicyCache(max_size=max_size, ttl_seconds=ttl_seconds, enabled=enabled)
        return _instance


def is_available() -> bool:
    """True when the component can be loaded here (it loads it, compiling
    it on first use; False, logged, if that fails)."""
    try:
        runtime()
        return True
    except Exception as e:
        _log.warning("sark_policy component unavailable: %s", e)
        return False
