"""Soak: mixed load on one `PolicyEngine` (pool of 2) for a while, every
answer checked against native regorus (PyPI `celine-regorus`, imported as
`regorus`: another engine, no sandbox, no cache), resident memory sampled.

    python python-host/bench/soak.py 600   # make soak
    python python-host/bench/soak.py 30    # make test (soak-smoke)

Two threads decide (hits and misses) and evaluate; meanwhile the main thread
changes policies and data every 50 ms (under a write lock, so each answer is
checked against the one state it was computed in) and forces a timeout and
a trap every two seconds. Exits non-zero on any mismatch or unexpected
error, and, for runs of two minutes or more, when resident memory grew more
than 5% after the warm-up (the first fifth).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from pathlib import Path

import regorus

from sark_policy import (
    Authorizer,
    PolicyEngine,
    PolicyTimeoutError,
    SandboxLimits,
    SandboxTrapError,
)

ROOT = Path(__file__).resolve().parents[2]
AUTHZ = (ROOT / "examples" / "authz.rego").read_text()
AUTHZ_V2 = AUTHZ + "\nallow if {\n\tnot denied\n\tinput.context.break_glass == true\n}\n"
EXTRA = "package extra\nlevel := count(data.users)\n"
SLOW = ("package slow\nn if {\n some i in numbers.range(1, 100000)\n"
        " some j in numbers.range(1, 100000)\n i * j == -1\n}")
# Brackets nested 100,000 deep exhaust the guest's call stack in regorus's
# parser: a trap (no builtin panics any more).
TRAP_QUERY = "x := " + "[" * 100_000 + "1" + "]" * 100_000
USERS = 400
THREADS = 2
RULE = "data.authz.allow"


def make_data(rng: random.Random) -> dict[str, object]:
    roles = ["admin", "analyst", "operator"]
    return {
        "users": {f"u{i}": {"roles": [rng.choice(roles)]} for i in range(USERS)},
        "roles": {"analyst": {"permissions": ["read:dataset:sales"]},
                  "operator": {"permissions": ["execute:tool:deploy"]}},
        "critical": {"tool:deploy": True},
        "deny_list": [f"u{rng.randrange(USERS)}"],
    }


class RwLock:
    """Many readers or one writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    def read(self) -> "_Held":
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        return _Held(self, False)

    def write(self) -> "_Held":
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True
            while self._readers:
                self._cond.wait()
        return _Held(self, True)

    def release(self, writer: bool) -> None:
        with self._cond:
            if writer:
                self._writing = False
            else:
                self._readers -= 1
            self._cond.notify_all()


class _Held:
    def __init__(self, lock: RwLock, writer: bool) -> None:
        self.lock, self.writer = lock, writer

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        self.lock.release(self.writer)


class State:
    """What both sides hold: the policies and the data, with a version."""

    def __init__(self, policies: dict[str, str], data: dict[str, object]) -> None:
        self.version = 0
        self.policies = dict(policies)
        self.data_json = json.dumps(data)

    def oracle(self) -> regorus.Engine:
        e = regorus.Engine()
        for name, src in self.policies.items():
            e.add_policy(name, src)
        e.add_data_json(self.data_json)
        return e


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.decisions = self.hits = self.evaluations = 0
        self.changes = self.timeouts = self.traps = self.mismatches = 0


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def work(seed: int, engine: PolicyEngine, authz: Authorizer, state: State, rw: RwLock,
         counts: Counts, stop: threading.Event, errors: list[BaseException]) -> None:
    rng = random.Random(seed)
    oracle, version = None, -1
    actions = [("read", "dataset:sales"), ("execute", "tool:deploy")]
    contexts = [{}, {"mfa": True}, {"break_glass": True}]
    try:
        while not stop.is_set():
            with rw.read():
                if state.version != version:
                    # celine-regorus engines belong to the thread that made them.
                    oracle, version = state.oracle(), state.version
                assert oracle is not None
                user = f"u{rng.randrange(USERS)}"
                action, resource = rng.choice(actions)
                context = rng.choice(contexts)
                req = {"user": user, "action": action, "resource": resource, "context": context}
                oracle.set_input_json(json.dumps(req))
                expected = oracle.eval_rule(RULE)
                if rng.randrange(5) == 0:
                    got = engine.evaluate(RULE, req)
                    with counts.lock:
                        counts.evaluations += 1
                else:
                    d = authz.decide(user, action, resource, context)
                    got = d.value
                    with counts.lock:
                        counts.decisions += 1
                        counts.hits += d.cached
            if got != expected:
                with counts.lock:
                    counts.mismatches += 1
                print(f"mismatch for {req}: got {got!r}, expected {expected!r}", file=sys.stderr)
    except BaseException as e:  # reported by the main thread
        errors.append(e)
        stop.set()


