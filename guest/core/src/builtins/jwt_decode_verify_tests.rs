//! `io.jwt.decode_verify`: signatures, claims, constraints and errors.

use crate::builtins::jwt_fixtures::*;
use crate::builtins::tests::{error_with, value_with};
use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;

const NS: u64 = 1_000_000_000;
/// A time inside the fixture tokens' validity, in nanoseconds.
const OK_TIME: u64 = (T0 + 60) * NS;

fn dv(jwt: &str, constraints: Json) -> Json {
    value_with(
        "io.jwt.decode_verify(input.t, input.c)",
        &json!({ "t": jwt, "c": constraints }),
    )
}

fn dv_error(jwt: &Json, constraints: Json) -> String {
    error_with(
        "io.jwt.decode_verify(input.t, input.c)",
        &json!({ "t": jwt, "c": constraints }),
    )
}

fn unverified() -> Json {
    json!([false, {}, {}])
}

fn b64(v: &Json) -> String {
    BASE64URL_NOPAD.encode(v.to_string().as_bytes())
}

/// An HS256 token under the fixture secret.
fn hs256(header: Json, claims: Json) -> String {
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
    )
}

fn hs(claims: Json) -> String {
    hs256(json!({"alg": "HS256", "typ": "JWT"}), claims)
}

/// For tokens made here, which carry no audience.
fn plain() -> Json {
    json!({ "secret": SECRET, "time": OK_TIME })
}

/// The fixture tokens carry `"aud": "gateway"`, which OPA accepts only
/// with a matching `aud` constraint.
fn secret() -> Json {
    json!({ "secret": SECRET, "time": OK_TIME, "aud": "gateway" })
}

#[test]
fn every_algorithm_verifies_and_returns_header_and_claims() {
    let cases = [
        ("HS256", json!({"secret": SECRET})),
        ("HS384", json!({"secret": SECRET})),
        ("HS512", json!({"secret": SECRET})),
        ("RS256", json!({"cert": RSA_CERT})),
        ("RS384", json!({"cert": RSA_PUB})),
        ("RS512", json!({"cert": RSA_CERT})),
        ("PS256", json!({"cert": RSA_PUB})),
        ("PS384", json!({"cert": RSA_CERT})),
        ("PS512", json!({"cert": RSA_PUB})),
        ("ES256", json!({"cert": P256_CERT})),
        ("ES384", json!({"cert": P384_PUB})),
        ("EdDSA", json!({"cert": ED25519_PUB})),
        ("RS256", json!({"cert": JWKS})),
        ("ES256", json!({"cert": JWKS})),
        ("ES384", json!({"cert": JWKS})),
        ("EdDSA", json!({"cert": JWKS})),
    ];
    for (alg, mut c) in cases {
        c["time"] = json!(OK_TIME);
        c["aud"] = json!("gateway");
        let out = dv(&token(alg), c.clone());
        assert_eq!(out[0], json!(true), "{alg} {c}");
        assert_eq!(out[1], json!({"alg": alg, "typ": "JWT"}));
        assert_eq!(out[2]["sub"], json!("alice"));
        assert_eq!(out[2]["exp"], json!(T0 + 3600));
        assert_eq!(dv(&tampered(&token(alg)), c.clone()), unverified(), "{alg}");
        assert_eq!(dv(&bad_signature(&token(alg)), c), unverified(), "{alg}");
    }
}

#[test]
fn rejects_the_wrong_key() {
    let t = OK_TIME;
    assert_eq!(
        dv(&token("HS256"), json!({"secret": "x", "time": t})),
        unverified()
    );
    assert_eq!(
        dv(&token("RS256"), json!({"cert": RSA2_PUB, "time": t})),
        unverified()
    );
    assert_eq!(
        dv(&token("ES256"), json!({"cert": P256B_PUB, "time": t})),
        unverified()
    );
    // A secret verifies only HMAC tokens, a certificate never does.
    assert_eq!(
        dv(&token("RS256"), json!({"secret": SECRET, "time": t})),
        unverified()
    );
    assert_eq!(
        dv(&token("HS256"), json!({"cert": RSA_PUB, "time": t})),
        unverified()
    );
}

#[test]
fn expiry_and_not_before() {
    let jwt = token("HS256");
    let at = |secs: u64| {
        let c = json!({"secret": SECRET, "time": secs * NS, "aud": "gateway"});
        dv(&jwt, c)[0].clone()
    };
    assert_eq!(at(T0 - 1), json!(false), "before nbf");
    assert_eq!(at(T0), json!(true), "at nbf");
    assert_eq!(at(T0 + 3599), json!(true));
    assert_eq!(at(T0 + 3600), json!(false), "at exp");
    assert_eq!(at(T0 + 7200), json!(false), "expired");
}

