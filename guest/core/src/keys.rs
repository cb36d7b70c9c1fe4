//! Cache keys in the seed format
//! `policy:decision:{user}:{action}:{resource}:{context_hash}`.
//!
//! `context_hash` is the first 16 hex digits of SHA-256 over the canonical
//! JSON of the context: compact, object keys sorted bytewise, strings
//! unescaped UTF-8, numbers as regorus prints them. One implementation serves
//! every host, so a key built in Python equals the key built in Rust.
//!
//! Those 16 digits (64 bits) are for display and compatibility only: a
//! caller who controls part of a context could find two contexts with one
//! short hash in about 2^32 tries. The key a decision is cached under
//! ([`scope`]) carries all 64 digits of the SHA-256.

use crate::{Error, Result};
use regorus::Value;
use sha2::{Digest, Sha256};

/// Canonical JSON of a value: objects with sorted keys (regorus objects are
/// ordered maps), no insignificant whitespace.
pub fn canonical_json(value: &Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Other(format!("serializing context: {e}")))
}

/// Digits of the display hash: 16, or fewer under the test hook.
const SHORT_DIGITS: usize = 16;

/// First 16 hex digits of SHA-256 over `bytes` (the seed's display hash).
pub fn short_hash(bytes: &[u8]) -> String {
    let mut out = full_hash(bytes);
    out.truncate(short_digits());
    out
}

/// All 64 hex digits of SHA-256 over `bytes`.
pub fn full_hash(bytes: &[u8]) -> String {
    // A table lookup per byte; `char::from_digit` per nibble cost more
    // than the digest of a small context.
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

/// The seed's context hash (16 digits) of an already parsed context.
pub fn context_hash(context: &Value) -> Result<String> {
    let mut hash = context_digest(context)?;
    hash.truncate(short_digits());
    Ok(hash)
}

/// The full SHA-256 (64 hex digits) of a context's canonical JSON: what the
/// scoped key carries.
pub fn context_digest(context: &Value) -> Result<String> {
    if context.as_object().is_ok_and(|o| o.is_empty()) {
        return Ok(EMPTY_CONTEXT_DIGEST.to_owned());
    }
    Ok(full_hash(canonical_json(context)?.as_bytes()))
}

/// `full_hash(b"{}")`, the hash of the commonest context.
const EMPTY_CONTEXT_DIGEST: &str =
    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

#[cfg(not(test))]
const fn short_digits() -> usize {
    SHORT_DIGITS
}

#[cfg(test)]
std::thread_local! {
    /// Test-only hook: display hashes of this many digits, to force two
    /// contexts onto one seed key.
    static TRUNCATE: core::cell::Cell<usize> = const { core::cell::Cell::new(SHORT_DIGITS) };
}

#[cfg(test)]
fn short_digits() -> usize {
    TRUNCATE.with(core::cell::Cell::get)
}

/// Test-only: display hashes of `digits` hex digits on this thread.
#[cfg(test)]
pub(crate) fn truncate_display_hash_for_tests(digits: usize) {
    TRUNCATE.with(|t| t.set(digits.min(SHORT_DIGITS)));
}

/// The seed-format key.
pub fn decision_key(user: &str, action: &str, resource: &str, context_hash: &str) -> String {
    // Pushed piece by piece: `format!` costs more than the copies in wasm.
    let parts = [user, action, resource, context_hash];
    let mut key =
        String::with_capacity(PREFIX.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    key.push_str(PREFIX);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(':');
        }
        key.push_str(part);
    }
    key
}

const PREFIX: &str = "policy:decision:";

/// The key the authorizer stores a decision under: the seed key built with
/// the full context digest ([`context_digest`]), followed by the rule, the
/// engine revision and the byte lengths of user, action and resource.
///
/// The seed format alone is ambiguous when a field holds `:` (user `a:b`,
/// action `c` and user `a`, action `b:c` give one key), which would let one
/// request read another's decision; the lengths split the seed key back into
/// its fields, so two different requests never share a scoped key.
pub fn scoped_key(seed_key: &str, fields: [&str; 4], revision: u64) -> String {
    let [_, _, _, rule] = fields;
    let mut key = String::with_capacity(seed_key.len() + rule.len() + 48);
    key.push_str(seed_key);
    scope(key, fields, revision)
}

