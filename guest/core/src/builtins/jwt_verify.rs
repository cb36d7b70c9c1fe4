//! JWS signature verification and the `io.jwt.verify_<alg>` builtins.

use super::jwt::{Header, Token};
use super::jwt_keys::{PublicKey, VerificationKey, keys_from_cert_or_jwk};
use super::jwt_rsa;
use super::string_arg;
use anyhow::Result;
use hmac::{Hmac, Mac};
use regorus::Value;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// The digest under an algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub(super) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes a key of any length, so `new_from_slice` cannot fail;
            // were it to, the empty tag matches no signature.
            <M as hmac::digest::KeyInit>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default()
        }
        match self {
            Self::Sha256 => mac::<Hmac<Sha256>>(key, data),
            Self::Sha384 => mac::<Hmac<Sha384>>(key, data),
            Self::Sha512 => mac::<Hmac<Sha512>>(key, data),
        }
    }
}

/// A JWS algorithm (RFC 7518 section 3.1, plus EdDSA from RFC 8037).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Alg {
    Hs(Hash),
    Rs(Hash),
    Ps(Hash),
    Es(Hash),
    EdDsa,
}

impl Alg {
    /// The algorithms OPA knows (`tokenAlgorithms`).
    pub(super) fn from_name(name: &str) -> Option<Self> {
        use Hash::*;
        Some(match name {
            "HS256" => Self::Hs(Sha256),
            "HS384" => Self::Hs(Sha384),
            "HS512" => Self::Hs(Sha512),
            "RS256" => Self::Rs(Sha256),
            "RS384" => Self::Rs(Sha384),
            "RS512" => Self::Rs(Sha512),
            "PS256" => Self::Ps(Sha256),
            "PS384" => Self::Ps(Sha384),
            "PS512" => Self::Ps(Sha512),
            "ES256" => Self::Es(Sha256),
            "ES384" => Self::Es(Sha384),
            "ES512" => Self::Es(Sha512),
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }
}

/// Whether `sig` is `alg`'s signature of `input` under `key`. A key of the
/// wrong kind for `alg` verifies nothing.
pub(super) fn verify(key: &PublicKey, alg: Alg, input: &[u8], sig: &[u8]) -> bool {
    match (alg, key) {
        (Alg::Hs(hash), PublicKey::Oct(secret)) => verify_hmac(hash, secret, input, sig),
        (Alg::Rs(hash), PublicKey::Rsa(key)) => jwt_rsa::verify_pkcs1v15(key, hash, input, sig),
        (Alg::Ps(hash), PublicKey::Rsa(key)) => jwt_rsa::verify_pss(key, hash, input, sig),
        (Alg::Es(hash), PublicKey::P256(key)) => verify_p256(key, hash, input, sig),
        (Alg::Es(hash), PublicKey::P384(key)) => verify_p384(key, hash, input, sig),
        (Alg::Es(hash), PublicKey::P521(key)) => verify_p521(&key.0, hash, input, sig),
        (Alg::EdDsa, PublicKey::Ed25519(key)) => {
            use ed25519_dalek::Verifier;
            ed25519_dalek::Signature::from_slice(sig).is_ok_and(|s| key.verify(input, &s).is_ok())
        }
        _ => false,
    }
}

pub(super) fn verify_hmac(hash: Hash, secret: &[u8], input: &[u8], sig: &[u8]) -> bool {
    hash.hmac(secret, input).ct_eq(sig).into()
}

/// `r || s`, as `size`-byte scalars, from a JWS ECDSA signature. As in
/// OPA, the signature is split in half whatever its length; a half too long
/// for the curve makes the signature invalid, not an error.
fn ecdsa_scalars(sig: &[u8], size: usize) -> Option<Vec<u8>> {
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut out = Vec::with_capacity(2 * size);
    for half in [r, s] {
        let first = half.iter().position(|&b| b != 0).unwrap_or(half.len());
        let digits = half.get(first..)?;
        out.resize(out.len() + size.checked_sub(digits.len())?, 0);
        out.extend_from_slice(digits);
    }
    Some(out)
}

/// ECDSA over `hash(input)` with the key's curve, whatever the algorithm's
/// hash (Go's `ecdsa.Verify` truncates or widens the digest the same way).
fn verify_p256(key: &p256::ecdsa::VerifyingKey, hash: Hash, input: &[u8], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    ecdsa_scalars(sig, 32)
        .and_then(|rs| p256::ecdsa::Signature::from_slice(&rs).ok())
        .is_some_and(|sig| key.verify_prehash(&hash.digest(input), &sig).is_ok())
}

fn verify_p384(key: &p384::ecdsa::VerifyingKey, hash: Hash, input: &[u8], sig: &[u8]) -> bool {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    ecdsa_scalars(sig, 48)
        .and_then(|rs| p384::ecdsa::Signature::from_slice(&rs).ok())
        .is_some_and(|sig| key.verify_prehash(&hash.digest(input), &sig).is_ok())
}

fn verify_p521(key: &p521::ecdsa::VerifyingKey, hash: Hash, input: &[u8], sig: &[u8]) -> bool {
    use p521::ecdsa::signature::hazmat::PrehashVerifier;
    ecdsa_scalars(sig, 66)
        .and_then(|rs| p521::ecdsa::Signature::from_slice(&rs).ok())
        .is_some_and(|sig| key.verify_prehash(&hash.digest(input), &sig).is_ok())
}

/// `io.jwt.verify_hs*(jwt, secret)`.
fn verify_hs(hash: Hash, args: &[Value]) -> Result<Value> {
    let token = string_arg(args, 0)?;
    let secret = string_arg(args, 1)?;
    let token = Token::split(token)?;
    let sig = token.signature()?;
    let input = token.signing_input().as_bytes();
    Ok(Value::from(verify_hmac(
        hash,
        secret.as_bytes(),
        input,
        &sig,
    )))
}

/// `io.jwt.verify_<alg>(jwt, cert_or_jwks)` for asymmetric algorithms
/// (OPA's `builtinJWTVerify`).
fn verify_asymmetric(alg: Alg, args: &[Value]) -> Result<Value> {
    let token = Token::split(string_arg(args, 0)?)?;
    let keys = keys_from_cert_or_jwk(string_arg(args, 1)?)?;
    let sig = token.signature()?;
    let header = Header::parse(&token.decode_header()?)?;
    let input = token.signing_input().as_bytes();
    Ok(Value::from(verify_with_keys(
        &keys, &header, alg, input, &sig,
    )))
}

/// OPA's key selection: a key whose `kid` is the token's is the only one
/// tried; otherwise every key without an `alg`, or with the token's `alg`.
/// `alg` is the algorithm verified with (the builtin's, or the header's).
pub(super) fn verify_with_keys(
    keys: &[VerificationKey],
    header: &Header,
    alg: Alg,
    input: &[u8],
    sig: &[u8],
) -> bool {
    if !header.kid.is_empty()
        && let Some(key) = keys.iter().find(|k| k.kid == header.kid)
    {
        return verify(&key.key, alg, input, sig);
    }
    keys.iter()
        .filter(|k| k.alg.is_empty() || k.alg == header.alg)
        .any(|k| verify(&k.key, alg, input, sig))
}

/// `io.jwt.verify_hs256(jwt, secret)`.
pub(super) fn verify_hs256(args: Vec<Value>) -> Result<Value> {
    verify_hs(Hash::Sha256, &args)
}

/// `io.jwt.verify_hs384(jwt, secret)`.
pub(super) fn verify_hs384(args: Vec<Value>) -> Result<Value> {
    verify_hs(Hash::Sha384, &args)
}

/// `io.jwt.verify_hs512(jwt, secret)`.
pub(super) fn verify_hs512(args: Vec<Value>) -> Result<Value> {
    verify_hs(Hash::Sha512, &args)
}

/// `io.jwt.verify_rs256(jwt, certificate)`.
pub(super) fn verify_rs256(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Rs(Hash::Sha256), &args)
}

/// `io.jwt.verify_rs384(jwt, certificate)`.
pub(super) fn verify_rs384(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Rs(Hash::Sha384), &args)
}

