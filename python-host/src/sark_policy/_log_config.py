"""`DecisionLogConfig`: how an `Authorizer` logs its decisions, with the
Rust host's names and defaults (`host/src/decision_log/mod.rs`)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

__all__ = ["DecisionLogConfig", "STREAMS"]

#: The console sinks, by name: the stream each writes to.
STREAMS: Final = {"console": "stdout", "stdout": "stdout", "stderr": "stderr"}


@dataclass(frozen=True)
class DecisionLogConfig:
    """How an `Authorizer` logs its decisions (OPA's `decision_logs`).

    - `sink`: the collector's URL (events are POSTed to it as OPA's plugin
      POSTs them to its service's `/logs`: give the full URL), "console"
      (or "stdout"): JSON lines on standard output, or "stderr";
    - `labels`: added to every event's `labels`, beside the host's `id` (a
      random id of this log) and `version` (the package's), as OPA adds
      them; a configured `id` or `version` replaces the host's;
    - `erase`: JSON pointers under `/input` or `/result` removed from every
      event (before the policies' `system.log.mask` rule);
    - `max_buffer_bytes` (16 MiB): JSON held per instance; past it the
      oldest events are dropped, counted;
    - `max_event_bytes` (1 MiB): a larger event loses its input, then its
      result (counted as truncated);
    - `upload_size_limit` (32768, OPA's `upload_size_limit_bytes`): JSON
      per upload, before compression (a larger event goes alone);
    - `min_delay` (1 s): how often the uploader looks for events (it also
      wakes when an instance holds about a batch); the first retry after
      a failed upload waits this long;
    - `max_delay` (5 s): the longest wait between retries: the delay
      doubles from `min_delay` up to it, times a random 0.5..1 (jitter);
    - `cached_sample`: log one cached decision in this many (1: every one,
      0: none); evaluated decisions are always logged;
    - `token`: sent as `Authorization: Bearer <token>`;
    - `timeout`: seconds an upload may wait on the network (10);
    - `shutdown_timeout` (5 s): how long `close` (and the exit of the
      process) keeps uploading; what is left then is counted as dropped.

    Raises `ValueError` for a sink other than an http(s) URL, "console",
    "stdout" and "stderr", a size below 1, a `min_delay` not above 0 or
    above `max_delay`, or a `cached_sample` outside 0..2**32-1.
    """

    sink: str
    labels: Mapping[str, str] = field(default_factory=dict)
    erase: Sequence[str] = ()
    max_buffer_bytes: int = 16 << 20
    max_event_bytes: int = 1 << 20
    upload_size_limit: int = 32768
    min_delay: float = 1.0
    max_delay: float = 5.0
    cached_sample: int = 1
    token: str | None = None
    timeout: float = 10.0
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.sink not in STREAMS and urllib.parse.urlsplit(self.sink).scheme not in (
                "http", "https"):
            raise ValueError(f"{self.sink!r} is not a decision-log sink: give an http:// URL, "
                             "'console' or 'stderr'")
        for name in ("max_buffer_bytes", "max_event_bytes", "upload_size_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0 < self.min_delay <= self.max_delay:
            raise ValueError(f"min_delay must be above zero and not above max_delay, got "
                             f"{self.min_delay}, {self.max_delay}")
        if not 0 <= self.cached_sample < 1 << 32:
            raise ValueError(f"cached_sample must be in 0..2**32-1, not {self.cached_sample}")
        if self.timeout <= 0 or self.shutdown_timeout < 0:
            raise ValueError("timeout must be > 0 and shutdown_timeout >= 0")
