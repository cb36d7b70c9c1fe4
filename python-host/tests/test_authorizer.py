"""Authorizer: the one-crossing cached decision."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

import sark_policy._authorizer as authorizer_module
from sark_policy import UNDEFINED, Authorizer, Decision, OtherPolicyError, PolicyEngine

from .conftest import FakeClock

RULE = "data.authz.allow"


def test_miss_then_hit(engine: PolicyEngine) -> None:
    a = Authorizer(engine, RULE)
    first = a.decide("root", "read", "doc")
    second = a.decide("root", "read", "doc")
    assert (first.value, first.cached, second.value, second.cached) == (True, False, True, True)
    assert first.key == second.key
    assert first.latency_ms > 0 and second.latency_ms > 0
    assert first.allowed and first.defined
    empty = hashlib.sha256(b"{}").hexdigest()  # the stored key has the full hash
    assert first.key.startswith(f"policy:decision:root:read:doc:{empty}:{RULE}@{engine.revision}:")
    assert a.size() == 1


def test_input_shape_and_context(engine: PolicyEngine) -> None:
    a = Authorizer(engine, RULE)
    assert a.decide("bob", "read", "doc", {"team": "blue"}).value is True
    assert a.decide("bob", "read", "doc", {"team": "red"}).value is False
    assert a.decide("bob", "write", "doc", {"team": "blue"}).value is False
    d = a.decide("bob", "read", "doc", {"team": "blue"})
    assert d.cached and d.value is True


def test_rule_override_and_undefined_is_cached(engine: PolicyEngine) -> None:
    a = Authorizer(engine, RULE)
    d = a.decide("bob", "read", "doc", rule="data.authz.role")
    assert d.value is UNDEFINED and not d.defined and not d.allowed and not d.cached
    d = a.decide("bob", "read", "doc", rule="data.authz.role")
    assert d.value is UNDEFINED and d.cached
    d = a.decide("alice", "read", "doc", rule="data.authz.role")
    assert d.value == "reader"
    assert a.decide("alice", "read", "doc").key != d.key  # keys are scoped by rule


def test_policy_or_data_change_never_serves_stale(engine: PolicyEngine) -> None:
    a = Authorizer(engine, RULE)
    assert a.decide("bob", "write", "doc").value is False
    assert a.decide("bob", "write", "doc").cached
    engine.replace_data({"admins": ["bob"]})
    d = a.decide("bob", "write", "doc")
    assert (d.value, d.cached) == (True, False)
    engine.add_policy("authz.rego", "package authz\nallow := false\n")
    d = a.decide("bob", "write", "doc")
    assert (d.value, d.cached) == (False, False)


def test_ttl_by_sensitivity(engine: PolicyEngine, clock: FakeClock) -> None:
    a = Authorizer(engine, RULE, clock=clock)
    a.decide("root", "read", "doc", sensitivity="critical")
    clock.advance(59.999)
    assert a.decide("root", "read", "doc").cached
    clock.advance(0.001)
    assert not a.decide("root", "read", "doc", sensitivity="public").cached
    clock.advance(299.999)
    assert a.decide("root", "read", "doc").cached
    clock.advance(0.001)
    assert not a.decide("root", "read", "doc", ttl_seconds=0).cached
    assert not a.decide("root", "read", "doc").cached  # TTL 0 stored nothing


def test_optimized_ttl_off(engine: PolicyEngine, clock: FakeClock) -> None:
    a = Authorizer(engine, RULE, clock=clock, ttl_seconds=10, use_optimized_ttl=False)
    a.decide("root", "read", "doc", sensitivity="public")
    clock.advance(10)
    assert not a.decide("root", "read", "doc").cached


def test_cache_housekeeping_and_metrics(engine: PolicyEngine, clock: FakeClock) -> None:
    a = Authorizer(engine, RULE, clock=clock, max_size=2)
    a.decide("u1", "read", "doc", sensitivity="critical")
    a.decide("u2", "read", "doc", sensitivity="public")
    a.decide("u2", "read", "doc")
    clock.advance(61)
    assert a.cleanup_expired() == 1
    a.decide("u3", "read", "doc")
    a.decide("u4", "read", "doc")  # evicts u2
    m = a.get_metrics()
    assert (m["hits"], m["misses"], m["evictions"], m["hit_rate"]) == (1, 4, 1, 20.0)
    assert "sark_policy_decisions_hits_total 1" in a.prometheus()
    a.reset_metrics()
    assert a.get_metrics()["total_requests"] == 0
    a.clear()
    assert a.size() == 0


def test_decide_async_answers_hits_inline(
    engine: PolicyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Authorizer(engine, RULE)
    hops: list[str] = []
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(func.__name__)
        return await real_to_thread(func, *args, **kwargs)

    monkeypatch.setattr(authorizer_module.asyncio, "to_thread", counting_to_thread)

    async def main() -> list[Decision]:
        return [await a.decide_async("root", "read", "doc", {"team": "x"}) for _ in range(3)]

    decisions = asyncio.run(main())
    assert [d.cached for d in decisions] == [False, True, True]
    assert all(d.value is True for d in decisions)
    assert hops == ["_decide"]  # only the evaluation went to a thread
    engine.add_data({"extra": 1})  # new revision: the next one evaluates again
    assert asyncio.run(a.decide_async("root", "read", "doc", {"team": "x"})).cached is False
    assert hops == ["_decide", "_decide"]
    assert a.get_metrics()["hits"] == 2


def test_decide_async_undefined_hit(engine: PolicyEngine) -> None:
    a = Authorizer(engine, RULE)

    async def main() -> list[Decision]:
        return [await a.decide_async("bob", "r", "d", rule="data.authz.role") for _ in range(2)]

    first, second = asyncio.run(main())
    assert first.value is UNDEFINED and second.value is UNDEFINED
    assert (first.cached, second.cached) == (False, True)


def test_two_authorizers_share_the_engine_not_the_cache(engine: PolicyEngine) -> None:
    a, b = Authorizer(engine, RULE), Authorizer(engine, RULE)
    a.decide("root", "read", "doc")
    assert not b.decide("root", "read", "doc").cached
    b.close()
    with pytest.raises(OtherPolicyError):
        b.decide("root", "read", "doc")
    assert a.decide("root", "read", "doc").cached  # closing b left a alone


def test_decision_is_frozen() -> None:
    d = Decision(True, False, 0.1, "k")
    with pytest.raises(AttributeError):
        d.value = False  # type: ignore[misc]
