"""Per-call latency of the sark_policy Python host, as Python sees it.

Prints a Markdown table of medians and p99 (microseconds) for a cached
decision, an uncached evaluation, cache get and set, and the time from a
fresh interpreter's `import sark_policy` to its first decision, cold (empty
compile cache) and warm.

    python bench/bench_calls.py [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import itertools
from collections.abc import Awaitable, Callable
from importlib.metadata import version

from sark_policy import Authorizer, PolicyCache, PolicyEngine

POLICY = """package authz

default allow := false

allow if input.user in data.admins

allow if {
    input.action == "read"
    input.context.team == "blue"
}
"""
DATA = {"admins": ["root"]}
CONTEXT = {"team": "blue", "ip": "10.0.0.7"}

FIRST_DECISION = f"""
import time
t0 = time.perf_counter()
import sark_policy
e = sark_policy.PolicyEngine()
e.add_policy("authz.rego", {POLICY!r})
e.add_data({DATA!r})
d = sark_policy.Authorizer(e, "data.authz.allow").decide("alice", "read", "doc", {CONTEXT!r})
assert d.value is True
print(time.perf_counter() - t0)
"""


def measure(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """(median, p99) in microseconds over `n` timed calls after a warm-up."""
    for _ in range(min(n, 1000)):
        fn()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t = clock()
        fn()
        samples.append(clock() - t)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(0.99 * (len(samples) - 1))] / 1000


def measure_async(fn: Callable[[], Awaitable[object]], n: int) -> tuple[float, float]:
    """`measure` for a coroutine function, timed inside one running loop."""

    async def run() -> list[int]:
        for _ in range(min(n, 1000)):
            await fn()
        clock = time.perf_counter_ns
        samples = []
        for _ in range(n):
            t = clock()
            await fn()
            samples.append(clock() - t)
        return samples

    samples = sorted(asyncio.run(run()))
    return statistics.median(samples) / 1000, samples[int(0.99 * (len(samples) - 1))] / 1000


def first_decision_ms(cache_dir: str) -> float:
    env = dict(os.environ, SARK_POLICY_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", FIRST_DECISION], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out) * 1000


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="timed calls per row")
    n = parser.parse_args().n

    engine = PolicyEngine()
    engine.add_policy("authz.rego", POLICY)
    engine.add_data(DATA)
    authorizer = Authorizer(engine, "data.authz.allow")
    cache = PolicyCache()
    decision = {"allow": True, "reason": "user has permission"}
    cache.set_sync("alice", "read", "doc", decision, CONTEXT)
    authorizer.decide("alice", "read", "doc", CONTEXT)
    users = (f"user-{i}" for i in itertools.count())

    # The floor: the same cache get through wasmtime-py's public Func.__call__.
    abi = cache._sandbox.abi
    get_func = abi._get.func
    store = abi._store
    key = cache.cache_key("alice", "read", "doc", CONTEXT)

    rows = [
        ("cached decide (hit): `Authorizer.decide`",
         lambda: authorizer.decide("alice", "read", "doc", CONTEXT)),
        ("cached decide (hit): `await Authorizer.decide_async`",
         lambda: authorizer.decide_async("alice", "read", "doc", CONTEXT)),
        ("uncached decide (miss: new user, TTL 0): `Authorizer.decide`",
         lambda: authorizer.decide(next(users), "read", "doc", CONTEXT, ttl_seconds=0)),
        ("uncached evaluate: `PolicyEngine.evaluate`",
         lambda: engine.evaluate("data.authz.allow",
                                 {"user": "alice", "action": "read", "context": CONTEXT})),
        ("cache get (hit): `PolicyCache.get_sync`",
         lambda: cache.get_sync("alice", "read", "doc", CONTEXT)),
        ("cache get (hit): `await PolicyCache.get`",
         lambda: cache.get("alice", "read", "doc", CONTEXT)),
        ("cache set: `PolicyCache.set_sync`",
         lambda: cache.set_sync("alice", "read", "doc", decision, CONTEXT)),
        ("raw lean call `cache.get` (no key, no JSON)",
         lambda: abi.cache_get(cache._handles[0], key, 1)),
        ("same via wasmtime-py public `Func.__call__`",
         lambda: get_func(store, cache._resources[0], key, 1)),
    ]
    print(f"sark_policy call latency, {datetime.date.today().isoformat()}, {machine()}")
    print(f"Python {platform.python_version()}, wasmtime {version('wasmtime')}, n={n} per row\n")
    print("| call | median (us) | p99 (us) |")
    print("| --- | ---: | ---: |")
    for name, fn in rows:
        if "await" in name:
            median, p99 = measure_async(fn, n)  # type: ignore[arg-type]
        else:
            median, p99 = measure(fn, n if "public" not in name else max(1000, n // 10))
        print(f"| {name} | {median:.1f} | {p99:.1f} |")

    with tempfile.TemporaryDirectory() as cache_dir:
        cold = first_decision_ms(cache_dir)
        warm = statistics.median(first_decision_ms(cache_dir) for _ in range(5))
    print(f"| import to first decision, cold (empty compile cache) | {cold:.0f} ms | |")
    print(f"| import to first decision, warm (compile cache), median of 5 | {warm:.0f} ms | |")


if __name__ == "__main__":
    main()
