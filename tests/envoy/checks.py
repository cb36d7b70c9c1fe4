"""What every Envoy check uses: one request on its own connection, and
`check` / `expect`, which print one line per check and collect failures."""

from __future__ import annotations

import http.client
import json
from typing import Any, Callable


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def upstream_headers(self) -> dict[str, Any]:
        """What the echo upstream saw (only when Envoy forwarded): headers,
        and `:body-bytes`."""
        return dict(json.loads(self.body))


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    chunked: bool = False,
) -> Response:
    """One request on its own connection; `chunked` sends `body` in
    chunks without a content-length."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload: Any = body
        if chunked and body is not None:
            payload = iter([body[i : i + 10] for i in range(0, len(body), 10)])
        conn.request(method, path, body=payload, headers=headers or {}, encode_chunked=chunked)
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


FAILURES: list[str] = []


def check(name: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the next check runs
        FAILURES.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
    else:
        print(f"ok   {name}", flush=True)


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
