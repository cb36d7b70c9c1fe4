"""Threads sharing one PolicyCache / Authorizer: every result checked."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sark_policy import Authorizer, PolicyCache, PolicyEngine

THREADS = 8
ROUNDS = 300


def _run(worker: Callable[[int], list[str]]) -> list[str]:
    errors: list[str] = []
    barrier = threading.Barrier(THREADS)

    def body(n: int) -> None:
        barrier.wait()
        errors.extend(worker(n))

    threads = [threading.Thread(target=body, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_threads_share_one_policy_cache() -> None:
    cache = PolicyCache(max_size=THREADS * ROUNDS)

    def worker(n: int) -> list[str]:
        bad = []
        for i in range(ROUNDS):
            user, ctx = f"user-{n}", {"i": i, "thread": n}
            decision = {"allow": (n + i) % 2 == 0, "thread": n, "i": i}
            if not cache.set_sync(user, "read", f"doc-{i}", decision, ctx):
                bad.append(f"set {n}/{i}")
            got = cache.get_sync(user, "read", f"doc-{i}", ctx)
            if got != decision:
                bad.append(f"get {n}/{i}: {got}")
            if cache.get_sync(user, "write", f"doc-{i}", ctx) is not None:
                bad.append(f"phantom {n}/{i}")
        return bad

    assert _run(worker) == []
    m = cache.get_metrics()
    assert (m["hits"], m["misses"]) == (THREADS * ROUNDS, THREADS * ROUNDS)
    assert cache.size_sync() == THREADS * ROUNDS


def test_threads_share_one_authorizer() -> None:
    engine = PolicyEngine()
    engine.add_policy("t.rego", "package t\ndefault allow := false\nallow if input.context.n % 3 == 0\n")
    a = Authorizer(engine, "data.t.allow")

    def worker(n: int) -> list[str]:
        bad = []
        for i in range(ROUNDS):
            k = n * ROUNDS + i
            for attempt in range(2):
                d = a.decide(f"u{n}", "read", "doc", {"n": k})
                if d.value is not (k % 3 == 0) or d.cached != bool(attempt):
                    bad.append(f"{n}/{i}/{attempt}: {d}")
        return bad

    assert _run(worker) == []
    m = a.get_metrics()
    assert (m["hits"], m["misses"]) == (THREADS * ROUNDS, THREADS * ROUNDS)
