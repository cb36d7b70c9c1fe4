"""The filter's `decision_log`: two workers record every decision (allowed,
denied, failed, cached) as an OPA decision-log event, masked by the
policy's `system.log.mask` rule and the erase list, and POST them as
gzipped JSON arrays through an Envoy cluster to the in-process collector of
tests/log_collector.py, which checks each event. Its listeners join the
bundle test's Envoy (two workers), which saves an Envoy start (seconds of
V8 compiling the filter); run from bundles.py.

    with Collector() as collector:
        logs = DecisionLogs(collector)
        ... logs.listeners, logs.cluster in the Envoy configuration ...
        logs.run(envoy)
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import harness
from checks import check, expect, request

sys.path.insert(0, str(harness.ROOT / "tests"))
from log_collector import Collector  # noqa: E402

POLICY = """package envoy.authz
import rego.v1

default allow := false

allow if input.attributes.request.http.method == "GET"

# Two values for one complete rule: an evaluation error.
allow := false if input.parsed_path[0] == "conflict"
"""

MASK = """package system.log
import rego.v1

mask contains "/input/attributes/request/http/headers/x-secret"
"""

HEADER = "x-sark-decision-id"
SECRET = {"x-secret": "s3cret", "x-erased": "gone"}


def plugin(listener: str, **log: Any) -> dict[str, Any]:
    return {
        "policies": {"authz.rego": POLICY, "mask.rego": MASK},
        "decision_log": {
            "cluster": "log_collector",
            "labels": {"listener": listener},
            "erase": ["/input/attributes/request/http/headers/x-erased"],
            "upload_interval_ms": 200,
            "max_backoff_ms": 400,
            "timeout_ms": 2000,
            **log,
        },
    }


class DecisionLogs:
    """Two listeners whose filters log to `collector`, and their checks."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.ports = {n: harness.free_port() for n in ("main", "sampled")}
        plugins = {"main": plugin("main"), "sampled": plugin("sampled", cached_sample=0)}
        self.listeners = [
            # Named apart from the bundle test's listeners (names are unique).
            harness.listener(f"log_{n}", self.ports[n], [harness.wasm_filter(p, f"log_{n}")])
            for n, p in plugins.items()
        ]
        self.cluster = harness.cluster("log_collector", collector.port)

    def run(self, envoy: harness.Envoy) -> None:
        """The checks, on an Envoy started with the listeners and cluster;
        with two workers, each VM keeps its own log and uploads its own
        batches."""
        t0 = time.monotonic()
        run_checks(self.collector, self.ports, envoy)
        print(f"     decision-log checks: {time.monotonic() - t0:.1f}s")


