//! The per-worker authorizer: the engine loaded from the configuration, the
//! decision cache, and the one call that decides a request. No host calls
//! here, so it is tested natively.

use crate::config::{Config, FailureMode};
use crate::input::{self, RequestParts};
use crate::memo::Memo;
use crate::response::Decision;
use regorus::Value;
use sark_policy_core::decision_log::DecisionLog;
use sark_policy_core::{
    Bundle, BundleInfo, BundleLimits, BundleSource, DecisionCache, Engine, Error,
    VerificationConfig, keys,
};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Bounds of the memos of parsed decisions and of context hashes: entries
/// and bytes of text (a context holds header values, which can be long).
const MEMO_ENTRIES: usize = 1024;
const MEMO_BYTES: usize = 1 << 20;

/// Why a request got no decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The policy failed: an evaluation error, an undefined or malformed
    /// decision. `failure_mode` applies.
    Policy(String),
    /// The body is not what its content type says: opa-envoy-plugin's
    /// `request_parse_error`, answered 400 whatever `failure_mode` says.
    Body(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Policy(e) => f.write_str(e),
            Failure::Body(e) => write!(f, "request_parse_error: {e}"),
        }
    }
}

/// The decision for one request and where it came from.
#[derive(Debug)]
pub struct Outcome {
    /// The decision, or why there is none.
    pub decision: Result<Rc<Decision>, Failure>,
    /// Served from the cache.
    pub cached: bool,
    /// What the decision log records of it, until [`Authz::record`] does;
    /// `None` without a log, or for a cached decision not sampled.
    pub log: Option<LogEntry>,
}

/// What an event needs beyond the outcome, kept from the decide path.
#[derive(Debug, Default)]
pub struct LogEntry {
    /// The decision's JSON text.
    result: Option<String>,
    /// The input evaluated (a cached decision's is built when recorded).
    input: Option<Value>,
    eval_ns: u64,
    /// Evaluated on the RVM (else the interpreter, or the cache).
    rvm: bool,
}

/// Engine, cache and configuration of one worker.
pub struct Authz {
    engine: Engine,
    /// Builds each request's input document.
    input: input::Builder,
    cache: Option<DecisionCache>,
    /// Decisions already read from their JSON text: a cache hit finds its
    /// decision here instead of parsing the cached text again (policies
    /// give few distinct decisions).
    parsed: Memo<Rc<Decision>>,
    /// The key's context hashes by context text: a client repeats its
    /// headers (a bearer token), and SHA-256 costs more than a lookup.
    hashes: Memo<Rc<str>>,
    config: Config,
    rule: String,
    /// The signature check of the configured bundle, if any.
    verification: Option<VerificationConfig>,
    /// Whether the policies are in: at once without a `bundle`, else from
    /// the first activation on.
    ready: bool,
    /// The decision log, when configured, and the VM's instance id.
    log: Option<(DecisionLog, String)>,
}

impl Authz {
    /// Loads policies and data; the error says which part is wrong. The
    /// decision log's ids come from a fixed seed (see [`Authz::with_seed`]).
    pub fn new(config: Config) -> Result<Self, String> {
        Self::with_seed(config, [0, 0])
    }

    /// As [`Authz::new`], with the decision log's instance and decision ids
    /// drawn from `seed` (random bits of the host).
    pub fn with_seed(config: Config, seed: [u64; 2]) -> Result<Self, String> {
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
        // With a bundle the rule may come with it.
        if config.bundle.is_none()
            && let Err(e @ Error::NotFound(_)) = engine.eval_rule(&rule, "{}")
        {
            return Err(format!("rule {rule:?}: {e}"));
        }
        let cache = match config.cache.capacity {
            0 => None,
            n => Some(DecisionCache::new(n).map_err(|e| format!("cache: {e}"))?),
        };
        let pack_as_bytes = config.with_request_body.is_some_and(|b| b.pack_as_bytes);
        let log = match &config.decision_log {
            None => None,
            Some(c) => Some(record::open(c, seed)?),
        };
        Ok(Self {
            engine,
            input: input::Builder::new(pack_as_bytes, config.skip_request_body_parse),
            cache,
            parsed: Memo::new(MEMO_ENTRIES, MEMO_BYTES),
            hashes: Memo::new(MEMO_ENTRIES, MEMO_BYTES),
            verification: config.bundle.as_ref().and_then(|b| b.verification()),
            ready: config.bundle.is_none(),
            config,
            rule,
            log,
        })
    }

