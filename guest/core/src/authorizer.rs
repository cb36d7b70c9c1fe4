//! The one-call decision path: key, lookup, evaluate on a miss, store.

use crate::decision_log::{DecisionLog, EvalPath, EventText};
use crate::{DecisionCache, Engine, Limits, Result, engine::to_json, keys};
use regorus::Value;
use std::collections::BTreeMap;

/// One authorization question. `context` is a JSON object (empty text: `{}`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who asks.
    pub user: &'a str,
    /// What they want to do.
    pub action: &'a str,
    /// What they act on.
    pub resource: &'a str,
    /// Extra facts as JSON text.
    pub context: &'a str,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The rule's value as JSON, `None` when undefined.
    pub value: Option<String>,
    /// True when served from the cache.
    pub cached: bool,
    /// The key the decision is cached under: the seed format with the
    /// context's full SHA-256, scoped by rule, revision and field lengths.
    pub key: String,
}

/// What an undefined decision is stored as: not JSON, so no value collides.
const UNDEFINED: &str = "";

fn parse_context(limits: &Limits, context: &str) -> Result<Value> {
    let trimmed = context.trim();
    if trimmed.is_empty() || trimmed == "{}" {
        return Ok(Value::new_object());
    }
    limits.parse("context", context)
}

/// The seed-format key of `req`, parsing the context under `limits`.
pub fn cache_key(limits: &Limits, req: &Request<'_>) -> Result<String> {
    let ctx = parse_context(limits, req.context)?;
    Ok(keys::decision_key(
        req.user,
        req.action,
        req.resource,
        &keys::context_hash(&ctx)?,
    ))
}

/// Returns the cached decision for `req` under `rule` if live at `now_ms`;
/// otherwise evaluates `rule` with input `{user, action, resource, context}`
/// and caches the result until `expires_at_ms` (not at all when that is not
/// after `now_ms`). Errors are returned, never cached.
pub fn decide(
    engine: &mut Engine,
    cache: &mut DecisionCache,
    rule: &str,
    req: &Request<'_>,
    now_ms: u64,
    expires_at_ms: u64,
) -> Result<Decision> {
    let (ctx, key) = keyed(engine, rule, req)?;
    if let Some(value) = lookup(cache, &key, now_ms) {
        return Ok(Decision {
            value,
            cached: true,
            key,
        });
    }
    let input = input_of(req, ctx);
    let value = evaluate_and_store(engine, cache, rule, &key, input, now_ms, expires_at_ms)?;
    Ok(Decision {
        value,
        cached: false,
        key,
    })
}

/// A decision and the id of its decision-log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDecision {
    /// The decision, as [`decide`] returns it.
    pub decision: Decision,
    /// The event's `decision_id` (a UUID; the seed's `audit_id`), returned
    /// even for a cached decision the log does not sample.
    pub decision_id: String,
}

/// [`decide`], recording a decision-log event in `log`: every evaluated
/// decision (a failed one with its `error`), and cached ones as the log
/// samples them. `timestamp_ns` is the event's time (Unix nanoseconds).
/// A context that is not JSON fails before any event.
#[allow(clippy::too_many_arguments)]
pub fn decide_logged(
    engine: &mut Engine,
    cache: &mut DecisionCache,
    log: &mut DecisionLog,
    rule: &str,
    req: &Request<'_>,
    now_ms: u64,
    expires_at_ms: u64,
    timestamp_ns: u64,
) -> Result<LoggedDecision> {
    let (ctx, key) = keyed(engine, rule, req)?;
    let decision_id = log.next_id();
    let path = event_path(rule);
    let mut event = EventText {
        decision_id: &decision_id,
        path: &path,
        input: "",
        result: None,
        error: None,
        timestamp_ns,
        eval_ns: 0,
        eval_path: EvalPath::Cache,
    };
    if let Some(value) = lookup(cache, &key, now_ms) {
        if log.samples_cached() {
            let input = input_text(req, &ctx);
            event.input = &input;
            event.result = value.as_deref();
            log.record_text(engine, &event);
        }
        return Ok(LoggedDecision {
            decision: Decision {
                value,
                cached: true,
                key,
            },
            decision_id,
        });
    }
    let input = input_text(req, &ctx);
    let rvm_before = engine.rvm_evaluations();
    let started = std::time::Instant::now();
    let outcome = evaluate_and_store(
        engine,
        cache,
        rule,
        &key,
        input_of(req, ctx),
        now_ms,
        expires_at_ms,
    );
    event.eval_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    event.eval_path = if engine.rvm_evaluations() == rvm_before {
        EvalPath::Interpreter
    } else {
        EvalPath::Rvm
    };
    event.input = &input;
    let error = outcome.as_ref().err().map(ToString::to_string);
    match &outcome {
        Ok(value) => event.result = value.as_deref(),
        Err(_) => event.error = error.as_deref(),
    }
    log.record_text(engine, &event);
    let value = outcome?;
    Ok(LoggedDecision {
        decision: Decision {
            value,
            cached: false,
            key,
        },
        decision_id,
    })
}