def run_checks(collector: Collector, ports: dict[str, int], envoy: harness.Envoy) -> None:
    def stat(name: str) -> int:
        return sum(v for k, v in envoy.stats().items() if k.endswith("sark_policy." + name))

    def events_of(listener: str) -> list[dict[str, Any]]:
        return [e for e in collector.events if e["labels"].get("listener") == listener]

    sent: dict[str, tuple[int, str, str]] = {}  # decision id -> status, method, path

    def send(listener: str, method: str, path: str) -> str:
        r = request(ports[listener], method, path, SECRET)
        decision_id = r.headers.get(HEADER, "")
        if decision_id:
            sent[decision_id] = (r.status, method, path)
        if r.status == 200:
            seen = r.upstream_headers().get(HEADER)
            expect(seen == decision_id, f"upstream saw {seen!r}, response {decision_id!r}")
        return decision_id

    def every_decision() -> None:
        stamp = time.time_ns()
        plan = [("GET", f"/a/{stamp}?q=1", 200), ("POST", f"/a/{stamp}", 403),
                ("GET", "/conflict", 403)]
        plan += [("GET", f"/same/{stamp}", 200)] * 6
        hits = stat("cache_hits")
        t1 = time.monotonic()
        for method, path, want in plan:
            r_id = send("main", method, path)
            expect(r_id != "", f"{method} {path}: no {HEADER}")
            expect(sent[r_id][0] == want, f"{method} {path}: status {sent[r_id][0]}")
        collector.wait_for(len(plan), timeout=10)
        print(f"     {len(plan)} events arrived {time.monotonic() - t1:.2f}s after the "
              "first request")
        events = {e["decision_id"]: e for e in events_of("main")}
        expect(set(events) == set(sent), f"ids: {sorted(events)} != {sorted(sent)}")
        expect(not collector.rejected and not collector.duplicates,
               f"rejected {collector.rejected}, duplicates {collector.duplicates}")
        for decision_id, (status, method, path) in sent.items():
            e = events[decision_id]
            http = e["input"]["attributes"]["request"]["http"]
            expect((http["method"], http["path"]) == (method, path), f"input {http}")
            expect(e["path"] == "envoy/authz/allow", f"path {e['path']}")
            expect("x-secret" not in http["headers"], "masked by system.log.mask")
            expect("x-erased" not in http["headers"], "erased by the erase list")
            expect(sorted(e.get("erased", [])) == [
                "/input/attributes/request/http/headers/x-erased",
                "/input/attributes/request/http/headers/x-secret",
            ], f"erased {e.get('erased')}")
            labels = e["labels"]
            expect(set(labels) == {"id", "version", "listener"}, f"labels {labels}")
            if path == "/conflict":
                expect("result" not in e and "conflict" in e["error"]["message"], f"{e}")
            else:
                expect(e["result"] == (status == 200), f"{path}: result {e.get('result')}")
        cached = sum(1 for e in events.values() if e["cached"])
        hits = stat("cache_hits") - hits
        expect(cached == hits, f"{cached} cached events, {hits} hits")
        expect(cached >= 1, "some repeats were cached")
        for e in events.values():
            want_path = "cache" if e["cached"] else ("rvm", "interpreter")
            expect(e["eval_path"] in want_path, f"eval_path {e['eval_path']}")
        workers = {e["labels"]["id"] for e in events.values()}
        print(f"     {len(events)} events from {len(workers)} worker VMs, {cached} cached; "
              f"{collector.uploads} uploads")

    def sampled() -> None:
        hits, misses = stat("cache_hits"), stat("cache_misses")
        before = len(events_of("sampled"))
        path = f"/sampled/{time.time_ns()}"
        for _ in range(6):
            request(ports["sampled"], "GET", path)
        evaluated = stat("cache_misses") - misses
        expect(stat("cache_hits") - hits == 6 - evaluated, "the rest were hits")

        def arrived() -> bool:
            return len(events_of("sampled")) - before >= evaluated

        t1 = time.monotonic()
        while not arrived() and time.monotonic() - t1 < 5:
            time.sleep(0.05)
        time.sleep(0.5)  # no cached decision follows
        got = events_of("sampled")[before:]
        expect(len(got) == evaluated, f"{len(got)} events, {evaluated} evaluated")
        expect(not any(e["cached"] for e in got), "cached_sample 0 logs no cached decision")

    def retried() -> None:
        failures = stat("decision_log_upload_failures")
        collector.fail_first = 2
        ids = [send("main", "GET", f"/retry/{i}/{time.time_ns()}") for i in range(4)]
        t1 = time.monotonic()
        while not set(ids) <= {e["decision_id"] for e in collector.events}:
            expect(time.monotonic() - t1 < 10, "events arrived after the failures")
            time.sleep(0.05)
        took = time.monotonic() - t1
        expect(collector.fail_first == 0, "the collector failed twice")
        expect(stat("decision_log_upload_failures") - failures >= 2, "failures counted")
        expect(not collector.duplicates, f"duplicates {collector.duplicates}")
        expect("decision-log upload of" in envoy.log() and "the collector answered 503"
               in envoy.log(), "the failure is logged")
        # Each worker's events arrive in the order they were decided.
        for worker in {e["labels"]["id"] for e in collector.events}:
            stamps = [e["timestamp"] for e in collector.events if e["labels"]["id"] == worker]
            expect(stamps == sorted(stamps), f"worker {worker}: out of order")
        print(f"     after 2 failed uploads, every event arrived once in {took:.2f}s")

    def counters() -> None:
        def settled() -> bool:
            return stat("decision_log_buffered_bytes") == 0 and stat(
                "decision_log_events") == len(collector.events)

        t1 = time.monotonic()
        while not settled() and time.monotonic() - t1 < 3:
            time.sleep(0.05)
        got = {n: stat("decision_log_" + n) for n in
               ("events", "uploads", "upload_failures", "dropped", "buffered_bytes")}
        expect(got["events"] == len(collector.events), f"{got} vs {len(collector.events)}")
        expect(got["uploads"] == collector.uploads - got["upload_failures"], f"{got}")
        expect(got["dropped"] == 0 and got["buffered_bytes"] == 0, f"{got}")
        print("     decision-log stats:", json.dumps(got, sort_keys=True))

    check("decision log: every decision is an event, ids on the responses, masked", every_decision)
    check("decision log: cached_sample 0 logs evaluated decisions only", sampled)
    check("decision log: failed uploads are retried, every event arrives once in order",
          retried)
    check("decision log: counters and the buffered-bytes gauge", counters)
