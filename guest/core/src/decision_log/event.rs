//! One decision-log event in OPA's format.

use serde_json::{Map, Value as Json};

/// Which path served a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalPath {
    /// Served from the decision cache; nothing was evaluated.
    Cache,
    /// Evaluated on regorus's RVM.
    Rvm,
    /// Evaluated by regorus's interpreter.
    Interpreter,
}

impl EvalPath {
    /// The name events carry in `eval_path`.
    pub fn name(self) -> &'static str {
        match self {
            EvalPath::Cache => "cache",
            EvalPath::Rvm => "rvm",
            EvalPath::Interpreter => "interpreter",
        }
    }
}

/// What a decision-log event records (OPA's `EventV1`, plus whether the
/// decision came from the cache and which path evaluated it).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionEvent {
    /// A unique id (a UUID), returned with the decision.
    pub decision_id: String,
    /// The rule, as OPA writes `path`: `authz/allow`.
    pub path: String,
    /// The input document.
    pub input: Json,
    /// The result; `None` when the rule is undefined or failed.
    pub result: Option<Json>,
    /// Why the evaluation failed, written as OPA's `error` (`None` when it
    /// did not).
    pub error: Option<String>,
    /// When the decision was made: Unix time in nanoseconds.
    pub timestamp_ns: u128,
    /// Evaluation time in nanoseconds (`metrics.timer_rego_query_eval_ns`);
    /// zero for a cached decision.
    pub eval_ns: u64,
    /// Which path served the decision.
    pub eval_path: EvalPath,
}

impl DecisionEvent {
    /// The event as OPA's JSON, with the instance's `labels` (its id, the
    /// version and configured labels) and the active `bundles` (name to
    /// revision); `erased` and `masked` are added by [`mask`](super::mask).
    pub fn to_json(&self, labels: &[(String, String)], bundles: &[(String, String)]) -> Json {
        self.clone().into_json(labels, bundles)
    }

    /// [`to_json`](Self::to_json), moving the input and result into the
    /// event rather than copying them.
    pub fn into_json(self, labels: &[(String, String)], bundles: &[(String, String)]) -> Json {
        let mut e = Map::new();
        let labels: Map<String, Json> = labels
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        e.insert("labels".into(), Json::Object(labels));
        e.insert("decision_id".into(), Json::String(self.decision_id));
        let bundles: Map<String, Json> = bundles
            .iter()
            .map(|(name, rev)| (name.clone(), serde_json::json!({ "revision": rev })))
            .collect();
        if !bundles.is_empty() {
            e.insert("bundles".into(), Json::Object(bundles));
        }
        e.insert("path".into(), Json::String(self.path));
        e.insert("input".into(), self.input);
        if let Some(result) = self.result {
            e.insert("result".into(), result);
        }
        if let Some(error) = self.error {
            e.insert("error".into(), serde_json::json!({ "message": error }));
        }
        e.insert(
            "timestamp".into(),
            Json::String(rfc3339_nanos(self.timestamp_ns)),
        );
        e.insert(
            "metrics".into(),
            serde_json::json!({ "timer_rego_query_eval_ns": self.eval_ns }),
        );
        e.insert(
            "cached".into(),
            Json::Bool(self.eval_path == EvalPath::Cache),
        );
        e.insert(
            "eval_path".into(),
            Json::String(self.eval_path.name().into()),
        );
        Json::Object(e)
    }
}

/// Unix time in nanoseconds as RFC 3339 in UTC with nine fractional
/// digits, as OPA writes `timestamp` (`2026-11-29T23:27:18.123456789Z`).
pub fn rfc3339_nanos(unix_ns: u128) -> String {
    let secs = i64::try_from(unix_ns / 1_000_000_000).unwrap_or(i64::MAX);
    let nanos = u32::try_from(unix_ns % 1_000_000_000).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|| "9999-12-31T23:59:59.999999999Z".into())
}
