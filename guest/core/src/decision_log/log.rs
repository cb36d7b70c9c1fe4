//! A decision log: configuration, ids, masking and the buffer of one
//! instance, behind one type every target holds beside its engine.

use super::{Batch, DecisionEvent, DecisionIds, Encoding, LogBuffer, LogStats, MASK_RULE, mask};
use crate::{Engine, Error, Result};

/// How a log records and buffers events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Labels on every event, e.g. `id` (an instance id) and `version`.
    pub labels: Vec<(String, String)>,
    /// JSON pointers under `/input` or `/result` erased from every event,
    /// before the policies' `system.log.mask` rule.
    pub erase: Vec<String>,
    /// Most bytes of JSON events held; past it the oldest are dropped.
    pub max_buffer_bytes: usize,
    /// Most bytes of JSON one event may take; a larger one loses its input,
    /// then its result.
    pub max_event_bytes: usize,
    /// Log one cached decision in this many: 1 logs every one, 0 none.
    pub cached_sample: u32,
    /// Seeds decision ids; hosts pass random bits once per instance.
    pub id_seed: [u64; 2],
}

impl Default for LogConfig {
    /// OPA's defaults where it has them: no buffer size limit in OPA, so a
    /// 16 MiB buffer here; events up to 1 MiB; every cached decision.
    fn default() -> Self {
        LogConfig {
            labels: Vec::new(),
            erase: Vec::new(),
            max_buffer_bytes: 16 << 20,
            max_event_bytes: 1 << 20,
            cached_sample: 1,
            id_seed: [0, 0],
        }
    }
}

/// An instance's decision log.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    config: LogConfig,
    ids: DecisionIds,
    buffer: LogBuffer,
    /// Cached decisions seen, for sampling.
    cached_seen: u64,
    /// Whether the engine held a mask rule, at which revision.
    mask_rule: Option<(u64, bool)>,
}

impl DecisionLog {
    /// A log configured by `config`. An erase path that is not a JSON
    /// pointer under `/input` or `/result` is `Other`.
    pub fn new(config: LogConfig) -> Result<Self> {
        for path in &config.erase {
            super::mask::check_pointer(path).map_err(Error::Other)?;
        }
        Ok(DecisionLog {
            ids: DecisionIds::new(config.id_seed),
            buffer: LogBuffer::new(config.max_buffer_bytes, config.max_event_bytes),
            config,
            cached_seen: 0,
            mask_rule: None,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// A new decision id.
    pub fn next_id(&mut self) -> String {
        self.ids.next_id()
    }

    /// Whether this cached decision is logged (one in `cached_sample`).
    pub fn samples_cached(&mut self) -> bool {
        let n = u64::from(self.config.cached_sample);
        if n == 0 {
            return false;
        }
        let logged = self.cached_seen % n == 0;
        self.cached_seen = self.cached_seen.wrapping_add(1);
        logged
    }

    /// Masks `event` with the engine's `system.log.mask` rule and the erase
    /// list and buffers it; an event whose masking fails is dropped and
    /// counted, never buffered unmasked.
    pub fn record(&mut self, engine: &mut Engine, event: &DecisionEvent) {
        let json = event.to_json(&self.config.labels, &engine.bundle_revisions());
        let revision = engine.revision();
        let ruled = match self.mask_rule {
            Some((rev, ruled)) if rev == revision => ruled,
            _ => {
                let ruled = engine.holds_rule(MASK_RULE);
                self.mask_rule = Some((revision, ruled));
                ruled
            }
        };
        let masked = if ruled || !self.config.erase.is_empty() {
            mask(ruled.then_some(engine), json, &self.config.erase).map(|m| m.event)
        } else {
            Ok(json)
        };
        match masked {
            Ok(json) => self.buffer.push(json),
            Err(_) => self.buffer.mask_error(),
        }
    }

    /// The oldest events, up to `max_json_bytes` of JSON (at least one),
    /// written as `encoding`; `None` when none are buffered.
    pub fn take_batch(&mut self, max_json_bytes: usize, encoding: Encoding) -> Option<Batch> {
        self.buffer.take_batch(max_json_bytes, encoding)
    }

    /// The counters and the buffer's present size.
    pub fn stats(&self) -> LogStats {
        self.buffer.stats()
    }
}
