//! `crypto.parse_private_keys`, `crypto.x509.parse_rsa_private_key` and
//! `crypto.x509.parse_keypair` (OPA `topdown/crypto.go`).
//!
//! Keys are read from PEM blocks as Go reads them: `RSA PRIVATE KEY`
//! (PKCS #1), `PRIVATE KEY` (PKCS #8: RSA, ECDSA, Ed25519) and `EC PRIVATE
//! KEY` (SEC 1), on the curves P-256, P-384 and P-521. Results are the JSON
//! Go's `encoding/json` writes for the parsed keys (`crypto.parse_private_keys`,
//! the key of `parse_keypair`), or OPA's JWK (`parse_rsa_private_key`).

use super::pem;
use super::string_arg;
use super::x509::{certificate, signed_integer};
use anyhow::{Result, anyhow, bail};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use der::Decode;
use regorus::Value;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use std::collections::BTreeMap;
use x509_cert::Certificate;

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";

/// A parsed private key.
enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    /// Big-endian scalars: the private `d` and the public point.
    Ec {
        d: Vec<u8>,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// Go's `ed25519.PrivateKey`: the seed, then the public key.
    Ed25519(Vec<u8>),
}

/// The public point of `d` on the curve named by `curve`, as `(x, y)`.
fn ec_point(curve: &str, d: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let xy = |p: &[u8]| -> Result<(Vec<u8>, Vec<u8>)> {
        let xy = p
            .strip_prefix(&[4u8])
            .ok_or_else(|| anyhow!("x509: invalid elliptic curve public key"))?;
        let (x, y) = xy.split_at(xy.len() / 2);
        Ok((x.to_vec(), y.to_vec()))
    };
    let invalid = || anyhow!("x509: invalid elliptic curve private key value");
    match curve {
        "1.2.840.10045.3.1.7" => {
            let key = p256::ecdsa::SigningKey::from_slice(d).map_err(|_| invalid())?;
            xy(key.verifying_key().to_encoded_point(false).as_bytes())
        }
        "1.3.132.0.34" => {
            let key = p384::ecdsa::SigningKey::from_slice(d).map_err(|_| invalid())?;
            xy(key.verifying_key().to_encoded_point(false).as_bytes())
        }
        "1.3.132.0.35" => {
            let mut padded = vec![0u8; 66usize.saturating_sub(d.len())];
            padded.extend_from_slice(d);
            let key = p521::ecdsa::SigningKey::from_slice(&padded).map_err(|_| invalid())?;
            xy(p521::ecdsa::VerifyingKey::from(&key)
                .to_encoded_point(false)
                .as_bytes())
        }
        _ => bail!("x509: unknown elliptic curve"),
    }
}

/// Go's `x509.ParseECPrivateKey` (SEC 1); `curve` from PKCS #8 when the
/// structure leaves it out.
fn parse_sec1(der: &[u8], curve: Option<String>) -> Result<PrivateKey> {
    let key = sec1::EcPrivateKey::from_der(der)
        .map_err(|e| anyhow!("x509: failed to parse EC private key: {e}"))?;
    let named = key
        .parameters
        .and_then(|p| p.named_curve())
        .map(|oid| oid.to_string())
        .or(curve)
        .ok_or_else(|| anyhow!("x509: unknown elliptic curve"))?;
    let d = key.private_key.to_vec();
    let (x, y) = ec_point(&named, &d)?;
    Ok(PrivateKey::Ec { d, x, y })
}

/// Go's `x509.ParsePKCS8PrivateKey`.
fn parse_pkcs8(der: &[u8]) -> Result<PrivateKey> {
    let info = rsa::pkcs8::PrivateKeyInfo::try_from(der)
        .map_err(|e| anyhow!("x509: failed to parse private key: {e}"))?;
    match info.algorithm.oid.to_string().as_str() {
        RSA_ENCRYPTION => RsaPrivateKey::from_pkcs1_der(info.private_key)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|e| anyhow!("x509: failed to parse RSA private key embedded in PKCS#8: {e}")),
        EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map(|oid| oid.to_string())
                .ok();
            parse_sec1(info.private_key, curve)
        }
        ED25519 => {
            let seed = der::asn1::OctetStringRef::from_der(info.private_key)
                .map_err(|e| anyhow!("x509: invalid Ed25519 private key: {e}"))?;
            let seed: [u8; 32] = seed
                .as_bytes()
                .try_into()
                .map_err(|_| anyhow!("x509: invalid Ed25519 private key"))?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            Ok(PrivateKey::Ed25519(key.to_keypair_bytes().to_vec()))
        }
        other => {
            bail!("x509: PKCS#8 wrapping contained private key with unknown algorithm: {other}")
        }
    }
}

