"""A pool of sandboxes holding the same policies and data, as the Rust
host's shards (`host/src/pool.rs`).

- Cache calls go to the sandbox of their key (`shard_for`): the same key
  always meets the same instance's cache, so a hit is never missed because
  another instance stored it.
- Calls that touch no cache take any free sandbox (`acquire_any`).
- Changes take every sandbox's lock in index order (`locked_all`), so no
  call ever sees a change made in some instances and not yet in others;
  the fixed order keeps two changes from deadlocking, and a call holds one
  lock at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

from wasmtime.component import ResourceAny

from ._abi import Bindings
from ._sandbox import Rebuild, Sandbox, SandboxLimits

__all__ = ["Pool", "pool_size"]


def pool_size(size: int) -> int:
    """Checks a pool size. Raises `ValueError` below 1."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"pool_size must be an integer >= 1, not {size!r}")
    return size


class Pool:
    """`size` sandboxes with the same limits (see the module doc)."""

    def __init__(self, size: int, limits: SandboxLimits | None = None) -> None:
        self.sandboxes = [Sandbox(limits, i) for i in range(pool_size(size))]
        self.size = len(self.sandboxes)
        self.first = self.sandboxes[0]
        self._next = itertools.count()

    def shard_for(self, parts: Hashable) -> int:
        """The index of the sandbox for a key's parts. Python's `hash` is
        salted per process but stable within it, which is all a cache in
        the process needs."""
        n = self.size
        return 0 if n == 1 else hash(parts) % n

    def acquire_any(self) -> Sandbox:
        """A sandbox whose lock the caller now holds (release it with
        `sandbox.lock.release()`): the first free one, else the next in
        turn, waited for."""
        sandboxes = self.sandboxes
        if self.size == 1:
            sandboxes[0].lock.acquire()
            return sandboxes[0]
        start = next(self._next)
        for i in range(self.size):
            s = sandboxes[(start + i) % self.size]
            if s.lock.acquire(blocking=False):
                return s
        s = sandboxes[start % self.size]
        s.lock.acquire()
        return s

    @contextmanager
    def locked_all(self) -> Iterator[list[Sandbox]]:
        """Holds every sandbox's lock, taken in index order."""
        held: list[Sandbox] = []
        try:
            for s in self.sandboxes:
                s.lock.acquire()
                held.append(s)
            yield self.sandboxes
        finally:
            for s in reversed(held):
                s.lock.release()

    def try_lock_all(self) -> bool:
        """Takes every lock without waiting; True when all were free (the
        caller then holds them: `unlock_all`), False when one was busy
        (none is held)."""
        held: list[Sandbox] = []
        for s in self.sandboxes:
            if not s.lock.acquire(blocking=False):
                for h in reversed(held):
                    h.lock.release()
                return False
            held.append(s)
        return True

    def unlock_all(self) -> None:
        """Releases the locks `try_lock_all` took."""
        for s in reversed(self.sandboxes):
            s.lock.release()

    def on_recycle(self, rebuild: Rebuild) -> None:
        """Registers `rebuild` with every sandbox (see `Sandbox.on_recycle`)."""
        for s in self.sandboxes:
            s.on_recycle(rebuild)

    def forget(self, rebuild: Rebuild) -> None:
        """Unregisters `rebuild` from every sandbox."""
        for s in self.sandboxes:
            s.forget(rebuild)

    @property
    def recycles(self) -> int:
        """Instances replaced after a trap, over the pool."""
        return sum(s.recycles for s in self.sandboxes)

    @property
    def timeouts(self) -> int:
        """Calls stopped at their deadline, over the pool."""
        return sum(s.timeouts for s in self.sandboxes)

    @property
    def closed(self) -> bool:
        """Whether `close` ran."""
        return self.first.closed

    def close(self) -> None:
        """Closes every sandbox."""
        for s in self.sandboxes:
            s.close()


def drop_and_close(pool: Pool, resources: list[ResourceAny | None]) -> None:
    """Drops each instance's resource in the guest and closes the instance,
    under every lock (an engine's or a cache's `close`). Idempotent."""
    with pool.locked_all() as sandboxes:
        for sandbox in sandboxes:
            resource = resources[sandbox.index]
            if not sandbox.closed and resource is not None:
                sandbox.abi.drop(resource)
                sandbox.close()


class CacheSlots:
    """One decision-cache resource per instance of a pool, indexed by
    `Sandbox.index` (an `Authorizer`'s or a `PolicyCache`'s): made with
    `_capacity` entries, and made again, empty, when the instance is
    recycled."""

    _resources: list[ResourceAny | None]
    _handles: list[int]
    _capacity: int

    def _create(self, sandbox: Sandbox, abi: Bindings) -> None:
        i = sandbox.index
        self._resources[i] = resource = abi.new_cache(self._capacity)
        self._handles[i] = abi.handle(resource)

    def _rebuild(self, sandbox: Sandbox, replay: bool) -> None:
        self._create(sandbox, sandbox.abi)
