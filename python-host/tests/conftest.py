"""Shared fixtures: a fake clock and an engine holding a small authz policy."""

from __future__ import annotations

import pytest

from sark_policy import PolicyEngine

AUTHZ = """package authz

default allow := false

allow if input.user in data.admins

allow if {
    input.action == "read"
    input.context.team == "blue"
}

role := data.roles[input.user]
"""


class FakeClock:
    """A clock for TTL tests: returns `t` seconds until advanced."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine() -> PolicyEngine:
    e = PolicyEngine()
    e.add_policy("authz.rego", AUTHZ)
    e.add_data({"admins": ["root"], "roles": {"alice": "reader"}})
    return e