/// Go's `x509.ParsePKCS1PrivateKey`.
fn parse_pkcs1(der: &[u8]) -> Result<PrivateKey> {
    RsaPrivateKey::from_pkcs1_der(der)
        .map(|k| PrivateKey::Rsa(Box::new(k)))
        .map_err(|e| anyhow!("x509: failed to parse private key: {e}"))
}

/// Base64 (standard, padded, line breaks skipped) as Go's decoder takes it.
fn base64_std(text: &str) -> Result<Vec<u8>> {
    let text: Vec<u8> = text.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    BASE64
        .decode(&text)
        .map_err(|e| anyhow!("illegal base64 data: {e}"))
}

/// OPA's `getPrivateKeysFromPEMData`: the keys of every key block, the
/// text first base64-decoded when it is base64 as a whole.
fn keys_from_pem(text: &str) -> Result<Vec<PrivateKey>> {
    let decoded = base64_std(text)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut rest = decoded.as_deref().unwrap_or(text);
    let mut keys = Vec::new();
    while let Some((block, after)) = pem::decode(rest) {
        match block.label.as_str() {
            "RSA PRIVATE KEY" => keys.push(parse_pkcs1(&block.der)?),
            "PRIVATE KEY" => keys.push(parse_pkcs8(&block.der)?),
            "EC PRIVATE KEY" => keys.push(parse_sec1(&block.der, None)?),
            _ => {}
        }
        rest = after;
    }
    Ok(keys)
}

fn object(fields: Vec<(&str, Value)>) -> Value {
    Value::from(
        fields
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// A non-negative big-endian integer as Go's `big.Int` JSON.
fn unsigned(bytes: &[u8]) -> Value {
    signed_integer(&[&[0u8][..], bytes].concat())
}

/// The key as Go's `encoding/json` writes `*rsa.PrivateKey`,
/// `*ecdsa.PrivateKey` (whose curve has no exported fields) and
/// `ed25519.PrivateKey` (bytes, so base64).
fn go_json(key: &PrivateKey) -> Value {
    match key {
        PrivateKey::Rsa(k) => {
            let int = |n: &rsa::BigUint| unsigned(&n.to_bytes_be());
            let opt = |n: Option<&rsa::BigUint>| n.map(int).unwrap_or(Value::Null);
            let qinv = k
                .qinv()
                .and_then(|q| q.to_biguint())
                .map(|q| int(&q))
                .unwrap_or(Value::Null);
            object(vec![
                ("N", int(k.n())),
                ("E", int(k.e())),
                ("D", int(k.d())),
                (
                    "Primes",
                    Value::from(k.primes().iter().map(int).collect::<Vec<_>>()),
                ),
                (
                    "Precomputed",
                    object(vec![
                        ("Dp", opt(k.dp())),
                        ("Dq", opt(k.dq())),
                        ("Qinv", qinv),
                        ("CRTValues", Value::from(Vec::<Value>::new())),
                    ]),
                ),
            ])
        }
        PrivateKey::Ec { d, x, y } => object(vec![
            ("Curve", object(Vec::new())),
            ("X", unsigned(x)),
            ("Y", unsigned(y)),
            ("D", unsigned(d)),
        ]),
        PrivateKey::Ed25519(bytes) => Value::from(BASE64.encode(bytes)),
    }
}

/// `crypto.parse_private_keys(keys)`: every key of the PEM text (or its
/// base64), as Go's JSON; null for an empty string.
pub(super) fn parse_private_keys(args: Vec<Value>) -> Result<Value> {
    let input = string_arg(&args, 0)?;
    if input.is_empty() {
        return Ok(Value::Null);
    }
    let keys = keys_from_pem(input)?;
    Ok(Value::from(keys.iter().map(go_json).collect::<Vec<_>>()))
}

/// The first private key of PEM text as a JWK (RSA, EC on P-256/384/521,
/// or Ed25519), for signing with it (`jws::sign`).
pub(super) fn first_key_jwk(text: &str) -> Result<String> {
    let key = keys_from_pem(text)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no private key in the PEM text"))?;
    let b64 = |b: &[u8]| serde_json::Value::String(BASE64URL_NOPAD.encode(b));
    let jwk = match &key {
        PrivateKey::Rsa(k) => {
            let int = |n: &rsa::BigUint| b64(&n.to_bytes_be());
            let mut jwk = serde_json::Map::new();
            jwk.insert("kty".into(), "RSA".into());
            jwk.insert("n".into(), int(k.n()));
            jwk.insert("e".into(), int(k.e()));
            jwk.insert("d".into(), int(k.d()));
            if let [p, q] = k.primes() {
                jwk.insert("p".into(), int(p));
                jwk.insert("q".into(), int(q));
            }
            serde_json::Value::Object(jwk)
        }
        PrivateKey::Ec { d, x, y } => {
            let crv = match x.len() {
                32 => "P-256",
                48 => "P-384",
                _ => "P-521",
            };
            serde_json::json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y), "d": b64(d)})
        }
        PrivateKey::Ed25519(pair) => {
            let (seed, public) = pair.split_at(pair.len().min(32));
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "d": b64(seed), "x": b64(public)})
        }
    };
    Ok(jwk.to_string())
}

