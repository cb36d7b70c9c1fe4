"""Decision logs: every decision of an `Authorizer` as an OPA decision-log
event, shipped to a collector (or a console) as OPA's plugin ships them.

The events are made, masked (`system.log.mask` and the static `erase`
list), sampled, truncated and buffered inside each instance
(`authorizer.decide-logged`); a decide call only adds them there. This
module owns what the instance cannot: the clock of the uploads, the
network, the retries and the status. An uploader (a daemon thread by
default, or an asyncio task: `start_async`) takes batches of at most
`upload_size_limit_bytes` of JSON from each instance, holding that
instance's lock only for the take, and POSTs them gzipped
(`Content-Encoding: gzip`, a JSON array) to the sink URL, on one
connection per round of uploads (`_log_http`). It looks for events
every `min_delay`, and early when one instance holds about a batch. A
failed upload is kept and retried first, so events arrive in order and at
least once, after an exponential backoff with jitter; meanwhile new events
wait in the instances' buffers, which drop their oldest past
`max_buffer_bytes` (counted). An instance that traps is replaced with a
fresh log; what it buffered is lost and counted. Names and defaults are
the Rust host's (`host/src/decision_log`).
"""

from __future__ import annotations

import asyncio
import atexit
import enum
import logging
import random
import secrets
import sys
import threading
import time
import types
import uuid
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Final, NamedTuple

from wasmtime.component import ResourceAny

from ._abi import Bindings, Trapped
from ._errors import PolicyError
from ._log_config import STREAMS, DecisionLogConfig
from ._log_http import LogPoster
from ._log_status import DecisionLogStatus

if TYPE_CHECKING:
    from ._pool import Pool
    from ._sandbox import Sandbox

__all__ = ["DecisionLog", "DecisionLogConfig", "DecisionLogStatus"]

_log = logging.getLogger("sark_policy")


class _Batch(NamedTuple):
    body: bytes
    events: int
    json_bytes: int


class _Stats(NamedTuple):
    """`log-stats`, in WIT order."""

    logged: int = 0
    dropped_buffer_full: int = 0
    dropped_mask_error: int = 0
    truncated: int = 0
    buffered_events: int = 0
    buffered_bytes: int = 0
    batches: int = 0
    batched_events: int = 0


# The version (4) and variant (RFC 4122) bits of a random UUID.
_UUID_MASK: Final = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_V4: Final = (0x4000 << 64) | (0x8000 << 48)
_ZERO: Final = _Stats()
# The counters that outlive a log replaced after a trap.
_LIFETIME: Final = ("logged", "dropped_buffer_full", "dropped_mask_error", "truncated")


class _Shipped(enum.Enum):
    DONE = enum.auto()  # every buffer was empty
    MORE = enum.auto()  # stopped early (deadline, stop); nothing failed
    FAILED = enum.auto()  # an upload failed; its batch is kept


