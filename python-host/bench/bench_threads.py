"""Throughput of one thread against two threads on ONE engine.

For `PolicyEngine.evaluate` of the example policy (`examples/authz.rego`,
`examples/data.json`, inputs from `examples/requests.jsonl`) and for
`Authorizer.decide` misses (every request new: a context counter), on one
`PolicyEngine(pool_size=2)`: calls per second of one thread, of two
threads, and their ratio (the goal: 1.6x on 2 cores). For reference: the
same two threads on a pool of 1 (one instance, one lock: what a single
engine did before pools), and two threads on two separate engines of one
instance each (the ceiling: nothing shared but the process). Configurations run interleaved, in
rounds, each timed for `--seconds`; medians over the rounds. Where the
two threads on the pool of 2 spent their time (thread-seconds per second,
out of 2.0, from Linux's per-thread schedstat): on a core, waiting for a
core (runnable while other processes held both), or blocked (on the GIL,
or on an instance's lock).

    python bench/bench_threads.py [--rounds 5] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from itertools import count
from pathlib import Path
from typing import Any

from sark_policy import Authorizer, PolicyEngine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RULE = "data.authz.allow"


def requests() -> list[dict[str, Any]]:
    with open(EXAMPLES / "requests.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def engine(pool_size: int) -> PolicyEngine:
    e = PolicyEngine(pool_size=pool_size)
    e.add_policy("authz.rego", (EXAMPLES / "authz.rego").read_text())
    e.add_data((EXAMPLES / "data.json").read_text())
    return e


def _schedstat() -> tuple[int, int]:
    """This thread's nanoseconds on a core and waiting for one (Linux's
    /proc/thread-self/schedstat); zeros elsewhere."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            on_cpu, waiting, _ = f.read().split()
        return int(on_cpu), int(waiting)
    except (OSError, ValueError):
        return 0, 0


def rate(threads: int, make_call: Callable[[int], Callable[[], object]], seconds: float
         ) -> tuple[float, float, float]:
    """Calls per second of `threads` threads, each calling its own
    `make_call(n)()` in a loop for `seconds`; and where the threads' time
    went, summed over them, in seconds per second: on a core, and waiting
    for one (runnable, but the machine's cores were busy). The rest of
    `threads` is time blocked: on the GIL, or on an instance's lock."""
    calls = [make_call(n) for n in range(threads)]
    counts = [0] * threads
    sched = [(0.0, 0.0)] * threads
    barrier = threading.Barrier(threads + 1)
    end = [0.0]

    def body(n: int) -> None:
        call, done = calls[n], 0
        barrier.wait()
        stop = end[0]
        before, start = _schedstat(), time.perf_counter_ns()
        while time.perf_counter() < stop:
            call()
            done += 1
        after, wall = _schedstat(), time.perf_counter_ns() - start
        counts[n] = done
        sched[n] = ((after[0] - before[0]) / wall, (after[1] - before[1]) / wall)

    workers = [threading.Thread(target=body, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    end[0] = time.perf_counter() + seconds
    barrier.wait()
    for w in workers:
        w.join()
    on_cpu = sum(c for c, _ in sched)
    waiting = sum(w for _, w in sched)
    return sum(counts) / seconds, on_cpu, waiting


def evaluate_calls(e: PolicyEngine) -> Callable[[int], Callable[[], object]]:
    inputs = [{k: r[k] for k in ("user", "action", "resource", "context")} for r in requests()]

    def make(n: int) -> Callable[[], object]:
        it = count(n)
        return lambda: e.evaluate(RULE, inputs[next(it) % len(inputs)])

    return make


def miss_calls(e: PolicyEngine) -> Callable[[int], Callable[[], object]]:
    a = Authorizer(e, RULE, max_size=100_000)
    reqs = requests()
    serial = count()  # shared: every request is new, so every decide evaluates

    def make(n: int) -> Callable[[], object]:
        def call() -> object:
            i = next(serial)
            r = reqs[i % len(reqs)]
            d = a.decide(r["user"], r["action"], r["resource"], {**r["context"], "n": i})
            assert not d.cached
            return d

        return call

    return make


def machine() -> str:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument(
        "--max-wait", type=float, default=None, metavar="F",
        help="on a shared machine: keep only the rounds in which no run's threads spent "
             "more than the fraction F of their time waiting for a core (up to "
             "10x --rounds tries)")
    args = parser.parse_args()

    print(f"# bench_threads, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{machine()}; Python {platform.python_version()}, wasmtime {version('wasmtime')}")
    print(f"{args.rounds} rounds of {args.seconds:g} s per configuration, interleaved"
          + ("" if args.max_wait is None else
             f"; rounds kept only when no run waited for a core over {args.max_wait:.0%}"
             " of its threads' time") + "\n")
    print("| calls | 1 thread, pool 2 (/s) | 2 threads, pool 2 (/s) | ratio "
          "| on a core / waiting for one / blocked "
          "| 2 threads, pool 1 (/s) | ratio | 2 threads, 2 engines (/s) | ratio |")
    print("| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: |")
    for name, kind in (("evaluate", evaluate_calls), ("Authorizer.decide, misses", miss_calls)):
        pooled, single = kind(engine(2)), kind(engine(1))
        apart = [kind(engine(1)), kind(engine(1))]

        def separate(n: int) -> Callable[[], object]:
            return apart[n](n)  # thread n on engine n

        # (threads, calls): one engine of two instances, one of one, two of one
        configs = {"one": (1, pooled), "two": (2, pooled), "single": (2, single),
                   "separate": (2, separate)}
        for threads, make in configs.values():  # warm: programs compiled everywhere
            rate(threads, make, 0.2)
        runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in configs}
        tries = 0
        while len(runs["one"]) < args.rounds and tries < 10 * args.rounds:
            tries += 1
            round_ = {key: rate(threads, make, args.seconds)
                      for key, (threads, make) in configs.items()}
            if args.max_wait is not None and any(
                    r[2] > args.max_wait * configs[key][0] for key, r in round_.items()):
                continue  # another process held a core: not this host's limit
            for key, r in round_.items():
                runs[key].append(r)
        if not runs["one"]:
            print(f"| {name} | no quiet round in {tries} tries | | | | | | | |")
            continue
        one, two, single_, apart_ = (
            statistics.median(r[0] for r in runs[k]) for k in configs)
        on_cpu, waiting = (statistics.median(r[i] for r in runs["two"]) for i in (1, 2))
        blocked = max(0.0, 2 - on_cpu - waiting)
        name = f"{name} ({len(runs['one'])} of {tries} rounds)" if tries > args.rounds else name
        print(f"| {name} | {one:,.0f} | {two:,.0f} | {two / one:.2f}x "
              f"| {on_cpu:.2f} / {waiting:.2f} / {blocked:.2f} "
              f"| {single_:,.0f} | {single_ / one:.2f}x | {apart_:,.0f} | {apart_ / one:.2f}x |")

if __name__ == "__main__":
    main()
