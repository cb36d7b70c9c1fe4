//! `crypto.parse_private_keys`, `crypto.x509.parse_rsa_private_key`,
//! `crypto.x509.parse_keypair`, against keys and values from pyca
//! (testdata/keys/gen.py).

use crate::builtins::tests::{error_with, value_with};
use serde_json::{Value as Json, json};

const EXPECTED: &str = include_str!("testdata/keys/expected.json");

fn expected() -> Json {
    serde_json::from_str(EXPECTED).unwrap()
}

fn pem(name: &str) -> &'static str {
    match name {
        "rsa_pkcs1" => include_str!("testdata/keys/rsa_pkcs1.pem"),
        "rsa_pkcs8" => include_str!("testdata/keys/rsa_pkcs8.pem"),
        "p256_sec1" => include_str!("testdata/keys/p256_sec1.pem"),
        "p256_pkcs8" => include_str!("testdata/keys/p256_pkcs8.pem"),
        "p384_sec1" => include_str!("testdata/keys/p384_sec1.pem"),
        "p384_pkcs8" => include_str!("testdata/keys/p384_pkcs8.pem"),
        "p521_sec1" => include_str!("testdata/keys/p521_sec1.pem"),
        "p521_pkcs8" => include_str!("testdata/keys/p521_pkcs8.pem"),
        "ed25519_pkcs8" => include_str!("testdata/keys/ed25519_pkcs8.pem"),
        "p256_cert" => include_str!("testdata/keys/p256_cert.pem"),
        other => panic!("{other}"),
    }
}

/// A Rego comparison of `path` with the decimal integer `want`, compared
/// exactly inside Rego: a number, or beyond f64's range the decimal string
/// the engine gives (see `x509::signed_integer`).
fn equals_int(path: &str, want: &Json) -> String {
    let want = want.as_str().unwrap();
    if want.len() > 308 {
        format!("{path} == \"{want}\"")
    } else {
        format!("{path} == {want}")
    }
}

/// Whether every comparison holds for `input`.
fn all_hold(checks: &[String], input: &Json) -> bool {
    let expr = format!("[c | c := [{}][_]; not c] == []", checks.join(", "));
    value_with(&expr, input) == json!(true)
}

#[test]
fn rsa_keys_as_go_writes_them() {
    let want = &expected()["rsa"];
    for name in ["rsa_pkcs1", "rsa_pkcs8"] {
        let input = json!({"k": pem(name)});
        let k = "crypto.parse_private_keys(input.k)[0]";
        let checks = vec![
            equals_int(&format!("{k}.N"), &want["N"]),
            equals_int(&format!("{k}.E"), &want["E"]),
            equals_int(&format!("{k}.D"), &want["D"]),
            equals_int(&format!("{k}.Primes[0]"), &want["P"]),
            equals_int(&format!("{k}.Primes[1]"), &want["Q"]),
            equals_int(&format!("{k}.Precomputed.Dp"), &want["Dp"]),
            equals_int(&format!("{k}.Precomputed.Dq"), &want["Dq"]),
            equals_int(&format!("{k}.Precomputed.Qinv"), &want["Qinv"]),
            format!("{k}.Precomputed.CRTValues == []"),
            format!("count(crypto.parse_private_keys(input.k)) == 1"),
        ];
        assert!(all_hold(&checks, &input), "{name}");
    }
}

#[test]
fn ec_and_ed25519_keys_as_go_writes_them() {
    let all = expected();
    for curve in ["p256", "p384", "p521"] {
        for form in ["sec1", "pkcs8"] {
            let input = json!({"k": pem(&format!("{curve}_{form}"))});
            let k = "crypto.parse_private_keys(input.k)[0]";
            let want = &all[curve];
            let checks = vec![
                format!("{k}.Curve == {{}}"),
                equals_int(&format!("{k}.X"), &want["X"]),
                equals_int(&format!("{k}.Y"), &want["Y"]),
                equals_int(&format!("{k}.D"), &want["D"]),
            ];
            assert!(all_hold(&checks, &input), "{curve} {form}");
        }
    }
    let keys = value_with(
        "crypto.parse_private_keys(input.k)",
        &json!({"k": pem("ed25519_pkcs8")}),
    );
    assert_eq!(keys, json!([all["ed25519"]]));
}

