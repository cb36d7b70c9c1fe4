"""OPA bundles: activation from bytes, files and directories, atomic in
every instance, refused bundles, signatures, replay after a trap, and the
poller against a real bundle server (Debian nginx on loopback)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sark_policy import (
    Authorizer,
    BundleInfo,
    BundlePoller,
    BundleStatus,
    InvalidBundleError,
    InvalidJsonError,
    InvalidPolicyError,
    NotFoundError,
    PolicyEngine,
    SandboxTrapError,
    Verification,
    VerificationKey,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from bundle_server import BundleServer, publish, targz  # noqa: E402

RULE = "data.authz.allow"
# A query nested 100,000 deep exhausts the guest's stack: a trap.
TRAP_QUERY = "x := " + "[" * 100_000 + "1" + "]" * 100_000


def files_of(revision: str, user: str = "alice", roots: tuple[str, ...] = ("authz",),
             **extra: str) -> dict[str, str]:
    """A bundle whose `authz.allow` lets `user` in and whose data says
    `revision`."""
    return {
        ".manifest": json.dumps({"revision": revision, "roots": list(roots),
                                 "metadata": {"built_by": "test"}}),
        "authz/policy.rego": ("package authz\n\ndefault allow := false\n\n"
                              f'allow if input.user == "{user}"\n\nrevision := data.authz.rev\n'),
        "authz/data.json": json.dumps({"rev": revision}),
        **extra,
    }


def answers(engine: PolicyEngine) -> tuple[Any, Any, Any]:
    """(alice allowed, bob allowed, data revision) by the engine."""
    return (engine.evaluate(RULE, {"user": "alice"}), engine.evaluate(RULE, {"user": "bob"}),
            engine.evaluate("data.authz.revision"))


def every_instance(engine: PolicyEngine, rule: str, input: str = "") -> list[str | None]:
    """`rule` evaluated in each instance of the engine's pool."""
    out = []
    for sandbox in engine._pool.sandboxes:
        with sandbox.lock:
            out.append(sandbox.abi.eval_rule(engine._handles[sandbox.index], rule,
                                             input.encode()))
    return out


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- signing as `opa sign` does --------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(files: dict[str, str], secret: str, kid: str = "k1",
           scope: str = "") -> dict[str, str]:
    """`files` with a `.signatures.json` (an HS256 JWT) listing each file's
    SHA-256: over the bytes of a module, over the canonical JSON (sorted
    keys, no whitespace) of `data.json` and `.manifest`, as OPA hashes."""
    listed = []
    for path, body in sorted(files.items()):
        if path.rsplit("/", 1)[-1] in ("data.json", ".manifest"):
            raw = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        else:
            raw = body.encode()
        listed.append({"name": path, "hash": hashlib.sha256(raw).hexdigest(),
                       "algorithm": "SHA-256"})
    header = _b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    payload = _b64(json.dumps({"files": listed, "keyid": kid, "scope": scope}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    token = f"{header}.{payload}.{_b64(signature.digest())}"
    return {**files, ".signatures.json": json.dumps({"signatures": [token]})}


KEYS = Verification(keys=[VerificationKey("k1", "HS256", "s3cret")])


# -- activation ---------------------------------------------------------------------


def test_activate_from_bytes_a_tarball_file_and_a_directory(tmp_path: Path) -> None:
    e = PolicyEngine()
    assert e.bundles() == []
    with pytest.raises(NotFoundError):
        answers(e)
    info = e.activate_bundle("main", targz(files_of("v1")))
    assert info == BundleInfo(name="main", revision="v1", roots=("authz",),
                              metadata={"built_by": "test"},
                              modules=("main/authz/policy.rego",), deltas=0)
    assert answers(e) == (True, False, "v1")
    assert e.bundles() == [info] and e.policies() == ["main/authz/policy.rego"]

    tarball = tmp_path / "v2.tar.gz"
    tarball.write_bytes(targz(files_of("v2", user="bob")))
    assert e.activate_bundle("main", str(tarball)).revision == "v2"
    assert answers(e) == (False, True, "v2")

    directory = tmp_path / "bundle"
    for path, body in files_of("v3", user="carol", **{
            "authz/users/data.json": '{"count": 2}', "README.md": "not policy"}).items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_text(body)
    info = e.activate_bundle("main", directory)  # a Path; .manifest is hidden, still read
    assert info.revision == "v3" and info.modules == ("main/authz/policy.rego",)
    assert e.evaluate(RULE, {"user": "carol"}) is True
    assert e.data() == {"authz": {"rev": "v3", "users": {"count": 2}}}

    with pytest.raises(FileNotFoundError):
        e.activate_bundle("main", tmp_path / "missing.tar.gz")
    with pytest.raises(TypeError):
        e.activate_bundle("main", 42)  # type: ignore[arg-type]
    assert e.bundles()[0].revision == "v3"


def test_activation_is_atomic_over_the_pool_and_scopes_the_cache() -> None:
    e = PolicyEngine(pool_size=2)
    e.activate_bundle("main", targz(files_of("v1")))
    a = Authorizer(e, RULE)
    first = a.decide("alice", "read", "doc")
    assert (first.value, first.cached) == (True, False)
    assert a.decide("alice", "read", "doc").cached  # served from the cache
    revision = e.revision

    e.activate_bundle("main", targz(files_of("v2", user="bob")))
    assert e.revision != revision
    after = a.decide("alice", "read", "doc")
    assert (after.value, after.cached) == (False, False)  # not the v1 decision
    assert a.decide("bob", "read", "doc").value is True
    assert every_instance(e, "data.authz.revision") == ['"v2"', '"v2"']


def test_bundles_own_their_roots() -> None:
    e = PolicyEngine()
    e.add_policy("other.rego", "package other\nx := 1\n")
    e.activate_bundle("main", targz(files_of("v1")))
    with pytest.raises(InvalidPolicyError, match="roots"):
        e.add_policy("mine.rego", "package authz.extra\ny := 1\n")
    with pytest.raises(InvalidPolicyError):
        e.remove_policy("main/authz/policy.rego")
    with pytest.raises(InvalidJsonError):
        e.add_data({"authz": {"rev": "mine"}})
    with pytest.raises(InvalidBundleError, match="overlaps"):
        e.activate_bundle("second", targz(files_of("s1")))
    e.add_data({"elsewhere": 1})
    assert answers(e) == (True, False, "v1") and e.evaluate("data.other.x") == 1


@pytest.mark.parametrize("bad, error", [
    ({"authz/policy.rego": "package authz\nallow if {"}, InvalidPolicyError),
    ({"other/data.json": '{"x": 1}'}, InvalidBundleError),  # data outside the roots
    ({"other/p.rego": "package other\ny := 1\n"}, InvalidBundleError),  # a package outside
    ({"authz/data.json": "{not json"}, InvalidJsonError),
    ({".manifest": "not json"}, InvalidBundleError),
], ids=["rego", "data-outside-roots", "package-outside-roots", "data-json", "manifest"])
def test_a_bad_bundle_is_refused_and_the_old_one_keeps_serving(
        bad: dict[str, str], error: type[Exception]) -> None:
    e = PolicyEngine(pool_size=2)
    e.activate_bundle("main", targz(files_of("v1")))
    revision = e.revision
    with pytest.raises(error):
        e.activate_bundle("main", targz({**files_of("v2", user="bob"), **bad}))
    assert answers(e) == (True, False, "v1") and e.revision == revision
    assert every_instance(e, "data.authz.revision") == ['"v1"', '"v1"']
    assert [b.revision for b in e.bundles()] == ["v1"]
    status = e.get_metrics()["bundles"]["main"]
    assert (status["active_revision"], status["activations"], status["failures"]) == ("v1", 1, 1)
    assert status["last_error"].startswith(f"{error.kind}: ")  # type: ignore[attr-defined]


def test_not_a_tarball() -> None:
    e = PolicyEngine()
    for junk in (b"", b"not gzip at all", targz(files_of("v1"))[:50]):
        with pytest.raises(InvalidBundleError):
            e.activate_bundle("main", junk)
    assert e.bundles() == []


def test_signed_bundles() -> None:
    e = PolicyEngine()
    good = signed(files_of("v1"), "s3cret")
    assert e.activate_bundle("main", targz(good), KEYS).revision == "v1"

    refused = {
        "unsigned": files_of("v2"),
        "another secret": signed(files_of("v2"), "other"),
        "unknown key": signed(files_of("v2"), "s3cret", kid="k2"),
        "tampered": {**signed(files_of("v2"), "s3cret"),
                     "authz/policy.rego": "package authz\nallow := true\n"},
        "a file added": {**signed(files_of("v2"), "s3cret"), "authz/x/data.json": "{}"},
        "another scope": signed(files_of("v2"), "s3cret", scope="write"),
    }
    for why, files in refused.items():
        with pytest.raises(InvalidBundleError, match="signature"):
            e.activate_bundle("main", targz(files), KEYS)
        assert answers(e) == (True, False, "v1"), why

    # Files left out of the signature, and a scope the key requires.
    loose = {**signed(files_of("v3"), "s3cret"), "README.md": "anything"}
    assert e.activate_bundle("main", targz(loose), Verification(
        KEYS.keys, exclude_files=["README.md"])).revision == "v3"
    scoped = Verification([VerificationKey("k1", "HS256", "s3cret", scope="write")])
    assert e.activate_bundle("main", targz(signed(files_of("v4"), "s3cret", scope="write")),
                             scoped).revision == "v4"
    # Without verification, signatures are not checked.
    assert e.activate_bundle("main", targz(files_of("v5"))).revision == "v5"
    with pytest.raises(TypeError):  # a str, not a list of them
        e.activate_bundle("main", targz(loose),
                          Verification(KEYS.keys, exclude_files="README.md"))


def test_a_recycled_instance_replays_bundles_and_deltas() -> None:
    e = PolicyEngine(pool_size=2, strict_builtin_errors=True)
    e.add_policy("other.rego", "package other\nx := 1\n")
    e.add_data({"elsewhere": {"n": 1}})
    e.activate_bundle("main", targz(signed(files_of("v1"), "s3cret")), KEYS)
    delta = {".manifest": json.dumps({"revision": "v1-d1", "roots": ["authz"]}),
             "patch.json": json.dumps({"data": [
                 {"op": "upsert", "path": "/authz/rev", "value": "patched"}]})}
    info = e.activate_bundle("main", targz(delta))
    assert (info.revision, info.deltas) == ("v1-d1", 1)
    assert answers(e) == (True, False, "patched")

    for _ in range(2):  # each query lands on one instance: trap them both
        with pytest.raises(SandboxTrapError):
            e.query(TRAP_QUERY)
    assert e.recycles == 2
    assert every_instance(e, "data.authz.revision") == ['"patched"', '"patched"']
    assert every_instance(e, RULE, '{"user": "alice"}') == ["true", "true"]
    assert every_instance(e, "data.other.x") == ["1", "1"]
    assert e.bundles() == [info] and e.strict_builtin_errors
    assert e.data() == {"authz": {"rev": "patched"}, "elsewhere": {"n": 1}}


def test_data_a_bundle_cleared_does_not_come_back_after_a_recycle() -> None:
    e = PolicyEngine()
    e.add_data({"authz": {"mine": 1}, "keep": 1})  # under the roots-to-be: cleared
    e.activate_bundle("main", targz(files_of("v1")))
    for i in range(20):  # merges enough to compact the journal's data
        e.add_data({"more": {str(i): i}})
    assert e.data()["authz"] == {"rev": "v1"}

    def check() -> Any:
        before = e.data()
        with pytest.raises(SandboxTrapError):
            e.query(TRAP_QUERY)
        assert e.data() == before
        return before

    check()
    app = {".manifest": json.dumps({"revision": "a1", "roots": ["app"]}),
           "app/policy.rego": 'package app\nallow if input.user == "alice"\n',
           "app/data.json": json.dumps({"rev": "a1"})}
    e.activate_bundle("main", targz(app))  # other roots: the old ones are cleared
    assert "authz" not in check() and e.evaluate("data.app.allow", {"user": "alice"}) is True
    e.remove_bundle("main")
    with pytest.raises(NotFoundError):
        e.remove_bundle("main")
    assert check() == {"keep": 1, "more": {str(i): i for i in range(20)}}
    assert e.policies() == [] and e.bundles() == []
    assert "main" not in e.get_metrics()["bundles"]


# -- metrics ---------------------------------------------------------------------------


def test_bundle_status_in_metrics_and_prometheus() -> None:
    e = PolicyEngine()
    e.activate_bundle('we"ird', targz(files_of("v1")))
    with pytest.raises(InvalidBundleError):
        e.activate_bundle("main", targz({**files_of("v1"), "other/data.json": "{}"}))
    status = e.get_metrics()["bundles"]
    assert status['we"ird']["active_revision"] == "v1"
    assert status["main"]["active_revision"] is None and status["main"]["failures"] == 1
    text = Authorizer(e, RULE).prometheus()
    assert 'sark_policy_bundle_info{bundle="we\\"ird",revision="v1"} 1' in text
    assert 'sark_policy_bundle_activations_total{bundle="we\\"ird"} 1' in text
    assert 'sark_policy_bundle_failures_total{bundle="main"} 1' in text
    assert ('sark_policy_bundle_last_error_info{bundle="main",error="invalid-bundle: manifest roots '
            '[\\"authz\\"] do not permit data') in text
    assert "# TYPE sark_policy_bundle_downloads_total counter" in text
    assert "# TYPE sark_policy_bundle_last_activation_timestamp_seconds gauge" in text
    assert PolicyEngine().prometheus().count("sark_bundle") == 0


# -- polling a bundle server -----------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[BundleServer, Path]]:
    """nginx serving `tmp_path/srv`; publish to the path it returns."""
    root = tmp_path / "srv"
    root.mkdir()
    bundle = root / "bundles" / "main.tar.gz"
    publish(bundle, targz(files_of("v1")))
    with BundleServer(root) as server:
        yield server, bundle


def _poller(e: PolicyEngine, server: BundleServer, **kw: Any) -> BundlePoller:
    kw = {"min_delay": 0.05, "max_delay": 0.1, "backoff_base": 0.05, "timeout": 2.0, **kw}
    return BundlePoller(e, "main", server.url("bundles/main.tar.gz"), **kw)


def test_poller_downloads_then_304_then_a_new_revision(
        served: tuple[BundleServer, Path]) -> None:
    server, bundle = served
    e = PolicyEngine(pool_size=2)
    a = Authorizer(e, RULE)
    p = _poller(e, server)
    status = p.poll_now()
    assert (status.active_revision, status.downloads, status.activations) == ("v1", 1, 1)
    assert status.etag and status.last_error is None and status.url == p.url
    assert a.decide("alice", "read", "doc").value is True
    assert a.decide("alice", "read", "doc").cached
    revision = e.revision

    status = p.poll_now()  # If-None-Match: nginx answers 304
    assert (status.not_modified, status.downloads, status.activations) == (1, 1, 1)
    assert e.revision == revision and a.decide("alice", "read", "doc").cached
    # nginx writes its access log after the response: wait for the line.
    wait_for(lambda: any(" 304 " in line for line in server.requests()))

    publish(bundle, targz(files_of("v2", user="bob")))
    status = p.poll_now()
    assert (status.active_revision, status.downloads, status.activations) == ("v2", 2, 2)
    decision = a.decide("alice", "read", "doc")
    assert (decision.value, decision.cached) == (False, False)
    assert every_instance(e, "data.authz.revision") == ['"v2"', '"v2"']
    assert status.last_request and status.last_successful_download
    assert status.last_successful_activation and status.failures == 0


def test_a_corrupt_bundle_keeps_the_previous_one(served: tuple[BundleServer, Path]) -> None:
    server, bundle = served
    e = PolicyEngine()
    p = _poller(e, server, verification=KEYS)
    publish(bundle, targz(signed(files_of("v1"), "s3cret")))
    assert p.poll_now().active_revision == "v1"
    for bad in (b"\x1f\x8b truncated", targz(files_of("v2")),  # unsigned
                targz({**signed(files_of("v2"), "s3cret"), "authz/data.json": '{"rev": "x"}'})):
        publish(bundle, bad)
        status = p.poll_now()
        assert status.active_revision == "v1" and status.last_error
        assert answers(e) == (True, False, "v1")
    assert (status.failures, status.consecutive_failures, status.downloads) == (3, 3, 4)
    assert "sark_policy_bundle_last_error_info{" in e.prometheus()
    publish(bundle, targz(signed(files_of("v3"), "s3cret")))
    status = p.poll_now()
    assert (status.active_revision, status.last_error, status.consecutive_failures) == (
        "v3", None, 0)
    assert "sark_policy_bundle_last_error_info{" not in e.prometheus()


def test_poller_sends_the_bearer_token(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    publish(root / "bundles" / "main.tar.gz", targz(files_of("v1")))
    with BundleServer(root, require_token="t0ken") as server:
        e = PolicyEngine()
        status = _poller(e, server).poll_now()
        assert status.active_revision is None and "HTTP 401" in (status.last_error or "")
        assert _poller(e, server, token="wrong").poll_now().failures == 2
        status = _poller(e, server, token="t0ken").poll_now()
        assert status.active_revision == "v1" and status.last_error is None
        assert answers(e) == (True, False, "v1")


def test_an_outage_backs_off_and_recovers(served: tuple[BundleServer, Path]) -> None:
    server, _ = served
    e = PolicyEngine()
    p = _poller(e, server, min_delay=1.0, max_delay=2.0, backoff_base=0.1)
    assert p.poll_now().active_revision == "v1"
    assert 1.0 <= p.next_delay() <= 2.0
    server.stop()
    for n in range(1, 7):
        status = p.poll_now()
        assert (status.failures, status.consecutive_failures) == (n, n)
        assert status.active_revision == "v1" and status.last_error
        backoff = min(2.0, 0.1 * 2 ** (n - 1))
        assert all(0.8 * backoff <= p.next_delay() <= 1.2 * backoff for _ in range(20))
    assert answers(e) == (True, False, "v1")
    server.start()
    status = p.poll_now()  # the ETag still matches: 304
    assert (status.not_modified, status.consecutive_failures, status.last_error) == (1, 0, None)
    assert (status.failures, status.activations) == (6, 1)


def test_the_poller_thread_follows_publications(served: tuple[BundleServer, Path]) -> None:
    server, bundle = served
    e = PolicyEngine()
    with _poller(e, server) as p:
        assert p.running
        wait_for(lambda: p.status().active_revision == "v1")
        publish(bundle, targz(files_of("v2", user="bob")))
        wait_for(lambda: e.evaluate(RULE, {"user": "bob"}) is True)
        wait_for(lambda: p.status().not_modified >= 1)
        with pytest.raises(RuntimeError):
            p.start()
    assert not p.running
    time.sleep(0.1)  # nginx logs a request after answering it
    requests = len(server.requests())
    time.sleep(0.3)
    assert len(server.requests()) == requests  # stopped means stopped


def test_a_restart_serves_the_persisted_bundle(
        served: tuple[BundleServer, Path], tmp_path: Path) -> None:
    server, bundle = served
    persist = tmp_path / "persist"
    first = PolicyEngine()
    publish(bundle, targz(files_of("v2", user="bob")))
    status = _poller(first, server, persist_dir=persist).poll_now()
    assert status.active_revision == "v2"
    assert (persist / "main" / "bundle.tar.gz").read_bytes() == bundle.read_bytes()
    assert (persist / "main" / "etag").read_text() == status.etag
    server.stop()

    second = PolicyEngine()  # a restart, the server down
    p = _poller(second, server, persist_dir=persist)  # activates what was persisted
    assert answers(second) == (False, True, "v2")
    assert (p.status().active_revision, p.status().activations) == ("v2", 1)
    with p:
        wait_for(lambda: p.status().failures >= 2)  # polled, backed off, polled
        assert answers(second) == (False, True, "v2")
        server.start()
        wait_for(lambda: p.status().not_modified >= 1)  # its ETag went with the request
        assert p.status().downloads == 0 and p.status().activations == 1

    odd = BundlePoller(PolicyEngine(), "a/../b c", server.url("bundles/main.tar.gz"),
                       persist_dir=persist)
    assert odd.poll_now().active_revision == "v2"
    assert (persist / "a_.._b_c" / "bundle.tar.gz").exists()  # never outside persist_dir
    with pytest.raises(ValueError):
        BundlePoller(second, "..", server.url("b"), persist_dir=persist)
    with pytest.raises(ValueError):
        BundlePoller(second, "main", "file:///etc/passwd")


def test_a_persisted_bundle_the_keys_refuse_is_not_served(
        served: tuple[BundleServer, Path], tmp_path: Path) -> None:
    server, _ = served
    _poller(PolicyEngine(), server, persist_dir=tmp_path).poll_now()  # unsigned
    e = PolicyEngine()
    p = _poller(e, server, persist_dir=tmp_path, verification=KEYS)
    status = p.status()
    assert status.active_revision is None and "signature" in (status.last_error or "")
    assert e.bundles() == []


def test_a_missing_bundle_is_a_failure(served: tuple[BundleServer, Path]) -> None:
    server, _ = served
    e = PolicyEngine()
    status = BundlePoller(e, "main", server.url("bundles/none.tar.gz")).poll_now()
    assert status.last_error and status.last_error.endswith("HTTP 404")
    assert (status.failures, status.downloads, status.active_revision) == (1, 0, None)


def test_polling_never_blocks_the_event_loop(served: tuple[BundleServer, Path]) -> None:
    server, bundle = served
    e = PolicyEngine()
    a = Authorizer(e, RULE)

    async def main() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        lag = 0.0
        with _poller(e, server, min_delay=0.01, max_delay=0.02):
            await asyncio.to_thread(wait_for, lambda: e.bundles() != [])
            publish(bundle, targz(files_of("v2", user="bob")))
            decisions = 0
            deadline = loop.time() + 10
            while (await a.decide_async("bob", "read", "doc")).value is not True:
                assert loop.time() < deadline
                t = loop.time()
                await asyncio.sleep(0.001)
                lag = max(lag, loop.time() - t - 0.001)
                decisions += 1
        return lag, decisions

    lag, decisions = asyncio.run(main())
    assert decisions > 0
    # Generous: the machine is shared; a loop waiting on a poll would be late
    # by the poll's seconds.
    assert lag < 0.5, f"event loop late by {lag * 1000:.1f} ms"


def test_status_dataclass_defaults() -> None:
    e = PolicyEngine()
    p = BundlePoller(e, "main", "http://127.0.0.1:9/bundle.tar.gz")
    assert p.status() == BundleStatus(name="main", url="http://127.0.0.1:9/bundle.tar.gz")


def test_a_bundle_not_persisted_still_serves(
        served: tuple[BundleServer, Path], tmp_path: Path) -> None:
    server, _ = served
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    e = PolicyEngine()
    status = _poller(e, server, persist_dir=blocker).poll_now()
    assert status.active_revision == "v1" and status.failures == 0
    assert (status.last_error or "").startswith("persisting to ")
    assert answers(e) == (True, False, "v1")


def test_an_asyncio_task_polls_without_blocking_the_loop(
        served: tuple[BundleServer, Path]) -> None:
    server, bundle = served
    e = PolicyEngine()
    p = _poller(e, server)

    async def main() -> tuple[int, float]:
        task = p.start_async()
        ticks, worst, last = 0, 0.0, time.perf_counter()
        deadline, published = last + 10, False
        while p.status().active_revision != "v2":
            if p.status().active_revision == "v1" and not published:
                publish(bundle, targz(files_of("v2", user="bob")))
                published = True
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst, last, ticks = max(worst, now - last), now, ticks + 1
            assert now < deadline, p.status()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ticks, worst

    ticks, worst = asyncio.run(main())
    assert e.evaluate(RULE, {"user": "bob"}) is True
    assert ticks > 0 and worst < 0.5, worst


def test_load_bundle_names_the_bundle_after_its_file(tmp_path: Path) -> None:
    e = PolicyEngine()
    path = tmp_path / "prod.tar.gz"
    path.write_bytes(targz(files_of("v1")))
    assert e.load_bundle(path).name == "prod"
    other = {".manifest": json.dumps({"roots": ["other"]}), "other/data.json": '{"x": 1}'}
    assert e.load_bundle(targz(other)).name == "bundle"
    assert sorted(b.name for b in e.bundles()) == ["bundle", "prod"]