#[test]
fn without_a_time_constraint_the_clock_decides() {
    let c = json!({ "secret": SECRET });
    let far_future = 4_102_444_800u64; // 2100-01-01
    assert_eq!(
        dv(&hs(json!({"exp": far_future})), c.clone())[0],
        json!(true)
    );
    assert_eq!(dv(&hs(json!({"exp": T0})), c.clone()), unverified());
    assert_eq!(dv(&hs(json!({"nbf": far_future})), c.clone()), unverified());
    assert_eq!(
        dv(&hs(json!({"nbf": T0, "exp": 1.0e10})), c)[0],
        json!(true)
    );
}

#[test]
fn issuer() {
    let jwt = token("HS256");
    let mut c = secret();
    assert_eq!(dv(&jwt, c.clone())[0], json!(true), "no iss constraint");
    c["iss"] = json!("sark");
    assert_eq!(dv(&jwt, c.clone())[0], json!(true));
    c["iss"] = json!("someone-else");
    assert_eq!(dv(&jwt, c.clone()), unverified());
    c["iss"] = json!("sark");
    assert_eq!(
        dv(&hs(json!({"sub": "x"})), c.clone()),
        unverified(),
        "no iss claim"
    );
    assert_eq!(
        dv(&hs(json!({"iss": ["sark"]})), c),
        unverified(),
        "iss not a string"
    );
}

#[test]
fn audience_string_or_array() {
    let mut c = json!({ "secret": SECRET });
    let single = hs(json!({"aud": "gateway"}));
    let many = hs(json!({"aud": ["billing", "gateway"]}));
    let none = hs(json!({"sub": "x"}));
    // A token with an audience needs the constraint, whatever the audience.
    assert_eq!(dv(&single, c.clone()), unverified());
    assert_eq!(dv(&many, c.clone()), unverified());
    assert_eq!(dv(&none, c.clone())[0], json!(true));
    c["aud"] = json!("gateway");
    assert_eq!(dv(&single, c.clone())[0], json!(true));
    assert_eq!(dv(&many, c.clone())[0], json!(true));
    assert_eq!(dv(&none, c.clone()), unverified(), "constraint, no claim");
    assert_eq!(dv(&hs(json!({"aud": 7})), c.clone()), unverified());
    c["aud"] = json!("other");
    assert_eq!(dv(&single, c.clone()), unverified());
    assert_eq!(dv(&many, c), unverified());
}

#[test]
fn alg_constraint() {
    let mut c = secret();
    c["alg"] = json!("HS256");
    assert_eq!(dv(&token("HS256"), c.clone())[0], json!(true));
    c["alg"] = json!("HS512");
    assert_eq!(dv(&token("HS256"), c), unverified());
}