class DecisionLog:
    """The decision log of an `Authorizer` (see the module doc): one `log`
    resource per instance of the pool and an uploader. Made by the
    authorizer from a `DecisionLogConfig`; reach it as
    `authorizer.decision_log`. Thread-safe. `close` it (or the authorizer)
    to ship what is buffered: one dropped without is collected with its
    thread, its buffered events unsent."""

    def __init__(self, config: DecisionLogConfig, pool: Pool, *, start: bool = True) -> None:
        from . import __version__

        self.config = config
        self.instance_id = str(uuid.uuid4())
        labels = {"id": self.instance_id, "version": __version__, **config.labels}
        self.instance_id = labels["id"]
        self._labels = list(labels.items())
        self._stream = STREAMS.get(config.sink)
        self._poster = (LogPoster(config.sink, config.token, config.timeout)
                        if self._stream is None else None)
        # Uncompressed out of the instance: the poster gzips natively,
        # without holding the instance's lock.
        self._encoding = "json-array" if self._stream is None else "json-lines"
        # Cached decisions are sampled here, one in `cached_sample`: the
        # others skip the event (and its crossing) entirely (`skips_cached`);
        # the instances log every cached decision they see (none with 0).
        self._sample = config.cached_sample
        self.sampling = config.cached_sample != 1
        self._cached_seen = 0
        self._bits = random.Random(secrets.randbits(128)).getrandbits
        self._pool = pool
        self._sandboxes = pool.sandboxes
        n = pool.size
        # Per instance, indexed by `Sandbox.index`, read and written under
        # that instance's lock.
        self._resources: list[ResourceAny | None] = [None] * n
        self.handles = [0] * n
        self._last = [_ZERO] * n  # its log's counters when last read
        self._made = [0] * n  # events recorded since then (see `note`)
        self._generation = [s.generation for s in self._sandboxes]
        # Events in about one batch: `note` wakes the uploader when an
        # instance has made that many since its last take.
        self._batch_events = max(1, config.upload_size_limit // 512)
        self._retired = dict.fromkeys(_LIFETIME, 0)  # counters of replaced logs
        self._recycled = 0
        self._shutdown_lost = 0
        # Uploads: one shipper at a time; the state under `_state`.
        self._ship_lock = threading.Lock()
        self._pending: _Batch | None = None
        self._state = threading.Lock()
        self._sent = self._sent_bytes = self._uploads = self._failures = self._consecutive = 0
        self._last_upload: float | None = None
        self._last_error: str | None = None
        self._last_error_time: float | None = None
        self._random = random.Random()
        self._wake = _Wake()
        self._thread: threading.Thread | None = None
        self._thread_stop = threading.Event()
        self._async_wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._closed = False
        for sandbox in self._sandboxes:
            with sandbox.loading() as abi:
                self._create(sandbox, abi)
        pool.on_recycle(self._rebuild)
        ref = weakref.ref(self)
        self._at_exit = lambda: _close_at_exit(ref)
        atexit.register(self._at_exit)
        weakref.finalize(self, atexit.unregister, self._at_exit)
        if start:
            self.start()

    # -- the instances' logs ----------------------------------------------------

    def _create(self, sandbox: Sandbox, abi: Bindings) -> None:
        c = self.config
        config = types.SimpleNamespace(**{
            "labels": self._labels, "erase": list(c.erase),
            "max-buffer-bytes": c.max_buffer_bytes, "max-event-bytes": c.max_event_bytes,
            "cached-sample": min(c.cached_sample, 1),
            "id-seed": (secrets.randbits(64), secrets.randbits(64)),
        })
        i = sandbox.index
        self._resources[i] = resource = abi.new_log(config)
        self.handles[i] = abi.handle(resource)

    def _rebuild(self, sandbox: Sandbox, replay: bool) -> None:
        """A fresh log in a replaced instance; what the old one buffered is
        counted as dropped (its counters died with it: the last read ones
        plus the events recorded since)."""
        i = sandbox.index
        if self._generation[i] != sandbox.generation:
            self._generation[i] = sandbox.generation
            last, made = self._last[i], self._made[i]
            for name in _LIFETIME:
                self._retired[name] += getattr(last, name)
            self._retired["logged"] += made
            self._recycled += last.buffered_events + made
            self._last[i], self._made[i] = _ZERO, 0
            if last.buffered_events + made:
                _log.warning("decision log: %d events lost with a recycled instance",
                             last.buffered_events + made)
        self._create(sandbox, sandbox.abi)

    def note(self, i: int, cached: bool) -> None:
        """Counts an event instance `i` may have just recorded (call under
        its lock after each `decide-logged`; `cached` False also for a
        failed evaluation, which is logged): the bound of what a trap would
        lose, and the trigger of an upload of a full batch."""
        if cached and self._sample == 0:
            return
        made = self._made[i] + 1
        self._made[i] = made
        if made == self._batch_events:
            self._kick()

    def skips_cached(self) -> bool:
        """Whether the next cached decision goes unlogged (all but one in
        `cached_sample`). Threads may race on the count: sampling is
        approximate, never a lost event."""
        seen = self._cached_seen
        self._cached_seen = seen + 1
        n = self._sample
        return n == 0 or seen % n != 0

    def new_id(self) -> str:
        """A decision id (a version 4 UUID, from this log's generator, as
        the instances draw theirs) for a cached decision sampled out."""
        h = "%032x" % (self._bits(128) & _UUID_MASK | _UUID_V4)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _read(self, sandbox: Sandbox, take: bool) -> tuple[_Batch | None, _Stats]:
        """A batch from `sandbox`'s log (when `take`) and its counters,
        under its lock."""
        i = sandbox.index
        with sandbox.lock:
            if self._closed or sandbox.closed:
                return None, self._last[i]
            handle, abi = self.handles[i], sandbox.abi
            try:
                got = (abi.call("log.take-batch", handle, self.config.upload_size_limit,
                                self._encoding) if take else None)
                stats = _Stats(*abi.call("log.stats", handle))
            except Trapped as t:  # the rebuild counts what was lost
                _log.warning("decision log: %s", sandbox.absorb(t))
                return None, _ZERO
            except PolicyError:  # closed meanwhile
                return None, self._last[i]
            self._last[i], self._made[i] = stats, 0
        if got is not None and got[1]:
            self._batch_events = max(1, self.config.upload_size_limit * got[1]
                                     // max(1, got[2]))
        return (None if got is None else _Batch(*got)), stats

    # -- shipping ------------------------------------------------------------

    def _ship(self, deadline: float | None, stop: threading.Event | None = None) -> _Shipped:
        """Uploads the failed batch, then every instance's events, until
        none is left, one fails, `deadline` (monotonic) passes or `stop`
        is set."""
        wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._ship_lock.acquire(timeout=wait):
            return _Shipped.MORE
        try:
            if self._pending is not None:
                if not self._send(self._pending):
                    return _Shipped.FAILED
                self._pending = None
            for sandbox in self._sandboxes:
                while True:
                    if ((deadline is not None and time.monotonic() >= deadline)
                            or (stop is not None and stop.is_set())):
                        return _Shipped.MORE
                    batch = self._read(sandbox, True)[0]
                    if batch is None:
                        break
                    if not self._send(batch):
                        self._pending = batch
                        return _Shipped.FAILED
            # The connection serves one round of uploads (a backlog of
            # batches), not the idle time between rounds.
            if self._poster is not None:
                self._poster.close()
            return _Shipped.DONE
        finally:
            self._ship_lock.release()

    def _send(self, batch: _Batch) -> bool:
        """Writes or POSTs one batch; records the outcome."""
        error = (self._poster.post(batch.body) if self._poster is not None
                 else self._write(batch.body))
        with self._state:
            if error is None:
                self._sent += batch.events
                self._sent_bytes += (self._poster.last_body_bytes if self._poster is not None
                                     else len(batch.body))
                self._uploads += 1
                self._consecutive = 0
                self._last_upload = time.time()
                self._last_error = None
            else:
                self._failures += 1
                self._consecutive += 1
                self._last_error = error
                self._last_error_time = time.time()
        if error is not None:
            _log.warning("decision log: %s (%d events kept for a retry)", error, batch.events)
        return error is None

    def _write(self, body: bytes) -> str | None:
        # Looked up at each write: the stream may have been replaced.
        stream = sys.stderr if self._stream == "stderr" else sys.stdout
        try:
            stream.write(body.decode())
            stream.flush()
        except (OSError, ValueError) as e:
            return f"{self._stream}: {e}"
        return None

    def next_delay(self) -> float:
        """Seconds until the uploader looks again: `min_delay`, or after n
        failed uploads in a row `min(max_delay, min_delay * 2**(n-1))`
        times a random 0.5..1 (as the Rust host)."""
        c = self.config
        with self._state:
            failures = self._consecutive
        if failures == 0:
            return c.min_delay
        backoff = min(c.max_delay, c.min_delay * 2.0 ** min(failures - 1, 20))
        return backoff * self._random.uniform(0.5, 1.0)

    def _kick(self) -> None:
        """Wakes the uploader: an instance holds about a batch."""
        wake_thread = self._wake
        with wake_thread.cond:
            wake_thread.kicked = True
            wake_thread.cond.notify_all()
        wake = self._async_wake
        if wake is not None:
            with suppress(RuntimeError):  # the loop closed
                wake[0].call_soon_threadsafe(wake[1].set)

    # -- running ------------------------------------------------------------------

    def start(self) -> DecisionLog:
        """Uploads from a daemon thread (the default: the authorizer starts
        it). Returns at once; no-op while it runs."""
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            return self
        self._thread_stop = stop = threading.Event()
        # The thread holds the log weakly: an authorizer dropped without
        # `close` is collected, and its thread ends at its next wake-up.
        self._thread = threading.Thread(target=_run, args=(weakref.ref(self), stop, self._wake),
                                        name="sark-decision-log", daemon=True)
        self._thread.start()
        return self

    def _round(self, stop: threading.Event) -> _Shipped:
        """One round of the thread's uploads."""
        try:
            return self._ship(time.monotonic() + 5.0, stop)
        except Exception:  # a bug, not the collector's failure: keep going
            _log.exception("decision log: upload failed")
            return _Shipped.FAILED

    def stop(self, timeout: float | None = None) -> None:
        """Stops the uploader thread (an upload in flight ends within the
        config's `timeout`), waiting up to `timeout` seconds for it. Events
        stay buffered; `flush` ships them."""
        self._thread_stop.set()
        with self._wake.cond:
            self._wake.cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    async def run_async(self) -> None:
        """Uploads from an asyncio program until cancelled, instead of the
        thread (which it stops): each round of uploads runs in a worker
        thread (`asyncio.to_thread`), the waits are on the loop, so the
        loop is never blocked. `task = asyncio.create_task(log.run_async())`
        and `task.cancel()`, or `start_async()`."""
        self._thread_stop.set()  # the thread ends after its upload in flight
        with self._wake.cond:
            self._wake.cond.notify_all()
        wake = asyncio.Event()
        self._async_wake = (asyncio.get_running_loop(), wake)
        try:
            while not self._closed:
                shipped = await asyncio.to_thread(self._ship, time.monotonic() + 5.0)
                if shipped is _Shipped.MORE:
                    continue
                delay = self.next_delay()
                if shipped is _Shipped.FAILED:
                    await asyncio.sleep(delay)
                    continue
                wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), delay)
        finally:
            self._async_wake = None

    def start_async(self) -> asyncio.Task[None]:
        """`run_async()` as a task of the running event loop."""
        return asyncio.get_running_loop().create_task(self.run_async(),
                                                      name="sark-decision-log")

    def flush(self, timeout: float = 10.0) -> bool:
        """Uploads every event buffered now, retrying with the backoff,
        for up to `timeout` seconds; True when all went out. Waits for an
        upload of the uploader in flight."""
        deadline = time.monotonic() + timeout
        while True:
            shipped = self._ship(deadline)
            if shipped is _Shipped.DONE:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if shipped is _Shipped.FAILED:
                time.sleep(min(left, self.next_delay()))

    async def flush_async(self, timeout: float = 10.0) -> bool:
        """`flush` in a worker thread."""
        return await asyncio.to_thread(self.flush, timeout)

    def status(self) -> DecisionLogStatus:
        """The counters now (one call into each instance)."""
        totals = dict(self._retired)
        buffered_events = buffered_bytes = 0
        for sandbox in self._sandboxes:
            stats = self._read(sandbox, False)[1]
            for name in _LIFETIME:
                totals[name] += getattr(stats, name)
            buffered_events += stats.buffered_events
            buffered_bytes += stats.buffered_bytes
        pending = self._pending
        if pending is not None:
            buffered_events += pending.events
            buffered_bytes += pending.json_bytes
        with self._state:
            return DecisionLogStatus(
                sink=self.config.sink, sent=self._sent, sent_bytes=self._sent_bytes,
                dropped_recycled=self._recycled, dropped_shutdown=self._shutdown_lost,
                buffered_events=buffered_events, buffered_bytes=buffered_bytes,
                uploads=self._uploads, upload_failures=self._failures,
                consecutive_failures=self._consecutive, last_upload=self._last_upload,
                last_error=self._last_error, last_error_time=self._last_error_time, **totals)

    def close(self, timeout: float | None = None) -> bool:
        """Stops uploading after a last `flush` of up to `timeout` seconds
        (default: the config's `shutdown_timeout`) and drops the logs in
        the instances; True when every event went out, else what is left
        is counted in `dropped_shutdown`. Idempotent."""
        if self._closed:
            return True
        timeout = self.config.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self.stop(timeout)
        flushed = self.flush(max(0.0, deadline - time.monotonic()))
        atexit.unregister(self._at_exit)
        if self._poster is not None:
            self._poster.close()
        if not flushed:
            left = self.status().buffered_events
            with self._state:
                self._shutdown_lost = left
            self._pending = None
        with self._pool.locked_all() as sandboxes:
            self._closed = True
            self._pool.forget(self._rebuild)
            for s in sandboxes:
                resource = self._resources[s.index]
                if resource is not None and not s.closed:
                    with suppress(Trapped):
                        s.abi.drop(resource)
                self._resources[s.index] = None
        if not flushed:
            _log.warning("decision log closed with %d events not uploaded (%s)",
                         self._shutdown_lost, self._last_error or "out of time")
        return flushed


class _Wake:
    """What wakes the uploader thread: a full batch (`kicked`) or a stop."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.kicked = False


def _run(ref: Callable[[], DecisionLog | None], stop: threading.Event, wake: _Wake) -> None:
    """The uploader thread: rounds of uploads, and waits between them that
    hold no reference to the log."""
    while not stop.is_set():
        log = ref()
        if log is None:
            return
        shipped = log._round(stop)
        delay = 0.0 if shipped is _Shipped.MORE else log.next_delay()
        del log
        with wake.cond:
            wake.cond.wait_for(
                lambda: stop.is_set() or (shipped is _Shipped.DONE and wake.kicked), delay)
            wake.kicked = False


def _close_at_exit(ref: Callable[[], DecisionLog | None]) -> None:
    log = ref()
    if log is not None:
        log.close()
