//! The worker's decision log: an event per decision, recorded beside the
//! engine that masks it (`system.log.mask`), and the batches the root
//! context uploads.

use super::{Authz, Outcome};
use crate::input::RequestParts;
use crate::log_config::DecisionLogConfig;
use sark_policy_core::authorizer::event_path;
use sark_policy_core::decision_log::{
    Batch, DecisionIds, DecisionLog, Encoding, EvalPath, EventText, LogStats,
};

/// The log configured by `config`, with the VM's instance id; both drawn
/// from `seed`.
pub(super) fn open(
    config: &DecisionLogConfig,
    seed: [u64; 2],
) -> Result<(DecisionLog, String), String> {
    // Another stream than the decision ids', so no decision id repeats it.
    let instance = DecisionIds::new([seed[0] ^ 0x5EED_1D5E_ED1D_5EED, !seed[1]]).next_id();
    let log = DecisionLog::new(config.core(&instance, seed))
        .map_err(|e| format!("decision_log.erase: {e}"))?;
    Ok((log, instance))
}

impl Authz {
    /// Records `outcome` in the decision log, masked, and returns its
    /// decision id; `None` without a log or for a cached decision not
    /// sampled. A cached decision's input is built here, so `parts` must
    /// hold the connection properties then.
    pub fn record(
        &mut self,
        parts: &RequestParts,
        outcome: &mut Outcome,
        timestamp_ns: u128,
    ) -> Option<String> {
        let entry = outcome.log.take()?;
        let (log, _) = self.log.as_mut()?;
        let input = match entry.input {
            Some(input) => Some(input),
            None => self.input.build(parts, &self.engine.limits()).ok(),
        };
        // The input as JSON text, written from the engine's own value:
        // the core writes an event that needs no masking as text.
        let input = input
            .and_then(|v| serde_json::to_string(&v).ok())
            .unwrap_or_else(|| "null".into());
        let error = outcome.decision.as_ref().err().map(ToString::to_string);
        let result = match &outcome.decision {
            Ok(_) => entry.result.as_deref(),
            Err(_) => None,
        };
        let decision_id = log.next_id();
        let path = event_path(&self.rule);
        let event = EventText {
            decision_id: &decision_id,
            path: &path,
            input: &input,
            result,
            error: error.as_deref(),
            timestamp_ns: u64::try_from(timestamp_ns).unwrap_or(u64::MAX),
            eval_ns: entry.eval_ns,
            eval_path: if outcome.cached {
                EvalPath::Cache
            } else if entry.rvm {
                EvalPath::Rvm
            } else {
                EvalPath::Interpreter
            },
        };
        log.record_text(&mut self.engine, &event);
        Some(decision_id)
    }

    /// The header carrying a logged decision's id, if any.
    pub fn decision_id_header(&self) -> Option<&str> {
        self.config
            .decision_log
            .as_ref()
            .and_then(DecisionLogConfig::decision_id_header)
    }

    /// The VM's instance id (the `id` label), when a log is configured.
    pub fn log_instance_id(&self) -> Option<&str> {
        self.log.as_ref().map(|(_, id)| id.as_str())
    }

    /// The oldest events, up to `max_json_bytes` of JSON (at least one),
    /// as OPA uploads them: a gzipped JSON array.
    pub fn take_log_batch(&mut self, max_json_bytes: usize) -> Option<Batch> {
        let (log, _) = self.log.as_mut()?;
        log.take_batch(max_json_bytes, Encoding::Gzip)
    }

    /// The log's counters and buffer size, when a log is configured.
    pub fn log_stats(&self) -> Option<LogStats> {
        self.log.as_ref().map(|(log, _)| log.stats())
    }
}

#[cfg(test)]
#[path = "authz_log_tests.rs"]
mod tests;
