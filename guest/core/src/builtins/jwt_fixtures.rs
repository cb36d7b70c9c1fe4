//! Test fixtures: keys and tokens made by `testdata/jwt/gen.py` with
//! pyca/cryptography, and the examples of RFC 7515 and RFC 8037.

use data_encoding::BASE64URL_NOPAD;
use serde_json::Value as Json;

pub(crate) const SECRET: &str = "sark-test-secret";
/// `iat` and `nbf` of the fixture tokens; `exp` is an hour later.
pub(crate) const T0: u64 = 1_700_000_000;

pub(crate) const RSA_CERT: &str = include_str!("testdata/jwt/rsa_cert.pem");
pub(crate) const RSA_PUB: &str = include_str!("testdata/jwt/rsa_pub.pem");
pub(crate) const RSA2_PUB: &str = include_str!("testdata/jwt/rsa2_pub.pem");
pub(crate) const P256_CERT: &str = include_str!("testdata/jwt/p256_cert.pem");
pub(crate) const P256_PUB: &str = include_str!("testdata/jwt/p256_pub.pem");
pub(crate) const P256B_PUB: &str = include_str!("testdata/jwt/p256b_pub.pem");
pub(crate) const P384_PUB: &str = include_str!("testdata/jwt/p384_pub.pem");
pub(crate) const ED25519_PUB: &str = include_str!("testdata/jwt/ed25519_pub.pem");
pub(crate) const JWKS: &str = include_str!("testdata/jwt/jwks.json");

/// The fixture token `name` (see `tokens.json`).
pub(crate) fn token(name: &str) -> String {
    let tokens: Json = serde_json::from_str(include_str!("testdata/jwt/tokens.json")).unwrap();
    tokens[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name}"))
        .to_owned()
}

/// The RFC example `name`: its JWS and its public JWK as JSON text.
pub(crate) fn rfc_vector(name: &str) -> (String, String) {
    let all: Json = serde_json::from_str(include_str!("testdata/jwt/rfc_vectors.json")).unwrap();
    let v = &all[name];
    (v["jws"].as_str().unwrap().to_owned(), v["jwk"].to_string())
}

/// `jwt` with its payload replaced by `{"sub":"mallory"}`, signature kept.
pub(crate) fn tampered(jwt: &str) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let payload = BASE64URL_NOPAD.encode(br#"{"sub":"mallory"}"#);
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// `jwt` with one bit of its signature flipped.
pub(crate) fn bad_signature(jwt: &str) -> String {
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let mut sig = BASE64URL_NOPAD.decode(sig.as_bytes()).unwrap();
    let mid = sig.len() / 2;
    sig[mid] ^= 1;
    format!("{input}.{}", BASE64URL_NOPAD.encode(&sig))
}
