"""`sark_policy.compat.RustOPAEngine`: the PyO3 `RustOPAEngine`'s surface,
methods, results and errors, on the component."""

from __future__ import annotations

import threading

import pytest

from sark_policy import EvaluationError, PolicyEngine
from sark_policy.compat import OPACompilationError, OPAEvaluationError, RustOPAEngine

# The PyO3 class's own docstring example: Rego v0, as its regorus read it.
SEED_POLICY = '''
package authz
allow {
    input.user == "admin"
}
'''


def test_the_seed_docstring_example() -> None:
    engine = RustOPAEngine()
    engine.load_policy("authz", SEED_POLICY)
    assert engine.evaluate("data.authz.allow", {"user": "admin"}) is True
    assert engine.evaluate("data.authz.allow", {"user": "bob"}) is False  # undefined
    assert repr(engine) == "RustOPAEngine(policies=1)"


def test_exceptions_are_plain_exceptions() -> None:
    assert OPACompilationError.__mro__[1:] == (Exception, BaseException, object)
    assert OPAEvaluationError.__mro__[1:] == (Exception, BaseException, object)


def test_load_list_has_and_replace() -> None:
    engine = RustOPAEngine()
    assert engine.loaded_policies() == [] and not engine.has_policy("p1")
    engine.load_policy("policy1", "package p1\nallow = true")
    engine.load_policy("policy2", "package p2\ndeny = true")
    assert sorted(engine.loaded_policies()) == ["policy1", "policy2"]
    assert engine.has_policy("policy1") and not engine.has_policy("other")
    assert engine.evaluate("data.p1.allow", {}) is True
    assert engine.evaluate("data.p2.deny", {}) is True
    engine.load_policy("policy1", 'package p1\nresult = "v2"')  # replaces the module
    assert engine.loaded_policies() == ["policy1", "policy2"]
    assert engine.evaluate("data.p1.result", {}) == "v2"
    assert engine.evaluate("data.p1.allow", {}) is False


def test_v1_syntax_and_future_keywords_load_too() -> None:
    engine = RustOPAEngine()
    engine.load_policy("fk", "package fk\nimport future.keywords.if\nimport future.keywords.in\n"
                             "allow if input.role in {\"admin\"}")
    engine.load_policy("v1", "package v1\nimport rego.v1\nallow if input.x > 1")
    assert engine.evaluate("data.fk.allow", {"role": "admin"}) is True
    assert engine.evaluate("data.v1.allow", {"x": 2}) is True
    v1 = RustOPAEngine(rego_version="v1")
    v1.load_policy("p", "package p\nallow if true")
    with pytest.raises(OPACompilationError):
        v1.load_policy("q", "package q\nallow { true }")


def test_compilation_errors_change_nothing() -> None:
    engine = RustOPAEngine()
    engine.load_policy("example", "package example\nresult = 1")
    with pytest.raises(OPACompilationError) as e:
        engine.load_policy("invalid", "this is not valid rego")
    assert "invalid" in str(e.value)  # the message names the module
    assert isinstance(e.value.__cause__, Exception)
    with pytest.raises(OPACompilationError):
        engine.load_policy("example", "package example\nresult = ")
    # Unlike the PyO3 engine, a failed replacement keeps the old module.
    assert engine.loaded_policies() == ["example"]
    assert engine.evaluate("data.example.result", {}) == 1


def test_empty_name_or_source_is_a_value_error() -> None:
    engine = RustOPAEngine()
    with pytest.raises(ValueError, match="name cannot be empty"):
        engine.load_policy("", "package x\na = 1")
    with pytest.raises(ValueError, match="source cannot be empty"):
        engine.load_policy("x", "")


def test_evaluate_queries_as_the_seed_did() -> None:
    engine = RustOPAEngine()
    engine.load_policy("a", 'package a\nroles := {"alice": "reader", "bob": "writer"}\n'
                            'obj := {"k": {"n": 1}}\ncount_users := count(roles)')
    assert engine.evaluate("data.a.roles", {}) == {"alice": "reader", "bob": "writer"}
    assert engine.evaluate("data.a.obj.k.n", {}) == 1  # a path into a value
    assert engine.evaluate("data.a", {})["count_users"] == 2  # a whole package
    assert engine.evaluate("data.nothing.here", {}) is False  # no such package
    assert engine.evaluate("data.a.roles[x] == \"reader\"", {}) is True  # a query
    assert engine.evaluate("x := data.a.roles.alice", {}) is True  # first expression
    assert engine.evaluate("input.user", {"user": "u"}) == "u"
    assert engine.evaluate("1 + 2", {}) == 3


def test_evaluation_errors() -> None:
    engine = RustOPAEngine()
    engine.load_policy("c", "package c\nx := 1 if input.a\nx := 2 if input.b")
    with pytest.raises(OPAEvaluationError) as e:
        engine.evaluate("data.c.x", {"a": True, "b": True})
    assert isinstance(e.value.__cause__, EvaluationError)
    with pytest.raises(OPAEvaluationError):
        engine.evaluate("data.c.x ==", {})  # does not parse
    with pytest.raises(ValueError, match="Query cannot be empty"):
        engine.evaluate("", {})


def test_input_that_cannot_be_converted() -> None:
    engine = RustOPAEngine()
    engine.load_policy("p", "package p\nallow = true")
    with pytest.raises(ValueError, match="input"):
        engine.evaluate("data.p.allow", {"s": {1, 2}})  # a set is not JSON
    with pytest.raises(ValueError, match="input"):
        engine.evaluate("data.p.allow", {"x": float("nan")})
    deep: dict[str, object] = {}
    cur = deep
    for _ in range(100):
        cur["a"] = cur = {}
    with pytest.raises(ValueError, match="input"):
        engine.evaluate("data.p.allow", deep)  # over the nesting limit
    with pytest.raises(TypeError):
        engine.evaluate("data.p.allow", [1, 2])  # type: ignore[arg-type]


def test_clear_policies() -> None:
    engine = RustOPAEngine()
    engine.load_policy("lib", "package lib\ndouble(x) := 2 * x")
    engine.load_policy("app", "package app\nimport data.lib\nv := lib.double(2)")
    assert engine.evaluate("data.app.v", {}) == 4
    engine.clear_policies()
    assert engine.loaded_policies() == [] and not engine.has_policy("app")
    assert engine.evaluate("data.app.v", {}) is False
    engine.load_policy("lib", "package lib\nok = true")
    assert engine.evaluate("data.lib.ok", {}) is True


def test_metrics_limits_and_the_engine_underneath() -> None:
    engine = RustOPAEngine()
    assert isinstance(engine.engine, PolicyEngine)
    engine.load_policy("p", "package p\nallow { input.x == 1 }")
    engine.evaluate("data.p.allow", {"x": 1})  # a rule path: the RVM
    engine.evaluate("data.p.allow == true", {"x": 1})  # a query: the interpreter
    m = engine.get_metrics()
    assert m["rvm_evaluations"] == 1
    assert m["interpreter_evaluations"].get("query", 0) >= 1
    assert "sark_policy_evaluations_total" in engine.prometheus()


def test_one_engine_from_many_threads() -> None:
    engine = RustOPAEngine(pool_size=2)
    engine.load_policy("p", "package p\nallow { input.n % 2 == 0 }")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for n in range(200):
                assert engine.evaluate("data.p.allow", {"n": n + k}) is ((n + k) % 2 == 0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
