//! Counters exported to Envoy's stats (admin `/stats`, Prometheus).
//!
//! Envoy shares a metric between the VMs of all workers when they define the
//! same name, so the counters are totals over workers even though each
//! worker keeps its own cache.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Metric names; Envoy shows them with its `wasmcustom.` prefix.
pub const NAMES: [&str; 10] = [
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
];

/// One counter each; `None` when the host refused to define it (then
/// counting it is a no-op rather than a failure of the request).
#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    ids: [Option<u32>; NAMES.len()],
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
        (metrics, failed)
    }

    /// Adds one to `counter`.
    pub fn incr(&self, counter: Counter) {
        if let Some(Some(id)) = self.ids.get(counter as usize) {
            let _ = hostcalls::increment_metric(*id, 1);
        }
    }
}
