"""The status of an engine's bundles (OPA's bundle status): per bundle, the
active revision, the times of the last request, download and activation,
the last error, and counters; in the metrics dict and as Prometheus text
with the Rust host's names (`sark_policy_bundle_*`).

`activate_bundle` records activations and failures; a `BundlePoller`
registers its URL and records its requests, downloads and 304s.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["BundleStatus", "BundleStatuses", "prometheus_bundle_text"]


@dataclass(frozen=True)
class BundleStatus:
    """The status of one bundle of an engine.

    - `url`: the bundle server URL its poller polls (None without one);
    - `active_revision`: the revision serving now (None: none active);
    - `etag`: the ETag of the bundle last activated from the server;
    - `last_request`, `last_successful_download`,
      `last_successful_activation`: Unix times (None: never);
    - `last_error`: why the last attempt (a request, a download or an
      activation) failed; None once one succeeds (a 304 too);
    - `downloads` (bundles downloaded), `not_modified` (304 answers),
      `activations`, `failures` (requests, downloads and activations that
      failed), `consecutive_failures` (since the last success).
    """

    name: str
    url: str | None = None
    active_revision: str | None = None
    etag: str | None = None
    last_request: float | None = None
    last_successful_download: float | None = None
    last_successful_activation: float | None = None
    last_error: str | None = None
    downloads: int = 0
    not_modified: int = 0
    activations: int = 0
    failures: int = 0
    consecutive_failures: int = 0


class BundleStatuses:
    """The statuses of an engine's bundles, by name. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, BundleStatus] = {}

    def _update(self, name: str, **changes: Any) -> BundleStatus:
        with self._lock:
            status = replace(self._by_name.get(name) or BundleStatus(name), **changes)
            self._by_name[name] = status
            return status

    def _bump(self, name: str, counter: str, **changes: Any) -> None:
        with self._lock:
            status = self._by_name.get(name) or BundleStatus(name)
            changes[counter] = getattr(status, counter) + 1
            self._by_name[name] = replace(status, **changes)

    def register(self, name: str, url: str) -> None:
        """A poller of `name` polls `url`."""
        self._update(name, url=url)

    def requested(self, name: str, at: float) -> None:
        self._update(name, last_request=at)

    def downloaded(self, name: str, at: float) -> None:
        self._bump(name, "downloads", last_successful_download=at)

    def not_modified(self, name: str) -> None:
        self._bump(name, "not_modified", last_error=None, consecutive_failures=0)

    def activated(self, name: str, revision: str, at: float, etag: str | None = None) -> None:
        """`name` is now serving `revision` (with `etag`, from a poller)."""
        self._bump(name, "activations", active_revision=revision, etag=etag,
                   last_successful_activation=at, last_error=None, consecutive_failures=0)

    def failed(self, name: str, error: str) -> None:
        with self._lock:
            status = self._by_name.get(name) or BundleStatus(name)
            self._by_name[name] = replace(
                status, last_error=error, failures=status.failures + 1,
                consecutive_failures=status.consecutive_failures + 1)

    def note_error(self, name: str, error: str) -> None:
        """An error that changed nothing served (persisting a bundle): shown
        as the last error, not counted as a failure."""
        self._update(name, last_error=error)

    def removed(self, name: str) -> None:
        """The bundle `name` is no longer active: its status goes, unless a
        poller polls it."""
        with self._lock:
            status = self._by_name.get(name)
            if status is None or status.url is None:
                self._by_name.pop(name, None)
            else:
                self._by_name[name] = replace(status, active_revision=None, etag=None)

    def get(self, name: str) -> BundleStatus:
        with self._lock:
            return self._by_name.get(name) or BundleStatus(name)

    def all(self) -> list[BundleStatus]:
        """Every status, by name."""
        with self._lock:
            return [self._by_name[n] for n in sorted(self._by_name)]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The statuses as plain dicts, by name (the metrics' `bundles`)."""
        return {s.name: asdict(s) for s in self.all()}


def _label(value: str) -> str:
    """A label value escaped as the text format requires."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_GAUGES = (  # (metric, field, type, help)
    ("sark_policy_bundle_last_request_timestamp_seconds", "last_request", "gauge",
     "Unix time of the last request to the bundle server."),
    ("sark_policy_bundle_last_download_timestamp_seconds", "last_successful_download", "gauge",
     "Unix time of the last successful download."),
    ("sark_policy_bundle_last_activation_timestamp_seconds", "last_successful_activation", "gauge",
     "Unix time of the last successful activation."),
    ("sark_policy_bundle_downloads_total", "downloads", "counter", "Bundles downloaded."),
    ("sark_policy_bundle_not_modified_total", "not_modified", "counter",
     "Polls answered 304 Not Modified."),
    ("sark_policy_bundle_activations_total", "activations", "counter", "Bundles activated."),
    ("sark_policy_bundle_failures_total", "failures", "counter",
     "Requests, downloads and activations that failed."),
)


def prometheus_bundle_text(statuses: list[BundleStatus]) -> str:
    """Prometheus text of bundle statuses (empty without bundles): the info
    gauge `sark_policy_bundle_info{bundle,revision} 1` of each active bundle,
    timestamps (only once set) and counters by `bundle`, and
    `sark_policy_bundle_last_error_info{bundle,error} 1` while the last attempt
    failed."""
    if not statuses:
        return ""
    lines = [
        "# HELP sark_policy_bundle_info The revision each bundle serves.",
        "# TYPE sark_policy_bundle_info gauge",
    ]
    for s in statuses:
        if s.active_revision is not None:
            lines.append(f'sark_policy_bundle_info{{bundle="{_label(s.name)}",'
                         f'revision="{_label(s.active_revision)}"}} 1')
    for metric, field, kind, help_text in _GAUGES:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for s in statuses:
            value = getattr(s, field)
            if value is None:
                continue
            text = f"{value:.3f}" if isinstance(value, float) else str(value)
            lines.append(f'{metric}{{bundle="{_label(s.name)}"}} {text}')
    lines += [
        "# HELP sark_policy_bundle_last_error_info Why the last attempt failed, while it has.",
        "# TYPE sark_policy_bundle_last_error_info gauge",
    ]
    for s in statuses:
        if s.last_error is not None:
            lines.append(f'sark_policy_bundle_last_error_info{{bundle="{_label(s.name)}",'
                         f'error="{_label(s.last_error)}"}} 1')
    return "\n".join(lines) + "\n"
