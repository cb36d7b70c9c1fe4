"""The cost of decision logs in the Python host.

- A cached decision with and without a decision log, in the same run
  (interleaved rounds; median and p99 in microseconds), the log shipping
  to a real collector (tests/log_collector.py, in its own process) while
  it is measured.
- Events per second shipped: a buffer filled with N events, then the time
  until the collector has them all (`flush`), and the gzip bytes per event;
  to the validating collector, and to a sink that only reads the bodies
  (the host's own rate).

    python bench/bench_decision_log.py            # SARK_BENCH_QUICK=1: a few rounds
"""

from __future__ import annotations

import datetime
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sark_policy import Authorizer, DecisionLogConfig, PolicyEngine

REPO = Path(__file__).resolve().parents[2]
QUICK = os.environ.get("SARK_BENCH_QUICK") == "1"
POLICY = """package authz

default allow := false

allow if input.user in data.admins

allow if {
    input.action == "read"
    input.context.team == "blue"
}
"""
CONTEXT = {"team": "blue", "ip": "10.0.0.7"}


def samples(fn: Callable[[], object], n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for _ in range(n):
        t = clock()
        fn()
        out.append(clock() - t)
    return out


def summary(ns: list[int]) -> tuple[float, float]:
    ns = sorted(ns)
    return statistics.median(ns) / 1000, ns[int(0.99 * (len(ns) - 1))] / 1000


# A sink that reads each body and answers 200: what the host alone ships.
NULL_SINK = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print("listening on", s.server_address[1], flush=True)
s.serve_forever()
"""


class CollectorProcess:
    """tests/log_collector.py (or the null sink) in a process of its own."""

    def __init__(self, events_file: str | None) -> None:
        args = (["-c", NULL_SINK] if events_file is None else
                [str(REPO / "tests" / "log_collector.py"), "--events", events_file])
        self.proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.url = f"http://127.0.0.1:{int(line.split()[-1])}/logs"
        self.events_file = events_file

    def received(self) -> int:
        if self.events_file is None:
            return 0
        with open(self.events_file, "rb") as f:
            return f.read().count(b"\n")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    # The recording-only log is closed unshipped on purpose: no warning.
    logging.getLogger("sark_policy").setLevel(logging.ERROR)
    rounds, per_round, fill = (3, 2000, 3000) if QUICK else (7, 20000, 30000)
    engine = PolicyEngine()
    engine.add_policy("authz.rego", POLICY)
    engine.add_data({"admins": ["root"]})
    with tempfile.TemporaryDirectory() as tmp:
        collector = CollectorProcess(os.path.join(tmp, "events.jsonl"))
        try:
            plain = Authorizer(engine, "data.authz.allow")
            logged = Authorizer(engine, "data.authz.allow",
                                decision_log=DecisionLogConfig(collector.url))
            unsampled = Authorizer(engine, "data.authz.allow", decision_log=DecisionLogConfig(
                collector.url, cached_sample=0))
            tenth = Authorizer(engine, "data.authz.allow", decision_log=DecisionLogConfig(
                collector.url, cached_sample=10))
            # Recording only: the uploader stopped (the buffer drops its
            # oldest once full), to tell the event's cost from the shipping's.
            recording = Authorizer(engine, "data.authz.allow",
                                   decision_log=DecisionLogConfig(collector.url))
            assert recording.decision_log is not None
            recording.decision_log.stop()
            cases = {
                "cached decide, no decision log": plain,
                "cached decide, logged (every event shipped)": logged,
                "cached decide, logged, uploader stopped": recording,
                "cached decide, logged, cached_sample=10": tenth,
                "cached decide, logged, cached_sample=0 (id only)": unsampled,
            }
            times: dict[str, list[int]] = {name: [] for name in cases}
            for a in cases.values():  # warm: the decision cached, the paths hot
                for _ in range(1000):
                    a.decide("alice", "read", "doc", CONTEXT)
            for _ in range(rounds):
                for name, a in cases.items():
                    times[name] += samples(lambda a=a: a.decide("alice", "read", "doc", CONTEXT),
                                           per_round)
            assert logged.decision_log is not None
            assert logged.decision_log.flush(60)
            base = summary(times["cached decide, no decision log"])[0]
            print(f"## Decision logs from Python ({datetime.date.today()}, {platform.machine()}, "
                  f"{os.cpu_count()} CPUs, {'quick' if QUICK else 'full'})\n")
            print("| call | median us | p99 us | x no log |")
            print("|---|---:|---:|---:|")
            for name, ns in times.items():
                med, p99 = summary(ns)
                print(f"| {name} | {med:.2f} | {p99:.2f} | {med / base:.2f}x |")

            for a in (plain, logged, unsampled, tenth):
                a.close()
            assert recording.decision_log is not None
            recording.decision_log.close(0)
            recording.close()
            print(f"\n| shipping {fill} buffered events | validating collector | null sink |")
            print("|---|---:|---:|")
            rows = [ship(engine, collector, fill)]
            null = CollectorProcess(None)
            try:
                rows.append(ship(engine, null, fill))
            finally:
                null.stop()
            for i, name in enumerate(("events/s shipped (flush until received)",
                                      "JSON bytes per event", "gzip bytes per event",
                                      "events per upload")):
                print(f"| {name} | {rows[0][i]:,.0f} | {rows[1][i]:,.0f} |")
        finally:
            collector.stop()


def ship(engine: PolicyEngine, collector: CollectorProcess, fill: int
         ) -> tuple[float, float, float, float]:
    """Fills a buffer with `fill` events (the uploader stopped), then
    flushes it: (events/s, JSON bytes, gzip bytes per event, events per
    upload). For the collector, until it has written them all."""
    authz = Authorizer(engine, "data.authz.allow", decision_log=DecisionLogConfig(collector.url))
    log = authz.decision_log
    assert log is not None
    log.stop()
    for i in range(fill):
        authz.decide(f"user{i % 100}", "read", f"doc:{i % 1000}", CONTEXT)
    before = collector.received()
    status = log.status()
    assert status.buffered_events == fill, status
    t = time.perf_counter()
    assert log.flush(300)
    while collector.events_file is not None and collector.received() < before + fill:
        time.sleep(0.005)
    seconds = time.perf_counter() - t
    after = log.status()
    authz.close()
    return (fill / seconds, status.buffered_bytes / fill, after.sent_bytes / after.sent,
            after.sent / after.uploads)


if __name__ == "__main__":
    main()
