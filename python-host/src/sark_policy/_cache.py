"""`PolicyCache`: a drop-in for the seed's `RustPolicyCache`, backed by the
component's decision cache in its own sandboxed instance."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from time import perf_counter
from types import MappingProxyType
from typing import Any, TypeVar

from wasmtime.component import ResourceAny

from ._abi import Bindings, Trapped
from ._json import context_text, dumps, loads_exact
from ._metrics import Metrics, prometheus_text
from ._pool import CacheSlots, Pool, drop_and_close
from ._runtime import runtime
from ._sandbox import Sandbox, SandboxLimits
from ._ttl import DEFAULT_SENSITIVITY_TTLS, Clock, Sensitivity, TtlPolicy, to_ms

__all__ = ["PolicyCache", "get_policy_cache", "is_available"]

_log = logging.getLogger("sark_policy")
_KEY_MEMO = 65536  # keys remembered before the memo starts over
T = TypeVar("T")

# (user, action, resource, context JSON)
Memo = tuple[str, str, str, bytes]
# A request's memo, its instance, and its key as UTF-8 when known.
Target = tuple[Memo, int, bytes | None]


class PolicyCache(CacheSlots):
    """Policy decisions cached by user, action, resource and context, with a
    TTL by sensitivity and LRU eviction: the seed's `RustPolicyCache` API.

    The async methods (`get`, `set`, ...) are the seed's; each has a sync
    twin ending in `_sync` for code without an event loop. The async ones
    run inline when the instance they need is free (a cache call takes
    microseconds, less than a thread hop) and in a worker thread when it
    is busy with another thread's call, so the event loop never waits.

    Like the seed, the cache API never raises: a failure is logged on the
    `sark_policy` logger and the call returns a safe default (None, False,
    0). A disabled cache (`enabled=False`) misses every `get` and stores
    nothing. Thread-safe. With `pool_size` N > 1 the entries are sharded
    over N instances by request (each holds `max_size / N` of them,
    rounded up, with its own LRU), so N threads use the cache in parallel.
    If an instance ever traps it is replaced and its cached entries are
    lost (counted in `recycles`).

    Keys are the seed format `policy:decision:{user_id}:{action}:{resource}:
    {context_hash}` built by the component (`cache_key`), and memoised, since
    the key of a request never changes.
    """

    KEY_PREFIX = "policy:decision"
    DEFAULT_MAX_SIZE = 10000
    DEFAULT_TTL_SECONDS = 300
    #: TTL seconds by sensitivity: the seed's `OPTIMIZED_TTL`, whose table
    #: also names a `default` sensitivity (120 s).
    OPTIMIZED_TTL: Mapping[str, int] = MappingProxyType(
        {**DEFAULT_SENSITIVITY_TTLS, "default": 120})

    def __init__(
        self,
        max_size: int | None = None,
        ttl_seconds: int | None = None,
        enabled: bool = True,
        use_optimized_ttl: bool = True,
        *,
        clock: Clock = time.monotonic,
        limits: SandboxLimits | None = None,
        pool_size: int = 1,
    ) -> None:
        """A cache of at most `max_size` entries (default 10000) whose
        entries live `ttl_seconds` (default 300) unless a sensitivity or an
        explicit TTL says otherwise, in `pool_size` instances (default 1:
        one exact LRU, one instance's memory). `clock` returns seconds
        (default `time.monotonic`); tests pass a fake one. Raises
        `FileNotFoundError` when the package has no component,
        `LimitExceededError` for a capacity over 2**32 - 1, `ValueError` for
        a `pool_size` below 1."""
        self.max_size = max_size or self.DEFAULT_MAX_SIZE
        self.ttl_seconds = ttl_seconds or self.DEFAULT_TTL_SECONDS
        self.enabled = enabled
        self.use_optimized_ttl = use_optimized_ttl
        self._ttl = TtlPolicy(self.ttl_seconds, use_optimized_ttl, self.OPTIMIZED_TTL)
        self._clock = clock
        self._pool = pool = Pool(pool_size, limits)
        self._sandboxes = pool.sandboxes
        self._sandbox = pool.first
        n = pool.size
        self._capacity = -(-self.max_size // n)
        # Per instance, indexed by `Sandbox.index`.
        self._metrics = [Metrics() for _ in range(n)]
        self._resources: list[ResourceAny | None] = [None] * n
        self._handles = [0] * n
        # memo -> (instance, key as UTF-8)
        self._keys: dict[Memo, tuple[int, bytes]] = {}
        for sandbox in pool.sandboxes:
            with sandbox.loading() as abi:
                self._create(sandbox, abi)
        pool.on_recycle(self._rebuild)

    def _target(self, user: str, action: str, resource: str,
                context: Mapping[str, Any] | None) -> Target:
        """A request's memo, instance and key (if known). Raises
        `InvalidJsonError`."""
        memo = (user, action, resource, context_text(context))
        known = self._keys.get(memo)
        if known is not None:
            return memo, known[0], known[1]
        return memo, self._pool.shard_for(memo), None

    def _key(self, abi: Bindings, target: Target) -> bytes:
        """The key of a request as UTF-8, built and memoised if unknown.
        Raises `InvalidJsonError`, or `Trapped`."""
        memo, i, key = target
        if key is None:
            key = abi.cache_key(*memo).encode()
            if len(self._keys) >= _KEY_MEMO:
                self._keys.clear()
            self._keys[memo] = (i, key)
        return key

    def _on(self, i: int, op: Callable[[Bindings], T]) -> T:
        """Runs `op` on instance `i` under its lock; a trap recycles it."""
        sandbox = self._sandboxes[i]
        with sandbox.lock:
            try:
                return op(sandbox.abi)
            except Trapped as t:
                sandbox.fail(t)

    def _each(self, name: str, *args: Any) -> list[Any]:
        """Calls the cache function `name` in every instance, in turn."""
        return [
            s.call(lambda abi: abi.call(name, self._handles[s.index], *args))
            for s in self._sandboxes
        ]

    async def _inline_or_thread(self, i: int | None, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` inline when instance `i` (every instance for None) is
        free, else in a thread (instance `i`'s worker, or any for None), so
        the event loop never waits for a lock."""
        if i is None:
            if self._pool.try_lock_all():
                try:
                    return fn(*args)
                finally:
                    self._pool.unlock_all()
            return await asyncio.to_thread(fn, *args)
        sandbox = self._sandboxes[i]
        if sandbox.lock.acquire(blocking=False):
            try:
                return fn(*args)
            finally:
                sandbox.lock.release()
        result: T = await sandbox.worker.submit(fn, *args)
        return result

    def cache_key(
        self, user_id: str, action: str, resource: str, context: Mapping[str, Any] | None = None
    ) -> str:
        """The seed's key of a request, as its `_generate_cache_key` showed
        it: `policy:decision:{user_id}:{action}:{resource}:{context_hash}`
        with `:` and `/` in the resource replaced by `_`, and `none` as the
        hash when there is no context (None or empty); else the first 16
        hex digits of SHA-256 over the context's canonical JSON, computed
        by the component. Entries are stored under the component's key,
        which keeps the resource as it is (so `doc:1` and `doc/1` never
        share an entry). Raises `InvalidJsonError` for a context that is
        not JSON."""
        context_hash = "none"
        if context:
            target = self._target(user_id, action, resource, context)
            stored = self._on(target[1], lambda abi: self._key(abi, target)).decode()
            context_hash = stored.rsplit(":", 1)[-1]
        resource_clean = resource.replace(":", "_").replace("/", "_")
        return f"{self.KEY_PREFIX}:{user_id}:{action}:{resource_clean}:{context_hash}"

    # -- the operations on one request, raising ----------------------------------

    def _get(self, target: Target, start: float) -> Any:
        i = target[1]
        sandbox = self._sandboxes[i]
        with sandbox.lock:
            try:
                key = self._key(sandbox.abi, target)
                raw = sandbox.abi.cache_get(self._handles[i], key, to_ms(self._clock()))
            except Trapped as t:
                sandbox.fail(t)
            value = None if raw is None else loads_exact(raw)
            self._metrics[i].record(raw is not None, perf_counter() - start)
        return value

    def _set(self, target: Target, value: bytes, window: tuple[int, int]) -> bool:
        def op(abi: Bindings) -> bool:
            abi.cache_set(self._handles[target[1]], self._key(abi, target), value, *window)
            return True

        return self._on(target[1], op)

    def _delete(self, target: Target) -> bool:
        def op(abi: Bindings) -> bool:
            key = self._key(abi, target)
            deleted: bool = abi.call("cache.delete", self._handles[target[1]], key)
            return deleted

        return self._on(target[1], op)

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
            return self._get(self._target(user_id, action, resource, context), start)
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
            window = self._ttl.window(self._clock(), sensitivity, ttl_seconds)
            return self._set(self._target(user_id, action, resource, context), value, window)
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
            return self._delete(self._target(user_id, action, resource, context))
        except Exception as e:
            _log.warning("policy cache delete failed: %s", e)
            return False

    def clear_sync(self) -> bool:
        """Removes every entry; True, or False on error. Metrics are kept."""
        try:
            self._each("cache.clear")
            return True
        except Exception as e:
            _log.warning("policy cache clear failed: %s", e)
            return False

    def size_sync(self) -> int:
        """Entries held, live or not yet cleaned up; 0 on error."""
        try:
            return sum(self._each("cache.size"))
        except Exception as e:
            _log.warning("policy cache size failed: %s", e)
            return 0

    def cleanup_expired_sync(self) -> int:
        """Removes the entries expired by now and returns how many; 0 on
        error."""
        try:
            return sum(self._each("cache.cleanup-expired", to_ms(self._clock())))
        except Exception as e:
            _log.warning("policy cache cleanup failed: %s", e)
            return 0

    def _health_target(self) -> Target:
        return self._target("_system_", "health_check", "_health_check_", None)

    def health_check_sync(self) -> bool:
        """True when a probe entry can be stored, read back and removed (not
        counted in the metrics, and checked even when the cache is
        disabled); False otherwise."""
        probe = {"status": "ok"}
        try:
            target = self._health_target()
            handle = self._handles[target[1]]

            def op(abi: Bindings) -> bool:
                key = self._key(abi, target)
                now_ms = to_ms(self._clock())
                abi.cache_set(handle, key, dumps(probe), now_ms, now_ms + 1000)
                raw = abi.cache_get(handle, key, now_ms)
                abi.call("cache.delete", handle, key)
                return raw is not None and loads_exact(raw) == probe

            return self._on(target[1], op)
        except Exception as e:
            _log.error("policy cache health check failed: %s", e)
            return False

    # -- the seed's operations, async (inline when the instance is free) -------

    async def get(
        self,
        user_id: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        sensitivity: Sensitivity | str | None = None,
    ) -> Any:
        """Async `get_sync`."""
        if not self.enabled:
            return None
        start = perf_counter()
        try:
            target = self._target(user_id, action, resource, context)
            return await self._inline_or_thread(target[1], self._get, target, start)
        except Exception as e:
            _log.warning("policy cache get failed: %s", e)
            return None

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
        if not self.enabled:
            return False
        try:
            value = dumps(decision, "decision")
            window = self._ttl.window(self._clock(), sensitivity, ttl_seconds)
            target = self._target(user_id, action, resource, context)
            return await self._inline_or_thread(target[1], self._set, target, value, window)
        except Exception as e:
            _log.warning("policy cache set failed: %s", e)
            return False

    async def delete(
        self,
        user_id: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Async `delete_sync`."""
        try:
            target = self._target(user_id, action, resource, context)
            return await self._inline_or_thread(target[1], self._delete, target)
        except Exception as e:
            _log.warning("policy cache delete failed: %s", e)
            return False

    async def clear(self) -> bool:
        """Async `clear_sync`."""
        return await self._inline_or_thread(None, self.clear_sync)

    async def size(self) -> int:
        """Async `size_sync`."""
        return await self._inline_or_thread(None, self.size_sync)

    async def cleanup_expired(self) -> int:
        """Async `cleanup_expired_sync`."""
        return await self._inline_or_thread(None, self.cleanup_expired_sync)

    async def health_check(self) -> bool:
        """Async `health_check_sync`."""
        i = self._health_target()[1]  # no context: nothing to fail
        return await self._inline_or_thread(i, self.health_check_sync)

    # -- metrics ------------------------------------------------------------------

    def _snapshot(self) -> tuple[dict[str, Any], Metrics, int]:
        """The metrics merged over the instances, the merged recorder, and
        the entries held (stats of an instance that fails count as 0)."""
        copies, evictions, entries = [], 0, 0
        for s in self._sandboxes:
            with s.lock:
                try:
                    stats = s.call(lambda abi: abi.call("cache.stats", self._handles[s.index]))
                    evictions += stats[2]
                    entries += stats[4]
                except Exception as e:
                    _log.warning("policy cache stats failed: %s", e)
                copies.append(self._metrics[s.index].copy())
        merged = Metrics.combined(copies)
        snapshot = merged.snapshot(evictions=evictions, recycles=self._pool.recycles,
                                   timeouts=self._pool.timeouts)
        return snapshot, merged, entries

    def get_metrics(self) -> dict[str, Any]:
        """The seed's metrics dict (`hits`, `misses`, `total_requests`,
        `evictions`, `hit_rate`, `miss_rate`, `avg_cache_latency_ms`) plus
        `p50/p95/p99_latency_ms`, `recycles` and `timeouts`, over every
        instance. Hits and misses count `get` calls; latencies are those of
        `get` as seen from Python; evictions are the component's count of
        live entries dropped for room (since the last recycle)."""
        return self._snapshot()[0]

    def reset_metrics(self) -> None:
        """Zeroes every metric, including the component's counters."""
        for s in self._sandboxes:
            with s.lock:
                self._metrics[s.index].reset(s.recycles, s.timeouts)
                try:
                    s.call(lambda abi: abi.call("cache.reset-stats", self._handles[s.index]))
                except Exception as e:
                    _log.warning("policy cache reset-stats failed: %s", e)

    def prometheus(self, prefix: str = "sark_policy_cache") -> str:
        """The metrics in Prometheus text format (counters, an `entries`
        gauge and a latency summary in seconds)."""
        snapshot, merged, entries = self._snapshot()
        return prometheus_text(merged, prefix, snapshot, entries=entries)

    def close(self) -> None:
        """Drops the cache in the guest and frees its instances; later calls
        raise `OtherPolicyError` (the cache API returns its defaults). Idempotent."""
        drop_and_close(self._pool, self._resources)


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
