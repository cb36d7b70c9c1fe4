//! `crypto.x509.parse_certificate_request`, on requests made by pyca
//! (testdata/keys/gen.py).

use crate::builtins::tests::{error_with, value_with};
use serde_json::{Value as Json, json};

const CSR_RSA: &str = include_str!("testdata/keys/csr_rsa.pem");
const CSR_EC: &str = include_str!("testdata/keys/csr_ec.pem");

fn expected() -> Json {
    serde_json::from_str(include_str!("testdata/keys/expected.json")).unwrap()
}

fn parse(csr: &str) -> Json {
    value_with(
        "crypto.x509.parse_certificate_request(input.c)",
        &json!({ "c": csr }),
    )
}

#[test]
fn a_request_with_subject_alternative_names() {
    let r = parse(CSR_RSA);
    assert_eq!(r["Raw"], expected()["csr_rsa_der"]);
    assert_eq!(r["Version"], json!(0));
    assert_eq!(r["SignatureAlgorithm"], json!(4)); // SHA256WithRSA
    assert_eq!(r["PublicKeyAlgorithm"], json!(1)); // RSA
    assert_eq!(r["PublicKey"]["E"], json!(65537));
    assert_eq!(r["Subject"]["CommonName"], json!("sark.example"));
    assert_eq!(r["Subject"]["Organization"], json!(["Sark"]));
    assert_eq!(r["DNSNames"], json!(["sark.example", "www.sark.example"]));
    assert_eq!(r["EmailAddresses"], json!(["ops@sark.example"]));
    assert_eq!(r["IPAddresses"], json!(["10.0.0.1"]));
    assert_eq!(r["URIs"][0]["Host"], json!("sark.example"));
    assert_eq!(r["URIs"][0]["Path"], json!("/id"));
    assert_eq!(r["ExtraExtensions"], json!(null));
    let ext = &r["Extensions"][0];
    assert_eq!(ext["Id"], json!([2, 5, 29, 17]));
    assert_eq!(ext["Critical"], json!(false));
    // The extension request attribute, as Go's AttributeTypeAndValueSET.
    let attr = &r["Attributes"][0];
    assert_eq!(attr["Type"], json!([1, 2, 840, 113549, 1, 9, 14]));
    assert_eq!(attr["Value"][0][0]["Type"], json!([2, 5, 29, 17]));
    assert_eq!(attr["Value"][0][0]["Value"], ext["Value"]);
    // Base64 of the PEM, and of the DER.
    let b64 = data_encoding::BASE64.encode(CSR_RSA.as_bytes());
    assert_eq!(parse(&b64)["Raw"], r["Raw"]);
    assert_eq!(
        parse(expected()["csr_rsa_der"].as_str().unwrap())["Raw"],
        r["Raw"]
    );
}

#[test]
fn critical_extensions_and_other_attributes() {
    let r = parse(CSR_EC);
    assert_eq!(r["Raw"], expected()["csr_ec_der"]);
    assert_eq!(r["SignatureAlgorithm"], json!(10)); // ECDSAWithSHA256
    assert_eq!(r["PublicKeyAlgorithm"], json!(3)); // ECDSA
    assert_eq!(r["PublicKey"]["Curve"], json!({}));
    assert_eq!(r["Extensions"][0]["Id"], json!([2, 5, 29, 19]));
    assert_eq!(r["Extensions"][0]["Critical"], json!(true));
    // Neither the challenge password nor an extension request holding a
    // critical extension fits Go's AttributeTypeAndValueSET.
    assert_eq!(r["Attributes"], json!(null));
    for names in ["DNSNames", "EmailAddresses", "IPAddresses", "URIs"] {
        assert_eq!(r[names], json!(null), "{names}");
    }
}

#[test]
fn errors() {
    let cert = include_str!("testdata/keys/p256_cert.pem");
    let b64 = data_encoding::BASE64.encode(cert.as_bytes());
    for (input, message) in [
        (
            b64.as_str(),
            "invalid PEM-encoded certificate signing request",
        ),
        ("not base64!", "illegal base64 data"),
        ("AAAA", "x509: "),
    ] {
        let err = error_with(
            "crypto.x509.parse_certificate_request(input.c)",
            &json!({ "c": input }),
        );
        assert!(
            err.contains("crypto.x509.parse_certificate_request: ") && err.contains(message),
            "{input}: {err}"
        );
    }
}
