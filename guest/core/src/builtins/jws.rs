//! Verifying and signing one compact JWS with a configured key, for code
//! outside the builtins (bundle signatures, `crate::bundle::signature`):
//! the same algorithms, key parsing, signing and verification as
//! `io.jwt.verify_*` and `io.jwt.encode_sign`.

use super::jwt::{Header, Token};
use super::jwt_keys::keys_from_cert_or_jwk;
use super::jwt_verify::{Alg, verify_hmac, verify_with_keys};
use anyhow::{Result, anyhow, bail};

/// The `kid` of a compact JWS's header, unverified (`""` when none), so a
/// caller can pick the key to verify it with.
pub(crate) fn key_id(token: &str) -> Result<String> {
    let token = Token::split(token)?;
    Ok(Header::parse(&token.decode_header()?)?.kid)
}

/// The payload of `token`, unverified (to read a deprecated `keyid`).
pub(crate) fn payload_unverified(token: &str) -> Result<Vec<u8>> {
    Token::split(token)?.payload()
}

/// Verifies `token` with `algorithm` (`HS256`, `RS256`, `PS384`, `ES256`,
/// ...) and `key` (the HMAC secret for `HS*`, else a PEM public key or
/// certificate, or a JWK); returns the payload's bytes. The header's `alg` must be `algorithm`, as OPA's
/// `jws.Verify(token, jws.WithKey(alg, key))` requires.
pub(crate) fn verify(token: &str, algorithm: &str, key: &str) -> Result<Vec<u8>> {
    let alg = Alg::from_name(algorithm)
        .ok_or_else(|| anyhow!("unknown signature algorithm: {algorithm}"))?;
    let jws = Token::split(token)?;
    let header = Header::parse(&jws.decode_header()?)?;
    if !header.valid() {
        bail!("JWS header is not valid (no alg, or an unknown critical parameter)");
    }
    if header.alg != algorithm {
        bail!(
            "JWS is signed with {}, the key is configured for {algorithm}",
            header.alg
        );
    }
    let sig = jws.signature()?;
    let input = jws.signing_input().as_bytes();
    let ok = match alg {
        Alg::Hs(hash) => verify_hmac(hash, key.as_bytes(), input, &sig),
        _ => {
            let keys = keys_from_cert_or_jwk(key)?;
            // The configured key is the one to use whatever `kid` says.
            let mut header = Header::default();
            header.alg = algorithm.to_owned();
            let keys: Vec<_> = keys
                .into_iter()
                .map(|mut k| {
                    k.alg = String::new();
                    k
                })
                .collect();
            verify_with_keys(&keys, &header, alg, input, &sig)
        }
    };
    if !ok {
        bail!("signature does not verify with the configured key");
    }
    jws.payload()
}

/// Signs `payload` (JSON text) with `algorithm` and `key` (the HMAC secret
/// for `HS*`, else a PEM private key: PKCS #1, PKCS #8 or SEC 1), with
/// `kid` `key_id` when not empty; returns the compact JWS.
pub(crate) fn sign(algorithm: &str, key: &str, key_id: &str, payload: &str) -> Result<String> {
    super::jwt_sign::sign_compact(algorithm, key, key_id, payload)
}
