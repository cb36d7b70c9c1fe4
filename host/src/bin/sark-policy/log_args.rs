//! Decision-log options of `decide`: where events go (`--decision-log`),
//! labels, erased fields, sampling of cached decisions and the buffer.

use clap::Args;
use sark_policy_host::{DecisionLogConfig, DecisionLogSink, DecisionLogStatus, RuntimeBuilder};
use std::path::PathBuf;

#[derive(Args, Clone, Default)]
pub struct LogArgs {
    /// Log every decision as an OPA decision-log event and send it to an
    /// http:// URL (gzipped JSON arrays POSTed as OPA's plugin does: give
    /// the full `/logs` URL), `console` (JSON lines on stdout, after the
    /// decisions while they stream) or `stderr`.
    #[arg(long = "decision-log", value_name = "URL|console|stderr")]
    pub sink: Option<String>,
    /// A label on every event, beside `id` and `version` (repeatable).
    #[arg(long = "decision-log-label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// A JSON pointer under /input or /result erased from every event,
    /// e.g. /input/context/password (repeatable).
    #[arg(long = "decision-log-erase", value_name = "POINTER")]
    pub erase: Vec<String>,
    /// Log one cached decision in N (1: every one, 0: none); evaluated
    /// decisions are always logged.
    #[arg(
        long = "decision-log-cached-sample",
        value_name = "N",
        default_value_t = 1
    )]
    pub cached_sample: u32,
    /// Most bytes of events buffered per instance; past it the oldest are
    /// dropped and counted.
    #[arg(long = "decision-log-buffer-bytes", value_name = "N", default_value_t = 16 << 20)]
    pub buffer_bytes: u64,
    /// A file holding the bearer token sent to the collector.
    #[arg(long = "decision-log-token-file", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl LogArgs {
    /// `b` logging decisions as asked (unchanged without `--decision-log`).
    pub fn apply(&self, b: RuntimeBuilder) -> Result<RuntimeBuilder, String> {
        let Some(sink) = &self.sink else {
            return Ok(b);
        };
        let sink: DecisionLogSink = sink.parse().map_err(|e| format!("--decision-log: {e}"))?;
        let labels = self
            .labels
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(format!("--decision-log-label: {l:?} is not KEY=VALUE")),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let token = crate::load::token(self.token_file.as_deref())?;
        Ok(b.decision_log(DecisionLogConfig {
            labels,
            erase: self.erase.clone(),
            cached_sample: self.cached_sample,
            max_buffer_bytes: self.buffer_bytes,
            token,
            ..DecisionLogConfig::new(sink)
        }))
    }
}

/// ` | decision log: 120 sent, 0 dropped, ...`, or nothing.
pub fn summary(status: Option<&DecisionLogStatus>) -> String {
    let Some(s) = status else {
        return String::new();
    };
    let error = s
        .last_error
        .as_ref()
        .map(|e| format!(", last error: {e}"))
        .unwrap_or_default();
    format!(
        " | decision log ({}): {} logged, {} sent in {} uploads, {} dropped ({} buffer full, {} mask error), {} truncated, {} buffered, {} failed uploads{error}",
        s.sink,
        s.logged,
        s.sent,
        s.uploads,
        s.dropped(),
        s.dropped_buffer_full,
        s.dropped_mask_error,
        s.truncated,
        s.buffered_events,
        s.upload_failures,
    )
}
