"""The process-wide runtime: one wasmtime engine with epoch interruption,
the compiled component, a linker, and the epoch ticker thread.

Created on first use (`runtime()`), shared by every sandbox: the component
is compiled (or deserialized) once per process.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from wasmtime import Config, Engine
from wasmtime.component import Component, Linker

from ._loader import LoadSource, load_component

__all__ = ["Runtime", "runtime", "TICK_MS"]

#: How often the ticker advances the engine's epoch. A deadline of D ms is
#: armed as ceil(D / TICK_MS) + 2 ticks and kept for the calls of the next
#: TICK_MS (see `Sandbox`), so it fires between D and about D + 2 * TICK_MS
#: ms after the call starts.
TICK_MS = 5.0


@dataclass
class Runtime:
    """The shared engine, component and linker. `linker_lock` serialises
    instantiation; `source` says whether the component was compiled or
    deserialized from the cache."""

    engine: Engine
    component: Component
    linker: Linker
    source: LoadSource
    linker_lock: threading.Lock = field(default_factory=threading.Lock)


_lock = threading.Lock()
_runtime: Runtime | None = None
_ticker_pid = -1


def _tick(engine: Engine) -> None:
    # Wakes every TICK_MS for the life of the process; the GIL is held only
    # for the moment of the increment.
    while True:
        time.sleep(TICK_MS / 1000)
        engine.increment_epoch()


def _start_ticker(engine: Engine) -> None:
    global _ticker_pid
    threading.Thread(target=_tick, args=(engine,), name="sark-policy-epoch", daemon=True).start()
    _ticker_pid = os.getpid()


def _after_fork() -> None:
    # A forked child has no ticker thread; without one no deadline fires.
    if _runtime is not None and _ticker_pid != os.getpid():
        _start_ticker(_runtime.engine)


os.register_at_fork(after_in_child=_after_fork)


def runtime() -> Runtime:
    """The process runtime, created on first call. Raises
    `FileNotFoundError` when the package has no component."""
    global _runtime
    if _runtime is not None:
        return _runtime
    with _lock:
        if _runtime is None:
            config = Config()
            config.epoch_interruption = True
            engine = Engine(config)
            component, source = load_component(engine, "epoch")
            linker = Linker(engine)
            linker.add_wasip2()
            _start_ticker(engine)
            _runtime = Runtime(engine, component, linker, source)
        return _runtime