#[test]
fn several_blocks_base64_and_empty_input() {
    let both = format!(
        "leading text\n{}junk\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n{}",
        pem("p256_sec1"),
        pem("rsa_pkcs1")
    );
    let input = json!({"k": both, "b": data_encoding::BASE64.encode(pem("p384_pkcs8").as_bytes())});
    assert_eq!(
        value_with("count(crypto.parse_private_keys(input.k))", &input),
        json!(2)
    );
    assert_eq!(
        value_with("count(crypto.parse_private_keys(input.b))", &input),
        json!(1)
    );
    assert_eq!(
        value_with(r#"crypto.parse_private_keys("")"#, &input),
        json!(null)
    );
    assert_eq!(
        value_with(r#"crypto.parse_private_keys("no keys")"#, &input),
        json!([])
    );
    let err = error_with(
        "crypto.parse_private_keys(input.k)",
        &json!({"k": "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"}),
    );
    assert!(err.contains("crypto.parse_private_keys: x509: "), "{err}");
}

#[test]
fn rsa_private_key_as_opas_jwk() {
    let want = &expected()["rsa"]["jwk"];
    for name in ["rsa_pkcs1", "rsa_pkcs8"] {
        let input =
            json!({"k": pem(name), "b": data_encoding::BASE64.encode(pem(name).as_bytes())});
        assert_eq!(
            &value_with("crypto.x509.parse_rsa_private_key(input.k)", &input),
            want
        );
        assert_eq!(
            &value_with("crypto.x509.parse_rsa_private_key(input.b)", &input),
            want
        );
    }
    // The JWK signs, and the token verifies with the public half.
    let input = json!({"k": pem("rsa_pkcs1")});
    let jwt = value_with(
        r#"io.jwt.encode_sign({"alg": "RS256"}, {"sub": "x"}, crypto.x509.parse_rsa_private_key(input.k))"#,
        &input,
    );
    let jwk = value_with("crypto.x509.parse_rsa_private_key(input.k)", &input);
    let out = value_with(
        "io.jwt.verify_rs256(input.t, input.j)",
        &json!({"t": jwt, "j": jwk.to_string()}),
    );
    assert_eq!(out, json!(true));
    // OPA's JWK of an ECDSA private key carries only its type.
    let ec = value_with(
        "crypto.x509.parse_rsa_private_key(input.k)",
        &json!({"k": pem("p256_sec1")}),
    );
    assert_eq!(ec, json!({"kty": "EC"}));
    assert_eq!(
        value_with(
            r#"crypto.x509.parse_rsa_private_key("-----BEGIN X-----\n-----END X-----\n")"#,
            &json!({})
        ),
        json!(null)
    );
    let err = error_with(r#"crypto.x509.parse_rsa_private_key("")"#, &json!({}));
    assert!(err.contains("input PEM data was empty"), "{err}");
    let err = error_with(r#"crypto.x509.parse_rsa_private_key("%%%")"#, &json!({}));
    assert!(err.contains("illegal base64 data"), "{err}");
}

#[test]
fn keypair_as_go_tls_writes_it() {
    let all = expected();
    let input = json!({"c": pem("p256_cert"), "k": pem("p256_pkcs8")});
    let pair = value_with("crypto.x509.parse_keypair(input.c, input.k)", &input);
    assert_eq!(pair["Certificate"], json!([all["cert_der"]]));
    assert_eq!(pair["Leaf"]["Subject"]["CommonName"], json!("sark keypair"));
    assert_eq!(pair["Leaf"]["SerialNumber"], json!(4242));
    assert!(pair["Leaf"].get("URIStrings").is_none());
    assert_eq!(pair["PrivateKey"]["Curve"], json!({}));
    for field in [
        "SupportedSignatureAlgorithms",
        "OCSPStaple",
        "SignedCertificateTimestamps",
    ] {
        assert_eq!(pair[field], json!(null), "{field}");
    }
    let checks = vec![equals_int(
        "crypto.x509.parse_keypair(input.c, input.k).PrivateKey.D",
        &all["p256"]["D"],
    )];
    assert!(all_hold(&checks, &input));
    // Base64 of PEM and of DER are taken too.
    let b64 = |s: &str| data_encoding::BASE64.encode(s.as_bytes());
    let der_input = json!({"c": all["cert_der"], "k": b64(pem("p256_sec1"))});
    let again = value_with("crypto.x509.parse_keypair(input.c, input.k)", &der_input);
    assert_eq!(again["Certificate"], pair["Certificate"]);

    for (cert, key, message) in [
        (
            "p256_cert",
            "p384_sec1",
            "private key does not match public key",
        ),
        (
            "p256_cert",
            "rsa_pkcs1",
            "private key type does not match public key type",
        ),
        (
            "p256_sec1",
            "p256_sec1",
            "PEM inputs may have been switched",
        ),
        (
            "p256_cert",
            "p256_cert",
            "found a certificate rather than a key",
        ),
    ] {
        let err = error_with(
            "crypto.x509.parse_keypair(input.c, input.k)",
            &json!({"c": pem(cert), "k": pem(key)}),
        );
        assert!(
            err.contains("crypto.x509.parse_keypair: tls: ") && err.contains(message),
            "{cert} {key}: {err}"
        );
    }
}
