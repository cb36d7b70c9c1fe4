//! The status of a runtime's decision log, beside the bundles' status in
//! the metrics and the Prometheus text.

use std::fmt::Write;
use std::time::SystemTime;

/// Counters and state of a runtime's decision log
/// ([`Metrics::decision_log`](crate::Metrics::decision_log),
/// [`Runtime::decision_log_status`](crate::Runtime::decision_log_status)).
///
/// Instance counters are summed over every instance of every engine of the
/// runtime; an instance replaced after a trap keeps counting as it was
/// last read (at the last upload, metrics read or every 64th decision).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionLogStatus {
    /// The sink: its URL, `console` or `stderr`.
    pub sink: String,
    /// Events accepted into the instances' buffers.
    pub logged: u64,
    /// Events the sink accepted.
    pub sent: u64,
    /// Uploads (batches) the sink accepted.
    pub uploads: u64,
    /// Uploads that failed (each retry counts).
    pub upload_failures: u64,
    /// Failed uploads since the last one accepted.
    pub consecutive_failures: u64,
    /// Events dropped, oldest first, because an instance's buffer was full
    /// (or an event alone was over the event limit after truncation).
    pub dropped_buffer_full: u64,
    /// Events dropped because masking failed: never shipped unmasked.
    pub dropped_mask_error: u64,
    /// Events buffered in an instance that trapped, lost with it (as last
    /// read).
    pub dropped_recycled: u64,
    /// Events still held when shutdown's time ran out.
    pub dropped_shutdown: u64,
    /// Events cut to fit the event limit.
    pub truncated: u64,
    /// Events waiting: in the instances' buffers and held for upload.
    pub buffered_events: u64,
    /// Their bytes of JSON, before compression.
    pub buffered_bytes: u64,
    /// When the sink last accepted an upload.
    pub last_upload: Option<SystemTime>,
    /// Why the last upload failed; `None` once one is accepted.
    pub last_error: Option<String>,
    /// When an upload last failed.
    pub last_error_time: Option<SystemTime>,
}

impl DecisionLogStatus {
    /// Every event dropped, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_buffer_full
            + self.dropped_mask_error
            + self.dropped_recycled
            + self.dropped_shutdown
    }
}

/// A label value escaped for the Prometheus text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The decision-log lines of the Prometheus text (names shared with the
/// Python host).
pub(crate) fn prometheus(status: Option<&DecisionLogStatus>, out: &mut String) {
    let Some(s) = status else { return };
    let metric = |out: &mut String, name: &str, kind: &str, help: &str, value: String| {
        let _ = write!(
            out,
            "# HELP sark_policy_decision_log_{name} {help}\n# TYPE sark_policy_decision_log_{name} {kind}\nsark_policy_decision_log_{name} {value}\n"
        );
    };
    for (name, help, v) in [
        (
            "events_logged_total",
            "Events accepted into the instances' buffers.",
            s.logged,
        ),
        ("events_sent_total", "Events the sink accepted.", s.sent),
        ("uploads_total", "Uploads the sink accepted.", s.uploads),
        (
            "upload_failures_total",
            "Uploads that failed, retries included.",
            s.upload_failures,
        ),
        (
            "events_truncated_total",
            "Events cut to fit the event limit.",
            s.truncated,
        ),
    ] {
        metric(out, name, "counter", help, v.to_string());
    }
    let _ = write!(
        out,
        "# HELP sark_policy_decision_log_events_dropped_total Events dropped, by reason.\n\
         # TYPE sark_policy_decision_log_events_dropped_total counter\n"
    );
    for (reason, v) in [
        ("buffer_full", s.dropped_buffer_full),
        ("mask_error", s.dropped_mask_error),
        ("recycled", s.dropped_recycled),
        ("shutdown", s.dropped_shutdown),
    ] {
        let _ = writeln!(
            out,
            "sark_policy_decision_log_events_dropped_total{{reason=\"{reason}\"}} {v}"
        );
    }
    metric(
        out,
        "buffered_events",
        "gauge",
        "Events waiting to be sent.",
        s.buffered_events.to_string(),
    );
    metric(
        out,
        "buffered_bytes",
        "gauge",
        "Bytes of JSON waiting to be sent.",
        s.buffered_bytes.to_string(),
    );
    if let Some(t) = s.last_upload {
        metric(
            out,
            "last_upload_timestamp_seconds",
            "gauge",
            "When the sink last accepted an upload (Unix time).",
            seconds(t).to_string(),
        );
    }
    if let Some(t) = s.last_error_time {
        metric(
            out,
            "last_error_timestamp_seconds",
            "gauge",
            "When an upload last failed (Unix time).",
            seconds(t).to_string(),
        );
    }
    if let Some(e) = &s.last_error {
        let _ = write!(
            out,
            "# HELP sark_policy_decision_log_last_error_info The last upload's error, while it stands.\n\
             # TYPE sark_policy_decision_log_last_error_info gauge\n\
             sark_policy_decision_log_last_error_info{{sink=\"{}\",error=\"{}\"}} 1\n",
            label(&s.sink),
            label(e)
        );
    }
}
