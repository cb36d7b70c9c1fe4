"""One sandboxed component instance: a store with no WASI capability, a
memory cap, a per-call deadline, a lock, and recycling after a trap.

Every `PolicyEngine` and `PolicyCache` owns a pool of sandboxes (`Pool`);
an `Authorizer` shares its engine's. Calls into a sandbox are serialised by
its lock (a wasmtime store is not thread-safe); the FFI call releases the
GIL, so N sandboxes run N calls in parallel.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import NoReturn, TypeVar, cast

from wasmtime import Store, WasiConfig

from ._abi import Bindings, Trapped
from ._errors import OtherPolicyError, PolicyTimeoutError, SandboxMemoryError, SandboxTrapError
from ._runtime import TICK_MS, runtime
from ._worker import Worker

__all__ = ["Sandbox", "SandboxLimits"]

_log = logging.getLogger("sark_policy")
T = TypeVar("T")
#: An owner's rebuild callback: `rebuild(sandbox, replay)`.
Rebuild = Callable[["Sandbox", bool], None]


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one instance.

    - `deadline_ms`: wall-clock budget of one evaluation, decision or cache
      call (default 1000 ms); past it the call raises `PolicyTimeoutError`.
    - `load_deadline_ms`: budget of one policy or data change, and of the
      replay after a recycle (default 30 s: parsing a 16 MiB data document
      is slow but legitimate).
    - `memory_bytes`: cap on the instance's linear memory (default 256 MiB);
      a guest allocation past it aborts the instance (`SandboxMemoryError`).
    """

    deadline_ms: float = 1000.0
    load_deadline_ms: float = 30_000.0
    memory_bytes: int = 256 << 20

    def ticks(self, ms: float) -> int:
        """Epoch ticks for a budget of `ms` milliseconds."""
        return max(1, math.ceil(ms / TICK_MS)) + 1


