"""A real bundle server for tests: Debian's nginx serving a directory on
127.0.0.1, started and stopped by the test that needs it (`make nginx`
installs it). nginx answers `If-None-Match` with 304 and sets an `ETag`
from the file's size and modification time, which is all OPA's bundle
polling needs; `require_token` makes it answer 401 without
`Authorization: Bearer <token>`.

    with BundleServer(directory) as server:
        url = server.url("bundles/main.tar.gz")
        ...
        server.stop()   # an outage; server.start() brings it back on the same port
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def targz(files: dict[str, str | bytes]) -> bytes:
    """A gzipped tarball of `files` (path -> contents), as `opa build` writes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, body in files.items():
            data = body.encode() if isinstance(body, str) else body
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def publish(path: Path, data: bytes) -> None:
    """Replaces `path` atomically (as a bundle server's deploy does). nginx's
    ETag is the size and modification second, so the new file's time is at
    least a second past the old one's: every publish changes the ETag."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.stat().st_mtime if path.exists() else 0.0
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    mtime = max(time.time(), old + 1.0)
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


class BundleServer:
    """nginx on 127.0.0.1:`port` serving `root`."""

    def __init__(self, root: Path, port: int | None = None, require_token: str | None = None):
        self.root = Path(root)
        self.port = port or free_port()
        self.require_token = require_token
        self._dir = Path(tempfile.mkdtemp(prefix="sark-nginx-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def _config(self) -> Path:
        auth = ""
        if self.require_token:
            auth = (f'if ($http_authorization != "Bearer {self.require_token}") '
                    "{ return 401; }")
        conf = self._dir / "nginx.conf"
        conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {self._dir}/nginx.pid;
error_log {self._dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {self._dir}/access.log;
    client_body_temp_path {self._dir}/body;
    proxy_temp_path {self._dir}/proxy;
    fastcgi_temp_path {self._dir}/fastcgi;
    uwsgi_temp_path {self._dir}/uwsgi;
    scgi_temp_path {self._dir}/scgi;
    default_type application/gzip;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
        etag on;
        location / {{ {auth} }}
    }}
}}
""")
        return conf

    def start(self) -> "BundleServer":
        if not os.path.exists(NGINX):
            raise RuntimeError("nginx is not installed: run `make nginx`")
        conf = self._config()
        self._proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(self._dir)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"nginx exited: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("nginx did not start listening")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def requests(self) -> list[str]:
        """The access log's lines so far (method, path, status)."""
        log = self._dir / "access.log"
        return log.read_text().splitlines() if log.exists() else []

    def __enter__(self) -> "BundleServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
