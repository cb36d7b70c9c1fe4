"""Behaviour that must match OPA's, through the Python host: integers of
any size, imported packages under `with`, Rego v0 policies."""

from __future__ import annotations

import pytest

from sark_policy import InvalidPolicyError, PolicyEngine, PolicyTimeoutError, SandboxLimits

from .test_sandbox import SLOW

V0 = 'package old\nallow { input.user == "alice" }\nnames[n] { n := input.names[_] }\n'


@pytest.mark.parametrize("interpreter_only", [False, True])
def test_integers_of_any_size_are_exact(interpreter_only: bool) -> None:
    e = PolicyEngine(interpreter_only=interpreter_only)
    e.add_policy("n.rego", "package n\nbig := 1000000000000000000001\n"
                 "echo := input.n\nsum := input.n + 1\n")
    assert e.evaluate("data.n.big") == 1000000000000000000001
    assert e.evaluate("data.n.echo", {"n": 2**100}) == 2**100
    assert e.evaluate("data.n.sum", {"n": 2**64}) == 2**64 + 1
    assert e.query("x := data.n.big")[0]["bindings"]["x"] == 1000000000000000000001
    # A string holding a long digit run is still a string.
    assert e.evaluate("data.n.echo", {"n": "12345678901234567890123"}) == \
        "12345678901234567890123"


def test_an_imported_package_evaluates_only_the_rule_named() -> None:
    e = PolicyEngine()
    e.add_policy("cl.rego", "package cost_limit\ndefault allow := false\n"
                 "allow if input.cost < 10\nseverity := \"low\" if input.cost < 100\n"
                 "severity := \"high\" if input.cost < 200\n")
    e.add_policy("t.rego", "package cost_limit_test\nimport data.cost_limit\n"
                 "test_deny if { not cost_limit.allow with input as {\"cost\": 10} }\n")
    assert e.evaluate("data.cost_limit_test.test_deny") is True


def test_rego_v0_policies_load_with_rego_version_v0() -> None:
    with pytest.raises(InvalidPolicyError):
        PolicyEngine().add_policy("old.rego", V0)
    e = PolicyEngine(rego_version="v0", pool_size=2)
    assert e.rego_version == "v0"
    e.add_policy("old.rego", V0)
    # `import rego.v1` still reads a module as v1 in a v0 engine.
    e.add_policy("new.rego", "package new\nimport rego.v1\nallow if data.old.allow\n")
    inp = {"user": "alice", "names": ["a", "b"]}
    assert e.evaluate("data.new.allow", inp) is True
    assert e.evaluate("data.old.names", inp) == ["a", "b"]
    with pytest.raises(ValueError):
        PolicyEngine(rego_version="v2")  # type: ignore[arg-type]


def test_a_rebuilt_instance_reads_policies_as_the_same_version() -> None:
    e = PolicyEngine(rego_version="v0", limits=SandboxLimits(deadline_ms=100))
    e.add_policy("old.rego", V0)
    e.add_policy("slow.rego", SLOW.replace("package slow\n", "package slow\nimport rego.v1\n"))
    with pytest.raises(PolicyTimeoutError):
        e.evaluate("data.slow.spin")
    assert e.recycles == 1  # a fresh instance, the journal replayed into it
    assert e.evaluate("data.old.allow", {"user": "alice"}) is True
