//! `array.flatten` (OPA `topdown/array.go`).

use super::{arg, operand_error};
use anyhow::Result;
use regorus::Value;

/// `array.flatten(arr)`: the elements of `arr`, each array among them
/// replaced by its own elements (one level only).
pub(super) fn flatten(args: Vec<Value>) -> Result<Value> {
    let items = match arg(&args, 0)? {
        Value::Array(items) => items,
        other => return Err(operand_error(0, "array", other)),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter() {
        match item {
            Value::Array(inner) => out.extend(inner.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    Ok(Value::from(out))
}

#[cfg(test)]
#[path = "array_tests.rs"]
mod tests;
