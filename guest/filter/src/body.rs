//! The request body in the input document: where Envoy's ext_authz filter
//! puts it (`with_request_body`), and how opa-envoy-plugin reads it into
//! `parsed_body` and `truncated_body` (its `getParsedBody`).

use crate::input::hex;
use regorus::Value;
use regorus::value::Object;
use sark_policy_core::Limits;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The header ext_authz adds to the check request when it sent a body:
/// `"true"` when the body was cut at `max_request_bytes`. A client's own is
/// dropped from the input, so a client cannot claim a truncation.
pub const PARTIAL_HEADER: &str = "x-envoy-auth-partial-body";

/// The body the filter read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// At most `max_request_bytes` bytes.
    pub bytes: Vec<u8>,
    /// The request's body was longer than `bytes`.
    pub truncated: bool,
}

impl Body {
    /// The body as ext_authz sends it in `body`: UTF-8, every byte of an
    /// invalid sequence replaced by `!` (Envoy's `sanitizeUtf8String`), so
    /// the length in bytes is unchanged.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.bytes.len());
        for chunk in self.bytes.utf8_chunks() {
            out.push_str(chunk.valid());
            out.extend(chunk.invalid().iter().map(|_| '!'));
        }
        out
    }

    /// The body as protojson writes the bytes field `rawBody`: base64,
    /// standard alphabet, padded.
    pub fn base64(&self) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let digit = |sextet: u32| {
            ALPHABET
                .get(usize::try_from(sextet & 63).unwrap_or(0))
                .map_or('=', |&b| char::from(b))
        };
        let mut out = String::with_capacity(self.bytes.len().div_ceil(3) * 4);
        for chunk in self.bytes.chunks(3) {
            let (n, len) = match *chunk {
                [a, b, c] => (u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c), 3),
                [a, b] => (u32::from(a) << 16 | u32::from(b) << 8, 2),
                [a] => (u32::from(a) << 16, 1),
                _ => continue,
            };
            out.push(digit(n >> 18));
            out.push(digit(n >> 12));
            out.push(if len > 1 { digit(n >> 6) } else { '=' });
            out.push(if len > 2 { digit(n) } else { '=' });
        }
        out
    }
}

/// `parsed_body` and `truncated_body` as opa-envoy-plugin computes them.
/// `text` is the body as the input carries it (`body`, or `rawBody`
/// decoded), `header` reads the request's joined headers.
///
/// - a truncated body: `null`, `true`;
/// - `content-type` containing `application/json` (case-sensitive, as
///   opa-envoy-plugin matches): the JSON value, through the core's document
///   limits; `null`, `true` when `content-length` says more was sent;
/// - containing `application/x-www-form-urlencoded`: the fields as a map
///   from name to the list of its values (Go's `url.ParseQuery`);
/// - anything else, or no body: `null`, `false`.
///
/// Err: the body is not what its type says, or `content-length` is not a
/// number (opa-envoy-plugin then answers 400 `request_parse_error`).
pub fn parse<'a>(
    body: Option<(&Body, &str)>,
    header: impl Fn(&str) -> Option<Cow<'a, str>>,
    limits: &Limits,
) -> Result<(Value, bool), String> {
    let Some((body, text)) = body else {
        return Ok((Value::Null, false));
    };
    if body.truncated {
        return Ok((Value::Null, true));
    }
    let Some(content_type) = header("content-type") else {
        return Ok((Value::Null, false));
    };
    let json = content_type.contains("application/json");
    if !json && !content_type.contains("application/x-www-form-urlencoded") {
        return Ok((Value::Null, false));
    }
    if text.is_empty() {
        return Ok((Value::Null, false));
    }
    if let Some(length) = header("content-length") {
        let length: i64 = length
            .parse()
            .map_err(|e| format!("content-length {length:?}: {e}"))?;
        let read = i64::try_from(body.bytes.len()).unwrap_or(i64::MAX);
        if length != -1 && length > read {
            return Ok((Value::Null, true));
        }
    }
    let value = if json {
        limits.parse("body", text).map_err(|e| e.to_string())?
    } else {
        limits.check_size("body", text).map_err(|e| e.to_string())?;
        parse_form(text)?
    };
    Ok((value, false))
}

/// A form body as Go's `url.ParseQuery` reads it: `+` is a space, a
/// malformed escape or a `;` in a field is an error (the other fields are
/// still read, as Go does, but the error wins).
pub fn parse_form(text: &str) -> Result<Value, String> {
    let mut fields: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut error = None;
    for pair in text.split('&') {
        if pair.contains(';') {
            error.get_or_insert_with(|| "invalid semicolon separator in query".to_owned());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match (unescape(k), unescape(v)) {
            (Ok(k), Ok(v)) => fields.entry(k).or_default().push(Value::from(v)),
            (Err(e), _) | (_, Err(e)) => {
                error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    let mut object = Object::new();
    for (k, v) in fields {
        object.insert(Value::from(k), Value::from(v));
    }
    Ok(object.into_value())
}

/// Go's `url.QueryUnescape`: `%XX` and `+`; a `%` without two hex digits
/// after it is an error naming the escape.
fn unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let pair = (bytes.get(i + 1).copied().and_then(hex))
                    .zip(bytes.get(i + 2).copied().and_then(hex));
                let Some((hi, lo)) = pair else {
                    let bad = bytes.get(i..bytes.len().min(i + 3)).unwrap_or_default();
                    return Err(format!(
                        "invalid URL escape {:?}",
                        String::from_utf8_lossy(bad)
                    ));
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
