//! The metrics policy: counters and a latency histogram per shard, merged on
//! read, exported as a struct and as Prometheus text.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// A snapshot of a pool's metrics. Rates are percentages, as in the seed.
///
/// Guest counters (cache evictions and expirations, and the evaluation-path
/// counters) live in the instances: an instance replaced after a trap,
/// timeout or memory cap takes its counts with it, since a trapped instance
/// cannot be asked for them. The pool replaces instances only after such
/// events, never deliberately, so nothing else is lost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Decisions served from the cache.
    pub hits: u64,
    /// Decisions that were evaluated.
    pub misses: u64,
    /// `hits + misses`.
    pub total_requests: u64,
    /// Live entries the guest caches evicted (since their instance started).
    pub evictions: u64,
    /// Entries the guest caches dropped as expired (likewise).
    pub expirations: u64,
    /// Entries cached now.
    pub entries: u64,
    /// `hits / total_requests`, in percent.
    pub hit_rate: f64,
    /// `misses / total_requests`, in percent.
    pub miss_rate: f64,
    /// Mean decision latency in milliseconds (the seed's `avg_cache_latency_ms`).
    pub avg_latency_ms: f64,
    /// Median decision latency, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Instances replaced after a trap, timeout or memory cap.
    pub recycles: u64,
    /// Calls that ran past the deadline.
    pub timeouts: u64,
    /// Calls that hit the memory cap.
    pub memory_limits: u64,
    /// Rule evaluations run on regorus's RVM (decisions served from the
    /// cache evaluate nothing and are not counted).
    pub rvm_evaluations: u64,
    /// Evaluations run by the interpreter, by reason: `forced`, `query`,
    /// `with-keyword`, `unknown-function`, `unsupported`, `strict`,
    /// `conflict` (the WIT `fallback-reason` cases); only reasons seen.
    pub interpreter_evaluations: BTreeMap<String, u64>,
    /// RVM programs compiled (one per rule, revision and instance).
    pub rvm_programs_compiled: u64,
    /// The rules of the current revision that fall back to the interpreter,
    /// as (rule, reason, compiler message), sorted, each listed once however
    /// many instances reported it. A rule appears once an instance has
    /// evaluated it.
    pub rvm_fallbacks: Vec<(String, String, String)>,
    /// The status of each bundle (activations, polls, errors), by name.
    pub bundles: Vec<crate::bundles::BundleStatus>,
    /// The runtime's decision-log status, when it logs decisions.
    pub decision_log: Option<crate::DecisionLogStatus>,
}

/// The per-shard recorder; lives under the shard's lock.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub hits: u64,
    pub misses: u64,
    pub recycles: u64,
    pub timeouts: u64,
    pub memory_limits: u64,
    /// Nanoseconds, 3 significant digits, 1 ns to 1 hour.
    latency: Option<Histogram<u64>>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            hits: 0,
            misses: 0,
            recycles: 0,
            timeouts: 0,
            memory_limits: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).ok(),
        }
    }

    pub fn decision(&mut self, cached: bool, took: Duration) {
        if cached {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        if let Some(h) = &mut self.latency {
            let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
            h.saturating_record(ns);
        }
    }

    pub fn reset(&mut self) {
        *self = Recorder::new();
    }
}

/// Merges shard recorders and guest cache counters into one snapshot.
pub(crate) fn merge<'a>(
    shards: impl IntoIterator<Item = (&'a Recorder, crate::bindings::WitCacheStats)>,
) -> Metrics {
    let mut m = Metrics::default();
    let mut all: Option<Histogram<u64>> = None;
    for (r, s) in shards {
        m.hits += r.hits;
        m.misses += r.misses;
        m.recycles += r.recycles;
        m.timeouts += r.timeouts;
        m.memory_limits += r.memory_limits;
        m.evictions += s.evictions;
        m.expirations += s.expirations;
        m.entries += s.entries;
        if let Some(h) = &r.latency {
            match &mut all {
                Some(a) => {
                    let _ = a.add(h);
                }
                None => all = Some(h.clone()),
            }
        }
    }
    m.total_requests = m.hits + m.misses;
    if m.total_requests > 0 {
        let total = m.total_requests as f64;
        m.hit_rate = round2(100.0 * m.hits as f64 / total);
        m.miss_rate = round2(100.0 * m.misses as f64 / total);
    }
    if let Some(h) = all.filter(|h| !h.is_empty()) {
        let ms = |ns: f64| ns / 1e6;
        m.avg_latency_ms = ms(h.mean());
        m.p50_ms = ms(h.value_at_quantile(0.50) as f64);
        m.p95_ms = ms(h.value_at_quantile(0.95) as f64);
        m.p99_ms = ms(h.value_at_quantile(0.99) as f64);
    }
    m
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Metrics {
    /// Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = write!(
                out,
                "# HELP sark_policy_{name} {help}\n# TYPE sark_policy_{name} {kind}\nsark_policy_{name} {value}\n"
            );
        };
        metric(
            "cache_hits_total",
            "counter",
            "Decisions served from the cache.",
            self.hits.to_string(),
        );
        metric(
            "cache_misses_total",
            "counter",
            "Decisions evaluated.",
            self.misses.to_string(),
        );
        metric(
            "requests_total",
            "counter",
            "Decisions requested.",
            self.total_requests.to_string(),
        );
        metric(
            "cache_evictions_total",
            "counter",
            "Live cache entries evicted.",
            self.evictions.to_string(),
        );
        metric(
            "cache_expirations_total",
            "counter",
            "Expired cache entries dropped.",
            self.expirations.to_string(),
        );
        metric(
            "cache_entries",
            "gauge",
            "Entries cached now.",
            self.entries.to_string(),
        );
        metric(
            "cache_hit_ratio",
            "gauge",
            "Hits over requests (0 to 1).",
            (self.hit_rate / 100.0).to_string(),
        );
        metric(
            "instance_recycles_total",
            "counter",
            "Instances replaced after a trap.",
            self.recycles.to_string(),
        );
        metric(
            "timeouts_total",
            "counter",
            "Calls that ran past the deadline.",
            self.timeouts.to_string(),
        );
        metric(
            "memory_limits_total",
            "counter",
            "Calls that hit the memory cap.",
            self.memory_limits.to_string(),
        );
        let _ = write!(
            out,
            "# HELP sark_policy_decision_latency_seconds Decision latency.\n\
             # TYPE sark_policy_decision_latency_seconds summary\n"
        );
        for (q, v) in [
            ("0.5", self.p50_ms),
            ("0.95", self.p95_ms),
            ("0.99", self.p99_ms),
        ] {
            let _ = writeln!(
                out,
                "sark_policy_decision_latency_seconds{{quantile=\"{q}\"}} {}",
                v / 1e3
            );
        }
        let _ = writeln!(
            out,
            "sark_policy_decision_latency_seconds_sum {}\nsark_policy_decision_latency_seconds_count {}",
            self.avg_latency_ms / 1e3 * self.total_requests as f64,
            self.total_requests
        );
        crate::paths::prometheus(self, &mut out);
        crate::bundles::prometheus(&self.bundles, &mut out);
        crate::decision_log::prometheus(self.decision_log.as_ref(), &mut out);
        out
    }
}
