//! Any text through the limits check and the parser: no panic, a typed
//! error or a value, and an accepted document is within the limits and
//! means what serde_json says it means.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sark_policy_core::{Error, Limits};

fuzz_target!(|text: &str| {
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
        Err(Error::InvalidJson(_) | Error::LimitExceeded(_)) => {
            // Valid JSON the parser refuses can only be what JSON's grammar
            // allows and a Rust value cannot hold: a number beyond f64
            // (`433e33333`; the fidelity issue) or an unpaired surrogate
            // escape (`"\uDDDD"`). `validate` (cached values, kept as text)
            // follows the grammar.
            if limits.validate("input", text).is_ok() {
                let e = serde_json::from_str::<serde_json::Value>(text).unwrap_err().to_string();
                assert!(
                    e.contains("number out of range") || e.contains("surrogate") || e.contains("hex escape"),
                    "{text:?}: {e}"
                );
            }
        }
        Err(other) => panic!("untyped error {other:?} for {text:?}"),
    }
});

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Equal as JSON: integers exactly, other numbers to 1e-9 relative (big
/// numbers go through f64 today, see the fidelity issue).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()),
                    _ => false,
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
