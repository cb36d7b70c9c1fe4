"""Decision logs: events shipped to a real collector on 127.0.0.1
(tests/log_collector.py, which checks OPA's event format), masking, an
outage of the collector with a big and a too-small buffer, 503s, a
trapped instance, the console sink and the event loop."""

from __future__ import annotations

import asyncio
import gc
import gzip
import io
import json
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sark_policy import (
    Authorizer,
    DecisionLogConfig,
    OtherPolicyError,
    PolicyEngine,
    SandboxTrapError,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from bundle_server import targz  # noqa: E402
from log_collector import Collector  # noqa: E402

RULE = "data.authz.allow"
POLICY = 'package authz\n\ndefault allow := false\n\nallow if input.user == "alice"\n'
# A query nested 100,000 deep exhausts the guest's stack: a trap.
TRAP_QUERY = "x := " + "[" * 100_000 + "1" + "]" * 100_000


@pytest.fixture(scope="module")
def shared() -> Iterator[Collector]:
    """One collector for the tests that never stop it (stopping one takes
    0.5 s): each reads the events of its own log (`ids_of`)."""
    with Collector() as c:
        yield c


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as c:
        yield c


@pytest.fixture
def engine() -> PolicyEngine:
    e = PolicyEngine()
    e.add_policy("authz.rego", POLICY)
    return e


def config(url: str, **kw: Any) -> DecisionLogConfig:
    """Uploads every 0.2 s, retries up to 1 s apart."""
    kw = {"min_delay": 0.2, "max_delay": 1.0, **kw}
    return DecisionLogConfig(url, **kw)


def ids_of(events: list[dict[str, Any]], log_id: str) -> list[str]:
    return [e["decision_id"] for e in events if e["labels"]["id"] == log_id]


def mine(collector: Collector, authz: Authorizer) -> list[dict[str, Any]]:
    """The events of `authz`'s log that `collector` received."""
    assert authz.decision_log is not None
    return [e for e in list(collector.events)
            if e["labels"]["id"] == authz.decision_log.instance_id]


def test_events_name_the_decision_input_result_labels_and_bundle(
        engine: PolicyEngine, shared: Collector) -> None:
    engine.load_bundle(targz({".manifest": json.dumps({"revision": "r7", "roots": ["acl"]}),
                              "acl/data.json": '{"team": "blue"}'}), name="acl")
    authz = Authorizer(engine, RULE, decision_log=config(shared.url, labels={"app": "gw"}))
    before = time.time_ns()
    decisions = [authz.decide("alice", "read", "doc:1", {"ip": "10.0.0.1"}),
                 authz.decide("alice", "read", "doc:1", {"ip": "10.0.0.1"}),
                 authz.decide("bob", "read", "doc:1")]
    after = time.time_ns()
    assert authz.decision_log is not None and authz.decision_log.flush(10)
    events = mine(shared, authz)
    assert shared.rejected == [] and shared.duplicates == []
    assert [e["decision_id"] for e in events] == [d.decision_id for d in decisions]
    assert decisions[0].audit_id == decisions[0].decision_id
    miss, hit, bob = events
    assert miss["input"] == {"user": "alice", "action": "read", "resource": "doc:1",
                             "context": {"ip": "10.0.0.1"}}
    assert bob["input"]["context"] == {}
    assert (miss["result"], hit["result"], bob["result"]) == (True, True, False)
    assert (miss["cached"], miss["eval_path"]) == (False, "rvm")
    assert (hit["cached"], hit["eval_path"]) == (True, "cache")
    assert miss["path"] == "authz/allow"
    assert miss["labels"] == {"app": "gw", "id": authz.decision_log.instance_id,
                              "version": "0.1.0"}
    assert miss["bundles"] == {"acl": {"revision": "r7"}}
    stamp = miss["timestamp"]  # RFC 3339, nanoseconds, within the calls
    seconds = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    ns = int(seconds) * 10**9 + int(stamp[20:29])
    assert before <= ns <= after
    status = authz.decision_log.status()
    assert (status.logged, status.sent, status.dropped, status.buffered_events) == (3, 3, 0, 0)
    assert status.uploads >= 1 and status.sent_bytes > 0 and status.last_error is None
    metrics = authz.get_metrics()["decision_log"]
    assert metrics["sent"] == 3 and metrics["sink"] == shared.url
    text = authz.prometheus()
    assert "sark_policy_decision_log_events_sent_total 3\n" in text
    assert 'sark_policy_decision_log_events_dropped_total{reason="buffer_full"} 0\n' in text
    authz.close()
    with pytest.raises(OtherPolicyError):
        authz.decide("alice", "read", "doc:1")


def test_masked_fields_never_leave_and_a_garbage_mask_drops_the_event(
        engine: PolicyEngine, shared: Collector) -> None:
    engine.add_policy("mask.rego", 'package system.log\n\nmask contains "/input/context/token"\n')
    authz = Authorizer(engine, RULE, decision_log=config(
        shared.url, erase=["/input/context/password"]))
    authz.decide("alice", "login", "app", {"token": "t0p", "password": "pw", "ip": "1.2.3.4"})
    assert authz.decision_log is not None and authz.decision_log.flush(10)
    (event,) = mine(shared, authz)
    assert event["input"]["context"] == {"ip": "1.2.3.4"}
    assert sorted(event["erased"]) == ["/input/context/password", "/input/context/token"]
    assert "t0p" not in json.dumps(event) and "pw" not in json.dumps(event)
    # A mask rule answering garbage: the decisions stand, the events go.
    engine.add_policy("mask.rego", "package system.log\n\nmask := 7\n")
    assert [authz.decide("alice", "login", "app", {"n": n}).allowed for n in range(4)] == [True] * 4
    assert authz.decision_log.flush(10)
    status = authz.decision_log.status()
    assert (status.dropped_mask_error, status.sent, len(mine(shared, authz))) == (4, 1, 1)
    assert 'sark_policy_decision_log_events_dropped_total{reason="mask_error"} 4' in (
        authz.prometheus())
    authz.close()


def test_an_outage_loses_nothing_within_the_buffer_and_counts_every_drop(
        engine: PolicyEngine, collector: Collector) -> None:
    """The collector is down for 10 s while two authorizers keep deciding:
    one with room for the outage gets every event once (shipped by its
    thread after the restart), one with a 16 KiB buffer drops exactly the
    events that never arrive."""
    big = Authorizer(engine, RULE, decision_log=config(collector.url))
    small = Authorizer(engine, RULE, decision_log=config(
        collector.url, max_buffer_bytes=16_384, upload_size_limit=4096))
    assert big.decision_log is not None and small.decision_log is not None
    ids: dict[str, list[str]] = {"big": [], "small": []}
    slowest = 0.0

    def decide_for(seconds: float) -> None:
        nonlocal slowest
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            for name, authz in (("big", big), ("small", small)):
                # Half repeat (cached decisions), half are new (evaluated).
                start = time.perf_counter()
                d = authz.decide("alice" if n % 3 else "bob", "read", f"doc:{n // 2}")
                slowest = max(slowest, time.perf_counter() - start)
                assert d.decision_id is not None
                ids[name].append(d.decision_id)
            n += 1
            time.sleep(0.002)

    decide_for(1.0)
    collector.stop()
    decide_for(10.0)
    assert big.decision_log.status().upload_failures > 0
    collector.start()  # same port
    decide_for(0.5)
    total = len(ids["big"]) + len(ids["small"])
    small_status = small.decision_log.status()
    # The threads ship what is left after the restart, within their backoff.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = len(collector.events)
        small_status = small.decision_log.status()
        if got == total - small_status.dropped and small_status.buffered_events == 0:
            break
        time.sleep(0.2)
    events = collector.events
    assert collector.rejected == [] and collector.duplicates == []
    assert sorted(ids_of(events, big.decision_log.instance_id)) == sorted(ids["big"])
    received_small = ids_of(events, small.decision_log.instance_id)
    assert set(received_small) <= set(ids["small"])
    assert small_status.dropped_buffer_full > 0
    assert small_status.dropped_buffer_full == len(ids["small"]) - len(received_small)
    assert (small_status.dropped_mask_error, small_status.dropped_recycled) == (0, 0)
    big_status = big.decision_log.status()
    assert (big_status.dropped, big_status.sent) == (0, len(ids["big"]))
    assert big_status.last_error is None and big_status.consecutive_failures == 0
    # Deciding never waited on the network (a generous bound for a noisy
    # 2-core machine; a blocked call would take the upload timeout).
    assert slowest < 1.0, slowest
    big.close()
    small.close()


def test_a_failing_collector_is_retried_with_backoff(
        engine: PolicyEngine, shared: Collector) -> None:
    shared.fail_first = 3
    authz = Authorizer(engine, RULE, decision_log=config(shared.url, min_delay=0.05))
    assert authz.decision_log is not None
    ids = [authz.decide("alice", "read", f"doc:{n}").decision_id for n in range(10)]
    assert authz.decision_log.flush(15)
    assert [e["decision_id"] for e in mine(shared, authz)] == ids  # in order, once
    assert shared.duplicates == []
    status = authz.decision_log.status()
    assert status.upload_failures >= 3 and status.sent == 10
    assert status.last_error is None
    authz.close()


def test_a_trap_loses_the_instances_buffer_and_counts_it(
        engine: PolicyEngine, shared: Collector) -> None:
    authz = Authorizer(engine, RULE, decision_log=config(shared.url, min_delay=60,
                                                         max_delay=60))
    assert authz.decision_log is not None
    for n in range(5):
        authz.decide("alice", "read", f"doc:{n}")
    with pytest.raises(SandboxTrapError):
        engine.query(TRAP_QUERY)
    after = [authz.decide("bob", "read", f"doc:{n}").decision_id for n in range(3)]
    assert authz.decision_log.flush(10)
    assert [e["decision_id"] for e in mine(shared, authz)] == after
    status = authz.decision_log.status()
    assert (status.dropped_recycled, status.logged, status.sent) == (5, 8, 3)
    authz.close()


@pytest.mark.parametrize("sink", ["console", "stderr"])
def test_the_console_sink_writes_json_lines(engine: PolicyEngine, sink: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    authz = Authorizer(engine, RULE, decision_log=DecisionLogConfig(sink))
    assert authz.decision_log is not None
    ids = [authz.decide(u, "read", "doc").decision_id for u in ("alice", "bob")]
    assert authz.decision_log.flush(5)
    out, err = capsys.readouterr()
    lines = (out if sink == "console" else err).splitlines()
    assert [json.loads(line)["decision_id"] for line in lines] == ids
    authz.close()


def test_close_counts_what_it_could_not_send(engine: PolicyEngine) -> None:
    with Collector() as gone:
        url = gone.url
    authz = Authorizer(engine, RULE, decision_log=config(url, shutdown_timeout=0.3,
                                                         labels={"id": "gw-1"}))
    log = authz.decision_log
    assert log is not None and log.instance_id == "gw-1"
    for n in range(7):
        authz.decide("alice", "read", f"doc:{n}")
    started = time.monotonic()
    authz.close()
    assert time.monotonic() - started < 3
    status = log.status()
    assert (status.dropped_shutdown, status.sent) == (7, 0)
    assert status.last_error is not None and "Connection refused" in status.last_error


def test_bad_configurations_are_refused(engine: PolicyEngine) -> None:
    for bad in ({"sink": "ftp://x/logs"}, {"sink": "console", "min_delay": 2, "max_delay": 1},
                {"sink": "console", "max_buffer_bytes": 0},
                {"sink": "console", "cached_sample": -1}):
        with pytest.raises(ValueError):
            DecisionLogConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(OtherPolicyError):
        Authorizer(engine, RULE, decision_log=DecisionLogConfig("console", erase=["/labels/id"]))


def test_cached_decisions_are_sampled(engine: PolicyEngine, shared: Collector) -> None:
    authz = Authorizer(engine, RULE, decision_log=config(shared.url, cached_sample=4))
    assert authz.decision_log is not None
    decisions = [authz.decide("alice", "read", "doc") for _ in range(9)]
    assert authz.decision_log.flush(10)
    # The miss, then one cached decision in four; every decision has an id.
    logged = mine(shared, authz)
    assert [e["decision_id"] for e in logged] == [decisions[i].decision_id for i in (0, 1, 5)]
    assert len({d.decision_id for d in decisions}) == 9
    assert all(uuid.UUID(str(d.decision_id)).version == 4 for d in decisions)
    authz.close()


def test_decide_async_never_blocks_the_loop_on_a_slow_collector(
        engine: PolicyEngine, collector: Collector) -> None:
    """The collector takes 0.3 s per upload; the uploader runs as an
    asyncio task and a ticker measures the loop's worst lag meanwhile."""
    receive = collector._receive

    def slow(*args: Any) -> tuple[int, str]:
        time.sleep(0.3)
        return receive(*args)

    collector._receive = slow  # type: ignore[method-assign]
    authz = Authorizer(engine, RULE, decision_log=config(
        collector.url, min_delay=0.05, max_delay=0.1))
    log = authz.decision_log
    assert log is not None

    async def main() -> tuple[float, list[str]]:
        task = log.start_async()
        worst = 0.0
        done = False

        async def ticker() -> None:
            nonlocal worst
            while not done:
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                worst = max(worst, time.perf_counter() - t - 0.01)

        tick = asyncio.create_task(ticker())
        ids = []
        for n in range(200):
            d = await authz.decide_async("alice", "read", f"doc:{n % 50}")
            assert d.decision_id is not None
            ids.append(d.decision_id)
            if n % 10 == 0:
                await asyncio.sleep(0.01)
        assert await log.flush_async(20)
        done = True
        await tick
        task.cancel()
        return worst, ids

    worst, ids = asyncio.run(main())
    assert sorted(e["decision_id"] for e in collector.events) == sorted(ids)
    assert collector.duplicates == []
    assert worst < 0.25, f"the loop stalled {worst:.3f} s"
    authz.close()


def test_batches_are_gzipped_json_arrays_within_the_upload_limit(
        engine: PolicyEngine, shared: Collector) -> None:
    bodies: list[bytes] = []
    tokens: set[str | None] = set()
    receive = shared._receive

    def keep(path: str, headers: Any, body: bytes) -> tuple[int, str]:
        bodies.append(body)
        tokens.add(headers.get("Authorization"))
        return receive(path, headers, body)

    shared._receive = keep  # type: ignore[method-assign]
    try:
        authz = Authorizer(engine, RULE, decision_log=config(
            shared.url, upload_size_limit=2000, token="s3cret"))
        assert authz.decision_log is not None
        for n in range(40):
            authz.decide("alice", "read", f"doc:{n}")
        assert authz.decision_log.flush(10)
    finally:
        del shared._receive
    assert len(mine(shared, authz)) == 40 and len(bodies) > 1
    assert tokens == {"Bearer s3cret"}
    for body in bodies:
        text = gzip.GzipFile(fileobj=io.BytesIO(body)).read()
        events = json.loads(text)
        assert len(events) == 1 or len(text) <= 2000
    authz.close()


def test_threads_decide_while_the_uploader_ships(shared: Collector) -> None:
    pooled = PolicyEngine(pool_size=2)
    pooled.add_policy("authz.rego", POLICY)
    authz = Authorizer(pooled, RULE, decision_log=config(shared.url, min_delay=0.05,
                                                         max_delay=0.1))
    assert authz.decision_log is not None
    ids: list[str] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        for n in range(200):
            d = authz.decide("alice", "read", f"doc:{k}:{n % 20}")
            with lock:
                ids.append(str(d.decision_id))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert authz.decision_log.flush(10)
    assert sorted(e["decision_id"] for e in mine(shared, authz)) == sorted(ids)
    assert shared.duplicates == []
    authz.close()


def test_an_authorizer_dropped_without_close_is_collected_with_its_thread(
        engine: PolicyEngine, shared: Collector) -> None:
    authz = Authorizer(engine, RULE, decision_log=config(shared.url, min_delay=0.05,
                                                         max_delay=0.1))
    assert authz.decision_log is not None
    ref = weakref.ref(authz.decision_log)
    thread = authz.decision_log._thread
    assert thread is not None and thread.is_alive()
    authz.decide("alice", "read", "doc")
    del authz
    deadline = time.monotonic() + 5
    while ref() is not None and time.monotonic() < deadline:
        gc.collect()  # the thread may hold the log for a round
        time.sleep(0.01)
    assert ref() is None
    thread.join(5)
    assert not thread.is_alive()
