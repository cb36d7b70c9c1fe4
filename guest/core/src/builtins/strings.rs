//! `strings.split_n` (OPA `topdown/strings.go`).

use super::{arg, operand_error, string_arg};
use anyhow::{Result, anyhow};
use regorus::Value;

/// OPA's `IntOperand`: argument `pos` as an integer that fits Go's `int`.
pub(super) fn int_arg(args: &[Value], pos: usize) -> Result<i64> {
    match arg(args, pos)? {
        Value::Number(n) => n.as_i64().filter(|_| n.is_integer()).ok_or_else(|| {
            anyhow!(
                "operand {} must be integer number but got floating-point number",
                pos + 1
            )
        }),
        other => Err(operand_error(pos, "number", other)),
    }
}

/// Go's `strings.Split`: an empty separator splits after each character
/// (and an empty string into nothing); otherwise every piece between
/// separators, so at least one.
fn go_split<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        text.char_indices()
            .map(|(i, c)| text.get(i..i + c.len_utf8()).unwrap_or_default())
            .collect()
    } else {
        text.split(sep).collect()
    }
}

/// `strings.split_n(s, delimiter, n)`: the first `n` pieces of `split(s,
/// delimiter)` when `n >= 0`, the last `-n` when negative; unlike Go's
/// `SplitN` the rest is dropped, not kept in the last piece.
pub(super) fn split_n(args: Vec<Value>) -> Result<Value> {
    let text = string_arg(&args, 0)?;
    let sep = string_arg(&args, 1)?;
    let n = int_arg(&args, 2)?;
    let parts = go_split(text, sep);
    let len = i128::try_from(parts.len()).unwrap_or(i128::MAX);
    let n = i128::from(n);
    let range = if n >= 0 {
        0..usize::try_from(n.min(len)).unwrap_or_default()
    } else {
        usize::try_from((len + n).max(0)).unwrap_or_default()..parts.len()
    };
    let picked = parts.get(range).unwrap_or_default();
    Ok(Value::from(
        picked.iter().map(|p| Value::from(*p)).collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
#[path = "strings_tests.rs"]
mod tests;
