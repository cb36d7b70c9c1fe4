//! `io.jwt.decode` and the token structure shared by the JWT builtins.

use crate::builtins::tests::{error_with, value_with};
use data_encoding::BASE64URL_NOPAD;
use serde_json::{Value as Json, json};

/// The token of OPA's conformance case `jwtbuiltins/simple-non-registered`.
const OPA_HS256: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuZXciOiJJIGFtIGEgdXNlciBjcmVhdGVkIGZpZWxkIiwiaXNzIjoib3BhIn0.6UmjsclVDGD9jcmX_F8RJzVgHtUZuLu2pxkF_UEQCrE";

/// An unsigned compact JWS of two JSON texts (signature `sig`).
pub(crate) fn unsigned(header: &Json, payload: &Json, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(payload.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(sig)
    )
}

fn decode(token: &str) -> Json {
    value_with("io.jwt.decode(input.t)", &json!({ "t": token }))
}

fn decode_error(token: &str) -> String {
    error_with("io.jwt.decode(input.t)", &json!({ "t": token }))
}

#[test]
fn decodes_header_payload_and_signature_hex() {
    // OPA conformance jwtbuiltins/simple-non-registered, in assignment form.
    assert_eq!(
        decode(OPA_HS256),
        json!([
            {"alg": "HS256", "typ": "JWT"},
            {"iss": "opa", "new": "I am a user created field"},
            "e949a3b1c9550c60fd8dc997fc5f112735601ed519b8bbb6a71905fd41100ab1"
        ])
    );
}

#[test]
fn refuses_a_jwe() {
    // OPA conformance jwtbuiltins/no-support-jwe.
    let jwe = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImVuYyI6ImJsYWgifQ.eyJuZXciOiJJIGFtIGEgdXNlciBjcmVhdGVkIGZpZWxkIiwiaXNzIjoib3BhIn0.McGUb1e-UviZKy6UyQErNNQzEUgeV25Buwk7OHOa8U8";
    let err = decode_error(jwe);
    assert!(
        err.contains("io.jwt.decode: JWT is a JWE object, which is not supported"),
        "{err}"
    );
}

#[test]
fn malformed_tokens_are_errors() {
    let cases = [
        ("nodots", "encoded JWT had no period separators"),
        ("a.b", "encoded JWT must have 3 sections, found 2"),
        ("a.b.c.d", "encoded JWT must have 3 sections, found 4"),
        (
            "e.e30.",
            "JWT header had invalid encoding: illegal base64url string: e",
        ),
        ("bm90IGpzb24.e30.", "bad JWT header: invalid JSON"),
        (
            "WzFd.e30.",
            "bad JWT header: decoded JSON type was not an Object",
        ),
        ("e30.WzFd.", "decoded JSON type was not an Object"),
        ("e30.e30.%%", "JWT signature had invalid encoding"),
    ];
    for (token, want) in cases {
        let err = decode_error(token);
        assert!(err.contains(want), "{token}: {err}");
    }
    let err = error_with("io.jwt.decode(input.t)", &json!({ "t": 7 }));
    assert!(
        err.contains("io.jwt.decode: operand 1 must be string but got number"),
        "{err}"
    );
}

#[test]
fn accepts_padded_parts_and_unchecked_trailing_bits() {
    // Go's decoder, hence OPA's, takes "=" padding and ignores the unused
    // low bits of the last character ("e30" and "e31" both decode to "{}").
    let t = decode("e30=.eyJhIjoxfQ==.AQ");
    assert_eq!(t, json!([{}, {"a": 1}, "01"]));
    assert_eq!(decode("e31.e30.")[0], json!({}));
}

#[test]
fn decodes_the_inner_token_of_a_nested_jwt() {
    let inner = unsigned(
        &json!({"alg": "HS256"}),
        &json!({"sub": "inner"}),
        b"\x01\x02",
    );
    let payload = format!("\"{inner}\"");
    let outer = format!(
        "{}.{}.AA",
        BASE64URL_NOPAD.encode(br#"{"alg":"HS256","cty":"JWT"}"#),
        BASE64URL_NOPAD.encode(payload.as_bytes())
    );
    assert_eq!(
        decode(&outer),
        json!([{"alg": "HS256"}, {"sub": "inner"}, "0102"])
    );
}

#[test]
fn keeps_numbers_and_nested_claims() {
    let t = unsigned(
        &json!({"alg": "none"}),
        &json!({"exp": 1300819380, "scope": ["a", "b"], "ctx": {"n": 1.5}}),
        b"",
    );
    assert_eq!(
        decode(&t)[1],
        json!({"exp": 1300819380, "scope": ["a", "b"], "ctx": {"n": 1.5}})
    );
}
