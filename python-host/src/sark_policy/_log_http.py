"""The decision log's HTTP client: POSTs of gzipped batches on a
keep-alive connection (standard library `http.client`), which the
uploader closes after each round of uploads. The instance hands over the
JSON array uncompressed (`json-array`); it is gzipped here, by zlib in C on
the uploader's thread, not in the instance while its lock is held.

Why not `urllib.request`: it opens a connection per request, and on
loopback the connect was half of an upload's time (measured: 3.4 ms per
upload of ~90 events, 1.5 ms of it in `connect`). Redirects are not
followed and proxies are not used: a sink is a collector's URL, reached
directly, and a 3xx is a failed upload like any status outside 2xx.
"""

from __future__ import annotations

import gzip
import http.client
import ssl
import urllib.parse
from typing import Final

__all__ = ["LogPoster"]

_USER_AGENT: Final = "sark-policy/0.1.0 (decision logs)"
# Errors of a reused connection the server closed while it was idle:
# nothing reached the collector, so the POST is sent again at once, on a
# new connection.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class LogPoster:
    """POSTs to one URL; not thread-safe (the uploader holds one lock)."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                         "User-Agent": _USER_AGENT}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        # Bytes of the last body sent (gzipped).
        self.last_body_bytes = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout,
                    context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=self._timeout)
        return self._conn

    def post(self, events: bytes) -> str | None:
        """Gzips and sends `events` (a JSON array); None when the collector
        answered 2xx, else why not (the connection is then dropped)."""
        body = gzip.compress(events, compresslevel=1, mtime=0)
        self.last_body_bytes = len(body)
        reused = self._conn is not None
        try:
            status = self._send(body)
        except _STALE:
            self.close()
            if not reused:
                return f"POST {self.url}: the connection was closed"
            try:
                status = self._send(body)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                return f"POST {self.url}: {type(e).__name__}: {e}"
        except (OSError, http.client.HTTPException) as e:
            self.close()
            reason = e.strerror if isinstance(e, OSError) and e.strerror else e
            return f"POST {self.url}: {type(e).__name__}: {reason}"
        if 200 <= status < 300:
            return None
        self.close()
        return f"POST {self.url}: HTTP {status}"

    def _send(self, body: bytes) -> int:
        conn = self._connection()
        conn.request("POST", self._target, body=body, headers=self._headers)
        response = conn.getresponse()
        response.read()
        if response.will_close:
            self.close()
        return response.status

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
