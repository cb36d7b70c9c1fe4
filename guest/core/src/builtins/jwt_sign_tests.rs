//! `io.jwt.encode_sign*`: RFC 7515's HS256 example, and round trips through
//! `io.jwt.decode_verify` with keys made by pyca/cryptography
//! (`testdata/sign/gen.py`).

use crate::builtins::tests::{error_with, value_with};
use serde_json::{Value as Json, json};

const JWKS: &str = include_str!("testdata/sign/private_jwks.json");

/// The private JWK `name` of the fixtures.
fn jwk(name: &str) -> Json {
    let all: Json = serde_json::from_str(JWKS).unwrap();
    all[name].clone()
}

fn claims() -> Json {
    json!({"iss": "sark", "sub": "alice", "note": "<&>"})
}

fn encode(alg: &str, key: &Json) -> String {
    let out = value_with(
        "io.jwt.encode_sign(input.h, input.p, input.k)",
        &json!({"h": {"alg": alg, "typ": "JWT"}, "p": claims(), "k": key}),
    );
    out.as_str().unwrap().to_owned()
}

/// `io.jwt.decode_verify` of `jwt` with `constraints`.
fn decode_verify(jwt: &str, constraints: &Json) -> Json {
    value_with(
        "io.jwt.decode_verify(input.t, input.c)",
        &json!({"t": jwt, "c": constraints}),
    )
}

#[test]
fn rfc7515_a1_hs256() {
    // The header and payload of RFC 7515 A.1 are not compact JSON, so the
    // raw form reproduces the example exactly.
    let header = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
    let payload =
        "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
    let key = json!({"kty": "oct", "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"});
    let out = value_with(
        "io.jwt.encode_sign_raw(input.h, input.p, input.k)",
        &json!({"h": header, "p": payload, "k": key.to_string()}),
    );
    assert_eq!(
        out,
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
}

#[test]
fn objects_are_serialised_as_go_does() {
    // Sorted keys, no spaces, HTML characters escaped.
    let jwt = encode("HS256", &json!({"kty": "oct", "k": "c2VjcmV0"}));
    let payload = jwt.split('.').nth(1).unwrap();
    let payload = data_encoding::BASE64URL_NOPAD
        .decode(payload.as_bytes())
        .unwrap();
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        r#"{"iss":"sark","note":"\u003c\u0026\u003e","sub":"alice"}"#
    );
}

#[test]
fn hmac_round_trips() {
    let secret = "sark-test-secret";
    let k = data_encoding::BASE64URL_NOPAD.encode(secret.as_bytes());
    for alg in ["HS256", "HS384", "HS512"] {
        let jwt = encode(alg, &json!({"kty": "oct", "k": k}));
        let out = decode_verify(&jwt, &json!({"secret": secret}));
        assert_eq!(out[0], json!(true), "{alg}");
        assert_eq!(out[2], claims(), "{alg}");
        assert_eq!(out[1]["alg"], json!(alg));
    }
}

#[test]
fn asymmetric_round_trips() {
    let cases = [
        ("RS256", "rsa"),
        ("RS384", "rsa"),
        ("RS512", "rsa"),
        ("PS256", "rsa"),
        ("PS384", "rsa"),
        ("PS512", "rsa"),
        ("ES256", "p256"),
        ("ES384", "p384"),
        ("ES512", "p521"),
        ("EdDSA", "ed25519"),
    ];
    for (alg, key) in cases {
        let key = jwk(key);
        let jwt = encode(alg, &key);
        // The private JWK holds the public members the verifier reads.
        let out = decode_verify(&jwt, &json!({"cert": key.to_string()}));
        assert_eq!(out[0], json!(true), "{alg}");
        assert_eq!(out[2], claims(), "{alg}");
    }
}

#[test]
fn deterministic_algorithms_give_the_same_token() {
    for (alg, key) in [("RS256", "rsa"), ("ES256", "p256"), ("EdDSA", "ed25519")] {
        assert_eq!(encode(alg, &jwk(key)), encode(alg, &jwk(key)), "{alg}");
    }
}

#[test]
fn pss_salts_are_random() {
    assert_ne!(encode("PS256", &jwk("rsa")), encode("PS256", &jwk("rsa")));
}

#[test]
fn a_key_set_signs_with_its_first_key() {
    let set = json!({"keys": [jwk("ed25519"), jwk("rsa")]});
    let jwt = encode("EdDSA", &set);
    let out = decode_verify(&jwt, &json!({"cert": jwk("ed25519").to_string()}));
    assert_eq!(out[0], json!(true));
}

fn sign_error(header: Json, payload: Json, key: Json) -> String {
    error_with(
        "io.jwt.encode_sign(input.h, input.p, input.k)",
        &json!({"h": header, "p": payload, "k": key}),
    )
}

#[test]
fn errors() {
    let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
    let cases = [
        (
            json!({"typ": "JWT"}),
            oct.clone(),
            "missing or invalid 'alg' header",
        ),
        (
            json!({"alg": "none"}),
            oct.clone(),
            "unknown JWS algorithm: none",
        ),
        (
            json!({"alg": "RS256"}),
            oct.clone(),
            "not usable with RS256",
        ),
        (json!({"alg": "HS256"}), jwk("rsa"), "not usable with HS256"),
        (
            json!({"alg": "ES384"}),
            jwk("p256"),
            "not usable with ES384",
        ),
        (
            json!({"alg": "PS256"}),
            jwk("p256"),
            "not usable with PS256",
        ),
        (
            json!({"alg": "ES512"}),
            jwk("p256"),
            "not usable with ES512",
        ),
        (
            json!({"alg": "HS256"}),
            json!({"keys": []}),
            "no keys found in JWK set",
        ),
        (
            json!({"alg": "HS256"}),
            json!({"kty": "XYZ"}),
            "invalid key type",
        ),
    ];
    for (header, key, want) in cases {
        let err = sign_error(header, claims(), key);
        assert!(err.contains("io.jwt.encode_sign: "), "{err}");
        assert!(err.contains(want), "{want}: {err}");
    }
    let mut bad = jwk("ed25519");
    bad["x"] = jwk("ed25519")["d"].clone();
    let err = sign_error(json!({"alg": "EdDSA"}), claims(), bad);
    assert!(err.contains("does not match"), "{err}");
}

#[test]
fn raw_payload_must_be_json_when_typ_is_jwt() {
    let key = json!({"kty": "oct", "k": "c2VjcmV0"}).to_string();
    let call = "io.jwt.encode_sign_raw(input.h, input.p, input.k)";
    for header in [r#"{"alg":"HS256"}"#, r#"{"alg":"HS256","typ":"JWT"}"#] {
        let err = error_with(call, &json!({"h": header, "p": "not json", "k": key}));
        assert!(err.contains("type is JWT but payload is not JSON"), "{err}");
    }
    let out = value_with(
        call,
        &json!({"h": r#"{"alg":"HS256","typ":"text"}"#, "p": "not json", "k": key}),
    );
    assert!(out.as_str().unwrap().starts_with("eyJ"), "{out}");
    let err = error_with(call, &json!({"h": "{}", "p": "{}", "k": 1}));
    assert!(err.contains("operand 3 must be string"), "{err}");
}