#[test]
fn unusable_headers_are_unverified() {
    let c = plain();
    let claims = json!({"sub": "x"});
    assert_eq!(
        dv(&hs256(json!({"typ": "JWT"}), claims.clone()), c.clone()),
        unverified()
    );
    assert_eq!(
        dv(&hs256(json!({"alg": "none"}), claims.clone()), c.clone()),
        unverified()
    );
    let crit = json!({"alg": "HS256", "crit": ["exp2"], "exp2": 1});
    assert_eq!(dv(&hs256(crit, claims.clone()), c.clone()), unverified());
    let known = json!({"alg": "HS256", "crit": ["kid"], "kid": "k"});
    assert_eq!(dv(&hs256(known, claims.clone()), c.clone())[0], json!(true));
    for (header, want) in [
        (json!({"alg": 5}), "alg: must be a string"),
        (json!({"alg": "HS256", "crit": "x"}), "crit: must be a list"),
        (
            json!({"alg": "HS256", "crit": []}),
            "crit: must be a nonempty list",
        ),
    ] {
        let err = dv_error(&json!(hs256(header, claims.clone())), c.clone());
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn jwks_selection() {
    let c = json!({ "cert": JWKS, "time": OK_TIME, "aud": "gateway" });
    assert_eq!(dv(&token("RS256_kid_rsa2"), c.clone())[0], json!(true));
    assert_eq!(dv(&token("RS256_kid_wrong"), c.clone()), unverified());
    assert_eq!(dv(&token("RS256_kid_unknown"), c.clone())[0], json!(true));
    assert_eq!(dv(&token("HS256_kid_hs1"), c.clone())[0], json!(true));
    // rsa-1 declares RS256, so a PS256 token of the same key is not tried
    // with it.
    assert_eq!(dv(&token("PS256"), c.clone()), unverified());
    assert_eq!(dv(&token("ES512_kid_ec521"), c.clone())[0], json!(true));
    let empty = json!({ "cert": "{\"keys\": []}", "time": OK_TIME });
    assert_eq!(dv(&token("RS256"), empty), unverified());
}

#[test]
fn rfc_examples() {
    let before_exp = 1_300_000_000 * NS;
    let claims = json!({"iss": "joe", "exp": 1300819380, "http://example.com/is_root": true});
    for name in ["hs256", "rs256", "es256"] {
        let (jws, jwk) = rfc_vector(name);
        let out = dv(&jws, json!({ "cert": jwk, "time": before_exp }));
        assert_eq!(out[0], json!(true), "{name}");
        assert_eq!(out[2], claims);
        let late = dv(&jws, json!({ "cert": jwk, "time": 1_400_000_000 * NS }));
        assert_eq!(late, unverified(), "{name} expired");
    }
    // Verified, but their payloads ("Payload", "Example of Ed25519
    // signing") are no JSON.
    for name in ["es512", "eddsa"] {
        let (jws, jwk) = rfc_vector(name);
        let err = dv_error(&json!(jws), json!({ "cert": jwk }));
        assert!(err.contains("invalid JSON"), "{name}: {err}");
    }
}

#[test]
fn opa_conformance_cases() {
    // jwtdecodeverify/ps256-key-wrong: a 4096-bit certificate, wrong key.
    let jwt = "eyJhbGciOiAiUFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJpc3MiOiAieHh4In0.iCePYnD1U13oBe_6ylhmojmkY_VZNYXqVszAej8RImMGv51OEqARmYFkRZYTiYCiVFober7vcDq_stOj1uAJCuttygGW_dpHiN-3EWsU2E2vCnXlygWe0ud38pOC-OVyEFbXxO9-m51vnS-3VmBjEO8G1UE8bLFXTeFOGkUIj9dqlefJSWh5wa8XA3g9mj0jqpuJi-7QgEIeVHk-JzhGpoFqI2f-Df_agVvc2x4V-6fJmj7wV2IsaFPRi36mVQmg8S-dkxu4AlaeCILhyNZl8ewjBHHBjJFRwzcy88L00mzdO51ZxEYsBdQav3ux2sc6vjT9PvvjAwzcthQxEoEaNA";
    let cert = include_str!("testdata/jwt/opa_4096_cert.pem");
    assert_eq!(dv(jwt, json!({ "cert": cert })), unverified());
    // jwtdecodeverify/EdDSA.
    let jwt = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiYWRtaW4iOnRydWUsImlhdCI6MTUxNjIzOTAyMn0.JkKWCY39IdWEQttmdqR7VdsvT-_QxheW_eb0S5wr_j83ltux_JDUIXs7a3Dtn3xuqzuhetiuJrWIvy5TzimeCg";
    let key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAwmK6SSAu2E9V7uynkCKEaj5nZJyTvNG4x0KohsRzLpg=\n-----END PUBLIC KEY-----\n";
    assert_eq!(
        dv(jwt, json!({ "cert": key })),
        json!([true, {"alg": "EdDSA", "typ": "JWT"},
            {"admin": true, "iat": 1516239022, "name": "John Doe", "sub": "1234567890"}])
    );
    // jwtdecodeverify/invalid-exp (its token made with a JWK secret "42").
    let jwt = hs256(json!({"alg": "HS256"}), json!({"exp": null}));
    let err = dv_error(&json!(jwt), json!({ "secret": SECRET }));
    assert!(
        err.contains("io.jwt.decode_verify: exp value must be a number"),
        "{err}"
    );
}

#[test]
fn nested_tokens_are_verified_at_every_level() {
    let inner = hs(json!({"sub": "inner"}));
    let outer_header = json!({"alg": "HS256", "cty": "JWT"});
    let outer = |payload: &str| {
        let input = format!(
            "{}.{}",
            b64(&outer_header),
            BASE64URL_NOPAD.encode(payload.as_bytes())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
        )
    };
    let out = dv(&outer(&inner), plain());
    assert_eq!(
        out,
        json!([true, {"alg": "HS256", "typ": "JWT"}, {"sub": "inner"}])
    );
    assert_eq!(dv(&outer(&tampered(&inner)), plain()), unverified());
}

#[test]
fn malformed_constraints_and_claims_are_errors() {
    let jwt = json!(token("HS256"));
    let cases = [
        (json!([]), "operand 2 must be object but got array"),
        (json!({}), "no key constraint"),
        (json!({"secret": ""}), "no key constraint"),
        (
            json!({"secret": "s", "cert": RSA_PUB}),
            "duplicate key constraints",
        ),
        (
            json!({"secret": "s", "foo": 1}),
            "unknown token validation constraint: foo",
        ),
        (json!({"secret": 1}), "secret constraint: must be a string"),
        (json!({"cert": 1}), "cert constraint: must be a string"),
        (json!({"cert": "nope"}), "failed to parse a JWK key (set)"),
        (
            json!({"secret": "s", "time": -1}),
            "token time constraint: must not be negative",
        ),
        (
            json!({"secret": "s", "time": "now"}),
            "token time constraint: must be a number",
        ),
    ];
    for (c, want) in cases {
        let err = dv_error(&jwt, c.clone());
        assert!(
            err.contains(&format!("io.jwt.decode_verify: {want}")),
            "{c}: {err}"
        );
    }
    let err = dv_error(&json!(1), plain());
    assert!(
        err.contains("operand 1 must be string but got number"),
        "{err}"
    );
    let err = dv_error(&json!(hs(json!({"nbf": "soon"}))), plain());
    assert!(err.contains("nbf value must be a number"), "{err}");
    let err = dv_error(&json!(hs256(json!({"alg": "HS256"}), json!([1]))), plain());
    assert!(err.contains("decoded JSON type was not an Object"), "{err}");
}
