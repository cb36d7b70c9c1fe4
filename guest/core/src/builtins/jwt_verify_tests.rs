//! `io.jwt.verify_<alg>`: tokens signed by pyca/cryptography, checked with
//! PEM public keys, certificates and a JWK set.

use crate::builtins::jwt_fixtures::*;
use crate::builtins::tests::{error_with, value_with};
use serde_json::{Value as Json, json};

fn verify(alg: &str, jwt: &str, key: &str) -> Json {
    value_with(
        &format!("io.jwt.verify_{alg}(input.t, input.k)"),
        &json!({ "t": jwt, "k": key }),
    )
}

/// Each algorithm with the fixture token and the keys that verify it.
fn cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    vec![
        ("hs256", token("HS256"), vec![SECRET]),
        ("hs384", token("HS384"), vec![SECRET]),
        ("hs512", token("HS512"), vec![SECRET]),
        ("rs256", token("RS256"), vec![RSA_PUB, RSA_CERT, JWKS]),
        ("rs384", token("RS384"), vec![RSA_PUB, RSA_CERT]),
        ("rs512", token("RS512"), vec![RSA_PUB, RSA_CERT]),
        ("ps256", token("PS256"), vec![RSA_PUB, RSA_CERT]),
        ("ps384", token("PS384"), vec![RSA_PUB, RSA_CERT]),
        ("ps512", token("PS512"), vec![RSA_PUB, RSA_CERT]),
        ("es256", token("ES256"), vec![P256_PUB, P256_CERT, JWKS]),
        ("es384", token("ES384"), vec![P384_PUB, JWKS]),
        ("eddsa", token("EdDSA"), vec![ED25519_PUB, JWKS]),
    ]
}

#[test]
fn every_algorithm_accepts_its_signature() {
    for (alg, jwt, keys) in cases() {
        for key in keys {
            assert_eq!(verify(alg, &jwt, key), json!(true), "{alg} with {key}");
        }
    }
}

#[test]
fn every_algorithm_rejects_a_tampered_payload_or_signature() {
    for (alg, jwt, keys) in cases() {
        for key in keys {
            assert_eq!(verify(alg, &tampered(&jwt), key), json!(false), "{alg}");
            assert_eq!(
                verify(alg, &bad_signature(&jwt), key),
                json!(false),
                "{alg}"
            );
        }
    }
}

#[test]
fn every_algorithm_rejects_the_wrong_key() {
    let wrong = [
        ("hs256", token("HS256"), "not-the-secret"),
        ("hs384", token("HS384"), "sark-test-secreT"),
        ("hs512", token("HS512"), ""),
        ("rs256", token("RS256"), RSA2_PUB),
        ("rs384", token("RS384"), RSA2_PUB),
        ("rs512", token("RS512"), RSA2_PUB),
        ("ps256", token("PS256"), RSA2_PUB),
        ("ps384", token("PS384"), RSA2_PUB),
        ("ps512", token("PS512"), RSA2_PUB),
        ("es256", token("ES256"), P256B_PUB),
        ("es384", token("ES384"), P256_PUB),
        ("eddsa", token("EdDSA"), RSA_PUB),
        // A key of the right type, an algorithm of another family.
        ("rs256", token("PS256"), RSA_PUB),
        ("ps256", token("RS256"), RSA_PUB),
        ("es256", token("ES384"), P384_PUB),
        ("rs256", token("ES256"), P256_PUB),
    ];
    for (alg, jwt, key) in wrong {
        assert_eq!(verify(alg, &jwt, key), json!(false), "{alg} with {key}");
    }
    assert_eq!(
        verify("es256", &token("ES256_wrong_key"), P256_PUB),
        json!(false)
    );
}

#[test]
fn pss_takes_any_salt_length() {
    // Go's VerifyPSS with nil options detects the salt length.
    for name in ["PS256", "PS256_salt_max", "PS256_salt_0"] {
        assert_eq!(
            verify("ps256", &token(name), RSA_PUB),
            json!(true),
            "{name}"
        );
    }
}

