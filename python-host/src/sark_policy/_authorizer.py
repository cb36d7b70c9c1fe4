"""`Authorizer`: the cached decision in one crossing."""

from __future__ import annotations

import asyncio
import enum
import time
from time import time_ns
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from time import perf_counter
from typing import Any, Final

from wasmtime.component import ResourceAny

from ._abi import Trapped
from ._decision_log import DecisionLog, DecisionLogConfig
from ._engine import PolicyEngine
from ._errors import InvalidJsonError, OtherPolicyError, PolicyError
from ._log_status import prometheus_decision_log_text
from ._json import UNDEFINED, context_text, loads
from ._metrics import Metrics, prometheus_text
from ._pool import CacheSlots
from ._sandbox import Sandbox
from ._ttl import Clock, Sensitivity, TtlPolicy, to_ms

__all__ = ["Authorizer", "Decision"]

_KEY_MEMO = 65536  # keys remembered before the memo starts over

# (rule, user, action, resource, context JSON)
Memo = tuple[str, str, str, str, bytes | str]
# What the memo knows of a request: (instance, generation, revision, key,
# key as UTF-8).
Known = tuple[int, int, int, str, bytes]


class _Busy(enum.Enum):
    """What a probe that would have to wait for its instance returns."""

    BUSY = enum.auto()


_BUSY: Final = _Busy.BUSY


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request.

    `value` is the rule's value (`UNDEFINED` when the rule is undefined),
    `cached` whether it came from the cache, `latency_ms` the time the call
    took as seen from Python, `key` the cache key it is stored under (the
    seed key scoped by rule and engine revision), `decision_id` the id of
    its decision-log event (a UUID; None without a decision log).
    """

    value: Any
    cached: bool
    latency_ms: float
    key: str
    decision_id: str | None = None

    @property
    def audit_id(self) -> str | None:
        """`decision_id`, by the seed gateway's name."""
        return self.decision_id

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
_set_id = Decision.__dict__["decision_id"].__set__


def _decision(value: Any, cached: bool, latency_ms: float, key: str,
              decision_id: str | None = None) -> Decision:
    """`Decision(value, cached, latency_ms, key, decision_id)`, faster."""
    d: Decision = _new_decision(Decision)
    _set_value(d, value)
    _set_cached(d, cached)
    _set_latency(d, latency_ms)
    _set_key(d, key)
    _set_id(d, decision_id)
    return d