class Sandbox:
    """A store and instance of the component, rebuilt after any trap.

    Owners of resources in it (an engine, caches) register a rebuild
    callback with `on_recycle`; after a trap the sandbox makes a fresh
    instance and calls them in order, under the load deadline. `abi` is the
    current instance's `Bindings`: read it only while holding `lock`.
    `index` is the sandbox's place in its pool (owners keep per-instance
    state in lists indexed by it).
    """

    def __init__(self, limits: SandboxLimits | None = None, index: int = 0) -> None:
        self.limits = limits or SandboxLimits()
        self.index = index
        self.lock = threading.RLock()
        #: Runs async calls that found this instance busy (see `Worker`).
        self.worker = Worker(self.lock)
        self.recycles = 0
        self.timeouts = 0
        self.generation = 0
        self.closed = False
        # One tick to spare: a deadline armed less than a tick ago is kept
        # for the next call (arming is an FFI call of its own), and the
        # ticker may have advanced once meanwhile. A call is thus stopped
        # between its budget and two ticks after it.
        self._eval_ticks = self.limits.ticks(self.limits.deadline_ms) + 1
        self._load_ticks = self.limits.ticks(self.limits.load_deadline_ms) + 1
        self._rebuilders: list[weakref.WeakMethod[Rebuild]] = []
        self.abi = self._instantiate()

    def _instantiate(self) -> Bindings:
        rt = runtime()
        store = Store(rt.engine)
        # Required before instantiating (the component imports WASI) and
        # grants nothing: no preopened dirs, env, args or inherited stdio.
        store.set_wasi(WasiConfig())
        store.set_limits(memory_size=self.limits.memory_bytes)
        store.set_epoch_deadline(self._load_ticks)
        with rt.linker_lock:
            instance = rt.linker.instantiate(store, rt.component)
        abi = Bindings(store, instance, rearm_ns=int(TICK_MS * 1_000_000))
        abi.ticks = self._eval_ticks
        return abi

    def on_recycle(self, rebuild: Rebuild) -> None:
        """Calls the bound method `rebuild` (held weakly) after each recycle
        with the lock held: `rebuild(sandbox, True)` recreates the owner's
        resources in `sandbox` and replays its state; `rebuild(sandbox,
        False)`, only if that trapped, recreates them empty."""
        with self.lock:
            # Owners dropped without `close` leave dead references: drop
            # them here too, so the list holds only live owners.
            self._rebuilders = [ref for ref in self._rebuilders if ref() is not None]
            self._rebuilders.append(weakref.WeakMethod(rebuild))

    @contextmanager
    def loading(self) -> Iterator[Bindings]:
        """Holds the lock and arms calls with the load deadline."""
        with self.lock:
            abi = self.abi
            abi.ticks = self._load_ticks
            try:
                yield abi
            finally:
                abi.ticks = self._eval_ticks

    def call(self, op: Callable[[Bindings], T], *, load: bool = False) -> T:
        """Runs `op` on the current bindings under the lock, with the call or
        load deadline. Raises what `op` raises; a trap becomes a
        `SandboxTrapError` (subclass) after the instance is recycled."""
        with self.lock, (self.loading() if load else nullcontext(self.abi)) as abi:
            try:
                return op(abi)
            except Trapped as t:
                self.fail(t)  # inside loading(): reports the deadline in force

    def fail(self, trapped: Trapped) -> NoReturn:
        """Classifies a trap, recycles the instance and raises the typed
        error. Call with the lock held."""
        raise self.absorb(trapped)

    def absorb(self, trapped: Trapped) -> SandboxTrapError:
        """Classifies and counts a trap, recycles the instance and returns
        the typed error (for the caller to raise or log). Call with the
        lock held."""
        detail = trapped.message
        cause = detail.rsplit("Caused by:", 1)[-1].strip().splitlines()[-1:] or [detail]
        exc: SandboxTrapError
        if "wasm trap: interrupt" in detail:
            self.timeouts += 1
            budget = (self.abi.ticks - 2) * TICK_MS
            exc = PolicyTimeoutError(f"call stopped at its deadline (~{budget:g} ms)", detail)
        elif "rust_oom" in detail or "alloc_error" in detail:
            cap = self.limits.memory_bytes / (1 << 20)
            exc = SandboxMemoryError(f"out of memory under the {cap:g} MiB instance cap", detail)
        else:
            exc = SandboxTrapError(f"instance trapped: {cause[0]}", detail)
        self.recycle()
        return exc

    def recycle(self) -> None:
        """Replaces the instance with a fresh one and lets the owners rebuild
        their resources. Decision caches in the old instance are lost."""
        with self.lock:
            self.recycles += 1
            self.generation += 1
            self._rebuilders = [ref for ref in self._rebuilders if ref() is not None]
            for replay in (True, False):
                old, self.abi = self.abi, self._instantiate()
                old.close()
                try:
                    with self.loading():
                        for ref in self._rebuilders:
                            rebuild = ref()
                            if rebuild is not None:
                                rebuild(self, replay)
                    break
                except Trapped as t:
                    # Replaying changes that once succeeded should not trap;
                    # if it does, start again with empty resources rather
                    # than leave handles into a dead instance (the owners
                    # keep their journals: the next recycle replays them).
                    _log.error("replay after recycle trapped, the instance starts empty: %s",
                               t.message)
            _log.warning("sark_policy instance recycled (%d so far)", self.recycles)

    def forget(self, rebuild: Rebuild) -> None:
        """Stops calling `rebuild` after recycles."""
        self._rebuilders = [ref for ref in self._rebuilders if ref() not in (None, rebuild)]

    def close(self) -> None:
        """Frees the instance's buffers; any later call raises
        `OtherPolicyError`. The store goes with the last reference."""
        with self.lock:
            self.abi.close()
            self._rebuilders = []
            self.abi = cast(Bindings, _Closed())
            self.closed = True


class _Closed:
    """Stands in for the bindings of a closed sandbox."""

    def __getattr__(self, name: str) -> NoReturn:
        raise OtherPolicyError("the sandbox is closed")
