"""Typed errors at the boundary, and state unchanged after each failure."""

from __future__ import annotations

import pytest

from sark_policy import (
    Authorizer,
    EvaluationError,
    InvalidJsonError,
    InvalidPolicyError,
    LimitExceededError,
    NotFoundError,
    OtherPolicyError,
    PolicyEngine,
    PolicyError,
)
from sark_policy._errors import error_from_wit


def _state(e: PolicyEngine) -> tuple[object, ...]:
    return (
        e.revision,
        e.policies(),
        e.packages(),
        e.evaluate("data.authz.allow", {"user": "root"}),
        e.evaluate("data.authz.allow", {"user": "bob"}),
        e.evaluate("data.authz.role", {"user": "alice"}),
        e.query("data.roles"),
    )


def test_bad_rego_raises_invalid_policy_and_changes_nothing(engine: PolicyEngine) -> None:
    before = _state(engine)
    with pytest.raises(InvalidPolicyError) as info:
        engine.add_policy("bad.rego", "package bad\nallow if {\n")
    assert "bad.rego:" in info.value.message
    assert info.value.kind == "invalid-policy"
    # Replacing a good module with a broken one keeps the good one.
    with pytest.raises(InvalidPolicyError):
        engine.add_policy("authz.rego", "package authz\nallow if input.user ==\n")
    assert _state(engine) == before


def test_bad_json_raises_invalid_json_and_changes_nothing(engine: PolicyEngine) -> None:
    before = _state(engine)
    for call in (
        lambda: engine.add_data('{"admins": ["bob"'),
        lambda: engine.replace_data("not json"),
        lambda: engine.add_data({"bad": {1, 2}}),
    ):
        with pytest.raises(InvalidJsonError):
            call()
    with pytest.raises(InvalidJsonError):
        engine.evaluate("data.authz.allow", {"user": float("nan")})
    assert _state(engine) == before


def test_conflicting_data_raises_evaluation_and_changes_nothing(engine: PolicyEngine) -> None:
    before = _state(engine)
    with pytest.raises(EvaluationError):
        engine.add_data({"roles": ["not", "an", "object"]})
    assert _state(engine) == before


def test_not_found(engine: PolicyEngine) -> None:
    before = _state(engine)
    with pytest.raises(NotFoundError):
        engine.remove_policy("missing.rego")
    with pytest.raises(NotFoundError):
        engine.evaluate("data.nowhere.allow")
    assert _state(engine) == before


def test_limit_exceeded(engine: PolicyEngine) -> None:
    before = _state(engine)
    deep = "[" * 100 + "]" * 100
    with pytest.raises(LimitExceededError):
        engine.add_data('{"deep": ' + deep + "}")
    with pytest.raises(LimitExceededError):
        engine.evaluate("data.authz.allow", {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
            [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
            ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})
    assert _state(engine) == before


def test_bad_query_is_an_evaluation_error(engine: PolicyEngine) -> None:
    with pytest.raises(EvaluationError):
        engine.query("x := ")


def test_authorizer_raises_and_caches_nothing(engine: PolicyEngine) -> None:
    a = Authorizer(engine, "data.nowhere.allow")
    with pytest.raises(NotFoundError):
        a.decide("root", "read", "doc")
    assert a.size() == 0
    with pytest.raises(LimitExceededError):
        Authorizer(engine, "data.authz.allow", max_size=0)


def test_every_error_is_a_policy_error_with_its_kind() -> None:
    cases = {
        "invalid-policy": InvalidPolicyError,
        "invalid-json": InvalidJsonError,
        "evaluation": EvaluationError,
        "limit-exceeded": LimitExceededError,
        "not-found": NotFoundError,
        "other": OtherPolicyError,
    }
    for tag, cls in cases.items():
        err = error_from_wit(tag, "msg")
        assert type(err) is cls and isinstance(err, PolicyError)
        assert (err.kind, err.message, str(err)) == (tag, "msg", "msg")
    unknown = error_from_wit("brand-new", "msg")
    assert type(unknown) is OtherPolicyError and unknown.message == "brand-new: msg"
