//! The per-worker authorizer: the engine loaded from the configuration, the
//! decision cache, and the one call that decides a request. No host calls
//! here, so it is tested natively.

use crate::config::{Config, FailureMode};
use crate::input::{self, RequestParts};
use crate::response::Decision;
use sark_policy_core::{DecisionCache, Engine, Error, keys};
use serde_json::{Map, Value};

/// The decision for one request and where it came from.
#[derive(Debug)]
pub struct Outcome {
    /// The decision, or why the policy could not give one.
    pub decision: Result<Decision, String>,
    /// Served from the cache.
    pub cached: bool,
}

/// Engine, cache and configuration of one worker.
pub struct Authz {
    engine: Engine,
    cache: Option<DecisionCache>,
    config: Config,
    rule: String,
}

impl Authz {
    /// Loads policies and data; the error says which part is wrong.
    pub fn new(config: Config) -> Result<Self, String> {
        let mut engine = Engine::new();
        for (name, source) in config.policies() {
            engine
                .add_policy(name, source)
                .map_err(|e| format!("policy {name:?}: {e}"))?;
        }
        if let Some(data) = &config.data {
            let json = serde_json::to_string(data).map_err(|e| format!("data: {e}"))?;
            engine.add_data(&json).map_err(|e| format!("data: {e}"))?;
        }
        let rule = config.rule.clone();
        // A rule no loaded package holds is a configuration mistake; any
        // other error depends on the input and is left to request time.
        if let Err(e @ Error::NotFound(_)) = engine.eval_rule(&rule, "{}") {
            return Err(format!("rule {rule:?}: {e}"));
        }
        let cache = match config.cache.capacity {
            0 => None,
            n => Some(DecisionCache::new(n).map_err(|e| format!("cache: {e}"))?),
        };
        Ok(Self {
            engine,
            cache,
            config,
            rule,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether a policy error lets the request through.
    pub fn fails_open(&self) -> bool {
        self.config.failure_mode == FailureMode::Open
    }

    /// Decides a request at `now_ms`: a live cached decision, else the
    /// policy's, which is then cached. Errors are never cached.
    pub fn decide(&mut self, parts: &RequestParts, now_ms: u64) -> Outcome {
        match self.lookup(parts, now_ms) {
            Ok(outcome) => outcome,
            Err(key) => self.evaluate_and_store(parts, key, now_ms),
        }
    }

    /// The live cached decision for a request, else the key to store the
    /// evaluated one under (`None` when the cache is off). Needs only what
    /// the cache key is made of, so the host reads the rest on a miss only.
    pub fn lookup(&mut self, parts: &RequestParts, now_ms: u64) -> Result<Outcome, Option<String>> {
        let key = self.cache.is_some().then(|| self.cache_key(parts));
        if let (Some(cache), Some(key)) = (self.cache.as_mut(), key.as_deref())
            && let Some(json) = cache.get(key, now_ms)
        {
            return Ok(Outcome {
                decision: Decision::from_json(json),
                cached: true,
            });
        }
        Err(key)
    }

    /// Evaluates the policy for a request and caches the decision under
    /// `key` when it is well formed.
    pub fn evaluate_and_store(
        &mut self,
        parts: &RequestParts,
        key: Option<String>,
        now_ms: u64,
    ) -> Outcome {
        let result = self.evaluate(parts);
        let decision = result.as_deref().map_err(Clone::clone).and_then(|json| {
            let decision = Decision::from_json(json)?;
            if let (Some(cache), Some(key)) = (self.cache.as_mut(), key.as_deref()) {
                let expires = now_ms.saturating_add(self.config.cache.ttl_ms);
                cache.insert(key, json, now_ms, expires);
            }
            Ok(decision)
        });
        Outcome {
            decision,
            cached: false,
        }
    }

    fn evaluate(&mut self, parts: &RequestParts) -> Result<String, String> {
        let input = input::build(parts);
        let text = serde_json::to_string(&input).map_err(|e| format!("input: {e}"))?;
        match self.engine.eval_rule(&self.rule, &text) {
            Ok(Some(json)) => Ok(json),
            // opa-envoy-plugin treats an undefined decision as an error.
            Ok(None) => Err(format!("undefined decision: {}", self.rule)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The seed-format key over the configured request parts, scoped by
    /// the rule and the engine revision like the core authorizer's keys.
    fn cache_key(&self, parts: &RequestParts) -> String {
        let k = &self.config.cache_key;
        let action = if k.method {
            parts.method()
        } else {
            String::new()
        };
        let resource = if k.path { parts.path() } else { String::new() };
        let mut context = Map::new();
        if k.host {
            let host = parts.header(":authority").unwrap_or_default();
            context.insert(":authority".into(), Value::String(host));
        }
        if k.source_address {
            let ip = parts.source.as_deref().map(strip_port).unwrap_or_default();
            context.insert(":source".into(), Value::String(ip.to_owned()));
        }
        for name in &k.headers {
            let value = parts.header(name).map_or(Value::Null, Value::String);
            context.insert(name.clone(), value);
        }
        let hash = keys::short_hash(Value::Object(context).to_string().as_bytes());
        let seed = keys::decision_key("envoy", &action, &resource, &hash);
        keys::scoped_key(
            &seed,
            ["envoy", &action, &resource, &self.rule],
            self.engine.revision(),
        )
    }
}

fn strip_port(address: &str) -> &str {
    address.rsplit_once(':').map_or(address, |(ip, _)| ip)
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;
