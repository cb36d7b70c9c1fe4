//! Verification keys as OPA's `getKeysFromCertOrJWK` reads them: a PEM
//! certificate, a PEM public key, or a JWK / JWK set in JSON.

use super::base64::{self, Alphabet};
use super::jwt_verify::Alg;
use super::pem;
use anyhow::{Result, anyhow, bail};
use regorus::Value;
use rsa::{BigUint, RsaPublicKey, pkcs1::der::Decode as _};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

/// A public (or, for `oct`, shared) key.
#[derive(Clone, Debug)]
pub(super) enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(P521Key),
    Ed25519(ed25519_dalek::VerifyingKey),
    /// A JWK `oct` key: an HMAC secret.
    Oct(Vec<u8>),
    /// A well-formed key of a kind no JWT algorithm here verifies with
    /// (X25519, Ed448, an unnamed curve...): it stays in the set, so key selection by `kid`
    /// behaves as in OPA, but no signature verifies with it.
    Unsupported,
}

/// A P-521 public key (p521's type has no `Debug`).
#[derive(Clone)]
pub(super) struct P521Key(pub(super) p521::ecdsa::VerifyingKey);

impl std::fmt::Debug for P521Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P521Key")
    }
}

/// A key and, from a JWK, its `alg` and `kid` (empty when absent).
#[derive(Clone, Debug)]
pub(super) struct VerificationKey {
    pub(super) key: PublicKey,
    pub(super) alg: String,
    pub(super) kid: String,
}

/// Go's limit for RSA keys it parses; `rsa` would stop at 4096 bits.
const RSA_MAX_BITS: usize = 16384;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// The keys in `text`: one from a PEM block, or every usable key of a JWK
/// set (keys whose `alg` is not a JWT signing algorithm are left out).
pub(super) fn keys_from_cert_or_jwk(text: &str) -> Result<Vec<VerificationKey>> {
    if let Some((block, rest)) = pem::decode(text) {
        if !rest.is_empty() {
            bail!("extra data after a PEM certificate block");
        }
        let key = match block.label.as_str() {
            "CERTIFICATE" => certificate_spki(&block.der)
                .and_then(public_key_from_spki)
                .map_err(|e| anyhow!("failed to parse a PEM certificate: {e}"))?,
            "PUBLIC KEY" => public_key_from_spki(&block.der)
                .map_err(|e| anyhow!("failed to parse a PEM public key: {e}"))?,
            _ => bail!("failed to extract a Key from the PEM certificate"),
        };
        return Ok(vec![VerificationKey {
            key,
            alg: String::new(),
            kid: String::new(),
        }]);
    }
    parse_jwks(text).map_err(|e| anyhow!("failed to parse a JWK key (set): {e}"))
}

fn parse_jwks(text: &str) -> Result<Vec<VerificationKey>> {
    let json = Value::from_json_str(text)?;
    let jwks = match member(&json, "keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => bail!("\"keys\" must be an array"),
        None => vec![&json],
    };
    let mut keys = Vec::with_capacity(jwks.len());
    for jwk in jwks {
        let key = parse_jwk(jwk)?;
        let alg = optional_str(jwk, "alg")?;
        if !alg.is_empty() && Alg::from_name(&alg).is_none() {
            continue;
        }
        let kid = optional_str(jwk, "kid")?;
        keys.push(VerificationKey { key, alg, kid });
    }
    Ok(keys)
}

fn parse_jwk(jwk: &Value) -> Result<PublicKey> {
    if jwk.as_object().is_err() {
        bail!("a JWK must be an object");
    }
    match optional_str(jwk, "kty")?.as_str() {
        "RSA" => rsa_key(&jwk_bytes(jwk, "n")?, &jwk_bytes(jwk, "e")?),
        "EC" => {
            let crv = optional_str(jwk, "crv")?;
            let point = |size| -> Result<Vec<u8>> {
                let mut sec1 = vec![4u8];
                sec1.extend(left_pad(&jwk_bytes(jwk, "x")?, size)?);
                sec1.extend(left_pad(&jwk_bytes(jwk, "y")?, size)?);
                Ok(sec1)
            };
            match crv.as_str() {
                "P-256" => Ok(PublicKey::P256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point(32)?)
                        .map_err(|_| anyhow!("invalid P-256 point"))?,
                )),
                "P-384" => Ok(PublicKey::P384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point(48)?)
                        .map_err(|_| anyhow!("invalid P-384 point"))?,
                )),
                "P-521" => Ok(PublicKey::P521(P521Key(
                    p521::ecdsa::VerifyingKey::from_sec1_bytes(&point(66)?)
                        .map_err(|_| anyhow!("invalid P-521 point"))?,
                ))),
                other => bail!("unsupported EC curve {other:?}"),
            }
        }
        "OKP" => match optional_str(jwk, "crv")?.as_str() {
            "Ed25519" => ed25519_key(&jwk_bytes(jwk, "x")?),
            "Ed448" | "X25519" | "X448" => Ok(PublicKey::Unsupported),
            other => bail!("unsupported OKP curve {other:?}"),
        },
        "oct" => Ok(PublicKey::Oct(jwk_bytes(jwk, "k")?)),
        other => bail!("invalid key type {other:?}"),
    }
}

fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.as_object().ok()?.get(&Value::from(name))
}

/// A JWK member that must be a string when present; empty when absent.
fn optional_str(jwk: &Value, name: &str) -> Result<String> {
    match member(jwk, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.to_string()),
        Some(_) => bail!("JWK member {name:?} must be a string"),
    }
}

/// A binary JWK member: base64url without padding, but, like the JWK
/// library OPA uses, also with padding or the standard alphabet.
fn jwk_bytes(jwk: &Value, name: &str) -> Result<Vec<u8>> {
    let Some(Value::String(text)) = member(jwk, name) else {
        bail!("a JWK of this type needs a string {name:?}");
    };
    base64::decode(text, Alphabet::Either)
        .map_err(|at| anyhow!("JWK member {name:?}: invalid base64 at byte {at}"))
}

/// `bytes` as a big-endian number in exactly `size` bytes.
fn left_pad(bytes: &[u8], size: usize) -> Result<Vec<u8>> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = bytes.get(first..).unwrap_or_default();
    if digits.len() > size {
        bail!("coordinate longer than {size} bytes");
    }
    let mut out = vec![0u8; size - digits.len()];
    out.extend_from_slice(digits);
    Ok(out)
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<PublicKey> {
    let key = RsaPublicKey::new_with_max_size(
        BigUint::from_bytes_be(n),
        BigUint::from_bytes_be(e),
        RSA_MAX_BITS,
    )
    .map_err(|e| anyhow!("invalid RSA key: {e}"))?;
    Ok(PublicKey::Rsa(key))
}

fn ed25519_key(x: &[u8]) -> Result<PublicKey> {
    let bytes: &[u8; 32] = x
        .try_into()
        .map_err(|_| anyhow!("an Ed25519 key has 32 bytes, not {}", x.len()))?;
    ed25519_dalek::VerifyingKey::from_bytes(bytes)
        .map(PublicKey::Ed25519)
        .map_err(|e| anyhow!("invalid Ed25519 key: {e}"))
}

/// A DER `SubjectPublicKeyInfo` (Go's `x509.ParsePKIXPublicKey`).
fn public_key_from_spki(der: &[u8]) -> Result<PublicKey> {
    let info = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| anyhow!("{e}"))?;
    let raw = info
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| anyhow!("public key bit string has unused bits"))?;
    match info.algorithm.oid {
        RSA_ENCRYPTION => {
            let key = rsa::pkcs1::RsaPublicKey::from_der(raw).map_err(|e| anyhow!("{e}"))?;
            rsa_key(key.modulus.as_bytes(), key.public_exponent.as_bytes())
        }
        EC_PUBLIC_KEY => match info
            .algorithm
            .parameters_oid()
            .map_err(|e| anyhow!("{e}"))?
        {
            SECP256R1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(raw)
                .map(PublicKey::P256)
                .map_err(|_| anyhow!("invalid P-256 point")),
            SECP384R1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(raw)
                .map(PublicKey::P384)
                .map_err(|_| anyhow!("invalid P-384 point")),
            SECP521R1 => p521::ecdsa::VerifyingKey::from_sec1_bytes(raw)
                .map(|k| PublicKey::P521(P521Key(k)))
                .map_err(|_| anyhow!("invalid P-521 point")),
            _ => Ok(PublicKey::Unsupported),
        },
        ED25519 => ed25519_key(raw),
        oid => bail!("unknown public key algorithm {oid}"),
    }
}

/// The `subjectPublicKeyInfo` of a DER X.509 certificate. Only the path to
/// that field is walked: the key is used as given, the certificate's
/// validity and signature are not checked (neither does OPA).
fn certificate_spki(der: &[u8]) -> Result<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    let malformed = || anyhow!("malformed certificate");
    let (_, cert) = element(der, SEQUENCE).ok_or_else(malformed)?;
    let (_, tbs) = element(cert.contents, SEQUENCE).ok_or_else(malformed)?;
    let mut rest = tbs.contents;
    if rest.first() == Some(&VERSION) {
        rest = element(rest, VERSION).ok_or_else(malformed)?.0;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        rest = any_element(rest).ok_or_else(malformed)?.0;
    }
    let (_, spki) = element(rest, SEQUENCE).ok_or_else(malformed)?;
    Ok(spki.whole)
}

/// One DER element: its whole encoding and its contents.
struct Element<'a> {
    whole: &'a [u8],
    contents: &'a [u8],
}

/// The element at the start of `input` if its tag is `tag`, and what follows.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], Element<'_>)> {
    (input.first() == Some(&tag))
        .then(|| any_element(input))
        .flatten()
}

fn any_element(input: &[u8]) -> Option<(&[u8], Element<'_>)> {
    let (&first, mut rest) = input.get(1..)?.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (digits, after) = rest.split_at_checked(count)?;
        rest = after;
        digits.iter().try_fold(0usize, |acc, &b| {
            acc.checked_mul(256)?.checked_add(usize::from(b))
        })?
    };
    let (contents, after) = rest.split_at_checked(len)?;
    let whole = input.get(..input.len() - after.len())?;
    Some((after, Element { whole, contents }))
}
