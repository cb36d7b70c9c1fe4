//! A decision log: configuration, ids, masking and the buffer of one
//! instance, behind one type every target holds beside its engine.

use super::{
    Batch, DecisionEvent, DecisionIds, Encoding, EvalPath, LogBuffer, LogStats, MASK_RULE, mask,
    rfc3339_nanos,
};
use crate::{Engine, Error, Result};
use serde_json::Value as Json;

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
    /// `labels` as JSON, written once.
    labels_json: String,
    /// `"bundles":{...},` for the active bundles, at which revision (empty
    /// when none is active).
    bundles_json: Option<(u64, String)>,
}

/// A decision's event as the decide path has it: JSON texts rather than
/// trees, so an event that needs no masking is written straight into the
/// buffer ([`DecisionLog::record_text`]).
#[derive(Debug, Clone, Copy)]
pub struct EventText<'a> {
    /// A unique id (a UUID), returned with the decision.
    pub decision_id: &'a str,
    /// The rule, as OPA writes `path`: `authz/allow`.
    pub path: &'a str,
    /// The input document: compact JSON on one line.
    pub input: &'a str,
    /// The result as compact JSON; `None` when undefined or failed.
    pub result: Option<&'a str>,
    /// Why the evaluation failed.
    pub error: Option<&'a str>,
    /// When the decision was made: Unix time in nanoseconds.
    pub timestamp_ns: u64,
    /// Evaluation time in nanoseconds; zero for a cached decision.
    pub eval_ns: u64,
    /// Which path served the decision.
    pub eval_path: EvalPath,
}

impl DecisionLog {
    /// A log configured by `config`. An erase path that is not a JSON
    /// pointer under `/input` or `/result` is `Other`.
    pub fn new(config: LogConfig) -> Result<Self> {
        for path in &config.erase {
            super::mask::check_pointer(path).map_err(Error::Other)?;
        }
        let labels: serde_json::Map<String, Json> = config
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        Ok(DecisionLog {
            labels_json: Json::Object(labels).to_string(),
            bundles_json: None,
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
        let logged = self.cached_seen.is_multiple_of(n);
        self.cached_seen = self.cached_seen.wrapping_add(1);
        logged
    }

    /// Masks `event` with the engine's `system.log.mask` rule and the erase
    /// list and buffers it; an event whose masking fails is dropped and
    /// counted, never buffered unmasked.
    pub fn record(&mut self, engine: &mut Engine, event: DecisionEvent) {
        let json = event.into_json(&self.config.labels, &engine.bundle_revisions());
        let ruled = self.mask_rule_held(engine);
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

    /// [`record`](Self::record) for an event given as JSON texts. With no
    /// mask rule and no erase list (the common case) the event is written
    /// as text, without building a JSON tree: this runs on every decision.
    pub fn record_text(&mut self, engine: &mut Engine, e: &EventText<'_>) {
        if self.config.erase.is_empty() && !self.mask_rule_held(engine) {
            let text = self.write_event(engine, e);
            if self.buffer.fits(text.len()) {
                self.buffer.push_text(text);
                return;
            }
        }
        let parse = |text: &str| {
            serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned()))
        };
        let event = DecisionEvent {
            decision_id: e.decision_id.to_owned(),
            path: e.path.to_owned(),
            input: parse(e.input),
            result: e.result.map(parse),
            error: e.error.map(str::to_owned),
            timestamp_ns: u128::from(e.timestamp_ns),
            eval_ns: e.eval_ns,
            eval_path: e.eval_path,
        };
        self.record(engine, event);
    }

    /// The event as one line of JSON, the same fields as
    /// [`DecisionEvent::to_json`] writes.
    fn write_event(&mut self, engine: &Engine, e: &EventText<'_>) -> String {
        let revision = engine.revision();
        if self
            .bundles_json
            .as_ref()
            .is_none_or(|(r, _)| *r != revision)
        {
            let bundles = engine.bundle_revisions();
            let text = if bundles.is_empty() {
                String::new()
            } else {
                let map: serde_json::Map<String, Json> = bundles
                    .into_iter()
                    .map(|(name, rev)| (name, serde_json::json!({ "revision": rev })))
                    .collect();
                format!("\"bundles\":{},", Json::Object(map))
            };
            self.bundles_json = Some((revision, text));
        }
        let bundles = self.bundles_json.as_ref().map_or("", |(_, t)| t.as_str());
        let mut out = Vec::with_capacity(
            160 + self.labels_json.len()
                + bundles.len()
                + e.input.len()
                + e.result.map_or(0, str::len),
        );
        out.extend_from_slice(b"{\"labels\":");
        out.extend_from_slice(self.labels_json.as_bytes());
        out.extend_from_slice(b",\"decision_id\":");
        json_string(&mut out, e.decision_id);
        out.push(b',');
        out.extend_from_slice(bundles.as_bytes());
        out.extend_from_slice(b"\"path\":");
        json_string(&mut out, e.path);
        out.extend_from_slice(b",\"input\":");
        out.extend_from_slice(e.input.as_bytes());
        if let Some(result) = e.result {
            out.extend_from_slice(b",\"result\":");
            out.extend_from_slice(result.as_bytes());
        }
        if let Some(error) = e.error {
            out.extend_from_slice(b",\"error\":{\"message\":");
            json_string(&mut out, error);
            out.push(b'}');
        }
        out.extend_from_slice(b",\"timestamp\":\"");
        out.extend_from_slice(rfc3339_nanos(u128::from(e.timestamp_ns)).as_bytes());
        out.extend_from_slice(b"\",\"metrics\":{\"timer_rego_query_eval_ns\":");
        out.extend_from_slice(e.eval_ns.to_string().as_bytes());
        out.extend_from_slice(b"},\"cached\":");
        out.extend_from_slice(if e.eval_path == EvalPath::Cache {
            b"true"
        } else {
            b"false"
        });
        out.extend_from_slice(b",\"eval_path\":\"");
        out.extend_from_slice(e.eval_path.name().as_bytes());
        out.extend_from_slice(b"\"}");
        // Every piece is UTF-8 text.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Whether the engine holds a `system.log.mask` rule, checked once per
    /// revision.
    fn mask_rule_held(&mut self, engine: &Engine) -> bool {
        let revision = engine.revision();
        match self.mask_rule {
            Some((rev, ruled)) if rev == revision => ruled,
            _ => {
                let ruled = engine.holds_rule(MASK_RULE);
                self.mask_rule = Some((revision, ruled));
                ruled
            }
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

/// `s` as a JSON string.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, s);
}
