"""The replay journal stays bounded (compacted to the merged document) and
still rebuilds a recycled instance with all the data."""

from __future__ import annotations

import json

import pytest

from sark_policy import PolicyEngine, PolicyTimeoutError, SandboxLimits
from sark_policy._journal import COMPACT_ADDS, Journal

from .test_sandbox import SLOW


def _journal_bytes(e: PolicyEngine) -> int:
    return sum(len(text) for _, text in e._journal.data)


def test_add_data_in_a_loop_keeps_the_journal_bounded() -> None:
    e = PolicyEngine(limits=SandboxLimits(deadline_ms=100), pool_size=2)
    e.add_policy("slow.rego", SLOW)
    e.add_policy("n.rego", "package n\nusers := count(data.users)\nflags := count(data.flags)\n")
    longest = 0
    for i in range(1000):
        if i % 10:
            e.add_data({"users": {f"u{i}": {"n": i, "tags": ["a", "b"]}}})
        else:
            e.add_data(json.dumps({"flags": {f"f{i}": True}}))
        longest = max(longest, len(e._journal.data))
        assert e._journal.adds <= COMPACT_ADDS
    assert longest <= COMPACT_ADDS + 1
    want = {
        "users": {f"u{i}": {"n": i, "tags": ["a", "b"]} for i in range(1000) if i % 10},
        "flags": {f"f{i}": True for i in range(0, 1000, 10)},
    }
    assert e.data() == want
    assert _journal_bytes(e) <= 2 * len(json.dumps(want, separators=(",", ":")))

    with pytest.raises(PolicyTimeoutError):  # a trap: that instance is rebuilt
        e.evaluate("data.slow.spin")
    assert e.recycles == 1
    for sandbox in e._pool.sandboxes:  # every instance holds all the data
        with sandbox.lock:
            handle = e._handles[sandbox.index]
            assert sandbox.abi.eval_rule(handle, "data.n.users", b"") == "900"
            assert sandbox.abi.eval_rule(handle, "data.n.flags", b"") == "100"
            assert json.loads(sandbox.abi.call("engine.data", handle)) == want


def test_replace_and_clear_start_the_journal_over() -> None:
    e = PolicyEngine()
    for i in range(5):
        e.add_data({f"k{i}": i})
    e.replace_data({"a": 1})
    assert e._journal.data == [("engine.replace-data", b'{"a":1}')]
    e.add_data({"b": 2})
    e.clear_data()
    assert (e._journal.data, e._journal.adds, e._journal.add_bytes) == ([], 0, 0)
    assert e.data() == {}
    e.add_data({"c": 3})
    e._sandbox.recycle()
    assert e.data() == {"c": 3}


def test_large_merges_compact_at_once() -> None:
    e = PolicyEngine()
    e.replace_data({"small": 1})
    e.add_data({"big": "x" * 1000})  # the merges outweigh the document
    assert e._journal.adds == 0 and len(e._journal.data) == 1
    assert json.loads(e._journal.data[0][1]) == {"small": 1, "big": "x" * 1000}


def test_a_document_over_the_limit_compacts_into_pieces() -> None:
    document = json.dumps({f"key{i}": {"v": "y" * 20, "i": i} for i in range(50)})
    j = Journal()
    j.add_data(document)
    assert j.compact(document, max_bytes=200)
    assert len(j.data) > 1 and j.data[0][0] == "engine.replace-data"
    assert all(op == "engine.add-data" for op, _ in j.data[1:])
    assert all(len(text) <= 200 for _, text in j.data)
    e = PolicyEngine()
    with e._sandbox.loading() as abi:
        j.replay(abi, e._handles[0])
    assert e.data() == json.loads(document)

    huge = json.dumps({"huge": "z" * 300})  # one entry over the limit: kept as merges
    for _ in range(COMPACT_ADDS + 1):
        j.add_data(huge)
    held = list(j.data)
    assert j.wants_compaction() and not j.compact(huge, max_bytes=200)
    assert j.data == held and not j.wants_compaction()
    assert j.limit == 2 * (COMPACT_ADDS + 1)
