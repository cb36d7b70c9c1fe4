"""Evaluation paths: RVM and interpreter, the options that choose them, the
instruction budget, and their metrics (dict and Prometheus text)."""

from __future__ import annotations

import pytest

from sark_policy import (
    Authorizer,
    EvalOptions,
    LimitExceededError,
    PolicyCache,
    PolicyEngine,
    PolicyError,
    PolicyTimeoutError,
    SandboxLimits,
)

from .conftest import AUTHZ
from .test_sandbox import SLOW

DEFAULT = EvalOptions(interpreter_only=False, max_instructions=50_000_000)

# `r` uses `with`, which the RVM compiler refuses; `s` runs on the RVM.
WITH = """package t
r := x if { x := data.t.base with input as {"a": 2} }
base := input.a
s := input.a + 1
"""


def _authz(**options: object) -> PolicyEngine:
    e = PolicyEngine(**options)  # type: ignore[arg-type]
    e.add_policy("authz.rego", AUTHZ)
    e.add_data({"admins": ["root"], "roles": {"alice": "reader"}})
    return e


def test_defaults_run_rules_on_the_rvm(engine: PolicyEngine) -> None:
    assert engine.eval_options() == DEFAULT
    assert engine.evaluate("data.authz.allow", {"user": "root"}) is True
    assert engine.evaluate("authz/allow", {"user": "bob"}) is False
    m = engine.get_metrics()
    assert m["rvm_evaluations"] == 2 and m["interpreter_evaluations"] == {}
    assert m["rvm_programs_compiled"] >= 1 and m["rvm_fallbacks"] == []
    assert (m["recycles"], m["timeouts"]) == (0, 0)


def test_options_reach_every_instance_they_are_given_to() -> None:
    forced = _authz(interpreter_only=True, max_instructions=1234)
    plain = _authz()
    assert forced.eval_options() == EvalOptions(interpreter_only=True, max_instructions=1234)
    assert plain.eval_options() == DEFAULT
    authz = Authorizer(forced, "data.authz.allow")
    assert authz.decide("root", "read", "doc").value is True  # evaluates: a miss
    assert authz.decide("root", "read", "doc").cached  # a hit evaluates nothing
    assert forced.evaluate("data.authz.allow", {"user": "bob"}) is False
    assert plain.evaluate("data.authz.allow", {"user": "bob"}) is False
    m = forced.get_metrics()
    assert (m["rvm_evaluations"], m["interpreter_evaluations"]) == (0, {"forced": 2})
    assert authz.get_metrics()["interpreter_evaluations"] == {"forced": 2}
    assert plain.get_metrics()["interpreter_evaluations"] == {}
    assert "rvm_evaluations" not in PolicyCache().get_metrics()  # no engine there

    forced.set_eval_options(max_instructions=99)  # interpreter_only back to False
    assert forced.eval_options() == EvalOptions(interpreter_only=False, max_instructions=99)
    forced.set_eval_options()
    assert forced.eval_options() == DEFAULT
    assert forced.evaluate("data.authz.allow", {"user": "root"}) is True
    assert forced.get_metrics()["rvm_evaluations"] == 1


def test_a_rule_with_with_falls_back_and_still_answers() -> None:
    e = PolicyEngine()
    e.add_policy("t.rego", WITH)
    revision = e.revision
    assert e.evaluate("data.t.r", {"a": 1}) == 2
    assert e.evaluate("t/r", {"a": 1}) == 2  # the same rule by another spelling
    assert e.evaluate("data.t.s", {"a": 1}) == 2
    assert e.query("x := data.t.s", {"a": 5})[0]["bindings"] == {"x": 6}
    m = e.get_metrics()
    assert m["interpreter_evaluations"] == {"with-keyword": 2, "query": 1}
    assert m["rvm_evaluations"] == 1
    [fallback] = m["rvm_fallbacks"]
    assert (fallback["rule"], fallback["reason"]) == ("data.t.r", "with-keyword")
    assert "with" in fallback["message"]
    assert all(type(v) in (int, str, dict, list) for v in m.values())  # no wasmtime values
    assert e.revision == revision  # evaluation paths never change the revision


