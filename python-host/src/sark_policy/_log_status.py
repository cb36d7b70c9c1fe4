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

    - `sink`: the collector's URL, or "console";
    - `logged`: events accepted into the instances' buffers;
    - `sent`: events the collector accepted (or written to the console),
      `sent_bytes` the bytes of their upload bodies (gzip);
    - `dropped_buffer_full`: dropped oldest first because the buffer was
      full; `dropped_mask_error`: dropped because masking failed (never
      shipped unmasked); `dropped_recycled`: lost with an instance that
      trapped and was replaced (the events it buffered and had not yet
      handed over: exact when every cached decision is logged and no mask
      failed, an upper bound otherwise);
    - `truncated`: events cut to fit `max_event_bytes`;
    - `buffered_events`, `buffered_bytes`: waiting in the instances, plus
      a batch whose upload failed and is retried;
    - `uploads`, `upload_failures`, `consecutive_failures`: POSTs that
      succeeded and failed (a status >= 300 or a network error);
    - `last_upload`: Unix time of the last successful upload;
    - `last_error`: why the last upload failed, None once one succeeds.
    """

    sink: str
    logged: int = 0
    sent: int = 0
    sent_bytes: int = 0
    dropped_buffer_full: int = 0
    dropped_mask_error: int = 0
    dropped_recycled: int = 0
    truncated: int = 0
    buffered_events: int = 0
    buffered_bytes: int = 0
    uploads: int = 0
    upload_failures: int = 0
    consecutive_failures: int = 0
    last_upload: float | None = None
    last_error: str | None = None

    @property
    def dropped(self) -> int:
        """Events dropped for any reason."""
        return self.dropped_buffer_full + self.dropped_mask_error + self.dropped_recycled


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_P = "sark_policy_decision_log"
_COUNTERS = (  # (metric, field, help)
    (f"{_P}_events_logged_total", "logged", "Events accepted into the buffer."),
    (f"{_P}_events_sent_total", "sent", "Events the collector accepted."),
    (f"{_P}_sent_bytes_total", "sent_bytes", "Bytes of upload bodies accepted (gzip)."),
    (f"{_P}_events_truncated_total", "truncated", "Events cut to fit max_event_bytes."),
    (f"{_P}_uploads_total", "uploads", "Uploads the collector accepted."),
    (f"{_P}_upload_failures_total", "upload_failures", "Uploads that failed."),
)


def prometheus_decision_log_text(s: DecisionLogStatus) -> str:
    """Prometheus text of a decision log's status: counters of events
    logged, sent, dropped (by `reason`: `buffer_full`, `mask_error`,
    `recycled`) and truncated, of uploads and their failures, the buffer's
    gauges, the time of the last upload and, while uploads fail,
    `sark_policy_decision_log_last_error_info{error} 1`."""
    lines: list[str] = []
    for metric, field, help_text in _COUNTERS:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter",
                  f"{metric} {getattr(s, field)}"]
    lines += [f"# HELP {_P}_events_dropped_total Events dropped, by reason.",
              f"# TYPE {_P}_events_dropped_total counter"]
    for reason in ("buffer_full", "mask_error", "recycled"):
        lines.append(f'{_P}_events_dropped_total{{reason="{reason}"}} '
                     f"{getattr(s, 'dropped_' + reason)}")
    lines += [f"# HELP {_P}_buffered_events Events waiting to be uploaded.",
              f"# TYPE {_P}_buffered_events gauge", f"{_P}_buffered_events {s.buffered_events}",
              f"# HELP {_P}_buffered_bytes Bytes of JSON waiting to be uploaded.",
              f"# TYPE {_P}_buffered_bytes gauge", f"{_P}_buffered_bytes {s.buffered_bytes}"]
    if s.last_upload is not None:
        lines += [f"# HELP {_P}_last_upload_timestamp_seconds Unix time of the last upload.",
                  f"# TYPE {_P}_last_upload_timestamp_seconds gauge",
                  f"{_P}_last_upload_timestamp_seconds {s.last_upload:.3f}"]
    lines += [f"# HELP {_P}_last_error_info Why the last upload failed, while it has.",
              f"# TYPE {_P}_last_error_info gauge"]
    if s.last_error is not None:
        lines.append(f'{_P}_last_error_info{{error="{_label(s.last_error)}"}} 1')
    return "\n".join(lines) + "\n"
