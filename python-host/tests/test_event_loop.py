"""The async API never blocks the event loop: not on an evaluation running
in another thread, not on a lock another thread holds.

The one timed assertion of the suite is here (issue 11): while one
`decide_async` evaluates for about half a second in a worker thread, 100
cached `decide_async` calls on the same `Authorizer` leave a 1 ms ticker
late by at most 50 ms: a loop that waited for the evaluation is ~500 ms
late, and under load (CI's two cores shared with builds) the scheduler
alone held a bare ticker back by 8-17 ms in all five tries of a run, which
failed the earlier 5 ms bound with no blocking at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sark_policy import Authorizer, Decision, PolicyCache, PolicyEngine, SandboxLimits

from .conftest import AUTHZ
from .test_pool import BUSY

RULE = "data.authz.allow"
MAX_LAG_S = 0.050


async def _with_ticker(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    """Runs `work` beside a ticker that sleeps 1 ms at a time; returns its
    result and the ticker's largest lateness."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    stop = False

    async def tick() -> None:
        while not stop:
            t = loop.time()
            await asyncio.sleep(0.001)
            lags.append(loop.time() - t - 0.001)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)  # the ticker is running
    try:
        result = await work()
    finally:
        stop = True
        await ticker
    return result, max(lags)


@pytest.mark.parametrize("pool_size", [1, 2])
def test_cached_decisions_do_not_wait_for_an_evaluation(pool_size: int) -> None:
    engine = PolicyEngine(limits=SandboxLimits(deadline_ms=30_000), pool_size=pool_size)
    engine.add_policy("authz.rego", AUTHZ)
    engine.add_policy("busy.rego", BUSY)
    engine.add_data({"admins": ["root", "u7"], "roles": {"alice": "reader"}})
    a = Authorizer(engine, RULE)
    requests = [(f"u{i}", "write", f"doc{i}") for i in range(100)]
    want = [user in ("root", "u7") for user, _, _ in requests]
    assert [a.decide(*r).value for r in requests] == want  # now cached

    async def attempt(n: int) -> tuple[Decision, list[Decision], bool]:
        slow = asyncio.create_task(
            a.decide_async("root", "run", f"busy-{n}", rule="data.busy.spin"))  # a miss
        await asyncio.sleep(0.02)  # the evaluation holds its instance
        overlapped = not slow.done()
        cached = await asyncio.gather(*(a.decide_async(*r) for r in requests))
        return await slow, cached, overlapped

    async def main() -> float:
        # The loop's executor starts its threads on first use, and starting
        # a thread waits for it to run: a one-off cost, not this test's.
        await asyncio.gather(*(asyncio.to_thread(time.sleep, 0.001) for _ in range(8)))
        lag = 1.0
        # Up to five runs: the machine is shared (other builds run on its
        # two cores), and there the scheduler alone holds a bare 1 ms ticker
        # back 5-7 ms in about one run in two. A loop that waited for the
        # evaluation is late by ~500 ms in every run.
        for n in range(5):
            (slow, cached, overlapped), lag = await _with_ticker(lambda: attempt(n))
            assert (slow.value, slow.cached) == (0, False)
            assert [d.value for d in cached] == want and all(d.cached for d in cached)
            assert overlapped  # the cached calls were made during the evaluation
            if lag <= MAX_LAG_S:
                break
        return lag

    lag = asyncio.run(main())
    assert lag <= MAX_LAG_S, f"event loop late by {lag * 1000:.1f} ms"


def _hold(lock: Any, release: threading.Event, stuck: list[bool]) -> threading.Thread:
    """A thread holding `lock` until `release` is set, or 10 s have passed
    (then the loop was stuck: noted in `stuck`)."""
    held = threading.Event()

    def body() -> None:
        with lock:
            held.set()
            if not release.wait(10):
                stuck.append(True)

    thread = threading.Thread(target=body)
    thread.start()
    held.wait()
    return thread


def test_async_calls_on_a_busy_instance_go_to_a_thread() -> None:
    engine = PolicyEngine()
    engine.add_policy("authz.rego", AUTHZ)
    engine.add_data({"admins": ["root"]})
    a = Authorizer(engine, RULE)
    cache = PolicyCache()
    assert a.decide("root", "read", "doc").value is True
    cache.set_sync("u", "a", "r", {"allow": True})

    async def main() -> list[Any]:
        release = threading.Event()
        holders = [_hold(engine._sandbox.lock, release, stuck),
                   _hold(cache._sandbox.lock, release, stuck)]
        calls = asyncio.gather(
            a.decide_async("root", "read", "doc"), cache.get("u", "a", "r"), cache.size(),
            cache.set("v", "a", "r", 1), cache.delete("v", "a", "r"))
        ticks = 0
        while ticks < 20:  # the loop runs while the calls wait for the locks
            await asyncio.sleep(0.001)
            ticks += 1
        release.set()
        results = await calls
        for h in holders:
            h.join()
        return list(results)

    stuck: list[bool] = []
    decision, got, size, stored, deleted = asyncio.run(main())
    assert stuck == []
    assert (decision.value, decision.cached) == (True, True)
    assert (got, size, stored, deleted) == ({"allow": True}, 1, True, True)


def test_a_cancelled_call_on_a_busy_instance_leaves_the_others() -> None:
    engine = PolicyEngine()
    engine.add_policy("authz.rego", AUTHZ)
    engine.add_data({"admins": ["root"]})
    a = Authorizer(engine, RULE)
    users = ["root", "bob", "carol"]
    for u in users:
        a.decide(u, "read", "doc")

    async def main() -> list[Any]:
        release = threading.Event()
        holder = _hold(engine._sandbox.lock, release, stuck)
        tasks = [asyncio.create_task(a.decide_async(u, "read", "doc")) for u in users]
        await asyncio.sleep(0.01)
        tasks[1].cancel()
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        holder.join()
        return list(results)

    stuck: list[bool] = []
    root, bob, carol = asyncio.run(main())
    assert isinstance(bob, asyncio.CancelledError)
    assert (root.value, root.cached, carol.value, carol.cached) == (True, True, False, True)
    assert stuck == []