def test_a_tiny_budget_raises_limit_exceeded_and_the_default_answers() -> None:
    e = _authz(max_instructions=3)
    with pytest.raises(LimitExceededError) as info:
        e.evaluate("data.authz.allow", {"user": "root"})
    assert isinstance(info.value, PolicyError) and info.value.kind == "limit-exceeded"
    assert "3" in info.value.message
    authz = Authorizer(e, "data.authz.allow")
    with pytest.raises(LimitExceededError):
        authz.decide("root", "read", "doc")
    assert authz.size() == 0  # errors are never cached
    assert e.recycles == 0  # a budget stop is an error, not a trap
    e.set_eval_options(max_instructions=None)
    assert e.evaluate("data.authz.allow", {"user": "root"}) is True
    assert authz.decide("root", "read", "doc").value is True


def test_budget_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        PolicyEngine(max_instructions=-1)
    e = PolicyEngine()
    with pytest.raises(ValueError):
        e.set_eval_options(max_instructions=1 << 64)
    assert e.eval_options() == DEFAULT
    e.set_eval_options(max_instructions=(1 << 64) - 1)
    assert e.eval_options().max_instructions == (1 << 64) - 1


def test_options_survive_a_recycle() -> None:
    e = _authz(limits=SandboxLimits(deadline_ms=100), interpreter_only=True,
               max_instructions=123_456)
    e.add_policy("slow.rego", SLOW)
    with pytest.raises(PolicyTimeoutError):
        e.evaluate("data.slow.spin")
    assert e.recycles == 1
    assert e.eval_options() == EvalOptions(interpreter_only=True, max_instructions=123_456)
    assert e.evaluate("data.authz.allow", {"user": "root"}) is True
    m = e.get_metrics()  # a fresh instance: counted from the recycle on
    assert (m["rvm_evaluations"], m["interpreter_evaluations"]) == (0, {"forced": 1})
    assert (m["recycles"], m["timeouts"]) == (1, 1)


def test_a_budget_survives_a_recycle() -> None:
    e = _authz(max_instructions=3)
    e._sandbox.recycle()  # what a trap does, without the trap
    assert e.recycles == 1
    with pytest.raises(LimitExceededError):
        e.evaluate("data.authz.allow", {"user": "root"})
    e.set_eval_options()
    e._sandbox.recycle()
    assert e.evaluate("data.authz.allow", {"user": "root"}) is True


def test_prometheus_lines_and_numbers() -> None:
    e = PolicyEngine()
    e.add_policy("t.rego", WITH)
    for _ in range(3):
        e.evaluate("data.t.s", {"a": 1})
    e.evaluate("data.t.r", {"a": 1})
    e.query("x := 1")
    assert e.prometheus() == (
        "# HELP sark_policy_evaluations_total Rule evaluations, by the path that ran them.\n"
        "# TYPE sark_policy_evaluations_total counter\n"
        'sark_policy_evaluations_total{path="rvm"} 3\n'
        'sark_policy_evaluations_total{path="interpreter",reason="query"} 1\n'
        'sark_policy_evaluations_total{path="interpreter",reason="with-keyword"} 1\n'
        "# HELP sark_policy_rvm_programs_compiled_total RVM programs compiled, one per rule"
        " and revision evaluated.\n"
        "# TYPE sark_policy_rvm_programs_compiled_total counter\n"
        "sark_policy_rvm_programs_compiled_total 1\n"
        "# HELP sark_policy_rvm_fallback_rules Rules of the current revision that run on"
        " the interpreter.\n"
        "# TYPE sark_policy_rvm_fallback_rules gauge\n"
        "sark_policy_rvm_fallback_rules 1\n"
    )


def test_authorizer_metrics_and_prometheus_carry_the_engine_paths(
        engine: PolicyEngine) -> None:
    a = Authorizer(engine, "data.authz.allow")
    a.decide("root", "read", "doc")
    a.decide("root", "read", "doc")
    m = a.get_metrics()
    assert (m["hits"], m["misses"], m["rvm_evaluations"]) == (1, 1, 1)
    assert m["interpreter_evaluations"] == {} and m["rvm_fallbacks"] == []
    a.reset_metrics()  # the decision metrics only
    assert (a.get_metrics()["total_requests"], a.get_metrics()["rvm_evaluations"]) == (0, 1)
    text = a.prometheus()
    assert "sark_policy_decisions_hits_total 0\n" in text
    assert 'sark_policy_evaluations_total{path="rvm"} 1\n' in text
    assert "sark_policy_rvm_programs_compiled_total 1\n" in text
    assert "sark_policy_rvm_fallback_rules 0\n" in text
    assert text.count("# TYPE sark_policy_evaluations_total counter") == 1