#[test]
fn jwks_key_selection() {
    // `kid` naming a key: only that key is tried.
    assert_eq!(verify("rs256", &token("RS256_kid_rsa2"), JWKS), json!(true));
    assert_eq!(
        verify("rs256", &token("RS256_kid_wrong"), JWKS),
        json!(false)
    );
    // `kid` naming no key: every key whose alg is absent or the token's.
    assert_eq!(
        verify("rs256", &token("RS256_kid_unknown"), JWKS),
        json!(true)
    );
    assert_eq!(verify("es256", &token("ES256_kid_ec1"), JWKS), json!(true));
    // The set's RSA-OAEP key is dropped, not an error; an HMAC key in a set
    // verifies nothing through the asymmetric builtins.
    assert_eq!(verify("rs256", &token("HS256_kid_hs1"), JWKS), json!(false));
}

#[test]
fn verifies_the_rfc_examples_with_their_jwk() {
    for (alg, name) in [("rs256", "rs256"), ("es256", "es256"), ("eddsa", "eddsa")] {
        let (jws, jwk) = rfc_vector(name);
        assert_eq!(verify(alg, &jws, &jwk), json!(true), "{name}");
        assert_eq!(
            verify(alg, &bad_signature(&jws), &jwk),
            json!(false),
            "{name}"
        );
    }
}

#[test]
fn es512_verifies_rfc7515_a4() {
    let (jws, jwk) = rfc_vector("es512");
    assert_eq!(verify("es512", &jws, &jwk), json!(true));
    assert_eq!(verify("es512", &bad_signature(&jws), &jwk), json!(false));
    // The same key and signature under another hash verify nothing.
    assert_eq!(verify("es384", &jws, &jwk), json!(false));
    // The key as a PEM public key (SPKI, secp521r1).
    let pem = include_str!("testdata/jwt/p521_pub.pem");
    assert_eq!(verify("es512", &jws, pem), json!(true));
}

#[test]
fn malformed_keys_and_tokens_are_errors() {
    let cases = [
        (
            "rs256",
            token("RS256"),
            "junk",
            "failed to parse a JWK key (set)",
        ),
        (
            "rs256",
            token("RS256"),
            "{\"kty\": \"XYZ\"}",
            "failed to parse a JWK key (set)",
        ),
        (
            "rs256",
            token("RS256"),
            "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n",
            "failed to extract a Key from the PEM certificate",
        ),
        (
            "es256",
            token("ES256"),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "failed to parse a PEM public key",
        ),
        (
            "rs256",
            token("RS256"),
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            "failed to parse a PEM certificate",
        ),
        (
            "rs256",
            "a.b".to_owned(),
            RSA_PUB,
            "encoded JWT must have 3 sections",
        ),
        (
            "hs256",
            "nodots".to_owned(),
            SECRET,
            "encoded JWT had no period separators",
        ),
    ];
    for (alg, jwt, key, want) in cases {
        let err = error_with(
            &format!("io.jwt.verify_{alg}(input.t, input.k)"),
            &json!({ "t": jwt, "k": key }),
        );
        assert!(
            err.contains(&format!("io.jwt.verify_{alg}: {want}")),
            "{err}"
        );
    }
    let pem_then_junk = format!("{RSA_PUB}\nmore");
    let err = error_with(
        "io.jwt.verify_rs256(input.t, input.k)",
        &json!({ "t": token("RS256"), "k": pem_then_junk }),
    );
    assert!(
        err.contains("extra data after a PEM certificate block"),
        "{err}"
    );
}

#[test]
fn pem_is_found_after_leading_text() {
    let key = format!("the key:\n{RSA_PUB}");
    assert_eq!(verify("rs256", &token("RS256"), &key), json!(true));
}