/// Minimal big-endian bytes, base64url without padding (a JWK member).
fn jwk_int(bytes: &[u8]) -> Value {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    Value::from(BASE64URL_NOPAD.encode(bytes.get(first..).unwrap_or_default()))
}

/// `crypto.x509.parse_rsa_private_key(pem)`: the first key as OPA's JWK.
/// OPA's JWK of an ECDSA private key has only `kty` (its key type writes no
/// parameters), and it has none for Ed25519.
pub(super) fn parse_rsa_private_key(args: Vec<Value>) -> Result<Value> {
    let input = string_arg(&args, 0)?;
    if input.is_empty() {
        bail!("input PEM data was empty");
    }
    let text = if input.starts_with("-----BEGIN") {
        input.to_owned()
    } else {
        String::from_utf8_lossy(&base64_std(input)?).into_owned()
    };
    let keys = keys_from_pem(&text)?;
    let Some(key) = keys.first() else {
        return Ok(Value::Null);
    };
    match key {
        PrivateKey::Rsa(k) => {
            let int = |n: &rsa::BigUint| jwk_int(&n.to_bytes_be());
            let opt = |n: Option<&rsa::BigUint>| n.map(int).unwrap_or(Value::Null);
            let prime = |i: usize| k.primes().get(i).map(int).unwrap_or(Value::Null);
            let qinv = k
                .qinv()
                .and_then(|q| q.to_biguint())
                .map(|q| int(&q))
                .unwrap_or(Value::Null);
            Ok(object(vec![
                ("kty", Value::from("RSA")),
                ("n", int(k.n())),
                ("e", int(k.e())),
                ("d", int(k.d())),
                ("p", prime(0)),
                ("q", prime(1)),
                ("dp", opt(k.dp())),
                ("dq", opt(k.dq())),
                ("qi", qinv),
            ]))
        }
        PrivateKey::Ec { .. } => Ok(object(vec![("kty", Value::from("EC"))])),
        PrivateKey::Ed25519(_) => bail!("invalid key type ed25519.PrivateKey"),
    }
}

