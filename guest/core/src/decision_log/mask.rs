//! Masking an event before it leaves the instance, as OPA does: the loaded
//! policies' `system.log.mask` rule, evaluated with the event as input,
//! names JSON pointers to erase (strings) or operations
//! (`{"op": "upsert" | "remove", "path", "value"}`); a static erase list
//! from the configuration applies too. A rule that fails or answers
//! something else is an error: the caller drops the event rather than
//! ship it unmasked.

use crate::{Engine, Error};
use serde_json::Value as Json;

/// The rule OPA evaluates to mask decision-log events.
pub const MASK_RULE: &str = "data.system.log.mask";

/// An event after masking.
#[derive(Debug, Clone, PartialEq)]
pub struct Masked {
    /// The event, with `erased` and `masked` listing what changed.
    pub event: Json,
    /// Whether the mask rule was evaluated (the policies define one).
    pub ruled: bool,
}

enum Op {
    Remove(String),
    Upsert(String, Json),
}

/// Masks `event` (OPA's event JSON) with the engine's `system.log.mask`
/// rule, if it has one, and with `erase`; `engine` `None` applies only
/// `erase` (the caller knows there is no rule). `Err` says why the event
/// must be dropped.
pub fn mask(
    engine: Option<&mut Engine>,
    mut event: Json,
    erase: &[String],
) -> Result<Masked, String> {
    let mut ops: Vec<Op> = erase.iter().map(|p| Op::Remove(p.clone())).collect();
    let ruled = match engine {
        None => false,
        Some(engine) => {
            let input: regorus::Value =
                serde_json::from_value(event.clone()).map_err(|e| format!("mask input: {e}"))?;
            match engine.eval_rule_value(MASK_RULE, input) {
                Ok(Some(value)) => {
                    let value =
                        serde_json::to_value(&value).map_err(|e| format!("mask result: {e}"))?;
                    ops.extend(parse_ops(value)?);
                    true
                }
                Ok(None) => true,
                Err(Error::NotFound(_)) => false,
                Err(e) => return Err(format!("{MASK_RULE}: {e}")),
            }
        }
    };
    let (mut erased, mut masked) = (Vec::new(), Vec::new());
    for op in ops {
        match op {
            Op::Remove(path) => {
                if remove(&mut event, &path)? {
                    erased.push(Json::String(path));
                }
            }
            Op::Upsert(path, value) => {
                upsert(&mut event, &path, value)?;
                masked.push(Json::String(path));
            }
        }
    }
    if let Json::Object(e) = &mut event {
        if !erased.is_empty() {
            e.insert("erased".into(), Json::Array(erased));
        }
        if !masked.is_empty() {
            e.insert("masked".into(), Json::Array(masked));
        }
    }
    Ok(Masked { event, ruled })
}

/// The rule's value: a set (an array in JSON) of pointers or operations.
fn parse_ops(value: Json) -> Result<Vec<Op>, String> {
    let Json::Array(items) = value else {
        return Err(format!("{MASK_RULE} must be a set, not {value}"));
    };
    items
        .into_iter()
        .map(|item| match item {
            Json::String(path) => Ok(Op::Remove(path)),
            Json::Object(mut o) => {
                let path = match o.remove("path") {
                    Some(Json::String(p)) => p,
                    _ => return Err(format!("{MASK_RULE}: an operation without a path")),
                };
                match o.remove("op").as_ref().and_then(Json::as_str) {
                    Some("remove") => Ok(Op::Remove(path)),
                    Some("upsert") => Ok(Op::Upsert(path, o.remove("value").unwrap_or(Json::Null))),
                    other => Err(format!("{MASK_RULE}: unknown op {other:?} at {path}")),
                }
            }
            other => Err(format!(
                "{MASK_RULE}: {other} is neither a path nor an operation"
            )),
        })
        .collect()
}

/// Checks that `path` is a JSON pointer under `/input` or `/result`.
pub(crate) fn check_pointer(path: &str) -> Result<(), String> {
    tokens(path).map(drop)
}

/// The tokens of a JSON pointer under `/input` or `/result` (RFC 6901).
fn tokens(path: &str) -> Result<Vec<String>, String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("mask path {path:?} is not a JSON pointer"))?;
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    match tokens.first().map(String::as_str) {
        Some("input" | "result") => Ok(tokens),
        _ => Err(format!("mask path {path:?} is outside /input and /result")),
    }
}

/// Removes what `path` points at; `false` when there is nothing there.
fn remove(event: &mut Json, path: &str) -> Result<bool, String> {
    let tokens = tokens(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Ok(false);
    };
    let mut node = event;
    for t in parents {
        node = match node {
            Json::Object(o) => match o.get_mut(t) {
                Some(n) => n,
                None => return Ok(false),
            },
            Json::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(n) => n,
                None => return Ok(false),
            },
            _ => return Ok(false),
        };
    }
    Ok(match node {
        Json::Object(o) => o.remove(last).is_some(),
        Json::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    })
}

/// Sets what `path` points at, creating objects on the way.
fn upsert(event: &mut Json, path: &str, value: Json) -> Result<(), String> {
    let tokens = tokens(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Ok(());
    };
    let mut node = event;
    for t in parents {
        if node.is_null() {
            *node = Json::Object(Default::default());
        }
        node = match node {
            Json::Object(o) => o
                .entry(t.clone())
                .or_insert_with(|| Json::Object(Default::default())),
            Json::Array(a) => t
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get_mut(i))
                .ok_or_else(|| format!("mask path {path:?}: no element {t}"))?,
            _ => return Err(format!("mask path {path:?}: {t} is not in an object")),
        };
    }
    match node {
        Json::Object(o) => {
            o.insert(last.clone(), value);
            Ok(())
        }
        Json::Array(a) => match last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => Err(format!("mask path {path:?}: no element {last}")),
        },
        _ => Err(format!("mask path {path:?}: the parent is not an object")),
    }
}
