//! Any text through the limits check and the parser: no panic, a typed
//! error or a value, and an accepted document is within the limits and
//! means what serde_json says it means.

use sark_policy_core::{Error, Limits};

/// One input: panics when a check fails.
pub fn run(text: &str) {
    let limits = Limits {
        max_depth: 16,
        max_bytes: 4096,
    };
    match limits.parse("input", text) {
        Ok(value) => {
            let reference: serde_json::Value =
                serde_json::from_str(text).expect("accepted text is JSON");
            let printed = serde_json::to_value(&value).expect("a value prints");
            assert!(same(&reference, &printed), "{text:?} parsed to {printed}");
            assert!(depth(&reference) <= 16, "{text:?} is deeper than the limit");
            assert!(limits.validate("input", text).is_ok());
        }
        Err(Error::InvalidJson(why) | Error::LimitExceeded(why)) => {
            // Valid JSON the parser refuses can only be what JSON's grammar
            // allows and the engine will not hold: an unpaired surrogate
            // escape (`"\uDDDD"`), or a number regorus will not expand (a
            // literal over 1,024 characters, an exponent beyond what an
            // exact integer or an f64 holds: `433e33333`; third_party/
            // regorus/PATCHES.md). `validate` (cached values, kept as
            // text) follows the grammar.
            if limits.validate("input", text).is_ok() {
                match serde_json::from_str::<serde_json::Value>(text) {
                    Err(e) => {
                        let e = e.to_string();
                        assert!(
                            e.contains("surrogate") || e.contains("hex escape"),
                            "{text:?}: {e}"
                        );
                    }
                    Ok(_) => assert!(why.contains("big number"), "{text:?}: {why}"),
                }
            }
        }
        Err(other) => panic!("untyped error {other:?} for {text:?}"),
    }
}

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Equal as JSON: integers exactly, other numbers to 1e-9 relative
/// (`1e2` and `100` are one number).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) if p.is_finite() && q.is_finite() => {
                        p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs())
                    }
                    // Beyond f64 (`1e400` against its 401 digits): equal
                    // as the numbers regorus reads them.
                    _ => big(x) == big(y),
                },
            },
        },
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn big(n: &serde_json::Number) -> Option<regorus::Value> {
    regorus::Value::from_json_str(&n.to_string()).ok()
}
