"""A decision-log collector for tests: an HTTP server on 127.0.0.1 that
receives what OPA's decision-log plugin sends (POST of a gzip-compressed
JSON array of events, `Content-Encoding: gzip`), checks every event
against OPA's event format, and keeps them. Started and stopped by the
test that needs it; `stop()` then `start()` is an outage on the same port.

In Python:

    with Collector() as c:
        url = c.url            # http://127.0.0.1:PORT/logs
        ...
        c.wait_for(100)        # until 100 events arrived (or raise)
        c.events, c.rejected, c.duplicates, c.uploads

From another language: `python3 tests/log_collector.py --events FILE`
prints `listening on PORT` when ready, appends each accepted event to FILE
as a JSON line, and runs until killed (SIGTERM).
`--fail-first N` answers the first N uploads 503 (a collector in trouble).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
FIELDS = ("decision_id", "path", "timestamp", "labels", "metrics")


def check_event(event: Any) -> str | None:
    """Why `event` is not an OPA decision-log event, or None."""
    if not isinstance(event, dict):
        return f"not an object: {event!r}"
    for field in FIELDS:
        if field not in event:
            return f"no {field}"
    try:
        if uuid.UUID(event["decision_id"]).version != 4:
            return "decision_id is not a version 4 UUID"
    except (ValueError, TypeError, AttributeError):
        return f"decision_id {event['decision_id']!r} is not a UUID"
    if not TIMESTAMP.match(str(event["timestamp"])):
        return f"timestamp {event['timestamp']!r} is not RFC 3339 with nanoseconds"
    labels = event["labels"]
    if not isinstance(labels, dict) or not {"id", "version"} <= labels.keys():
        return f"labels {labels!r} lack id or version"
    if not isinstance(event["path"], str) or event["path"].startswith("data."):
        return f"path {event['path']!r} is not OPA's form (authz/allow)"
    if "result" in event and "error" in event:
        return "both result and error"
    if not isinstance(event["metrics"].get("timer_rego_query_eval_ns"), int):
        return "metrics.timer_rego_query_eval_ns missing"
    if "bundles" in event:
        for name, b in event["bundles"].items():
            if not isinstance(b, dict) or "revision" not in b:
                return f"bundle {name!r} has no revision"
    return None


class Collector:
    """The collector; `events` holds every accepted event in arrival order."""

    def __init__(self, port: int = 0, on_event: Callable[[dict[str, Any]], None] | None = None):
        self.port = port or _free_port()
        self.events: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.uploads = 0
        # Decision ids seen more than once (an upload sent twice).
        self.duplicates: list[str] = []
        self._ids: set[str] = set()
        self.fail_first = 0
        self._on_event = on_event
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/logs"

    def start(self) -> "Collector":
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, why = collector._receive(self.path, self.headers, body)
                reply = why.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Collector":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _receive(self, path: str, headers: Any, body: bytes) -> tuple[int, str]:
        with self._lock:
            self.uploads += 1
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503, "failing on purpose"
        why = None
        events: Any = None
        if path.split("?")[0] != "/logs":
            why = f"POST to {path}, not /logs"
        elif headers.get("Content-Encoding") != "gzip":
            why = "no Content-Encoding: gzip"
        else:
            try:
                events = json.loads(gzip.decompress(body))
            except (OSError, ValueError) as e:
                why = f"body is not gzipped JSON: {e}"
        if why is None and not isinstance(events, list):
            why = "body is not a JSON array"
        if why is None:
            for e in events:
                why = check_event(e)
                if why:
                    break
        with self._lock:
            if why:
                self.rejected.append(why)
                return 400, why
            for e in events:
                if e["decision_id"] in self._ids:
                    self.duplicates.append(e["decision_id"])
                self._ids.add(e["decision_id"])
            self.events.extend(events)
            self._lock.notify_all()
        if self._on_event:
            for e in events:
                self._on_event(e)
        return 200, ""

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Waits until `count` events arrived; raises TimeoutError if not."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.events) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.events)} of {count} events after {timeout} s")
                self._lock.wait(left)
            return list(self.events)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--events", required=True, help="append accepted events here (JSON lines)")
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()
    out = open(args.events, "a", buffering=1)
    write_lock = threading.Lock()

    def write(e: dict[str, Any]) -> None:
        with write_lock:
            out.write(json.dumps(e) + "\n")

    c = Collector(args.port, on_event=write)
    c.fail_first = args.fail_first
    c.start()
    print(f"listening on {c.port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    c.stop()
    for why in c.rejected:
        print(f"rejected: {why}", file=sys.stderr)
    sys.exit(1 if c.rejected else 0)


if __name__ == "__main__":
    main()