/// PEM text, or base64 of PEM or of DER (wrapped in a `label` block, as
/// OPA's `getTLSx509KeyPairFromString` does).
fn pem_or_base64(input: &str, label: &str) -> Result<String> {
    if input.starts_with("-----BEGIN ") {
        return Ok(input.to_owned());
    }
    let bytes = base64_std(input)?;
    if bytes.starts_with(b"-----BEGIN") {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    let body = BASE64.encode(&bytes);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    Ok(pem)
}

/// Go's `tls.parsePrivateKey`: PKCS #1, then PKCS #8, then SEC 1.
fn tls_private_key(der: &[u8]) -> Result<PrivateKey> {
    parse_pkcs1(der)
        .or_else(|_| parse_pkcs8(der))
        .or_else(|_| parse_sec1(der, None))
        .map_err(|_| anyhow!("tls: failed to parse private key"))
}

/// `crypto.x509.parse_keypair(cert, pem)`: Go's `tls.X509KeyPair` as JSON
/// (`Certificate`, `PrivateKey`, `Leaf`, ...), the key checked against the
/// first certificate's public key.
pub(super) fn parse_keypair(args: Vec<Value>) -> Result<Value> {
    let cert_pem = pem_or_base64(string_arg(&args, 0)?, "CERTIFICATE")?;
    let key_pem = pem_or_base64(string_arg(&args, 1)?, "PRIVATE KEY")?;

    let (mut certs, mut skipped) = (Vec::new(), Vec::new());
    let mut rest = cert_pem.as_str();
    while let Some((block, after)) = pem::decode(rest) {
        if block.label == "CERTIFICATE" {
            certs.push(block.der);
        } else {
            skipped.push(block.label);
        }
        rest = after;
    }
    let Some(first) = certs.first() else {
        match skipped.as_slice() {
            [] => bail!("tls: failed to find any PEM data in certificate input"),
            [one] if one.ends_with("PRIVATE KEY") => bail!(
                "tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"
            ),
            _ => bail!(
                "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]",
                skipped.join(" ")
            ),
        }
    };

    let mut skipped = Vec::new();
    let mut rest = key_pem.as_str();
    let key_der = loop {
        let Some((block, after)) = pem::decode(rest) else {
            match skipped.as_slice() {
                [] => bail!("tls: failed to find any PEM data in key input"),
                [one] if one == "CERTIFICATE" => {
                    bail!(
                        "tls: found a certificate rather than a key in the PEM for the private key"
                    )
                }
                _ => bail!(
                    "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]",
                    skipped.join(" ")
                ),
            }
        };
        if block.label == "PRIVATE KEY" || block.label.ends_with(" PRIVATE KEY") {
            break block.der;
        }
        skipped.push(block.label);
        rest = after;
    };

    // Only the first certificate is parsed, as in Go.
    let leaf = Certificate::from_der(first).map_err(|e| anyhow!("x509: {e}"))?;
    let key = tls_private_key(&key_der)?;
    check_matches(&leaf, &key)?;

    let mut leaf_json = certificate(&leaf, first)?;
    // `tls.Certificate.Leaf` is a plain `x509.Certificate`: no `URIStrings`
    // (OPA adds that field to `parse_certificates` only).
    if let Ok(o) = leaf_json.as_object_mut() {
        let uri_strings = Value::from("URIStrings");
        o.retain(|k, _| k != &uri_strings);
    }
    Ok(object(vec![
        (
            "Certificate",
            Value::from(
                certs
                    .iter()
                    .map(|c| Value::from(BASE64.encode(c)))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("PrivateKey", go_json(&key)),
        ("SupportedSignatureAlgorithms", Value::Null),
        ("OCSPStaple", Value::Null),
        ("SignedCertificateTimestamps", Value::Null),
        ("Leaf", leaf_json),
    ]))
}

/// Go's check that the private key belongs to the certificate.
fn check_matches(cert: &Certificate, key: &PrivateKey) -> Result<()> {
    let info = &cert.tbs_certificate.subject_public_key_info;
    let raw = info.subject_public_key.raw_bytes();
    let mismatch = || anyhow!("tls: private key does not match public key");
    let wrong_type = || anyhow!("tls: private key type does not match public key type");
    match (info.algorithm.oid.to_string().as_str(), key) {
        (RSA_ENCRYPTION, PrivateKey::Rsa(k)) => {
            let public =
                rsa::pkcs1::RsaPublicKey::from_der(raw).map_err(|e| anyhow!("x509: {e}"))?;
            let n = rsa::BigUint::from_bytes_be(public.modulus.as_bytes());
            if &n != k.n() {
                return Err(mismatch());
            }
        }
        (EC_PUBLIC_KEY, PrivateKey::Ec { x, y, .. }) => {
            let point = [&[4u8][..], x, y].concat();
            if raw != point.as_slice() {
                return Err(mismatch());
            }
        }
        (ED25519, PrivateKey::Ed25519(bytes)) => {
            if bytes.get(32..) != Some(raw) {
                return Err(mismatch());
            }
        }
        (RSA_ENCRYPTION | EC_PUBLIC_KEY | ED25519, _) => return Err(wrong_type()),
        _ => bail!("tls: unknown public key algorithm"),
    }
    Ok(())
}

#[cfg(test)]
#[path = "private_keys_tests.rs"]
mod tests;
