"""`Authorizer`: the cached decision in one crossing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from wasmtime.component import ResourceAny

from ._abi import Bindings, Trapped
from ._engine import PolicyEngine
from ._errors import OtherPolicyError
from ._json import UNDEFINED, context_text, loads
from ._metrics import Metrics, prometheus_text
from ._ttl import Clock, Sensitivity, TtlPolicy, to_ms

__all__ = ["Authorizer", "Decision"]

_KEY_MEMO = 65536

# (rule, user, action, resource, context JSON)
Memo = tuple[str, str, str, str, bytes | str]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request.

    `value` is the rule's value (`UNDEFINED` when the rule is undefined),
    `cached` whether it came from the cache, `latency_ms` the time the call
    took as seen from Python, `key` the cache key it is stored under (the
    seed key scoped by rule and engine revision).
    """

    value: Any
    cached: bool
    latency_ms: float
    key: str

    @property
    def allowed(self) -> bool:
        """True only when the value is exactly `true`."""
        return self.value is True

    @property
    def defined(self) -> bool:
        """False when the rule was undefined for this request."""
        return self.value is not UNDEFINED


# Decisions are made per request: set the slots directly, which is a
# fraction of the frozen dataclass's `__init__` (four `object.__setattr__`).
_new_decision = object.__new__
_set_value = Decision.__dict__["value"].__set__
_set_cached = Decision.__dict__["cached"].__set__
_set_latency = Decision.__dict__["latency_ms"].__set__
_set_key = Decision.__dict__["key"].__set__


def _decision(value: Any, cached: bool, latency_ms: float, key: str) -> Decision:
    """`Decision(value, cached, latency_ms, key)`, faster."""
    d: Decision = _new_decision(Decision)
    _set_value(d, value)
    _set_cached(d, cached)
    _set_latency(d, latency_ms)
    _set_key(d, key)
    return d


