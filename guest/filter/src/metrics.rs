//! Counters exported to Envoy's stats (admin `/stats`, Prometheus).
//!
//! Envoy shares a metric between the VMs of all workers when they define the
//! same name, so the counters are totals over workers even though each
//! worker keeps its own cache.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Metric names; Envoy shows them with its `wasmcustom.` prefix.
pub const NAMES: [&str; 19] = [
    "sark_policy.requests",
    "sark_policy.cache_hits",
    "sark_policy.cache_misses",
    "sark_policy.allowed",
    "sark_policy.denied",
    "sark_policy.errors",
    "sark_policy.body_too_large",
    "sark_policy.body_truncated",
    "sark_policy.body_invalid",
    "sark_policy.dry_run_would_deny",
    "sark_policy.not_ready",
    "sark_policy.bundle_downloads",
    "sark_policy.bundle_not_modified",
    "sark_policy.bundle_activations",
    "sark_policy.bundle_failures",
    "sark_policy.decision_log_events",
    "sark_policy.decision_log_uploads",
    "sark_policy.decision_log_upload_failures",
    "sark_policy.decision_log_dropped",
];

/// The gauge: when this VM last activated a bundle, in seconds since the
/// epoch (0 before the first).
pub const LAST_ACTIVATION: &str = "sark_policy.bundle_last_activation_unix_seconds";

/// The gauge: bytes of decision-log events waiting for upload, summed over
/// workers (each adds its change).
pub const LOG_BUFFERED: &str = "sark_policy.decision_log_buffered_bytes";

/// One counter each; `None` when the host refused to define it (then
/// counting it is a no-op rather than a failure of the request).
#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    ids: [Option<u32>; NAMES.len()],
    last_activation: Option<u32>,
    log_buffered: Option<u32>,
}

/// Which counter.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    /// Every request the filter decided.
    Requests = 0,
    /// Decisions served from the cache.
    CacheHits = 1,
    /// Decisions evaluated (cache off or no live entry).
    CacheMisses = 2,
    /// Requests let through by the policy.
    Allowed = 3,
    /// Requests denied by the policy.
    Denied = 4,
    /// Policy errors (evaluation errors, undefined or malformed decisions).
    Errors = 5,
    /// Bodies over `max_request_bytes` without `allow_partial_message`
    /// (413, not evaluated).
    BodyTooLarge = 6,
    /// Decisions on a body cut at `max_request_bytes`.
    BodyTruncated = 7,
    /// Bodies not what their content type says (400).
    BodyInvalid = 8,
    /// Local replies `dry_run` did not send: the request went through.
    DryRunWouldDeny = 9,
    /// Requests that came before the configured bundle was first activated.
    NotReady = 10,
    /// Bundles received (200), whether activated or refused.
    BundleDownloads = 11,
    /// Polls answered 304: the active bundle is current.
    BundleNotModified = 12,
    /// Bundles activated.
    BundleActivations = 13,
    /// Polls that failed: an error status, no answer, or a bundle refused.
    BundleFailures = 14,
    /// Decision-log events recorded into a worker's buffer.
    LogEvents = 15,
    /// Decision-log batches uploaded (answered 2xx).
    LogUploads = 16,
    /// Decision-log uploads that failed (the batch is retried).
    LogUploadFailures = 17,
    /// Decision-log events dropped: the buffer was full (the oldest go),
    /// or masking failed (never shipped unmasked).
    LogDropped = 18,
}

impl Metrics {
    /// Defines the counters; returns the names it could not define.
    pub fn define() -> (Self, Vec<&'static str>) {
        let mut metrics = Self::default();
        let mut failed = Vec::new();
        for (slot, name) in metrics.ids.iter_mut().zip(NAMES) {
            match hostcalls::define_metric(MetricType::Counter, name) {
                Ok(id) => *slot = Some(id),
                Err(_) => failed.push(name),
            }
        }
        for (slot, name) in [
            (&mut metrics.last_activation, LAST_ACTIVATION),
            (&mut metrics.log_buffered, LOG_BUFFERED),
        ] {
            match hostcalls::define_metric(MetricType::Gauge, name) {
                Ok(id) => *slot = Some(id),
                Err(_) => failed.push(name),
            }
        }
        (metrics, failed)
    }

    /// Sets the last-activation gauge.
    pub fn set_last_activation(&self, unix_seconds: u64) {
        if let Some(id) = self.last_activation {
            let _ = hostcalls::record_metric(id, unix_seconds);
        }
    }

    /// Adds one to `counter`.
    pub fn incr(&self, counter: Counter) {
        self.add(counter, 1);
    }

    /// Adds `n` to `counter`.
    pub fn add(&self, counter: Counter, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(Some(id)) = self.ids.get(counter as usize) {
            let _ = hostcalls::increment_metric(*id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Changes the buffered-bytes gauge by `delta` (this worker's change).
    pub fn add_log_buffered(&self, delta: i64) {
        if let (Some(id), true) = (self.log_buffered, delta != 0) {
            let _ = hostcalls::increment_metric(id, delta);
        }
    }
}
