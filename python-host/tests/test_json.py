"""JSON across the boundary: orjson with `json` where orjson would differ,
so values come back exactly as the standard library gives them."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import random
from typing import Any

import pytest

from sark_policy import InvalidJsonError, PolicyCache, PolicyEngine
from sark_policy._json import context_text, dumps, loads, loads_exact

BIG = 10**30


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 is not 1.0, -0.0
    is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b) or (a != a and b != b)
    return bool(a == b)


DOCS: list[Any] = [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 0.1, -0.0, 1e16, 1e-7,
    1e300, 5e-324, "", "é ü \u2028 \U0001f600 \"q\" \\", [], {}, [1, [2, [3]]],
    {"a": {"b": [None, 1.5, "x"]}, "z": 1, "ä": "ö"}, (1, 2),
]


@pytest.mark.parametrize("doc", DOCS)
def test_dumps_means_what_json_means(doc: Any) -> None:
    expected = json.loads(json.dumps(doc))
    assert same(json.loads(dumps(doc)), expected)
    assert same(loads(dumps(doc)), expected)
    assert same(loads_exact(dumps(doc).decode()), expected)


@pytest.mark.parametrize("doc", [BIG, -(2**63) - 1, 2**64, {"n": [BIG]}, {1: "int key"},
                                 {"d": 10**20, "x": None}])
def test_what_orjson_cannot_write_is_written_by_json_and_read_back_exactly(doc: Any) -> None:
    text = dumps(doc)
    assert json.loads(text) == json.loads(json.dumps(doc))
    assert same(loads_exact(text.decode()), json.loads(json.dumps(doc)))


@pytest.mark.parametrize("bad", [float("nan"), [float("inf")], {"x": -math.inf}, {1, 2},
                                 {"n": None, "deep": [1, {"x": (None, math.nan)}]},
                                 object(), datetime.date(2026, 1, 1), b"bytes", "\ud800",
                                 {"k": "\udfff"}])
def test_what_json_refuses_raises_invalid_json(bad: Any) -> None:
    with pytest.raises(InvalidJsonError):
        dumps(bad, "input")
    with pytest.raises(InvalidJsonError):
        PolicyEngine().evaluate("data.x.y", bad)


def test_a_dataclass_is_refused_as_json_refuses_it() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    with pytest.raises(InvalidJsonError):
        dumps(Point(1))


def test_context_text_is_the_memo_and_matches_dumps() -> None:
    assert context_text(None) == context_text({}) == b""
    for ctx in [{"team": "blue", "ip": "10.0.0.7"}, {"mfa": True, "n": None}, {"big": BIG}]:
        assert context_text(ctx) == dumps(ctx)
    assert context_text({"a": 1}) != context_text({"a": True}) != context_text({"a": 1.0})
    with pytest.raises(InvalidJsonError):
        context_text({"x": float("nan")})


def test_engine_answers_decode_as_json_decodes_them() -> None:
    e = PolicyEngine()
    e.add_policy("t.rego", "package t\nv := input\nbig := 1000000000000000000001\n"
                           "u := 18446744073709551615\n")
    rng = random.Random(7)
    floats = [rng.uniform(-1e6, 1e6) for _ in range(200)] + [
        rng.random() * 10.0 ** rng.randint(-300, 300) for _ in range(200)]
    # (DOCS[0] is None: no input document for evaluate.)
    for doc in [*DOCS[1:], floats, {"f": floats[:50], "n": list(range(-5, 5))}]:
        raw = e._sandbox.abi.eval_rule(e._handles[0], "data.t.v", json.dumps(doc))
        if raw is not None:
            assert same(e.evaluate("data.t.v", doc), json.loads(raw)), doc
    # What json writes (behind a space) reaches the engine and comes back
    # exact: the engine keeps integers of any size, as OPA does.
    assert same(e.evaluate("data.t.v", {"n": BIG, 1: "k"}), {"1": "k", "n": BIG})
    e.add_data({"big": BIG})
    assert same(e.query("x := data.big")[0]["bindings"]["x"], BIG)
    assert same(e.evaluate("data.t.big"), 1000000000000000000001)
    assert same(e.evaluate("data.t.u"), 2**64 - 1)


def test_cached_values_keep_big_integers_exact() -> None:
    c = PolicyCache()
    value = {"n": BIG, "m": -(2**63) - 1, "u": 2**64 - 1, "ok": [1, None, 0.5]}
    assert c.set_sync("u", "a", "r", value, {"k": BIG})
    assert same(c.get_sync("u", "a", "r", {"k": BIG}), value)
    assert c.set_sync("u", "a", "r", {"n": None}, None)
    assert same(c.get_sync("u", "a", "r"), {"n": None})
