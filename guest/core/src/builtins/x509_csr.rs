//! `crypto.x509.parse_certificate_request(csr)` (OPA `topdown/crypto.go`):
//! Go's `x509.ParseCertificateRequest` of a PEM, base64 PEM or base64 DER
//! PKCS #10 request, as Go's `encoding/json` writes it.

use super::pem;
use super::string_arg;
use super::x509::{
    Object, base64, extensions, list_or_null, name, oid, public_key, signature_algorithm,
};
use anyhow::{Result, anyhow, bail};
use data_encoding::BASE64;
use der::{Any, Decode, Encode, Tag, Tagged};
use regorus::Value;
use std::collections::BTreeSet;
use x509_cert::ext::Extension;
use x509_cert::request::CertReq;

/// The PKCS #9 `extensionRequest` attribute.
const EXTENSION_REQUEST: &str = "1.2.840.113549.1.9.14";
/// Subject alternative names, the one extension Go reads from a request.
const SUBJECT_ALT_NAME: &str = "2.5.29.17";

/// The DER of the request: PEM, or base64 of PEM or DER, as OPA takes it.
fn request_der(input: &str) -> Result<Vec<u8>> {
    let bytes = if input.starts_with("-----BEGIN CERTIFICATE REQUEST-----") {
        input.as_bytes().to_vec()
    } else {
        let text: Vec<u8> = input
            .bytes()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        BASE64
            .decode(&text)
            .map_err(|e| anyhow!("illegal base64 data: {e}"))?
    };
    match pem::decode(&String::from_utf8_lossy(&bytes)) {
        Some((block, _)) if block.label != "CERTIFICATE REQUEST" => {
            bail!("invalid PEM-encoded certificate signing request")
        }
        Some((block, _)) => Ok(block.der),
        None => Ok(bytes),
    }
}

/// Go's `asn1` decoding of an `any` value, as JSON: strings as strings,
/// octet strings and other bytes as base64; `None` for what Go's
/// `AttributeTypeAndValue` would not take.
fn any_value(v: &Any) -> Option<Value> {
    match v.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::TeletexString
        | Tag::NumericString => Some(Value::from(String::from_utf8_lossy(v.value()).into_owned())),
        Tag::OctetString => Some(base64(v.value())),
        Tag::Boolean => v.value().first().map(|b| Value::from(*b != 0)),
        _ => None,
    }
}

/// Go's `parseRawAttributes`: attributes whose values are sets of
/// `{type, value}` sequences (the extension request with non-critical
/// extensions); the others (a challenge password, ...) are left out.
fn attributes(req: &CertReq) -> Value {
    let mut out = Vec::new();
    'attrs: for attr in req.info.attributes.iter() {
        let mut values = Vec::new();
        for value in attr.values.iter() {
            let Ok(seq) = value.decode_as::<Vec<Vec<Any>>>() else {
                continue 'attrs;
            };
            let mut pairs = Vec::new();
            for pair in seq {
                let [kind, v] = pair.as_slice() else {
                    continue 'attrs;
                };
                let (Ok(kind), Some(v)) = (
                    kind.decode_as::<der::asn1::ObjectIdentifier>(),
                    any_value(v),
                ) else {
                    continue 'attrs;
                };
                let mut o = Object::new();
                o.set("Type", oid(&kind));
                o.set("Value", v);
                pairs.push(o.into_value());
            }
            values.push(Value::from(pairs));
        }
        let mut o = Object::new();
        o.set("Type", oid(&attr.oid));
        o.set("Value", Value::from(values));
        out.push(o.into_value());
    }
    list_or_null(out)
}

/// Go's `parseCSRExtensions`: the extensions of every extension request,
/// none requested twice.
fn requested_extensions(req: &CertReq) -> Result<Vec<Extension>> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for attr in req.info.attributes.iter() {
        if attr.oid.to_string() != EXTENSION_REQUEST {
            continue;
        }
        let Some(first) = attr.values.iter().next() else {
            continue;
        };
        let exts: Vec<Extension> = first
            .decode_as()
            .map_err(|e| anyhow!("x509: malformed extension request: {e}"))?;
        for ext in exts {
            if !seen.insert(ext.extn_id.to_string()) {
                bail!("x509: certificate request contains duplicate requested extensions");
            }
            out.push(ext);
        }
    }
    Ok(out)
}

/// `crypto.x509.parse_certificate_request(csr)`.
pub(super) fn parse_certificate_request(args: Vec<Value>) -> Result<Value> {
    let der = request_der(string_arg(&args, 0)?)?;
    let req = CertReq::from_der(&der).map_err(|e| anyhow!("x509: {e}"))?;
    let info = &req.info;
    let encode = |e: der::Error| anyhow!("x509: {e}");

    let mut o = Object::new();
    o.set("Raw", base64(&der));
    o.set(
        "RawTBSCertificateRequest",
        base64(&info.to_der().map_err(encode)?),
    );
    o.set(
        "RawSubjectPublicKeyInfo",
        base64(&info.public_key.to_der().map_err(encode)?),
    );
    o.set(
        "RawSubject",
        base64(&info.subject.to_der().map_err(encode)?),
    );
    o.set("Version", u64::from(info.version as u8));
    o.set("Signature", base64(req.signature.raw_bytes()));
    o.set(
        "SignatureAlgorithm",
        signature_algorithm(&req.algorithm.oid),
    );
    let (key_alg, key) = public_key(&info.public_key);
    o.set("PublicKeyAlgorithm", key_alg);
    o.set("PublicKey", key);
    o.set("Subject", name(&info.subject));
    o.set("Attributes", attributes(&req));
    o.set("ExtraExtensions", Value::Null);

    let exts = requested_extensions(&req)?;
    let list = exts
        .iter()
        .map(|ext| {
            let mut e = Object::new();
            e.set("Id", oid(&ext.extn_id));
            e.set("Critical", ext.critical);
            e.set("Value", base64(ext.extn_value.as_bytes()));
            e.into_value()
        })
        .collect();
    o.set("Extensions", list_or_null(list));
    // The names come from the SAN extension alone, as in Go (which parses
    // no other extension of a request).
    let san: Vec<Extension> = exts
        .into_iter()
        .filter(|e| e.extn_id.to_string() == SUBJECT_ALT_NAME)
        .collect();
    let mut fields = Object::new();
    extensions(&san, &mut fields)?;
    let fields = fields.into_value();
    for key in ["DNSNames", "EmailAddresses", "IPAddresses", "URIs"] {
        o.set(key, fields[key].clone());
    }
    Ok(o.into_value())
}

#[cfg(test)]
#[path = "x509_csr_tests.rs"]
mod tests;