    /// Whether requests can be decided: false while a configured bundle
    /// has never been activated.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Reads a bundle (a gzipped tarball), checks its signature when the
    /// configuration says so, and activates it under the configured name.
    /// All or nothing: on an error the previous policies keep serving.
    pub fn activate_bundle(&mut self, targz: &[u8]) -> Result<BundleInfo, String> {
        let name = match &self.config.bundle {
            Some(b) => b.name.as_str(),
            None => return Err("no bundle is configured".into()),
        };
        let bundle = Bundle::read(
            BundleSource::TarGz(targz),
            self.verification.as_ref(),
            self.engine.rego_version(),
            &BundleLimits::DEFAULT,
            &self.engine.limits(),
        )
        .map_err(|e| format!("bundle {name:?}: {e}"))?;
        let info = self
            .engine
            .activate_bundle(name, bundle)
            .map_err(|e| e.to_string())?;
        self.ready = true;
        // The new revision already keeps old decisions from being served;
        // dropping them frees their room at once.
        if let Some(cache) = self.cache.as_mut() {
            cache.clear();
        }
        Ok(info)
    }

    /// Whether the rule is defined by the policies in force (a bundle
    /// without it leaves every request to `failure_mode`).
    pub fn has_rule(&mut self) -> bool {
        !matches!(
            self.engine.eval_rule(&self.rule, "{}"),
            Err(Error::NotFound(_))
        )
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
    /// evaluated one under (`None` when the cache is off, or the request
    /// carries a body the key leaves out). Needs only what the cache key is
    /// made of, so the host reads the rest on a miss only.
    pub fn lookup(&mut self, parts: &RequestParts, now_ms: u64) -> Result<Outcome, Option<String>> {
        // A key without the body would serve one body's decision to
        // another: the policy may read it.
        let keyed = parts.body.is_none() || self.config.cache_key.body;
        let key = (self.cache.is_some() && keyed).then(|| self.cache_key(parts));
        if let (Some(cache), Some(key)) = (self.cache.as_mut(), key.as_deref())
            && let Some(json) = cache.get(key, now_ms)
        {
            let sampled = self
                .log
                .as_mut()
                .is_some_and(|(log, _)| log.samples_cached());
            let log = sampled.then(|| LogEntry {
                result: Some(json.to_owned()),
                ..LogEntry::default()
            });
            return Ok(Outcome {
                decision: parse(&mut self.parsed, json).map_err(Failure::Policy),
                cached: true,
                log,
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
        let mut log = self.log.is_some().then(LogEntry::default);
        let decision = self.evaluate_into(parts, log.as_mut()).and_then(|json| {
            let decision = parse(&mut self.parsed, &json).map_err(Failure::Policy)?;
            if let (Some(cache), Some(key)) = (self.cache.as_mut(), key.as_deref()) {
                let expires = now_ms.saturating_add(self.config.cache.ttl_ms);
                cache.insert(key, &json, now_ms, expires);
            }
            Ok(decision)
        });
        Outcome {
            decision,
            cached: false,
            log,
        }
    }

    /// The policy's decision for a request as JSON text, not cached.
    pub fn evaluate(&mut self, parts: &RequestParts) -> Result<String, Failure> {
        self.evaluate_into(parts, None)
    }

    /// As [`Authz::evaluate`], keeping what the decision log needs in `log`.
    fn evaluate_into(
        &mut self,
        parts: &RequestParts,
        mut log: Option<&mut LogEntry>,
    ) -> Result<String, Failure> {
        let input = self
            .input
            .build(parts, &self.engine.limits())
            .map_err(Failure::Body)?;
        let rvm_before = self.engine.rvm_evaluations();
        let started = log.as_mut().map(|entry| {
            // A value's clone shares its tree (regorus values are `Rc`s).
            entry.input = Some(input.clone());
            std::time::Instant::now()
        });
        let value = self.engine.eval_rule_value(&self.rule, input);
        if let (Some(entry), Some(started)) = (log.as_mut(), started) {
            entry.eval_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            entry.rvm = self.engine.rvm_evaluations() != rvm_before;
        }
        let json = match value {
            Ok(Some(value)) => serde_json::to_string(&value)
                .map_err(|e| Failure::Policy(format!("decision: {e}")))?,
            // opa-envoy-plugin treats an undefined decision as an error.
            Ok(None) => {
                return Err(Failure::Policy(format!(
                    "undefined decision: {}",
                    self.rule
                )));
            }
            Err(e) => return Err(Failure::Policy(e.to_string())),
        };
        if let Some(entry) = log {
            entry.result = Some(json.clone());
        }
        Ok(json)
    }

    /// The seed-format key over the configured request parts, scoped by
    /// the rule and the engine revision like the core authorizer's keys.
    /// The context is written as its canonical JSON text directly (what
    /// `serde_json::Map` would print: keys sorted, a later entry wins),
    /// since this runs on every request.
    fn cache_key(&mut self, parts: &RequestParts) -> String {
        let k = &self.config.cache_key;
        let action = if k.method {
            parts.method()
        } else {
            Cow::Borrowed("")
        };
        let resource = if k.path {
            parts.path()
        } else {
            Cow::Borrowed("")
        };
        let mut context: BTreeMap<&str, Option<Cow<'_, str>>> = BTreeMap::new();
        if k.host {
            context.insert(
                ":authority",
                Some(parts.header(":authority").unwrap_or_default()),
            );
        }
        if k.source_address {
            let ip = parts.source.as_deref().map(strip_port).unwrap_or_default();
            context.insert(":source", Some(Cow::Borrowed(ip)));
        }
        for name in &k.headers {
            context.insert(name, parts.header(name));
        }
        // What of the request decides `parsed_body` and `truncated_body`:
        // the bytes read, whether they were cut, the type and the length.
        // `:body` is no header name (the pseudo-headers are a fixed set).
        if let (true, Some(body)) = (k.body, &parts.body) {
            let mut digest = keys::full_hash(&body.bytes);
            if body.truncated {
                digest.push_str("+truncated");
            }
            context.insert(":body", Some(Cow::Owned(digest)));
            for name in ["content-type", "content-length"] {
                context.insert(name, parts.header(name));
            }
        }
        let mut text = String::with_capacity(256);
        text.push('{');
        for (i, (name, value)) in context.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            push_json_string(&mut text, name);
            text.push(':');
            match value {
                Some(v) => push_json_string(&mut text, v),
                None => text.push_str("null"),
            }
        }
        text.push('}');
        let hash = self
            .hashes
            .get_or_insert_with(&text, || Rc::from(keys::full_hash(text.as_bytes())));
        let seed = keys::decision_key("envoy", &action, &resource, &hash);
        keys::scoped_key(
            &seed,
            ["envoy", &action, &resource, &self.rule],
            self.engine.revision(),
        )
    }
}

/// The decision of a policy result given as JSON text, parsed once per
/// distinct text.
fn parse(parsed: &mut Memo<Rc<Decision>>, json: &str) -> Result<Rc<Decision>, String> {
    parsed.get_or_try(json, || Decision::from_json(json).map(Rc::new))
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it (so the
/// context text, and the key, are what they were with `serde_json::Map`).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut rest = s;
    while let Some(at) = rest.find(|c: char| c < ' ' || c == '"' || c == '\\') {
        let (plain, tail) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => {
                    out.push_str("\\u00");
                    let b = c as u32;
                    for nibble in [b >> 4, b & 0xf] {
                        out.push(char::from_digit(nibble, 16).unwrap_or('0'));
                    }
                }
            }
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out.push('"');
}

fn strip_port(address: &str) -> &str {
    address.rsplit_once(':').map_or(address, |(ip, _)| ip)
}

#[path = "authz_log.rs"]
mod record;

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;
