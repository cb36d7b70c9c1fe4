//! Which path evaluated: the RVM or the interpreter (and why). Each
//! instance counts its own evaluations (`eval-stats`); the pool reads them on
//! [`Metrics`] and merges them here.

use crate::bindings::{WitEvalStats, WitFallbackReason};
use crate::metrics::Metrics;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The label of a fallback reason: the WIT case name, shared with the
/// Python host's metrics.
pub(crate) fn reason_name(reason: WitFallbackReason) -> &'static str {
    match reason {
        WitFallbackReason::Forced => "forced",
        WitFallbackReason::Query => "query",
        WitFallbackReason::WithKeyword => "with-keyword",
        WitFallbackReason::UnknownFunction => "unknown-function",
        WitFallbackReason::Unsupported => "unsupported",
        WitFallbackReason::Strict => "strict",
        WitFallbackReason::Conflict => "conflict",
    }
}

/// The counters of one instance's `eval-stats`. The guest cannot reset them,
/// so resetting the metrics keeps the reading at that moment as a baseline
/// (`Sandbox::paths_base`) and reports what came after it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathCounts {
    rvm: u64,
    interpreted: BTreeMap<&'static str, u64>,
    compiled: u64,
}

impl PathCounts {
    pub fn read(stats: &WitEvalStats) -> Self {
        PathCounts {
            rvm: stats.rvm,
            interpreted: stats
                .interpreted
                .iter()
                .map(|i| (reason_name(i.reason), i.count))
                .collect(),
            compiled: stats.compiled,
        }
    }

    /// These counters less `base` (an earlier reading of the same instance).
    pub fn since(&self, base: &PathCounts) -> PathCounts {
        let interpreted = self
            .interpreted
            .iter()
            .map(|(&r, &n)| {
                (
                    r,
                    n.saturating_sub(base.interpreted.get(r).copied().unwrap_or(0)),
                )
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        PathCounts {
            rvm: self.rvm.saturating_sub(base.rvm),
            interpreted,
            compiled: self.compiled.saturating_sub(base.compiled),
        }
    }
}

/// Adds the instances' path counters and fallback rules into `m`; the same
/// fallback reported by several instances is listed once.
pub(crate) fn merge<'a>(
    m: &mut Metrics,
    shards: impl IntoIterator<Item = (&'a PathCounts, &'a WitEvalStats)>,
) {
    let mut fallbacks = BTreeSet::new();
    for (counts, stats) in shards {
        m.rvm_evaluations += counts.rvm;
        m.rvm_programs_compiled += counts.compiled;
        for (&reason, &n) in &counts.interpreted {
            *m.interpreter_evaluations
                .entry(reason.to_owned())
                .or_default() += n;
        }
        for f in &stats.fallbacks {
            fallbacks.insert((
                f.rule.clone(),
                reason_name(f.reason).to_owned(),
                f.message.clone(),
            ));
        }
    }
    m.rvm_fallbacks = fallbacks.into_iter().collect();
}

/// The evaluation-path metrics in Prometheus text format.
pub(crate) fn prometheus(m: &Metrics, out: &mut String) {
    let _ = write!(
        out,
        "# HELP sark_policy_evaluations_total Rule evaluations by path (rvm, or interpreter with the reason).\n\
         # TYPE sark_policy_evaluations_total counter\n\
         sark_policy_evaluations_total{{path=\"rvm\"}} {}\n",
        m.rvm_evaluations
    );
    for (reason, n) in &m.interpreter_evaluations {
        let _ = writeln!(
            out,
            "sark_policy_evaluations_total{{path=\"interpreter\",reason=\"{reason}\"}} {n}"
        );
    }
    let _ = write!(
        out,
        "# HELP sark_policy_rvm_programs_compiled_total RVM programs compiled (one per rule, revision and instance).\n\
         # TYPE sark_policy_rvm_programs_compiled_total counter\n\
         sark_policy_rvm_programs_compiled_total {}\n\
         # HELP sark_policy_rvm_fallback_rules Rules of the current revision that fall back to the interpreter.\n\
         # TYPE sark_policy_rvm_fallback_rules gauge\n\
         sark_policy_rvm_fallback_rules {}\n",
        m.rvm_programs_compiled,
        m.rvm_fallbacks.len()
    );
}
