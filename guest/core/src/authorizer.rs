//! The one-call decision path: key, lookup, evaluate on a miss, store.

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
    if let Some(hit) = cache.get(&key, now_ms) {
        let value = (hit != UNDEFINED).then(|| hit.to_owned());
        return Ok(Decision {
            value,
            cached: true,
            key,
        });
    }
    let input = Value::from(BTreeMap::from([
        (Value::from("user"), Value::from(req.user)),
        (Value::from("action"), Value::from(req.action)),
        (Value::from("resource"), Value::from(req.resource)),
        (Value::from("context"), ctx),
    ]));
    let value = match engine.eval_rule_value(rule, input)? {
        Some(v) => Some(to_json(&v)?),
        None => None,
    };
    if expires_at_ms > now_ms {
        cache.insert(
            &key,
            value.as_deref().unwrap_or(UNDEFINED),
            now_ms,
            expires_at_ms,
        );
    }
    Ok(Decision {
        value,
        cached: false,
        key,
    })
}

#[cfg(test)]
#[path = "authorizer_tests.rs"]
mod tests;
