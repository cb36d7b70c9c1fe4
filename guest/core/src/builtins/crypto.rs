//! `crypto.md5/sha1/sha256` and `crypto.hmac.*` (OPA `topdown/crypto.go`):
//! digests of a string's UTF-8 bytes as lowercase hex.

use super::string_arg;
use anyhow::{Result, anyhow};
use data_encoding::HEXLOWER;
use hmac::{Hmac, Mac};
use regorus::Value;
use sha2::Digest;
use subtle::ConstantTimeEq;

fn digest_hex<D: Digest>(args: &[Value]) -> Result<Value> {
    let x = string_arg(args, 0)?;
    Ok(Value::from(HEXLOWER.encode(&D::digest(x.as_bytes()))))
}

/// `crypto.md5(x)`.
pub(super) fn md5(args: Vec<Value>) -> Result<Value> {
    digest_hex::<::md5::Md5>(&args)
}

/// `crypto.sha1(x)`.
pub(super) fn sha1(args: Vec<Value>) -> Result<Value> {
    digest_hex::<::sha1::Sha1>(&args)
}

/// `crypto.sha256(x)`.
pub(super) fn sha256(args: Vec<Value>) -> Result<Value> {
    digest_hex::<sha2::Sha256>(&args)
}

/// `crypto.hmac.<hash>(x, key)`: HMAC of `x` under `key`.
fn hmac_hex<M: Mac + hmac::digest::KeyInit>(args: &[Value]) -> Result<Value> {
    let x = string_arg(args, 0)?;
    let key = string_arg(args, 1)?;
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()).map_err(|e| anyhow!("{e}"))?;
    mac.update(x.as_bytes());
    Ok(Value::from(HEXLOWER.encode(&mac.finalize().into_bytes())))
}

/// `crypto.hmac.md5(x, key)`.
pub(super) fn hmac_md5(args: Vec<Value>) -> Result<Value> {
    hmac_hex::<Hmac<::md5::Md5>>(&args)
}

/// `crypto.hmac.sha1(x, key)`.
pub(super) fn hmac_sha1(args: Vec<Value>) -> Result<Value> {
    hmac_hex::<Hmac<::sha1::Sha1>>(&args)
}

/// `crypto.hmac.sha256(x, key)`.
pub(super) fn hmac_sha256(args: Vec<Value>) -> Result<Value> {
    hmac_hex::<Hmac<sha2::Sha256>>(&args)
}

/// `crypto.hmac.sha512(x, key)`.
pub(super) fn hmac_sha512(args: Vec<Value>) -> Result<Value> {
    hmac_hex::<Hmac<sha2::Sha512>>(&args)
}

/// `crypto.hmac.equal(mac1, mac2)`: the two strings compared in time that
/// depends only on their lengths (Go's `hmac.Equal`), so a policy comparing
/// a computed MAC with one from the request leaks nothing about it.
pub(super) fn hmac_equal(args: Vec<Value>) -> Result<Value> {
    let a = string_arg(&args, 0)?;
    let b = string_arg(&args, 1)?;
    Ok(Value::from(bool::from(a.as_bytes().ct_eq(b.as_bytes()))))
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
