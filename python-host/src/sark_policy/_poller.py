"""`BundlePoller`: keeps a bundle of an engine up to date from an HTTP
bundle server, as OPA's bundle plugin does.

Each poll is a GET with `If-None-Match` (the ETag of the bundle last
activated from the server) and, with a token, `Authorization: Bearer`.
200: the body is activated (`PolicyEngine.activate_bundle`, atomic in
every instance) and, with `persist_dir`, written to disk; 304: nothing
changes; anything else (a status >= 400, a network error, a bundle the
engine refuses) is a failure: the bundle active before keeps serving, and
the next poll comes after an exponential backoff. A persisted bundle is
activated when the poller is made, so a restart serves the last good
bundle while the server is down.

The polling runs in a daemon thread (standard library HTTP only). Calls of
the engine never wait on it, except for the instance locks the activation
itself takes, as for any change; an event loop is never blocked by it.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import random
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import suppress
from typing import TYPE_CHECKING

from ._bundles import MAX_BUNDLE_BYTES, Verification
from ._engine import describe
from ._errors import PolicyError
from ._status import BundleStatus

if TYPE_CHECKING:
    from ._engine import PolicyEngine

__all__ = ["BundlePoller"]

_log = logging.getLogger("sark_policy")

#: Most bytes of a downloaded bundle.
MAX_DOWNLOAD = MAX_BUNDLE_BYTES
_BUNDLE_FILE = "bundle.tar.gz"
_ETAG_FILE = "etag"
_USER_AGENT = "sark-policy/0.1.0 (bundle poller)"


class BundlePoller:
    """Polls `url` for the bundle `name` of `engine` (see the module doc).

    - `min_delay`, `max_delay`: seconds between polls after a success or a
      304, uniformly at random in between (as OPA's `min_delay_seconds`
      and `max_delay_seconds`);
    - after `n` failures in a row the next poll comes after
      `min(max_delay, backoff_base * 2**(n-1))` seconds, +/- 20% jitter;
    - `token`: sent as `Authorization: Bearer <token>`;
    - `verification`: how signatures are checked (see `Verification`);
    - `persist_dir`: where the last activated bundle is kept
      (`<persist_dir>/<name>/bundle.tar.gz`, its ETag beside it);
    - `timeout`: seconds a request may wait on the network.

    The constructor activates the bundle persisted in `persist_dir`, if
    any (a refusal is recorded in the status, not raised), so a restart
    serves the last good bundle before the first poll, even with the
    server down. `start()` runs the poller in a daemon thread until
    `stop()` (or use it as a context manager); `poll_now()` polls once,
    synchronously. From a coroutine, `start()` returns at once; `stop()`
    and `poll_now()` wait for a request in flight, so call them with
    `asyncio.to_thread`. `status()` is the bundle's status, also in the
    engine's metrics and Prometheus text. Raises `ValueError` for a URL that is not http(s), delays out of
    order, or (with `persist_dir`) the name "", "." or "..". The bundle's
    directory in `persist_dir` is its name with characters other than
    ASCII letters, digits, `.`, `_` and `-` as `_` (as the Rust host).
    """

    def __init__(
        self,
        engine: PolicyEngine,
        name: str,
        url: str,
        *,
        min_delay: float = 60.0,
        max_delay: float = 120.0,
        token: str | None = None,
        verification: Verification | None = None,
        persist_dir: str | os.PathLike[str] | None = None,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
    ) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"a bundle URL is http:// or https://, not {url!r}")
        if not 0 <= min_delay <= max_delay:
            raise ValueError(f"need 0 <= min_delay <= max_delay, got {min_delay}, {max_delay}")
        if timeout <= 0 or backoff_base < 0:
            raise ValueError("timeout must be > 0 and backoff_base >= 0")
        if persist_dir is not None and name in ("", ".", ".."):
            raise ValueError(f"bundle name {name!r} cannot name a directory of persist_dir")
        self.engine = engine
        self.name = name
        self.url = url
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.backoff_base = backoff_base
        self._token = token
        self._verification = verification
        self._dir = (None if persist_dir is None
                     else os.path.join(os.fspath(persist_dir), _file_name(name)))
        self._etag: str | None = None
        self._poll_lock = threading.Lock()  # one poll at a time
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        engine._bundle_statuses.register(name, url)
        with self._poll_lock:
            self._load_persisted()

    # -- running --------------------------------------------------------------

    def start(self) -> BundlePoller:
        """Starts polling in a daemon thread: polls at once, then keeps
        polling. Returns at once. Raises `RuntimeError` when already
        running."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"the poller of bundle {self.name!r} is running")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"sark-bundle-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops polling and waits for the thread (a request in flight ends
        within `timeout`). The bundle stays active. Idempotent."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> BundlePoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def run_async(self) -> None:
        """Polls from an asyncio program until cancelled: each poll runs in
        a worker thread (`asyncio.to_thread`), the waits are
        `asyncio.sleep`, so the event loop is never blocked. Use it as a
        task: `task = asyncio.create_task(poller.run_async())`, and
        `task.cancel()` to stop; or `start_async()`."""
        while True:
            await asyncio.to_thread(self.poll_now)
            await asyncio.sleep(self.next_delay())

    def start_async(self) -> asyncio.Task[None]:
        """`run_async()` as a task of the running event loop."""
        return asyncio.get_running_loop().create_task(
            self.run_async(), name=f"sark-bundle-{self.name}")

    @property
    def running(self) -> bool:
        """Whether the polling thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_now()
            except Exception:  # a bug, not a server's failure: keep polling
                _log.exception("bundle %r: poll failed", self.name)
            if self._stopping.wait(self.next_delay()):
                break

    def next_delay(self) -> float:
        """Seconds until the next poll, given the failures in a row so far."""
        failures = self.status().consecutive_failures
        if failures == 0:
            return self._random.uniform(self.min_delay, self.max_delay)
        backoff = min(self.max_delay, self.backoff_base * 2.0 ** min(failures - 1, 64))
        return backoff * self._random.uniform(0.8, 1.2)

    def status(self) -> BundleStatus:
        """The bundle's status now."""
        return self.engine._bundle_statuses.get(self.name)

    # -- one poll ---------------------------------------------------------------

    def poll_now(self) -> BundleStatus:
        """Polls once, now, in this thread (waiting for a poll in flight),
        and returns the status after it. Failures are recorded, not
        raised."""
        with self._poll_lock:
            self._poll()
        return self.status()

    def _poll(self) -> None:
        statuses = self.engine._bundle_statuses
        statuses.requested(self.name, time.time())
        headers = {"User-Agent": _USER_AGENT}
        if self._etag is not None:
            headers["If-None-Match"] = self._etag
        request = urllib.request.Request(self.url, headers=headers)
        if self._token is not None:
            # Not sent on to where a redirect points (urllib would, to any host).
            request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status != 200:  # another 2xx: no bundle in it
                    self._fail(f"GET {self.url}: HTTP {response.status}")
                    return
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) > MAX_DOWNLOAD:
                    self._fail(f"the bundle is over {MAX_DOWNLOAD} bytes ({length})")
                    return
                body = response.read(MAX_DOWNLOAD + 1)
                etag = response.headers.get("ETag")
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 304:
                statuses.not_modified(self.name)
            else:
                self._fail(f"GET {self.url}: HTTP {e.code}")
            return
        except urllib.error.URLError as e:
            self._fail(f"GET {self.url}: {e.reason}")
            return
        except (OSError, http.client.HTTPException) as e:
            self._fail(f"GET {self.url}: {type(e).__name__}: {e}")
            return
        if len(body) > MAX_DOWNLOAD:
            self._fail(f"the bundle is over {MAX_DOWNLOAD} bytes")
            return
        statuses.downloaded(self.name, time.time())
        try:  # records the activation or the failure in the status
            self.engine._activate_bundle(self.name, body, self._verification, etag)
        except PolicyError as e:
            _log.warning("bundle %r from %s refused, the active one keeps serving: %s",
                         self.name, self.url, describe(e))
            return
        self._etag = etag
        self._persist(body, etag)

    def _fail(self, error: str) -> None:
        _log.warning("bundle %r: %s", self.name, error)
        self.engine._bundle_statuses.failed(self.name, error)

    # -- persistence ------------------------------------------------------------

    def _persist(self, body: bytes, etag: str | None) -> None:
        """Keeps the bundle just activated and its ETag. The ETag goes first
        and comes back last, so a crash in between never pairs a bundle
        with another bundle's ETag (which could answer 304 for the wrong
        one)."""
        if self._dir is None:
            return
        try:
            os.makedirs(self._dir, exist_ok=True)
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(self._dir, _ETAG_FILE))
            _write_atomically(os.path.join(self._dir, _BUNDLE_FILE), body)
            if etag is not None:
                _write_atomically(os.path.join(self._dir, _ETAG_FILE), etag.encode())
        except OSError as e:  # the activation stands; the status says why
            _log.warning("bundle %r: not persisted: %s", self.name, e)
            self.engine._bundle_statuses.note_error(
                self.name, f"persisting to {self._dir}: {e}")

    def _load_persisted(self) -> None:
        """Activates the persisted bundle, if any (its ETag then goes with
        the first request, which a server unchanged answers with 304)."""
        if self._dir is None:
            return
        try:
            with open(os.path.join(self._dir, _BUNDLE_FILE), "rb") as f:
                body = f.read(MAX_DOWNLOAD + 1)
        except FileNotFoundError:
            return
        except OSError as e:
            _log.warning("bundle %r: persisted bundle unreadable: %s", self.name, e)
            return
        etag: str | None = None
        with suppress(OSError, UnicodeDecodeError):
            with open(os.path.join(self._dir, _ETAG_FILE), "rb") as f:
                etag = f.read(4096).decode() or None
        try:
            self.engine._activate_bundle(self.name, body, self._verification, etag)
        except PolicyError as e:
            _log.warning("bundle %r: persisted bundle refused: %s", self.name, describe(e))
            return
        self._etag = etag


def _file_name(name: str) -> str:
    """`name` as a directory name: other than ASCII letters, digits and
    `._-`, characters become `_`."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)


def _write_atomically(path: str, data: bytes) -> None:
    """Writes `path` by renaming a synced file over it."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    with suppress(OSError):  # the rename itself, durable where the OS allows
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