/// [`scoped_key`] appending to the seed key's own buffer (one allocation
/// per decision on the authorizer's path).
pub fn scope(mut seed_key: String, fields: [&str; 4], revision: u64) -> String {
    let [user, action, resource, rule] = fields;
    seed_key.reserve(rule.len() + 48);
    seed_key.push(':');
    seed_key.push_str(rule);
    seed_key.push('@');
    push_decimal(&mut seed_key, revision);
    for (i, n) in [user.len(), action.len(), resource.len()]
        .into_iter()
        .enumerate()
    {
        seed_key.push(if i == 0 { ':' } else { '.' });
        push_decimal(&mut seed_key, n as u64);
    }
    seed_key
}

/// Appends `n` in decimal without the formatting machinery.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    for &d in digits.get(at..).unwrap_or_default() {
        out.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(json: &str) -> String {
        context_hash(&Value::from_json_str(json).unwrap()).unwrap()
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = hash_of(r#"{"ip": "10.0.0.1", "mfa": true, "nested": {"b": 1, "a": [1, 2]}}"#);
        let b = hash_of(r#"{"nested":{"a":[1,2],"b":1},"mfa":true,"ip":"10.0.0.1"}"#);
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(
            a,
            hash_of(r#"{"nested":{"a":[2,1],"b":1},"mfa":true,"ip":"10.0.0.1"}"#)
        );
    }

    #[test]
    fn hash_is_sha256_of_the_canonical_text() {
        // sha256("{}") = 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
        assert_eq!(hash_of(" { } "), "44136fa355b3678a");
        assert_eq!(short_hash(b"{}"), "44136fa355b3678a");
        assert_eq!(full_hash(b"{}"), EMPTY_CONTEXT_DIGEST);
        let v = Value::from_json_str(r#"{"a": 1}"#).unwrap();
        let full = context_digest(&v).unwrap();
        assert_eq!(full.len(), 64);
        assert_eq!(full, full_hash(br#"{"a":1}"#));
        assert!(full.starts_with(&context_hash(&v).unwrap()));
        let v = Value::from_json_str(r#"{"b": 1, "a": "x"}"#).unwrap();
        assert_eq!(canonical_json(&v).unwrap(), r#"{"a":"x","b":1}"#);
    }

    #[test]
    fn decimals_and_scope_match_format() {
        for n in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        let seed = decision_key("u", "act", "res:1", "h");
        assert_eq!(
            scope(
                seed.clone(),
                ["u", "act", "res:1", "data.a.b"],
                18446744073709551615
            ),
            format!("{seed}:data.a.b@18446744073709551615:1.3.5")
        );
    }

    #[test]
    fn seed_format() {
        assert_eq!(
            decision_key("user-123", "execute", "tool:calculator", "0123456789abcdef"),
            "policy:decision:user-123:execute:tool:calculator:0123456789abcdef"
        );
    }

    #[test]
    fn scope_separates_rule_revision_and_ambiguous_fields() {
        let base = decision_key("a:b", "c", "r", "h");
        let k = scoped_key(&base, ["a:b", "c", "r", "data.x.allow"], 1);
        assert_eq!(k, "policy:decision:a:b:c:r:h:data.x.allow@1:3.1.1");
        assert_ne!(k, scoped_key(&base, ["a:b", "c", "r", "data.x.allow"], 2));
        assert_ne!(k, scoped_key(&base, ["a:b", "c", "r", "data.x.deny"], 1));
        // Same seed key, different fields: different scoped key.
        let other = decision_key("a", "b:c", "r", "h");
        assert_eq!(base, other);
        assert_ne!(k, scoped_key(&other, ["a", "b:c", "r", "data.x.allow"], 1));
    }
}
