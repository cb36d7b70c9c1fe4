"""Sandbox: deadline and memory cap, recycling, and the state replayed."""

from __future__ import annotations

import time

import pytest

from sark_policy import (
    Authorizer,
    EvaluationError,
    PolicyEngine,
    PolicyTimeoutError,
    SandboxLimits,
    SandboxMemoryError,
    SandboxTrapError,
)

from .conftest import AUTHZ

# 9 million iterations, no memory to speak of: only the deadline stops it.
SLOW = """package slow
spin := count([1 | some x in numbers.range(1, 3000); some y in numbers.range(1, 3000); x == 0 - y])
"""
# A 50-million element array: only the memory cap stops it.
HUGE = """package huge
array := [x | some x in numbers.range(1, 50000000)]
"""


def _engine(limits: SandboxLimits) -> PolicyEngine:
    e = PolicyEngine(limits=limits, strict_builtin_errors=True)
    e.add_policy("authz.rego", AUTHZ)
    e.add_policy("strict.rego", 'package strict\nn := to_number("x")\n')
    e.add_data({"admins": ["root"], "roles": {"alice": "reader"}})
    return e


def _answers(e: PolicyEngine) -> tuple[object, ...]:
    with pytest.raises(EvaluationError):  # the strict setting survived
        e.evaluate("data.strict.n")
    return (
        e.policies(),
        e.evaluate("data.authz.allow", {"user": "root"}),
        e.evaluate("data.authz.allow", {"user": "bob"}),
        e.evaluate("data.authz.role", {"user": "alice"}),
    )


def test_deadline_stops_a_runaway_rule_and_the_next_call_succeeds() -> None:
    e = _engine(SandboxLimits(deadline_ms=100))
    e.add_policy("slow.rego", SLOW)
    before = _answers(e)
    start = time.perf_counter()
    with pytest.raises(PolicyTimeoutError) as info:
        e.evaluate("data.slow.spin")
    took = time.perf_counter() - start
    assert 0.09 < took < 2.0
    assert isinstance(info.value, SandboxTrapError)
    assert "interrupt" in info.value.detail
    assert (e.recycles, e.timeouts) == (1, 1)
    assert _answers(e) == before
    assert e.policies() == ["authz.rego", "slow.rego", "strict.rego"]


def test_memory_cap_stops_a_huge_array_and_the_next_call_succeeds() -> None:
    e = _engine(SandboxLimits(memory_bytes=64 << 20))
    e.add_policy("huge.rego", HUGE)
    before = _answers(e)
    with pytest.raises(SandboxMemoryError) as info:
        e.evaluate("data.huge.array")
    assert "64 MiB" in info.value.message
    assert (e.recycles, e.timeouts) == (1, 0)
    assert _answers(e) == before
    with pytest.raises(SandboxMemoryError):  # it fails the same way again
        e.evaluate("data.huge.array")
    assert e.recycles == 2
    assert _answers(e) == before


def test_recycle_loses_the_decision_cache_and_counts_it() -> None:
    e = _engine(SandboxLimits(deadline_ms=100))
    e.add_policy("slow.rego", SLOW)
    a = Authorizer(e, "data.authz.allow")
    a.decide("root", "read", "doc")
    assert a.decide("root", "read", "doc").cached
    with pytest.raises(PolicyTimeoutError):
        a.decide("root", "read", "doc", rule="data.slow.spin")
    assert a.size() == 0
    first = a.decide("root", "read", "doc")
    assert (first.value, first.cached) == (True, False)
    assert a.decide("root", "read", "doc").cached
    m = a.get_metrics()
    assert (m["recycles"], m["timeouts"]) == (1, 1)
    assert "sark_policy_decisions_recycles_total 1" in a.prometheus()


def test_limits_defaults_and_ticks() -> None:
    limits = SandboxLimits()
    assert (limits.deadline_ms, limits.load_deadline_ms, limits.memory_bytes) == (
        1000.0, 30_000.0, 256 << 20)
    assert limits.ticks(100) == 21 and limits.ticks(1) == 2
