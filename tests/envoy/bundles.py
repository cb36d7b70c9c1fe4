"""The filter's `bundle`: Envoy polls a real bundle server (Debian nginx on
loopback, tests/bundle_server.py) through a cluster, with a bearer token
and If-None-Match; bundles flip decisions, broken and tampered ones are
refused while the previous one keeps serving. The decision-log checks
(decision_logs.py) share this Envoy. Run from test_envoy.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import harness
from checks import check, expect, request
from decision_logs import DecisionLogs

sys.path.insert(0, str(harness.ROOT / "tests"))
from bundle_server import BundleServer, publish, targz  # noqa: E402
from log_collector import Collector  # noqa: E402

TOKEN = "bundle-token"
KEY = {"id": "k1", "algorithm": "HS256", "key": "bundle-signing-secret"}

POLICY = """package envoy.authz

default allow := false

allow if input.parsed_path[0] in data.envoy.paths
"""


def files(revision: str, paths: list[str], policy: str = POLICY) -> dict[str, str]:
    """A bundle owning `data.envoy`: requests to /<p> for p in `paths` pass."""
    return {
        ".manifest": json.dumps({"revision": revision, "roots": ["envoy"]}),
        "envoy/authz.rego": policy,
        "envoy/data.json": json.dumps({"paths": paths}),
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def digest(path: str, body: str) -> str:
    """A file's SHA-256 as OPA computes it: `.manifest` and data files over
    their canonical JSON (sorted keys, no whitespace), others over bytes."""
    data = body.encode()
    if path.rsplit("/", 1)[-1] in (".manifest", "data.json"):
        value = json.loads(data)
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


def signed(bundle: dict[str, str], key: dict[str, str] = KEY) -> dict[str, str]:
    """`bundle` with the `.signatures.json` `opa build --signing-alg HS256`
    writes: one JWT listing every file with its digest."""
    head = {"alg": key["algorithm"], "kid": key["id"]}
    listed = [
        {"name": p, "hash": digest(p, body), "algorithm": "SHA-256"} for p, body in bundle.items()
    ]
    payload = {"files": listed, "keyid": key["id"]}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(payload).encode())}"
    mac = hmac.new(key["key"].encode(), signing_input.encode(), hashlib.sha256).digest()
    jwt = f"{signing_input}.{b64url(mac)}"
    return {**bundle, ".signatures.json": json.dumps({"signatures": [jwt]})}


def eventually(what: str, cond: Callable[[], bool], timeout: float = 8.0) -> float:
    """Seconds until `cond()` holds; raises after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def run_bundles(upstream_port: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="sark-bundles-"))
    try:
        with BundleServer(root, require_token=TOKEN) as server, Collector() as collector:
            run_with(server, root, upstream_port, DecisionLogs(collector))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_with(server: BundleServer, root: Path, upstream_port: int, logs: DecisionLogs) -> None:
    """The checks, with `server` serving `root`, then the decision-log
    checks of `logs`."""
    names = ("admin", "main", "open", "signed")
    ports = {n: harness.free_port() for n in names}

    def plugin(path: str, **bundle: Any) -> dict[str, Any]:
        return {
            "bundle": {
                "cluster": "bundle_server",
                "path": path,
                "min_delay_seconds": 0.2,
                "max_delay_seconds": 0.4,
                "timeout_ms": 2000,
                "token": TOKEN,
                **bundle,
            }
        }

    plugins = {
        "main": plugin("/main.tar.gz"),
        "open": {**plugin("/main.tar.gz"), "failure_mode": "open"},
        "signed": plugin("/signed.tar.gz", name="signed", verification={"keys": [KEY]}),
    }
    listeners = [
        harness.listener(n, ports[n], [harness.wasm_filter(p, f"bundle_{n}")])
        for n, p in plugins.items()
    ]
    config = harness.bootstrap(
        ports["admin"],
        upstream_port,
        [*listeners, *logs.listeners],
        [harness.cluster("bundle_server", server.port), logs.cluster],
    )
    # Two workers: each worker VM polls and activates on its own.
    envoy = harness.Envoy(config, ports["admin"], concurrency=2)

    def stat(name: str) -> int:
        return sum(v for k, v in envoy.stats().items() if k.endswith("sark_policy." + name))

    def status(listener: str, path: str) -> int:
        return request(ports[listener], "GET", path).status

    def settled(listener: str, want: dict[str, int]) -> bool:
        """Eight requests in a row (on fresh connections, so both workers)
        per path get the wanted status."""
        return all(status(listener, p) == s for _ in range(8) for p, s in want.items())

    def published(name: str, bundle: dict[str, str]) -> None:
        publish(root / name, targz(bundle))

    try:
        envoy.wait_ready()

        def not_ready() -> None:
            r = request(ports["main"], "GET", "/a")
            expect(r.status == 503, f"main: status {r.status}")
            expect(r.body == b"policy not loaded yet\n", f"body {r.body!r}")
            expect(status("open", "/a") == 200, "failure_mode open lets it through")
            expect(stat("not_ready") >= 2, f"not_ready counter: {stat('not_ready')}")
            eventually("404s counted", lambda: stat("bundle_failures") > 0)
            expect("the bundle server answered 404" in envoy.log(), "the failure is logged")

        def first_bundle() -> None:
            t0 = time.monotonic()
            published("main.tar.gz", files("v1", ["a"]))
            published("signed.tar.gz", signed(files("s1", ["s1"])))
            eventually("v1 decides", lambda: settled("main", {"/a": 200, "/b": 403}))
            print(f"     v1 decides {time.monotonic() - t0:.2f}s after its publication")
            eventually("v1 decides (open)", lambda: settled("open", {"/a": 200, "/b": 403}))
            expect('bundle "main" activated: revision "v1"' in envoy.log(), "activation logged")
            last = stat("bundle_last_activation_unix_seconds")
            expect(abs(last - time.time()) < 60, f"last activation gauge: {last}")
            expect(stat("bundle_downloads") >= 2 and stat("bundle_activations") >= 2, "counters")

        def signed_bundle() -> None:
            eventually("signed s1 decides", lambda: settled("signed", {"/s1": 200, "/a": 403}))
            expect('bundle "signed" activated: revision "s1"' in envoy.log(), "logged")

        def not_modified() -> None:
            time.sleep(0.6)
            activations, not_modified = stat("bundle_activations"), stat("bundle_not_modified")
            time.sleep(1.0)
            expect(stat("bundle_activations") == activations, "nothing activated again")
            expect(stat("bundle_not_modified") > not_modified, "polls answered 304")
            got = [line for line in server.requests() if '"GET /main.tar.gz' in line]
            expect(any('" 304 ' in line for line in got), f"nginx answered 304: {got[-3:]}")
            expect(not any('" 401 ' in line for line in got), "the bearer token was sent")

        def flips() -> None:
            t0 = time.monotonic()
            published("main.tar.gz", files("v2", ["b"]))
            eventually("v2 decides", lambda: settled("main", {"/a": 403, "/b": 200}), 5)
            print(f"     v2 decides {time.monotonic() - t0:.2f}s after its publication")

        def broken() -> None:
            failures = stat("bundle_failures")
            published("main.tar.gz", files("v3", ["a"], "package envoy.authz\nallow if {"))
            eventually("refusal counted", lambda: stat("bundle_failures") > failures)
            eventually("refusal logged", lambda: 'bundle "main" refused' in envoy.log())
            line = next(x for x in envoy.log().splitlines() if 'bundle "main" refused' in x)
            expect("authz.rego" in line and "keeps serving" in line, line[-300:])
            print(f"     {line.split('sark-policy: ', 1)[-1][:160]}")
            for _ in range(3):
                expect(settled("main", {"/a": 403, "/b": 200}), "v2 keeps serving")
                time.sleep(0.3)
            published("main.tar.gz", files("v4", ["a", "b"]))
            eventually("v4 decides", lambda: settled("main", {"/a": 200, "/b": 200}))

        def tampered() -> None:
            refused = envoy.log().count('bundle "signed" refused')
            bundle = signed(files("s2", ["s2"]))
            published("signed.tar.gz", {**bundle, "envoy/data.json": '{"paths": ["evil"]}'})
            eventually(
                "tampered bundle refused",
                lambda: envoy.log().count('bundle "signed" refused') > refused,
            )
            line = next(x for x in envoy.log().splitlines() if 'bundle "signed" refused' in x)
            expect("digest mismatch" in line, line[-300:])
            expect(settled("signed", {"/s1": 200, "/evil": 403}), "s1 keeps serving")
            other = {**KEY, "key": "another-secret"}
            published("signed.tar.gz", signed(files("s3", ["s3"]), other))

            def last_refusal() -> str:
                lines = [x for x in envoy.log().splitlines() if 'bundle "signed" refused' in x]
                return lines[-1] if lines else ""

            eventually("foreign key refused", lambda: "digest mismatch" not in last_refusal())
            print(f"     {last_refusal().split('sark-policy: ', 1)[-1][:160]}")
            expect(settled("signed", {"/s1": 200, "/s3": 403}), "s1 keeps serving")
            published("signed.tar.gz", signed(files("s4", ["s4"])))
            eventually("s4 decides", lambda: settled("signed", {"/s4": 200, "/s1": 403}))

        check("bundle: before the first activation 503, failure_mode open lets through", not_ready)
        check("bundle: the first bundle is activated and decides (token, data, roots)", first_bundle)
        check("bundle: a signed bundle (HS256) verifies and decides", signed_bundle)
        check("bundle: an unchanged bundle is answered 304 and not activated again", not_modified)
        check("bundle: a new revision flips the decision within seconds", flips)
        check("bundle: a broken bundle is refused, the previous keeps serving", broken)
        check("bundle: tampered or foreign-key signed bundles are refused", tampered)
        counters = {k.split("sark_policy.", 1)[1]: v for k, v in envoy.stats().items()}
        print("     bundle stats:", json.dumps({k: v for k, v in counters.items() if "bundle" in k
                                                  or k == "not_ready"}, sort_keys=True))
        logs.run(envoy)
    finally:
        envoy.stop()
