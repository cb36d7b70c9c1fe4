"""A tiny upstream for the Envoy tests and benches: answers every request
with 200 and the request headers it received as a JSON object, plus
`:body-bytes`, how many body bytes came (content-length or chunked).

`GET /_sark/seen` (asked directly, not through Envoy) answers the requests
that reached it since the last ask, as they arrived: `x-test-id` and the
body bytes read (`null` when the body never came)."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


SEEN: list[dict[str, object]] = []


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read_body(self) -> int:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return total
                total += len(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return len(self.rfile.read(length)) if length else 0

    def _echo(self) -> None:
        try:
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            # A request Envoy reset (denied on its body): nobody to answer.
            self.close_connection = True

    def _answer(self) -> None:
        if self.path == "/_sark/seen":
            body = json.dumps(SEEN).encode()
            SEEN.clear()
        else:
            arrived: dict[str, object] = {"id": self.headers.get("x-test-id"), "body": None}
            SEEN.append(arrived)
            seen: dict[str, object] = {k.lower(): v for k, v in self.headers.items()}
            seen[":body-bytes"] = arrived["body"] = self._read_body()
            body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _echo

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
