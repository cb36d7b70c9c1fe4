"""Hostile policies and inputs: each ends in a typed error within the
deadline, the engine stays usable, a refusal keeps the cache's entries (a
sandbox event replaces the instance and its cache, never with a wrong
entry), and the next call is served."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sark_policy import (
    Authorizer,
    EvaluationError,
    InvalidJsonError,
    InvalidPolicyError,
    LimitExceededError,
    PolicyEngine,
    PolicyError,
    SandboxLimits,
    SandboxTrapError,
)

DEADLINE_MS = 500.0
ALLOW = 'package authz\ndefault allow := false\nallow if input.user == "alice"\n'


def survives(setup: Callable[[PolicyEngine], Any], hostile: Callable[[PolicyEngine, Authorizer], Any],
             expect: tuple[type[BaseException], ...]) -> BaseException:
    e = PolicyEngine(limits=SandboxLimits(deadline_ms=DEADLINE_MS, memory_bytes=256 << 20))
    e.add_policy("authz.rego", ALLOW)
    setup(e)
    authz = Authorizer(e, "data.authz.allow")
    assert not authz.decide("alice", "read", "doc").cached
    started = time.monotonic()
    with pytest.raises(expect) as caught:
        hostile(e, authz)
    took = time.monotonic() - started
    assert took < DEADLINE_MS / 1000 + 5, took
    d = authz.decide("alice", "read", "doc")
    assert d.value is True
    sandbox_event = isinstance(caught.value, SandboxTrapError)
    assert d.cached is not sandbox_event, caught.value
    assert e.evaluate("data.authz.allow", {"user": "bob"}) is False
    return caught.value


def load(name: str, src: str) -> Callable[[PolicyEngine], None]:
    return lambda e: e.add_policy(name, src) and None


def test_a_function_that_recurses_without_end() -> None:
    src = "package rec\nf(x) := f(x + 1)\nr := f(1)"
    survives(lambda e: None,
             lambda e, a: (e.add_policy("rec.rego", src), e.evaluate("data.rec.r")),
             (InvalidPolicyError, EvaluationError, SandboxTrapError))


def test_a_huge_numbers_range() -> None:
    # An array no target can hold: a builtin error, raised in strict mode
    # (otherwise undefined, as in OPA).
    src = "package big\nn := count(numbers.range(1, 100000000000))"

    def setup(e: PolicyEngine) -> None:
        load("big.rego", src)(e)
        e.set_strict_builtin_errors(True)

    survives(setup, lambda e, a: e.evaluate("data.big.n"),
             (SandboxTrapError, EvaluationError, LimitExceededError))


def test_string_building_towards_gigabytes() -> None:
    src = ('package s\nn := count(concat("", [y | some i in numbers.range(1, 100000000); '
           'y := sprintf("%d-padding-padding-padding", [i])]))')
    survives(load("s.rego", src), lambda e, a: e.evaluate("data.s.n"), (SandboxTrapError,))


def test_a_regex_with_enormous_repetition_counts() -> None:
    src = 'package re\nm if regex.match("(a{1000}){1000}{1000}", input.s)'

    def setup(e: PolicyEngine) -> None:
        e.set_strict_builtin_errors(True)
        e.add_policy("re.rego", src)

    err = survives(setup, lambda e, a: e.evaluate("data.re.m", {"s": "aaaa"}), (EvaluationError,))
    assert "regex" in str(err)


def test_http_send_has_no_network() -> None:
    src = 'package h\nr := http.send({"method": "GET", "url": "http://127.0.0.1:1/"})'
    err = survives(load("h.rego", src), lambda e, a: e.evaluate("data.h.r"), (EvaluationError,))
    assert "http.send" in str(err) and "no network" in str(err)


def test_a_one_megabyte_rule_body() -> None:
    body = "  input.n == 1\n" * ((1 << 20) // 15)
    src = f"package mb\nallow if {{\n{body}}}\n"
    e = PolicyEngine(limits=SandboxLimits(deadline_ms=DEADLINE_MS))
    e.add_policy("authz.rego", ALLOW)
    started = time.monotonic()
    try:
        e.add_policy("mb.rego", src)
        e.evaluate("data.mb.allow", {"n": 1})
    except (InvalidPolicyError, LimitExceededError, SandboxTrapError):
        pass
    assert time.monotonic() - started < 30
    assert e.evaluate("data.authz.allow", {"user": "alice"}) is True


def nested(depth: int) -> Any:
    doc: Any = 1
    for _ in range(depth):
        doc = [doc]
    return doc


def test_input_nested_ten_thousand_deep() -> None:
    deep = nested(10_000)
    survives(lambda e: None, lambda e, a: e.evaluate("data.authz.allow", deep),
             (LimitExceededError, InvalidJsonError))
    survives(lambda e: None, lambda e, a: a.decide("alice", "read", "doc", {"x": deep}),
             (LimitExceededError, InvalidJsonError))
    # As JSON text, it reaches the component's own depth check.
    text = "[" * 10_000 + "1" + "]" * 10_000
    survives(lambda e: None, lambda e, a: e.add_data('{"d": ' + text + "}"), (LimitExceededError,))


def test_invalid_utf8_never_reaches_the_instance() -> None:
    # Python strings can hold lone surrogates, which UTF-8 cannot encode.
    bad = "\ud800"
    for hostile in (
        lambda e, a: a.decide(bad, "read", "doc"),
        lambda e, a: a.decide("alice", "read", "doc", {"x": bad}),
        lambda e, a: e.evaluate("data.authz.allow", {"user": bad}),
        lambda e, a: e.add_policy("s.rego", f'package s\nx := "{bad}"'),
    ):
        err = survives(lambda e: None, hostile, (ValueError, PolicyError))
        assert "surrogate" in str(err), err