class Authorizer:
    """Decides requests with a rule of a `PolicyEngine`, caching each
    decision in a cache that lives in the engine's instance: key, lookup,
    evaluation on a miss and store happen in one call into the component.
    Requests seen before are answered with one cache lookup (see `decide`).

    The input the rule sees is `{"user", "action", "resource", "context"}`.
    Decisions are cached per rule and engine revision, so a policy or data
    change never serves a stale one. Errors are raised (`PolicyError`
    subclasses) and never cached. Thread-safe (the engine's lock). After a
    trap the cache starts empty.
    """

    def __init__(
        self,
        engine: PolicyEngine,
        rule: str,
        *,
        max_size: int = 10000,
        ttl_seconds: float = 300,
        use_optimized_ttl: bool = True,
        clock: Clock = time.monotonic,
    ) -> None:
        """An authorizer deciding with `rule` (e.g. `data.authz.allow`) and
        a cache of `max_size` entries; TTLs as in `TtlPolicy`. Raises
        `LimitExceededError` when `max_size` is 0."""
        self.engine = engine
        self.rule = rule
        self.max_size = max_size
        self.ttl = TtlPolicy(ttl_seconds, use_optimized_ttl)
        self._clock = clock
        self._sandbox = engine._sandbox
        self._metrics = Metrics()
        # memo -> (generation, revision, key, key as UTF-8)
        self._keys: dict[Memo, tuple[int, int, str, bytes]] = {}
        self._resource: ResourceAny
        self._handle = 0
        self._closed = False
        with self._sandbox.loading() as abi:
            self._create(abi)
        self._sandbox.on_recycle(self._rebuild)

    def _create(self, abi: Bindings) -> None:
        self._resource = abi.new_cache(self.max_size)
        self._handle = abi.handle(self._resource)

    def _rebuild(self, replay: bool) -> None:
        self._create(self._sandbox.abi)

    def decide(
        self,
        user: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        sensitivity: Sensitivity | str | None = None,
        *,
        rule: str | None = None,
        ttl_seconds: float | None = None,
    ) -> Decision:
        """Decides one request with `rule` (default: the authorizer's): the
        cached decision if live, else the rule's value, cached with the TTL
        of `sensitivity` or `ttl_seconds`.

        One crossing: a request decided before is looked up in the cache
        under the key the component returned for it (valid while the engine
        revision is unchanged); any other takes one `authorizer.decide` call
        (key, lookup, evaluation on a miss, store). Raises
        `InvalidJsonError`, `NotFoundError`, `EvaluationError`,
        `LimitExceededError`, or after a trap `PolicyTimeoutError` /
        `SandboxTrapError`."""
        start = perf_counter()
        memo = (rule or self.rule, user, action, resource, context_text(context))
        hit = self._probe(memo, start)
        if hit is not None:
            return hit
        return self._decide(memo, context, sensitivity, ttl_seconds, start)

    def _decide(
        self,
        memo: Memo,
        context: Mapping[str, Any] | None,
        sensitivity: Sensitivity | str | None,
        ttl_seconds: float | None,
        start: float,
    ) -> Decision:
        """The `authorizer.decide` crossing; remembers the key it returns.
        (`context` is unused: the memo holds its JSON.)"""
        if self._closed:
            raise OtherPolicyError("the authorizer is closed")
        rule, user, action, resource, ctx = memo
        now_ms, expires_ms = self.ttl.window(self._clock(), sensitivity, ttl_seconds)
        sandbox = self._sandbox
        with sandbox.lock:
            try:
                raw, cached, key = sandbox.abi.decide(
                    self.engine._handle, self._handle, rule, user, action, resource, ctx,
                    now_ms, expires_ms)
            except Trapped as t:
                sandbox.fail(t)
            value = UNDEFINED if raw is None else loads(raw)
            latency = perf_counter() - start
            self._metrics.record(cached, latency)
            # Remember the key only when the decision was stored: probing
            # for one never cached (TTL 0) would cost a second crossing.
            if expires_ms > now_ms:
                if len(self._keys) >= _KEY_MEMO:
                    self._keys.clear()
                self._keys[memo] = (sandbox.generation, self.engine._revision, key,
                                    key.encode())
        return _decision(value, cached, latency * 1000, key)

    def _probe(self, memo: Memo, start: float) -> Decision | None:
        """The cached decision for a request decided before, read inline
        with one cache lookup; None when unknown, stale or not cached."""
        known = self._keys.get(memo)
        if known is None:
            return None
        generation, revision, key, key_utf8 = known
        sandbox = self._sandbox
        with sandbox.lock:
            if (generation != sandbox.generation or revision != self.engine._revision
                    or self._closed):
                return None
            try:
                raw = sandbox.abi.cache_get(self._handle, key_utf8, to_ms(self._clock()))
            except Trapped as t:
                sandbox.fail(t)
            if raw is None:
                return None
            # An undefined decision is cached as the empty string.
            value = loads(raw) if raw else UNDEFINED
            latency = perf_counter() - start
            self._metrics.record(True, latency)
        return _decision(value, True, latency * 1000, key)

    async def decide_async(
        self,
        user: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
        sensitivity: Sensitivity | str | None = None,
        *,
        rule: str | None = None,
        ttl_seconds: float | None = None,
    ) -> Decision:
        """`decide` for the event loop. A request decided before and still
        cached is answered inline (one cache lookup, microseconds); anything
        that may evaluate runs in a worker thread, since evaluation can take
        up to the deadline. Raises as `decide`."""
        start = perf_counter()
        memo = (rule or self.rule, user, action, resource, context_text(context))
        hit = self._probe(memo, start)
        if hit is not None:
            return hit
        return await asyncio.to_thread(
            self._decide, memo, context, sensitivity, ttl_seconds, start)

    # -- cache housekeeping and metrics -----------------------------------------

    def clear(self) -> None:
        """Drops every cached decision."""
        self._sandbox.call(lambda abi: abi.call("cache.clear", self._handle))

    def size(self) -> int:
        """Cached decisions held, live or not yet cleaned up."""
        size: int = self._sandbox.call(lambda abi: abi.call("cache.size", self._handle))
        return size

    def cleanup_expired(self) -> int:
        """Removes the decisions expired by now; returns how many."""
        now_ms = to_ms(self._clock())
        removed: int = self._sandbox.call(
            lambda abi: abi.call("cache.cleanup-expired", self._handle, now_ms))
        return removed

    def get_metrics(self) -> dict[str, Any]:
        """Metrics in `PolicyCache.get_metrics`'s shape, counting decisions:
        a hit is a decision served from the cache, a miss one evaluated;
        plus the engine's evaluation metrics (`rvm_evaluations`,
        `interpreter_evaluations`, `rvm_programs_compiled`, `rvm_fallbacks`:
        see `PolicyEngine.get_metrics`), which count every evaluation of the
        engine and which `reset_metrics` leaves alone."""
        stats = self._sandbox.call(lambda abi: abi.call("cache.stats", self._handle))
        engine = self.engine.get_metrics()
        with self._sandbox.lock:
            metrics = self._metrics.snapshot(
                evictions=stats[2], recycles=self._sandbox.recycles,
                timeouts=self._sandbox.timeouts)
        metrics.update((k, v) for k, v in engine.items() if k not in metrics)
        return metrics

    def reset_metrics(self) -> None:
        """Zeroes the decision metrics, including the component's cache
        counters (not the engine's evaluation counters)."""
        with self._sandbox.lock:
            self._metrics.reset(self._sandbox.recycles, self._sandbox.timeouts)
            self._sandbox.call(lambda abi: abi.call("cache.reset-stats", self._handle))

    def prometheus(self, prefix: str = "sark_policy_decisions") -> str:
        """The metrics in Prometheus text format: the decision metrics under
        `prefix`, then the engine's evaluation metrics (see
        `PolicyEngine.prometheus`)."""
        stats = self._sandbox.call(lambda abi: abi.call("cache.stats", self._handle))
        engine = self.engine.prometheus()
        with self._sandbox.lock:
            snapshot = self._metrics.snapshot(
                evictions=stats[2], recycles=self._sandbox.recycles,
                timeouts=self._sandbox.timeouts)
            return prometheus_text(self._metrics, prefix, snapshot, entries=stats[4]) + engine

    def close(self) -> None:
        """Drops the decision cache in the guest (the engine stays usable);
        `decide` then raises `OtherPolicyError`."""
        with self._sandbox.lock:
            if not self._closed:
                self._closed = True
                self._sandbox.forget(self._rebuild)
                self._sandbox.call(lambda abi: abi.drop(self._resource))
