"""The worker thread of one instance, for async calls that found it busy.

An async call whose instance is busy (another thread evaluates in it, or a
change holds it) must not wait in the event loop. Handing each such call
to the loop's default executor costs the loop a thread hop per call and,
when the instance frees up, wakes every executor thread at once to fight
over its lock and the GIL (100 cached calls behind one evaluation made the
loop 5-30 ms late on 2 cores). Here each instance has one worker: a busy
call costs the loop a future and a queue append; the worker waits for the
instance once, runs every queued call in one hold of its lock (they would
run one at a time anyway), and hands the results back in one wake-up of
the loop, resolved a slice per loop iteration so no iteration runs long.

The thread starts on first use and ends after `IDLE_S` seconds without
work, so dropped engines leave no threads behind.
"""

from __future__ import annotations

import _thread
import asyncio
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Worker"]

IDLE_S = 10.0
_SLICE = 16  # futures resolved per loop iteration

_Item = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_Done = tuple["asyncio.Future[Any]", Any, BaseException | None]

_workers: weakref.WeakSet[Worker] = weakref.WeakSet()


class Worker:
    """Runs calls under `lock` in a thread of its own, for the event loop."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._reset()
        _workers.add(self)

    def _reset(self) -> None:
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._running = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """A future of the running loop that gets `fn(*args)` (or what it
        raises), run in the worker with the lock held."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            self._queue.append((loop, future, fn, args))
            if not self._running:
                # Not `threading.Thread.start`, which waits until the new
                # thread runs: on a busy machine, milliseconds of the loop.
                _thread.start_new_thread(self._run, ())
                self._running = True
            else:
                self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._cond.wait_for(lambda: self._queue, IDLE_S):
                    self._running = False
                    return
                batch = list(self._queue)
                self._queue.clear()
            done: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
            with self._lock:
                for loop, future, fn, args in batch:
                    try:
                        outcome: _Done = (future, fn(*args), None)
                    except BaseException as e:  # handed to the caller, as an executor does
                        outcome = (future, None, e)
                    done.setdefault(loop, []).append(outcome)
            for loop, outcomes in done.items():
                try:
                    loop.call_soon_threadsafe(_resolve, loop, outcomes)
                except RuntimeError:  # the loop was closed: nobody waits
                    pass
            del batch, done  # hold no owner while idle


def _resolve(loop: asyncio.AbstractEventLoop, outcomes: list[_Done]) -> None:
    """Resolves a slice of `outcomes` now and the rest at the next loop
    iteration."""
    for future, result, exc in outcomes[:_SLICE]:
        if future.cancelled():
            continue
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)
    if len(outcomes) > _SLICE:
        loop.call_soon(_resolve, loop, outcomes[_SLICE:])


def _after_fork() -> None:
    # A forked child has none of the parent's threads (and maybe a lock
    # a parent thread held): start every worker over.
    for worker in list(_workers):
        worker._reset()


os.register_at_fork(after_in_child=_after_fork)