/// The input document of a decision as one line of compact JSON: the
/// request's context text as given when it is on one line (it parsed as
/// JSON), else the parsed context written again.
fn input_text(req: &Request<'_>, ctx: &Value) -> String {
    let raw = req.context.trim();
    let context: std::borrow::Cow<'_, str> = if raw.is_empty() {
        "{}".into()
    } else if raw.contains(['\n', '\r']) {
        serde_json::to_string(ctx)
            .unwrap_or_else(|_| "{}".into())
            .into()
    } else {
        raw.into()
    };
    let mut out = Vec::with_capacity(
        48 + req.user.len() + req.action.len() + req.resource.len() + context.len(),
    );
    out.extend_from_slice(b"{\"user\":");
    json_string(&mut out, req.user);
    out.extend_from_slice(b",\"action\":");
    json_string(&mut out, req.action);
    out.extend_from_slice(b",\"resource\":");
    json_string(&mut out, req.resource);
    out.extend_from_slice(b",\"context\":");
    out.extend_from_slice(context.as_bytes());
    out.push(b'}');
    // Every piece is UTF-8 text.
    String::from_utf8(out).unwrap_or_default()
}

/// `s` as a JSON string.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(out, s);
}

/// The parsed context and the scoped cache key of `req` under `rule`.
fn keyed(engine: &Engine, rule: &str, req: &Request<'_>) -> Result<(Value, String)> {
    let ctx = parse_context(&engine.limits(), req.context)?;
    // The full digest, not the seed's 16 digits: two contexts whose short
    // hashes collide must never share a decision.
    let seed = keys::decision_key(
        req.user,
        req.action,
        req.resource,
        &keys::context_digest(&ctx)?,
    );
    let key = keys::scope(
        seed,
        [req.user, req.action, req.resource, rule],
        engine.revision(),
    );
    Ok((ctx, key))
}

/// The live cached value under `key`: `Some(None)` for a cached undefined.
fn lookup(cache: &mut DecisionCache, key: &str, now_ms: u64) -> Option<Option<String>> {
    cache
        .get(key, now_ms)
        .map(|hit| (hit != UNDEFINED).then(|| hit.to_owned()))
}

/// The input document of a decision.
fn input_of(req: &Request<'_>, ctx: Value) -> Value {
    Value::from(BTreeMap::from([
        (Value::from("user"), Value::from(req.user)),
        (Value::from("action"), Value::from(req.action)),
        (Value::from("resource"), Value::from(req.resource)),
        (Value::from("context"), ctx),
    ]))
}

/// Evaluates `rule` and caches its value under `key` until
/// `expires_at_ms` (not when that is not after `now_ms`).
fn evaluate_and_store(
    engine: &mut Engine,
    cache: &mut DecisionCache,
    rule: &str,
    key: &str,
    input: Value,
    now_ms: u64,
    expires_at_ms: u64,
) -> Result<Option<String>> {
    let value = match engine.eval_rule_value(rule, input)? {
        Some(v) => Some(to_json(&v)?),
        None => None,
    };
    if expires_at_ms > now_ms {
        cache.insert(
            key,
            value.as_deref().unwrap_or(UNDEFINED),
            now_ms,
            expires_at_ms,
        );
    }
    Ok(value)
}

/// The rule as OPA writes an event's `path`: `authz/allow`.
pub fn event_path(rule: &str) -> String {
    let dotted = rule.trim_start_matches('/');
    let dotted = dotted.strip_prefix("data.").unwrap_or(dotted);
    dotted.replace('.', "/")
}

#[cfg(test)]
#[path = "authorizer_tests.rs"]
mod tests;
