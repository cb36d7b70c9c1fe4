"""PolicyEngine: every public method against the real component."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from sark_policy import UNDEFINED, DocumentLimits, EvaluationError, OtherPolicyError, PolicyEngine

from .conftest import AUTHZ


def test_add_policy_returns_package_and_lists_it() -> None:
    e = PolicyEngine()
    assert e.policies() == [] and e.packages() == []
    assert e.add_policy("z.rego", "package z.inner\nx := 1\n") == "data.z.inner"
    assert e.add_policy("a.rego", "package a\ny := 2\n") == "data.a"
    assert e.add_policy("a2.rego", "package a\nw := 3\n") == "data.a"
    assert e.policies() == ["a.rego", "a2.rego", "z.rego"]
    assert e.packages() == ["data.a", "data.z.inner"]


def test_add_policy_replaces_same_name() -> None:
    e = PolicyEngine()
    e.add_policy("p.rego", "package p\nx := 1\n")
    e.add_policy("p.rego", "package p\nx := 2\n")
    assert e.policies() == ["p.rego"]
    assert e.evaluate("data.p.x") == 2


def test_remove_policy() -> None:
    e = PolicyEngine()
    e.add_policy("p.rego", "package p\nx := 1\n")
    e.remove_policy("p.rego")
    assert e.policies() == []


def test_evaluate_values_undefined_and_null(engine: PolicyEngine) -> None:
    assert engine.evaluate("data.authz.allow", {"user": "root"}) is True
    assert engine.evaluate("data.authz.allow", {"user": "bob"}) is False
    assert engine.evaluate("authz/allow", {"user": "root"}) is True
    assert engine.evaluate("data.authz.role", {"user": "alice"}) == "reader"
    assert engine.evaluate("data.authz.role", {"user": "bob"}) is UNDEFINED
    engine.add_policy("n.rego", "package n\nnothing := null\nobj := {\"a\": [1, 2.5]}\n")
    assert engine.evaluate("data.n.nothing") is None
    assert engine.evaluate("data.n.obj") == {"a": [1, 2.5]}
    assert not UNDEFINED and repr(UNDEFINED) == "UNDEFINED"


def test_evaluate_without_input_sees_no_input() -> None:
    e = PolicyEngine()
    e.add_policy("i.rego", "package i\nhas_input if input\nno_input if not input\n")
    assert e.evaluate("data.i.no_input") is True
    assert e.evaluate("data.i.has_input") is UNDEFINED
    assert e.evaluate("data.i.has_input", {"x": 1}) is True


def test_query_returns_opa_result_set(engine: PolicyEngine) -> None:
    result = engine.query("x := data.roles[name]", None)
    assert [r["bindings"] for r in result] == [{"name": "alice", "x": "reader"}]
    assert result[0]["expressions"][0]["value"] is True
    assert engine.query("data.roles.nobody") == []
    assert engine.query("input.n > 1", {"n": 2})[0]["expressions"][0]["value"] is True


def test_data_add_replace_clear(engine: PolicyEngine) -> None:
    def value(path: str) -> object:
        result = engine.query(path)
        return result[0]["expressions"][0]["value"] if result else UNDEFINED

    engine.add_data('{"admins2": ["x"]}')
    assert value("data.admins2") == ["x"]
    assert value("data.admins") == ["root"]
    engine.replace_data({"admins": ["bob"]})
    assert engine.evaluate("data.authz.allow", {"user": "bob"}) is True
    assert value("data.admins2") is UNDEFINED
    engine.clear_data()
    assert value("data.admins") is UNDEFINED
    assert engine.evaluate("data.authz.allow", {"user": "bob"}) is False


def test_revision_changes_on_every_change(engine: PolicyEngine) -> None:
    seen = [engine.revision]
    for change in (
        lambda: engine.add_policy("x.rego", "package x\ny := 1\n"),
        lambda: engine.add_data({"k": 1}),
        lambda: engine.replace_data({"k": 2}),
        engine.clear_data,
        lambda: engine.remove_policy("x.rego"),
        lambda: engine.set_strict_builtin_errors(True),
    ):
        change()
        seen.append(engine.revision)
    assert len(set(seen)) == len(seen)
    engine.evaluate("data.authz.allow", {"user": "x"})
    assert engine.revision == seen[-1]


def test_strict_builtin_errors() -> None:
    e = PolicyEngine()
    e.add_policy("s.rego", 'package s\nn := to_number("x")\n')
    assert e.strict_builtin_errors is False
    assert e.evaluate("data.s.n") is UNDEFINED
    e.set_strict_builtin_errors(True)
    assert e.strict_builtin_errors is True
    with pytest.raises(EvaluationError):
        e.evaluate("data.s.n")
    strict = PolicyEngine(strict_builtin_errors=True)
    strict.add_policy("s.rego", 'package s\nn := to_number("x")\n')
    with pytest.raises(EvaluationError):
        strict.evaluate("data.s.n")


def test_limits() -> None:
    assert PolicyEngine().limits() == DocumentLimits(max_depth=64, max_bytes=16 << 20)


def test_async_twins(engine: PolicyEngine) -> None:
    async def main() -> tuple[object, object]:
        return (
            await engine.evaluate_async("data.authz.allow", {"user": "root"}),
            await engine.query_async("data.authz.role", {"user": "alice"}),
        )

    allowed, result = asyncio.run(main())
    assert allowed is True
    assert result == [{"expressions": [{"value": "reader", "text": "data.authz.role",
                                        "location": {"row": 1, "col": 1}}]}]


def test_counters_and_close() -> None:
    with PolicyEngine() as e:
        e.add_policy("a.rego", AUTHZ)
        assert (e.recycles, e.timeouts) == (0, 0)
    with pytest.raises(OtherPolicyError, match="closed"):
        e.evaluate("data.authz.allow", {"user": "root"})
    with pytest.raises(OtherPolicyError, match="closed"):
        e.policies()
    e.close()  # idempotent


def test_undefined_is_a_pickleable_singleton() -> None:
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED
    assert type(UNDEFINED)() is UNDEFINED
