//! `crypto.x509.parse_certificates` on a certificate made by
//! pyca/cryptography (`testdata/sign/gen.py`).

use crate::builtins::tests::{error_with, value_with};
use data_encoding::BASE64;
use regorus::Value;
use serde_json::{Value as Json, json};

const CERT: &str = include_str!("testdata/sign/cert.pem");

fn parse(certs: &str) -> Json {
    value_with(
        "crypto.x509.parse_certificates(input.c)",
        &json!({ "c": certs }),
    )
}

#[test]
fn fields_of_a_certificate() {
    let out = parse(CERT);
    let c = &out[0];
    assert_eq!(c["Version"], json!(3));
    // The serial is exact as a Rego value, but JSON output rounds it.
    let direct = super::parse_certificates(vec![Value::from(CERT)]).unwrap();
    assert_eq!(
        direct[0][&Value::from("SerialNumber")],
        Value::from_numeric_string("1512366075204170929049582354406559215").unwrap()
    );
    assert_eq!(c["Subject"]["CommonName"], json!("sark.example.com"));
    assert_eq!(c["Subject"]["Organization"], json!(["Sark Test"]));
    assert_eq!(c["Subject"]["OrganizationalUnit"], json!(["Policy"]));
    assert_eq!(c["Subject"]["Country"], json!(["GB"]));
    assert_eq!(c["Subject"]["Locality"], Json::Null);
    assert_eq!(
        c["Subject"]["Names"][0],
        json!({"Type": [2, 5, 4, 6], "Value": "GB"})
    );
    assert_eq!(c["Issuer"]["CommonName"], json!("Sark Test CA"));
    assert_eq!(c["NotBefore"], json!("2024-01-02T03:04:05Z"));
    assert_eq!(c["NotAfter"], json!("2034-01-02T03:04:05Z"));
    assert_eq!(
        c["DNSNames"],
        json!(["sark.example.com", "www.sark.example.com"])
    );
    assert_eq!(c["EmailAddresses"], json!(["ops@sark.example.com"]));
    assert_eq!(c["IPAddresses"], json!(["192.0.2.7", "2001:db8::1"]));
    assert_eq!(
        c["URIStrings"],
        json!(["spiffe://sark.example.com/gateway"])
    );
    assert_eq!(c["URIs"][0]["Scheme"], json!("spiffe"));
    assert_eq!(c["URIs"][0]["Host"], json!("sark.example.com"));
    assert_eq!(c["URIs"][0]["Path"], json!("/gateway"));
    assert_eq!(c["IsCA"], json!(true));
    assert_eq!(c["BasicConstraintsValid"], json!(true));
    assert_eq!(c["MaxPathLen"], json!(1));
    // DigitalSignature | KeyEncipherment | CertSign.
    assert_eq!(c["KeyUsage"], json!(1 | 4 | 32));
    assert_eq!(c["ExtKeyUsage"], json!([1, 2]));
    assert_eq!(c["SignatureAlgorithm"], json!(4));
    assert_eq!(c["PublicKeyAlgorithm"], json!(1));
    assert_eq!(c["PublicKey"]["E"], json!(65537));
    // A 2048-bit modulus is beyond what regorus writes as a JSON number.
    assert!(c["PublicKey"]["N"].as_str().unwrap().len() > 308);
    assert_eq!(c["SubjectKeyId"], json!("AQIDBA=="));
    assert_eq!(c["AuthorityKeyId"], json!("BQYHCA=="));
    assert_eq!(c["OCSPServer"], json!(["http://ocsp.example.com"]));
    assert_eq!(
        c["IssuingCertificateURL"],
        json!(["http://ca.example.com/ca.der"])
    );
    assert_eq!(
        c["CRLDistributionPoints"],
        json!(["http://crl.example.com/ca.crl"])
    );
    assert_eq!(c["PolicyIdentifiers"], json!([[2, 23, 140, 1, 2, 1]]));
    assert_eq!(c["Policies"], json!(["2.23.140.1.2.1"]));
    assert_eq!(c["UnknownExtKeyUsage"], Json::Null);
    let exts = c["Extensions"].as_array().unwrap();
    assert_eq!(exts.len(), 9);
    assert_eq!(exts[1]["Id"], json!([2, 5, 29, 19]));
    assert_eq!(exts[1]["Critical"], json!(true));
}

#[test]
fn der_and_base64_pem_inputs() {
    let der = BASE64
        .decode(
            CERT.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>()
                .as_bytes(),
        )
        .unwrap();
    let two_ders = BASE64.encode(&[der.clone(), der].concat());
    assert_eq!(parse(&two_ders).as_array().unwrap().len(), 2);
    let b64_pem = BASE64.encode(format!("{CERT}{CERT}").as_bytes());
    let out = parse(&b64_pem);
    assert_eq!(out.as_array().unwrap().len(), 2);
    assert_eq!(out[1]["Subject"]["CommonName"], json!("sark.example.com"));
}

#[test]
fn no_certificates_is_an_empty_list() {
    // As Go's `x509.ParseCertificates` on no bytes.
    assert_eq!(parse(""), json!([]));
    assert_eq!(parse("-----BEGIN nothing"), json!([]));
}

#[test]
fn base64_may_be_wrapped() {
    let b64 = BASE64.encode(CERT.as_bytes());
    let (a, b) = b64.split_at(64);
    assert_eq!(parse(&format!("{a}\r\n{b}\n")).as_array().unwrap().len(), 1);
}

#[test]
fn errors() {
    let call = "crypto.x509.parse_certificates(input.c)";
    let err = error_with(call, &json!({"c": "not base64!"}));
    assert!(err.contains("crypto.x509.parse_certificates: "), "{err}");
    let key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";
    let err = error_with(call, &json!({"c": key}));
    assert!(err.contains("PEM block type is 'PUBLIC KEY'"), "{err}");
    let err = error_with(call, &json!({"c": BASE64.encode(b"\x30\x03\x02\x01\x01")}));
    assert!(err.contains("x509"), "{err}");
    let err = error_with(call, &json!({"c": 1}));
    assert!(err.contains("operand 1 must be string"), "{err}");
}
