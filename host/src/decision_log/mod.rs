//! Decision logs in the Rust host: every decision an [`Authorizer`]
//! makes becomes an OPA decision-log event inside the instance that made
//! it (masked there by the policies' `system.log.mask` rule and the erase
//! list, sampled, truncated and buffered by the component), and one
//! uploader thread per runtime ships the instances' batches to a collector
//! or the console. The host owns the clock, the network, the retries and
//! the status; decide calls never wait for the network.
//!
//! [`Authorizer`]: crate::Authorizer

mod logger;
mod status;
mod upload;

pub(crate) use logger::{Batch, LogStats, Logger};
pub use status::DecisionLogStatus;
pub(crate) use status::prometheus;

use crate::{Error, Result};
use std::time::Duration;

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionLogSink {
    /// POST gzipped JSON arrays of events to this URL, as OPA's
    /// decision-log plugin does to its service's `/logs` resource: give the
    /// full URL, e.g. `http://collector:8080/logs` (`https://` with the
    /// `tls` feature).
    Http(String),
    /// Print events as JSON lines on standard output.
    Console,
    /// Print events as JSON lines on standard error.
    Stderr,
}

impl std::str::FromStr for DecisionLogSink {
    type Err = String;

    /// `console`, `stderr`, or an `http://` / `https://` URL.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "console" | "stdout" => Ok(DecisionLogSink::Console),
            "stderr" => Ok(DecisionLogSink::Stderr),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(DecisionLogSink::Http(url.to_owned()))
            }
            other => Err(format!(
                "{other:?} is not a decision-log sink: give an http:// URL, `console` or `stderr`"
            )),
        }
    }
}

/// How a runtime logs decisions ([`RuntimeBuilder::decision_log`]).
///
/// Every instance (shard) holds its own buffer of events, so the buffer
/// limit applies per instance.
///
/// [`RuntimeBuilder::decision_log`]: crate::RuntimeBuilder::decision_log
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionLogConfig {
    /// Where events go.
    pub sink: DecisionLogSink,
    /// Labels on every event, beside `id` (a random id per runtime) and
    /// `version` (this crate's version), which the host adds as OPA does;
    /// a configured `id` or `version` replaces the host's.
    pub labels: Vec<(String, String)>,
    /// JSON pointers under `/input` or `/result` erased from every event
    /// (listed in its `erased`), e.g. `/input/context/password`; applied
    /// before the policies' `system.log.mask` rule.
    pub erase: Vec<String>,
    /// Most bytes of JSON events one instance buffers (default 16 MiB);
    /// when a new event passes it, the oldest are dropped and counted.
    pub max_buffer_bytes: u64,
    /// Most bytes of JSON one event may take (default 1 MiB); a larger
    /// event loses its input, then its result (`truncated`, counted).
    pub max_event_bytes: u64,
    /// Most bytes of JSON per upload, before compression (default 32768,
    /// OPA's `upload_size_limit_bytes`); a single larger event goes alone.
    pub upload_size_limit: u64,
    /// How often the uploader looks for events (default 1 s); it also
    /// wakes early once an instance buffers `upload_size_limit` bytes. The
    /// first retry after a failed upload waits this long.
    pub min_delay: Duration,
    /// The longest wait between retries of a failed upload (default 5 s):
    /// the retry delay doubles from `min_delay` up to this, with jitter.
    pub max_delay: Duration,
    /// Log one cached decision in this many (default 1: every one; 0:
    /// none). Evaluated decisions are always logged.
    pub cached_sample: u32,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Timeout of one upload (default 10 s).
    pub timeout: Duration,
    /// How long shutdown (dropping the runtime and its engines) keeps
    /// uploading what is buffered (default 5 s); what is left then is
    /// counted as dropped.
    pub shutdown_timeout: Duration,
}

impl DecisionLogConfig {
    /// Logging to `sink` with the defaults documented on each field.
    pub fn new(sink: DecisionLogSink) -> Self {
        DecisionLogConfig {
            sink,
            labels: Vec::new(),
            erase: Vec::new(),
            max_buffer_bytes: 16 << 20,
            max_event_bytes: 1 << 20,
            upload_size_limit: 32_768,
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            cached_sample: 1,
            token: None,
            timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// Uploads to `url` (OPA's service URL with `/logs`).
    pub fn http(url: impl Into<String>) -> Self {
        Self::new(DecisionLogSink::Http(url.into()))
    }

    /// JSON lines on standard output.
    pub fn console() -> Self {
        Self::new(DecisionLogSink::Console)
    }

    pub(crate) fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Runtime(format!("decision log: {m}")));
        if let DecisionLogSink::Http(url) = &self.sink
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("the sink URL must be http:// or https://");
        }
        if self.min_delay.is_zero() || self.min_delay > self.max_delay {
            return bad("min_delay must be above zero and not above max_delay");
        }
        if self.max_buffer_bytes == 0 || self.max_event_bytes == 0 || self.upload_size_limit == 0 {
            return bad("buffer, event and upload sizes must be above zero");
        }
        for path in &self.erase {
            let under = |root: &str| {
                path.strip_prefix(root)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            };
            if !(under("/input") || under("/result")) {
                return Err(Error::Runtime(format!(
                    "decision log: erase path {path:?} is not a JSON pointer under /input or /result"
                )));
            }
        }
        Ok(())
    }
}