def report(t: float, rss: int, c: Counts) -> None:
    print(f"t={t:4.0f}s rss={rss:7d} KiB decisions={c.decisions} (hits {c.hits}) "
          f"evaluations={c.evaluations} changes={c.changes} timeouts={c.timeouts} "
          f"traps={c.traps} mismatches={c.mismatches}", flush=True)


def main() -> int:
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    rng = random.Random(0x9E3779B9)
    engine = PolicyEngine(pool_size=2, limits=SandboxLimits(deadline_ms=200))
    policies = {"authz.rego": AUTHZ}
    data = make_data(rng)
    engine.add_policy("authz.rego", AUTHZ)
    engine.add_policy("slow.rego", SLOW)
    engine.replace_data(data)
    authz = Authorizer(engine, RULE, max_size=2000)
    state = State(policies, data)
    rw, counts, stop = RwLock(), Counts(), threading.Event()
    errors: list[BaseException] = []
    workers = [threading.Thread(target=work, args=(7919 * (i + 1), engine, authz, state, rw,
                                                    counts, stop, errors))
               for i in range(THREADS)]
    for w in workers:
        w.start()
    print(f"soak: {secs:.0f} s, {THREADS} threads, pool of 2, deadline 200 ms", flush=True)
    started = time.monotonic()
    warm_up, rss_warm, next_report, next_event, v2 = secs / 5, 0, 5.0, 0.0, False
    try:
        while time.monotonic() - started < secs and not stop.is_set():
            time.sleep(0.05)
            with rw.write():
                choice = rng.randrange(4)
                if choice == 0:
                    data = make_data(rng)
                    engine.replace_data(data)
                    state.data_json = json.dumps(data)
                elif choice == 1:
                    v2 = not v2
                    src = AUTHZ_V2 if v2 else AUTHZ
                    engine.add_policy("authz.rego", src)
                    state.policies["authz.rego"] = src
                elif choice == 2:
                    engine.add_policy("extra.rego", EXTRA)
                    state.policies["extra.rego"] = EXTRA
                elif "extra.rego" in state.policies:
                    engine.remove_policy("extra.rego")
                    del state.policies["extra.rego"]
                state.version += 1
                counts.changes += 1
            t = time.monotonic() - started
            if t >= next_event:
                next_event += 2.0
                try:
                    engine.evaluate("data.slow.n", {})
                    raise AssertionError("data.slow.n: expected a timeout")
                except PolicyTimeoutError:
                    counts.timeouts += 1
                try:
                    engine.query(TRAP_QUERY)
                    raise AssertionError("the trap query: expected a trap")
                except SandboxTrapError:
                    counts.traps += 1
            if t >= warm_up and rss_warm == 0:
                rss_warm = rss_kib()
            if t >= next_report:
                next_report += 5.0
                report(t, rss_kib(), counts)
    finally:
        stop.set()
        for w in workers:
            w.join()
    rss_end = rss_kib()
    report(time.monotonic() - started, rss_end, counts)
    growth = (rss_end / max(rss_warm, 1) - 1) * 100
    print(f"soak: rss after warm-up {rss_warm} KiB, at end {rss_end} KiB, growth {growth:.1f}%; "
          f"recycles {engine.recycles}, timeouts {engine.timeouts}")
    if errors:
        raise errors[0]
    if counts.mismatches:
        print(f"soak: {counts.mismatches} answers differed from native regorus", file=sys.stderr)
        return 1
    if counts.decisions == 0 or counts.timeouts == 0:
        print("soak: did not run", file=sys.stderr)
        return 1
    if secs >= 120 and growth > 5.0:
        print(f"soak: resident memory grew {growth:.1f}% after warm-up", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
