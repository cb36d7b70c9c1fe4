"""The status of a decision log (OPA's decision-log status): events logged,
sent and dropped (and why), the buffer's size, uploads and the last error;
in the metrics dict and as Prometheus text with the Rust host's names
(`sark_policy_decision_log_*`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DecisionLogStatus", "prometheus_decision_log_text"]


@dataclass(frozen=True)
class DecisionLogStatus:
    """Counters of a decision log since it was made.

    - `sink`: the collector's URL, or "console" / "stdout" / "stderr";
    - `logged`: events accepted into the instances' buffers;
    - `sent`: events the collector accepted (or written to the console),
      `sent_bytes` the bytes of their upload bodies (gzip);
    - `dropped_buffer_full`: dropped oldest first because the buffer was
      full; `dropped_mask_error`: dropped because masking failed (never
      shipped unmasked); `dropped_recycled`: lost with an instance that
      trapped and was replaced (the events it buffered as last read, plus
      those it recorded since: exact unless a mask failed or its buffer
      overflowed since that read); `dropped_shutdown`: still held
      when `close`'s time ran out;
    - `truncated`: events cut to fit `max_event_bytes`;
    - `buffered_events`, `buffered_bytes`: waiting in the instances, plus
      a batch whose upload failed and is retried;
    - `uploads`, `upload_failures`, `consecutive_failures`: POSTs that
      succeeded and failed (a status >= 300 or a network error);
    - `last_upload`: Unix time of the last successful upload;
    - `last_error`: why the last upload failed, None once one succeeds;
      `last_error_time`: Unix time of the last failure.

    The fields and the Prometheus names are the Rust host's
    (`DecisionLogStatus`), plus `sent_bytes`.
    """

    sink: str
    logged: int = 0
    sent: int = 0
    sent_bytes: int = 0
    dropped_buffer_full: int = 0
    dropped_mask_error: int = 0
    dropped_recycled: int = 0
    dropped_shutdown: int = 0
    truncated: int = 0
    buffered_events: int = 0
    buffered_bytes: int = 0
    uploads: int = 0
    upload_failures: int = 0
    consecutive_failures: int = 0
    last_upload: float | None = None
    last_error: str | None = None
    last_error_time: float | None = None

    @property
    def dropped(self) -> int:
        """Events dropped for any reason."""
        return (self.dropped_buffer_full + self.dropped_mask_error + self.dropped_recycled
                + self.dropped_shutdown)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_P = "sark_policy_decision_log"
_COUNTERS = (  # (metric, field, help), as the Rust host writes them
    (f"{_P}_events_logged_total", "logged", "Events accepted into the instances' buffers."),
    (f"{_P}_events_sent_total", "sent", "Events the sink accepted."),
    (f"{_P}_uploads_total", "uploads", "Uploads the sink accepted."),
    (f"{_P}_upload_failures_total", "upload_failures", "Uploads that failed, retries included."),
    (f"{_P}_events_truncated_total", "truncated", "Events cut to fit the event limit."),
)


def prometheus_decision_log_text(s: DecisionLogStatus) -> str:
    """Prometheus text of a decision log's status, as the Rust host writes
    it: counters of events logged, sent, dropped (by `reason`:
    `buffer_full`, `mask_error`, `recycled`, `shutdown`) and truncated, of
    uploads and their failures, the buffer's gauges, the times of the last
    upload and failure and, while uploads fail,
    `sark_policy_decision_log_last_error_info{sink,error} 1`."""
    lines: list[str] = []
    for metric, field, help_text in _COUNTERS:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter",
                  f"{metric} {getattr(s, field)}"]
    lines += [f"# HELP {_P}_events_dropped_total Events dropped, by reason.",
              f"# TYPE {_P}_events_dropped_total counter"]
    for reason in ("buffer_full", "mask_error", "recycled", "shutdown"):
        lines.append(f'{_P}_events_dropped_total{{reason="{reason}"}} '
                     f"{getattr(s, 'dropped_' + reason)}")
    lines += [f"# HELP {_P}_buffered_events Events waiting to be sent.",
              f"# TYPE {_P}_buffered_events gauge", f"{_P}_buffered_events {s.buffered_events}",
              f"# HELP {_P}_buffered_bytes Bytes of JSON waiting to be sent.",
              f"# TYPE {_P}_buffered_bytes gauge", f"{_P}_buffered_bytes {s.buffered_bytes}"]
    for name, at, help_text in (
            ("last_upload", s.last_upload, "When the sink last accepted an upload (Unix time)."),
            ("last_error", s.last_error_time, "When an upload last failed (Unix time).")):
        if at is not None:
            lines += [f"# HELP {_P}_{name}_timestamp_seconds {help_text}",
                      f"# TYPE {_P}_{name}_timestamp_seconds gauge",
                      f"{_P}_{name}_timestamp_seconds {at:.3f}"]
    if s.last_error is not None:
        lines += [f"# HELP {_P}_last_error_info The last upload's error, while it stands.",
                  f"# TYPE {_P}_last_error_info gauge",
                  f'{_P}_last_error_info{{sink="{_label(s.sink)}",'
                  f'error="{_label(s.last_error)}"}} 1']
    return "\n".join(lines) + "\n"
