"""Pools of instances: sharded caches, evaluations on any free instance,
changes that reach every instance at once, merged metrics."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from sark_policy import (
    UNDEFINED,
    Authorizer,
    InvalidPolicyError,
    PolicyCache,
    PolicyEngine,
    PolicyTimeoutError,
    SandboxLimits,
)

from .conftest import AUTHZ
from .test_sandbox import SLOW

RULE = "data.authz.allow"
# About half a second of evaluation on this machine (0.6 us per element),
# little memory: a rule that keeps one instance busy while others answer.
BUSY = "package busy\nspin := count([x | some x in numbers.range(1, 800000); x < 0])\n"


def _engine(pool_size: int, **kwargs: Any) -> PolicyEngine:
    e = PolicyEngine(pool_size=pool_size, **kwargs)
    e.add_policy("authz.rego", AUTHZ)
    e.add_data({"admins": ["root"], "roles": {"alice": "reader"}})
    return e


def test_pool_size_is_checked_and_reported() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            PolicyEngine(pool_size=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            PolicyCache(pool_size=bad)  # type: ignore[arg-type]
    assert PolicyEngine().pool_size == 1
    assert PolicyEngine(pool_size=3).pool_size == 3


def test_every_instance_answers_the_same() -> None:
    e = _engine(3)
    for sandbox in e._pool.sandboxes:  # each instance, asked directly
        handle = e._handles[sandbox.index]
        with sandbox.lock:
            assert sandbox.abi.eval_rule(handle, RULE, '{"user": "root"}') == "true"
            assert sandbox.abi.call("engine.revision", handle) == e.revision
    assert [e.evaluate(RULE, {"user": u}) for u in ("root", "bob")] == [True, False]
    assert e.policies() == ["authz.rego"] and e.packages() == ["data.authz"]


def test_the_first_instance_decides_a_change() -> None:
    e = _engine(3)
    revision = e.revision
    with pytest.raises(InvalidPolicyError):
        e.add_policy("bad.rego", "package bad\nx := \n")
    assert e.revision == revision
    for sandbox in e._pool.sandboxes:
        with sandbox.lock:
            assert sandbox.abi.call("engine.policies", e._handles[sandbox.index]) == ["authz.rego"]


def test_the_same_request_meets_the_same_cache() -> None:
    e = _engine(4)
    a = Authorizer(e, RULE, max_size=400)
    users = [f"u{i}" for i in range(60)]
    assert [a.decide(u, "read", "doc").cached for u in users] == [False] * 60
    a._keys.clear()  # forget the keys: the next calls go through `authorizer.decide`
    assert [a.decide(u, "read", "doc").cached for u in users] == [True] * 60
    sizes = a._each("cache.size")
    assert sum(sizes) == a.size() == 60
    assert sum(1 for n in sizes if n) > 1  # spread over the instances
    m = a.get_metrics()
    assert (m["hits"], m["misses"], m["rvm_evaluations"]) == (60, 60, 60)


def test_a_sharded_policy_cache() -> None:
    c = PolicyCache(pool_size=4, max_size=400)
    for i in range(60):
        assert c.set_sync(f"u{i}", "read", "doc", {"i": i}, {"n": i})
    c._keys.clear()
    assert [c.get_sync(f"u{i}", "read", "doc", {"n": i}) for i in range(60)] == [
        {"i": i} for i in range(60)]
    assert c.size_sync() == 60 and c.get_metrics()["hits"] == 60
    assert c.delete_sync("u3", "read", "doc", {"n": 3}) is True
    assert c.cleanup_expired_sync() == 0 and c.size_sync() == 59
    assert c.health_check_sync() is True
    assert "sark_policy_cache_entries 59" in c.prometheus()
    assert c.clear_sync() is True and c.size_sync() == 0
    c.close()
    assert c.get_sync("u1", "read", "doc") is None


def test_metrics_merge_over_the_instances() -> None:
    e = _engine(2, limits=SandboxLimits(deadline_ms=100))
    e.add_policy("slow.rego", SLOW)
    for sandbox in e._pool.sandboxes:  # one evaluation in each instance
        with sandbox.lock:
            sandbox.abi.eval_rule(e._handles[sandbox.index], RULE, b"{}")
    with pytest.raises(PolicyTimeoutError):
        e.evaluate("data.slow.spin")
    m = e.get_metrics()
    # The trapped instance starts its counters over: the other one's remain.
    assert (m["rvm_evaluations"], m["recycles"], m["timeouts"]) == (1, 1, 1)
    assert e.evaluate(RULE, {"user": "root"}) is True  # the recycled instance replayed


def test_a_recycled_instance_rejoins_with_the_state_and_an_empty_cache() -> None:
    e = _engine(2)
    a = Authorizer(e, RULE)
    users = [f"u{i}" for i in range(20)]
    for u in users:
        a.decide(u, "read", "doc")
    e._pool.sandboxes[1].recycle()  # what a trap does, without the trap
    assert e.recycles == 1
    sizes = a._each("cache.size")
    assert sizes[1] == 0 and sizes[0] > 0
    again = [a.decide(u, "read", "doc") for u in users]
    assert sum(not d.cached for d in again) == 20 - sizes[0]
    assert all(d.value is False for d in again)
    assert e.evaluate(RULE, {"user": "root"}) is True


def test_two_threads_evaluate_at_once_on_one_engine() -> None:
    e = _engine(2, limits=SandboxLimits(deadline_ms=30_000))
    e.add_policy("busy.rego", BUSY)
    busy_done = threading.Event()
    started = threading.Event()
    result: list[Any] = []
    fast: list[Any] = []

    def slow() -> None:
        started.set()
        result.append(e.evaluate("data.busy.spin"))
        busy_done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    started.wait()
    while not busy_done.is_set():
        answer = e.evaluate(RULE, {"user": "root"})
        if not busy_done.is_set():
            fast.append(answer)
    thread.join()
    assert result == [0]
    assert len(fast) > 0 and all(v is True for v in fast)


def test_decisions_never_see_half_a_change() -> None:
    """One thread alternates policy and data changes; each state is a step
    whose policy and data carry their step number. Deciding threads must
    see states that existed, never going back (an instance lagging behind
    another), and the value the key's revision had."""
    e = PolicyEngine(pool_size=3)
    a = Authorizer(e, "data.t.v")

    def policy(step: int) -> str:
        return f'package t\nv := {{"p": {step}, "d": data.step}}\n'

    e.add_policy("t.rego", policy(0))
    e.replace_data({"step": 0})
    # Odd steps change the policy, even steps the data.
    states = [(0, 0)]
    for step in range(1, 161):
        p, d = states[-1]
        states.append((step, d) if step % 2 else (p, step))
    by_revision = {e.revision: (0, 0)}
    done = threading.Event()
    errors: list[str] = []

    def flip() -> None:
        for step in range(1, len(states)):
            if step % 2:
                e.add_policy("t.rego", policy(step))
            else:
                e.replace_data({"step": step})
            by_revision[e.revision] = states[step]
        done.set()

    def decide(n: int) -> None:
        last, i = 0, 0
        while not done.is_set():
            i += 1
            if i % 2:
                v = e.evaluate("data.t.v")
            else:
                decision = a.decide(f"u{n}", "read", f"doc{i}")
                v = decision.value
                revision = int(re.findall(r"@(\d+):", decision.key)[0])
                seen.append((revision, (v["p"], v["d"])))
            pair = (v["p"], v["d"])
            step = max(pair)
            if states[step] != pair or step < last:
                errors.append(f"thread {n}: {pair} after step {last}")
            last = step

    seen: list[tuple[int, tuple[int, int]]] = []
    threads = [threading.Thread(target=decide, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=flip))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert seen and all(by_revision[r] == pair for r, pair in seen)


def test_options_and_strict_reach_every_instance() -> None:
    e = _engine(2, interpreter_only=True)
    e.set_strict_builtin_errors(True)
    e.add_policy("s.rego", 'package s\nn := to_number("x")\n')
    for sandbox in e._pool.sandboxes:
        with sandbox.lock:
            assert sandbox.abi.call("engine.eval-options", e._handles[sandbox.index])[0] is True
    e.set_eval_options(max_instructions=77)
    for sandbox in e._pool.sandboxes:
        with sandbox.lock:
            assert sandbox.abi.call("engine.eval-options", e._handles[sandbox.index]) == (
                False, 77)
    assert e.evaluate("data.authz.role", {"user": "bob"}) is UNDEFINED
    e.close()
    assert all(s.closed for s in e._pool.sandboxes)