/// `io.jwt.verify_rs512(jwt, certificate)`.
pub(super) fn verify_rs512(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Rs(Hash::Sha512), &args)
}

/// `io.jwt.verify_ps256(jwt, certificate)`.
pub(super) fn verify_ps256(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Ps(Hash::Sha256), &args)
}

/// `io.jwt.verify_ps384(jwt, certificate)`.
pub(super) fn verify_ps384(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Ps(Hash::Sha384), &args)
}

/// `io.jwt.verify_ps512(jwt, certificate)`.
pub(super) fn verify_ps512(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Ps(Hash::Sha512), &args)
}

/// `io.jwt.verify_es256(jwt, certificate)`.
pub(super) fn verify_es256(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Es(Hash::Sha256), &args)
}

/// `io.jwt.verify_es384(jwt, certificate)`.
pub(super) fn verify_es384(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Es(Hash::Sha384), &args)
}

/// `io.jwt.verify_es512(jwt, certificate)`.
pub(super) fn verify_es512(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::Es(Hash::Sha512), &args)
}

/// `io.jwt.verify_eddsa(jwt, certificate)`.
pub(super) fn verify_eddsa(args: Vec<Value>) -> Result<Value> {
    verify_asymmetric(Alg::EdDsa, &args)
}

#[cfg(test)]
#[path = "jwt_verify_tests.rs"]
mod tests;