class Authorizer(CacheSlots):
    """Decides requests with a rule of a `PolicyEngine`, caching each
    decision in a cache that lives in the engine's instances: key, lookup,
    evaluation on a miss and store happen in one call into the component.
    Requests seen before are answered with one cache lookup (see `decide`).

    The input the rule sees is `{"user", "action", "resource", "context"}`.
    Decisions are cached per rule and engine revision, so a policy or data
    change never serves a stale one. Errors are raised (`PolicyError`
    subclasses) and never cached. Thread-safe. With an engine pool of N
    instances the cache is sharded: each instance holds the decisions of
    the requests that hash to it (`max_size / N` of them, rounded up), so
    the same request always meets the same cache, and N threads decide in
    parallel. After a trap the trapped instance's cache starts empty.

    With `decision_log` (a `DecisionLogConfig`) every decision is also an
    OPA decision-log event, made and masked in the instance in the same
    crossing, and shipped by an uploader thread (`decision_log` is then
    the `DecisionLog`: `flush`, `status`, `start_async`); each `Decision`
    carries its event's `decision_id`. A decide call never waits on the
    network.
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
        decision_log: DecisionLogConfig | None = None,
    ) -> None:
        """An authorizer deciding with `rule` (e.g. `data.authz.allow`) and
        a cache of `max_size` entries over the engine's pool; TTLs as in
        `TtlPolicy`; decisions logged as `decision_log` says (the uploader
        thread starts here). Raises `LimitExceededError` when `max_size`
        is 0, `OtherPolicyError` for an erase path not under `/input` or
        `/result`."""
        self.engine = engine
        self.rule = rule
        self.max_size = max_size
        self.ttl = TtlPolicy(ttl_seconds, use_optimized_ttl)
        self._clock = clock
        self._pool = pool = engine._pool
        self._sandboxes = pool.sandboxes
        n = pool.size
        self._capacity = -(-max_size // n)
        # Per instance, indexed by `Sandbox.index`: each records under its
        # own lock.
        self._metrics = [Metrics() for _ in range(n)]
        self._resources: list[ResourceAny | None] = [None] * n
        self._handles = [0] * n
        # The engine's lists, updated in place.
        self._engines = engine._handles
        self._revisions = engine._revisions
        self._keys: dict[Memo, Known] = {}
        self._closed = False
        for sandbox in pool.sandboxes:
            with sandbox.loading() as abi:
                self._create(sandbox, abi)
        pool.on_recycle(self._rebuild)
        # After the caches: a recycle rebuilds the engine, caches, then logs.
        self.decision_log = None if decision_log is None else DecisionLog(decision_log, pool)

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
        (key, lookup, evaluation on a miss, store) on the instance its
        request hashes to. With a decision log every decision takes one
        `authorizer.decide-logged` call instead, which also records its
        event, except the cached decisions `cached_sample` leaves unlogged
        (answered as without a log, with an id of their own). Raises `InvalidJsonError`, `NotFoundError`,
        `EvaluationError`, `LimitExceededError`, or after a trap
        `PolicyTimeoutError` / `SandboxTrapError`."""
        start = perf_counter()
        memo = (rule or self.rule, user, action, resource, context_text(context))
        log = self.decision_log
        if log is not None:
            if log.sampling:
                known = self._keys.get(memo)
                if known is not None and log.skips_cached():
                    hit = self._probe(memo, known, start, True)
                    if isinstance(hit, Decision):
                        _set_id(hit, log.new_id())
                        return hit
            return self._decide_logged(memo, sensitivity, ttl_seconds, start)
        known = self._keys.get(memo)
        if known is not None:
            hit = self._probe(memo, known, start, True)
            if isinstance(hit, Decision):
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
        if self.decision_log is not None:
            return self._decide_logged(memo, sensitivity, ttl_seconds, start)
        if self._closed:
            raise OtherPolicyError("the authorizer is closed")
        rule, user, action, resource, ctx = memo
        now_ms, expires_ms = self.ttl.window(self._clock(), sensitivity, ttl_seconds)
        i = self._pool.shard_for(memo)
        sandbox = self._sandboxes[i]
        with sandbox.lock:
            try:
                raw, cached, key = sandbox.abi.decide(
                    self._engines[i], self._handles[i], rule, user, action, resource, ctx,
                    now_ms, expires_ms)
            except Trapped as t:
                sandbox.fail(t)
            value = UNDEFINED if raw is None else loads(raw)
            latency = perf_counter() - start
            self._metrics[i].record(cached, latency)
            # Remember the key only when the decision was stored: probing
            # for one never cached (TTL 0) would cost a second crossing.
            if expires_ms > now_ms:
                if len(self._keys) >= _KEY_MEMO:
                    self._keys.clear()
                self._keys[memo] = (i, sandbox.generation, self._revisions[i], key,
                                    key.encode())
        return _decision(value, cached, latency * 1000, key)

    def _decide_logged(self, memo: Memo, sensitivity: Sensitivity | str | None,
                       ttl_seconds: float | None, start: float) -> Decision:
        """The `authorizer.decide-logged` crossing."""
        if self._closed:
            raise OtherPolicyError("the authorizer is closed")
        log = self.decision_log
        assert log is not None
        rule, user, action, resource, ctx = memo
        now_ms, expires_ms = self.ttl.window(self._clock(), sensitivity, ttl_seconds)
        i = self._pool.shard_for(memo)
        sandbox = self._sandboxes[i]
        with sandbox.lock:
            try:
                raw, cached, key, decision_id = sandbox.abi.decide_logged(
                    self._engines[i], self._handles[i], log.handles[i], rule, user, action,
                    resource, ctx, now_ms, expires_ms, time_ns())
            except Trapped as t:
                sandbox.fail(t)
            except InvalidJsonError:  # raised before any event
                raise
            except PolicyError:  # a failed evaluation is logged
                log.note(i, False)
                raise
            log.note(i, cached)
            value = UNDEFINED if raw is None else loads(raw)
            latency = perf_counter() - start
            self._metrics[i].record(cached, latency)
            if expires_ms > now_ms:  # for `decide_async`'s probe
                if len(self._keys) >= _KEY_MEMO:
                    self._keys.clear()
                self._keys[memo] = (i, sandbox.generation, self._revisions[i], key,
                                    key.encode())
        return _decision(value, cached, latency * 1000, key, decision_id)

    def _probe_logged(self, memo: Memo, known: Known, start: float) -> Decision | _Busy | None:
        """`_probe` with a decision log, never waiting: when the request's
        instance is free and holds its decision, the logged decision (a
        cache lookup, then `decide-logged`, which then only finds it in the
        cache and records the event: no evaluation on the loop)."""
        i, generation, revision, _key, key_utf8 = known
        sandbox = self._sandboxes[i]
        log = self.decision_log
        assert log is not None
        if not sandbox.lock.acquire(False):
            return _BUSY
        try:
            if (generation != sandbox.generation or revision != self._revisions[i]
                    or self._closed):
                return None
            now_ms = to_ms(self._clock())
            abi = sandbox.abi
            try:
                if abi.cache_get(self._handles[i], key_utf8, now_ms) is None:
                    return None
                rule, user, action, resource, ctx = memo
                raw, cached, key, decision_id = abi.decide_logged(
                    self._engines[i], self._handles[i], log.handles[i], rule, user, action,
                    resource, ctx, now_ms, now_ms, time_ns())
            except Trapped as t:
                sandbox.fail(t)
            log.note(i, cached)
            value = UNDEFINED if raw is None else loads(raw)
            latency = perf_counter() - start
            self._metrics[i].record(cached, latency)
        finally:
            sandbox.lock.release()
        return _decision(value, cached, latency * 1000, key, decision_id)

    def _probe(self, memo: Memo, known: Known, start: float, wait: bool
               ) -> Decision | _Busy | None:
        """The cached decision for a request decided before (`known` is its
        memo entry), read with one cache lookup; None when stale or not
        cached. Without `wait`, `_BUSY` when the request's instance is
        busy."""
        i, generation, revision, key, key_utf8 = known
        sandbox = self._sandboxes[i]
        lock = sandbox.lock
        if not lock.acquire(wait):
            return _BUSY
        try:
            if (generation != sandbox.generation or revision != self._revisions[i]
                    or self._closed):
                return None
            try:
                raw = sandbox.abi.cache_get(self._handles[i], key_utf8, to_ms(self._clock()))
            except Trapped as t:
                sandbox.fail(t)
            if raw is None:
                return None
            # An undefined decision is cached as the empty string.
            value = loads(raw) if raw else UNDEFINED
            latency = perf_counter() - start
            self._metrics[i].record(True, latency)
        finally:
            lock.release()
        return _decision(value, True, latency * 1000, key)

    def _decide_after_wait(
        self,
        memo: Memo,
        context: Mapping[str, Any] | None,
        sensitivity: Sensitivity | str | None,
        ttl_seconds: float | None,
        start: float,
    ) -> Decision:
        """`decide` for a memo whose instance was busy: waits for it."""
        if self.decision_log is not None:
            return self._decide_logged(memo, sensitivity, ttl_seconds, start)
        known = self._keys.get(memo)
        hit = None if known is None else self._probe(memo, known, start, True)
        if isinstance(hit, Decision):
            return hit
        return self._decide(memo, context, sensitivity, ttl_seconds, start)

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
        """`decide` for the event loop, which it never blocks: a request
        decided before and still cached is answered inline (one cache
        lookup, microseconds) when its instance is free; one that may
        evaluate runs in a worker thread; one whose instance is busy with
        another call (an evaluation, a policy or data change) is queued to
        that instance's worker thread (see `Worker`). With a decision log
        the same holds, the inline answer taking a second crossing that
        records the event. Raises as `decide`."""
        start = perf_counter()
        memo = (rule or self.rule, user, action, resource, context_text(context))
        known = self._keys.get(memo)
        log = self.decision_log
        if known is not None:
            if log is None:
                hit = self._probe(memo, known, start, False)
            elif log.sampling and log.skips_cached():
                hit = self._probe(memo, known, start, False)
                if isinstance(hit, Decision):
                    _set_id(hit, log.new_id())
            else:
                hit = self._probe_logged(memo, known, start)
            if hit is _BUSY:
                decision: Decision = await self._sandboxes[known[0]].worker.submit(
                    self._decide_after_wait, memo, context, sensitivity, ttl_seconds, start)
                return decision
            if hit is not None:
                return hit
        return await asyncio.to_thread(
            self._decide, memo, context, sensitivity, ttl_seconds, start)

    # -- cache housekeeping and metrics -----------------------------------------

    def _each(self, name: str, *args: Any) -> list[Any]:
        """Calls the cache function `name` in every instance, in turn."""
        return [
            s.call(lambda abi: abi.call(name, self._handles[s.index], *args))
            for s in self._sandboxes
        ]

    def clear(self) -> None:
        """Drops every cached decision."""
        self._each("cache.clear")

    def size(self) -> int:
        """Cached decisions held, live or not yet cleaned up."""
        return sum(self._each("cache.size"))

    def cleanup_expired(self) -> int:
        """Removes the decisions expired by now; returns how many."""
        return sum(self._each("cache.cleanup-expired", to_ms(self._clock())))

    def _snapshot(self) -> tuple[dict[str, Any], Metrics, int]:
        """The decision metrics merged over the instances, the merged
        recorder, and the entries held."""
        copies, evictions, entries = [], 0, 0
        for s in self._sandboxes:
            with s.lock:
                stats = s.call(lambda abi: abi.call("cache.stats", self._handles[s.index]))
                copies.append(self._metrics[s.index].copy())
            evictions += stats[2]
            entries += stats[4]
        merged = Metrics.combined(copies)
        snapshot = merged.snapshot(evictions=evictions, recycles=self._pool.recycles,
                                   timeouts=self._pool.timeouts)
        return snapshot, merged, entries

    def get_metrics(self) -> dict[str, Any]:
        """Metrics in `PolicyCache.get_metrics`'s shape, counting decisions
        over every instance: a hit is a decision served from the cache, a
        miss one evaluated; plus the engine's evaluation metrics
        (`rvm_evaluations`, `interpreter_evaluations`,
        `rvm_programs_compiled`, `rvm_fallbacks`: see
        `PolicyEngine.get_metrics`), which count every evaluation of the
        engine and which `reset_metrics` leaves alone; with a decision log,
        `decision_log`: its `DecisionLogStatus` as a dict."""
        metrics = self._snapshot()[0]
        engine = self.engine.get_metrics()
        metrics.update((k, v) for k, v in engine.items() if k not in metrics)
        if self.decision_log is not None:
            metrics["decision_log"] = asdict(self.decision_log.status())
        return metrics

    def reset_metrics(self) -> None:
        """Zeroes the decision metrics, including the component's cache
        counters (not the engine's evaluation counters)."""
        for s in self._sandboxes:
            with s.lock:
                self._metrics[s.index].reset(s.recycles, s.timeouts)
                s.call(lambda abi: abi.call("cache.reset-stats", self._handles[s.index]))

    def prometheus(self, prefix: str = "sark_policy_decisions") -> str:
        """The metrics in Prometheus text format: the decision metrics under
        `prefix`, then the engine's evaluation metrics (see
        `PolicyEngine.prometheus`), then the decision log's status
        (`sark_policy_decision_log_*`, see `DecisionLogStatus`)."""
        snapshot, merged, entries = self._snapshot()
        engine = self.engine.prometheus()
        text = prometheus_text(merged, prefix, snapshot, entries=entries) + engine
        if self.decision_log is not None:
            text += prometheus_decision_log_text(self.decision_log.status())
        return text

    def close(self) -> None:
        """Uploads the decision log's events (see `DecisionLog.close`), drops
        the decision caches and logs in the guest (the engine stays
        usable); `decide` then raises `OtherPolicyError`."""
        if self.decision_log is not None:
            self.decision_log.close()
        with self._pool.locked_all() as sandboxes:
            if not self._closed:
                self._closed = True
                self._pool.forget(self._rebuild)
                for s in sandboxes:
                    resource = self._resources[s.index]
                    if resource is not None:
                        s.call(lambda abi: abi.drop(resource))
