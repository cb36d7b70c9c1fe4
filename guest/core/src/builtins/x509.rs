//! `crypto.x509.parse_certificates`: OPA's `builtinCryptoX509ParseCertificates`
//! (`v1/topdown/crypto.go`), which returns Go's `x509.Certificate` as
//! `encoding/json` writes it, plus OPA's `URIStrings`.
//!
//! The fields are Go's, with its conventions: byte strings in base64, OIDs
//! as arrays of integers (`Policies`: dotted strings), Go's enumeration
//! numbers for algorithms and key usages, `null` for an absent list.
//! Differences: the name constraints (`Permitted*`/`Excluded*`) are always
//! `null`, a name attribute that is not a string has a `null` value, and an
//! integer beyond the range of an `f64` (an RSA modulus, `PublicKey.N`) is a
//! decimal string, as regorus cannot write it as a JSON number.

use super::pem;
use super::string_arg;
use anyhow::{Result, anyhow, bail};
use data_encoding::BASE64;
use der::asn1::{BitString, ObjectIdentifier as Oid};
use der::{Any, Decode, Encode, Tag, Tagged};
use regorus::Value;
use rsa::BigUint;
use std::collections::BTreeMap;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::time::Time;

/// `crypto.x509.parse_certificates(certs)`: PEM, or base64 of PEM or DER.
pub(super) fn parse_certificates(args: Vec<Value>) -> Result<Value> {
    let input = string_arg(&args, 0)?;
    let certs = if input.starts_with("-----BEGIN") {
        ders_from_pem(input)?
    } else {
        // Go's decoder skips line breaks, and otherwise wants padding.
        let text: Vec<u8> = input
            .bytes()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        let bytes = BASE64
            .decode(&text)
            .map_err(|e| anyhow!("illegal base64 data: {e}"))?;
        if bytes.starts_with(b"-----BEGIN") {
            ders_from_pem(&String::from_utf8_lossy(&bytes))?
        } else {
            split_der(&bytes)?
        }
    };
    let mut out = Vec::with_capacity(certs.len());
    for der in certs {
        let cert = Certificate::from_der(&der).map_err(|e| anyhow!("x509: {e}"))?;
        out.push(certificate(&cert, &der)?);
    }
    Ok(Value::from(out))
}

/// The DER of each CERTIFICATE block, up to the first text that is not one
/// (none at all gives no certificates, as in Go).
fn ders_from_pem(text: &str) -> Result<Vec<Vec<u8>>> {
    let mut ders = Vec::new();
    let mut rest = text;
    while let Some((block, after)) = pem::decode(rest) {
        if block.label != "CERTIFICATE" {
            bail!("PEM block type is '{}', expected CERTIFICATE", block.label);
        }
        ders.push(block.der);
        rest = after;
    }
    Ok(ders)
}

/// Concatenated DER certificates (Go's `x509.ParseCertificates`); none
/// in an empty input.
fn split_der(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut ders = Vec::new();
    while !bytes.is_empty() {
        let mut reader = der::SliceReader::new(bytes).map_err(|e| anyhow!("x509: {e}"))?;
        let any = <Any as der::Decode>::decode(&mut reader).map_err(|e| anyhow!("x509: {e}"))?;
        let len = usize::try_from(u32::from(any.encoded_len().map_err(|e| anyhow!("{e}"))?))?;
        let (one, after) = bytes
            .split_at_checked(len)
            .ok_or_else(|| anyhow!("x509: malformed certificate"))?;
        ders.push(one.to_vec());
        bytes = after;
    }
    Ok(ders)
}

/// Fields of an object.
pub(super) struct Object(BTreeMap<Value, Value>);

impl Object {
    pub(super) fn new() -> Self {
        Self(BTreeMap::new())
    }

    pub(super) fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.0.insert(Value::from(name), value.into());
    }

    pub(super) fn into_value(self) -> Value {
        Value::from(self.0)
    }
}

pub(super) fn certificate(cert: &Certificate, raw: &[u8]) -> Result<Value> {
    let tbs = &cert.tbs_certificate;
    let der = |e: der::Error| anyhow!("x509: {e}");
    let mut o = Object::new();
    o.set("Raw", base64(raw));
    o.set("RawTBSCertificate", base64(&tbs.to_der().map_err(der)?));
    o.set(
        "RawSubjectPublicKeyInfo",
        base64(&tbs.subject_public_key_info.to_der().map_err(der)?),
    );
    o.set("RawSubject", base64(&tbs.subject.to_der().map_err(der)?));
    o.set("RawIssuer", base64(&tbs.issuer.to_der().map_err(der)?));
    o.set("Signature", base64(cert.signature.raw_bytes()));
    o.set(
        "SignatureAlgorithm",
        signature_algorithm(&cert.signature_algorithm.oid),
    );
    let (key_alg, key) = public_key(&tbs.subject_public_key_info);
    o.set("PublicKeyAlgorithm", key_alg);
    o.set("PublicKey", key);
    o.set("Version", u64::from(tbs.version as u8) + 1);
    o.set("SerialNumber", signed_integer(tbs.serial_number.as_bytes()));
    o.set("Issuer", name(&tbs.issuer));
    o.set("Subject", name(&tbs.subject));
    o.set("NotBefore", rfc3339(&tbs.validity.not_before));
    o.set("NotAfter", rfc3339(&tbs.validity.not_after));
    extensions(tbs.extensions.as_deref().unwrap_or_default(), &mut o)?;
    for null in [
        "ExtraExtensions",
        "UnhandledCriticalExtensions",
        "PermittedDNSDomains",
        "ExcludedDNSDomains",
        "PermittedIPRanges",
        "ExcludedIPRanges",
        "PermittedEmailAddresses",
        "ExcludedEmailAddresses",
        "PermittedURIDomains",
        "ExcludedURIDomains",
    ] {
        o.set(null, Value::Null);
    }
    o.set("PermittedDNSDomainsCritical", false);
    Ok(o.into_value())
}

/// The fields Go fills from extensions, with their defaults when absent.
pub(super) fn extensions(exts: &[x509_cert::ext::Extension], o: &mut Object) -> Result<()> {
    let (mut dns, mut emails, mut ips, mut uris) = (vec![], vec![], vec![], vec![]);
    let (mut ocsp, mut issuers, mut crls) = (vec![], vec![], vec![]);
    let (mut policies, mut dotted) = (vec![], vec![]);
    let (mut ext_usage, mut unknown_usage) = (vec![], vec![]);
    let mut key_usage = 0u64;
    let (mut bc_valid, mut is_ca, mut max_path) = (false, false, 0i64);
    let (mut skid, mut akid) = (Value::Null, Value::Null);
    let mut list = Vec::with_capacity(exts.len());
    let bad = |what: &str, e: der::Error| anyhow!("x509: invalid {what}: {e}");
    for ext in exts {
        let mut e = Object::new();
        e.set("Id", oid(&ext.extn_id));
        e.set("Critical", ext.critical);
        e.set("Value", base64(ext.extn_value.as_bytes()));
        list.push(e.into_value());
        let value = ext.extn_value.as_bytes();
        match ext.extn_id.to_string().as_str() {
            "2.5.29.17" => {
                let san = SubjectAltName::from_der(value).map_err(|e| bad("SAN", e))?;
                for n in san.0 {
                    match n {
                        GeneralName::DnsName(s) => dns.push(Value::from(s.as_str())),
                        GeneralName::Rfc822Name(s) => emails.push(Value::from(s.as_str())),
                        GeneralName::UniformResourceIdentifier(s) => uris.push(s.to_string()),
                        GeneralName::IpAddress(b) => ips.push(Value::from(ip(b.as_bytes())?)),
                        _ => {}
                    }
                }
            }
            "2.5.29.19" => {
                let bc =
                    BasicConstraints::from_der(value).map_err(|e| bad("basic constraints", e))?;
                bc_valid = true;
                is_ca = bc.ca;
                max_path = bc.path_len_constraint.map_or(-1, i64::from);
            }
            "2.5.29.15" => {
                let bits = BitString::from_der(value).map_err(|e| bad("key usage", e))?;
                for i in 0..9 {
                    let byte = bits.raw_bytes().get(i / 8).copied().unwrap_or(0);
                    if byte & (0x80 >> (i % 8)) != 0 {
                        key_usage |= 1 << i;
                    }
                }
            }
            "2.5.29.37" => {
                let eku = ExtendedKeyUsage::from_der(value).map_err(|e| bad("EKU", e))?;
                for id in eku.0 {
                    match ext_key_usage(&id) {
                        Some(n) => ext_usage.push(Value::from(n)),
                        None => unknown_usage.push(oid(&id)),
                    }
                }
            }
            "2.5.29.14" => {
                let id = SubjectKeyIdentifier::from_der(value).map_err(|e| bad("SKID", e))?;
                skid = base64(id.0.as_bytes());
            }
            "2.5.29.35" => {
                let id = AuthorityKeyIdentifier::from_der(value).map_err(|e| bad("AKID", e))?;
                if let Some(k) = id.key_identifier {
                    akid = base64(k.as_bytes());
                }
            }
            "1.3.6.1.5.5.7.1.1" => {
                let aia = AuthorityInfoAccessSyntax::from_der(value).map_err(|e| bad("AIA", e))?;
                for d in aia.0 {
                    let GeneralName::UniformResourceIdentifier(uri) = d.access_location else {
                        continue;
                    };
                    match d.access_method.to_string().as_str() {
                        "1.3.6.1.5.5.7.48.1" => ocsp.push(Value::from(uri.as_str())),
                        "1.3.6.1.5.5.7.48.2" => issuers.push(Value::from(uri.as_str())),
                        _ => {}
                    }
                }
            }
            "2.5.29.31" => {
                let dps = CrlDistributionPoints::from_der(value).map_err(|e| bad("CRL DP", e))?;
                for dp in dps.0 {
                    if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                        for n in names {
                            if let GeneralName::UniformResourceIdentifier(uri) = n {
                                crls.push(Value::from(uri.as_str()));
                            }
                        }
                    }
                }
            }
            "2.5.29.32" => {
                let ps = CertificatePolicies::from_der(value).map_err(|e| bad("policies", e))?;
                for p in ps.0 {
                    policies.push(oid(&p.policy_identifier));
                    dotted.push(Value::from(p.policy_identifier.to_string()));
                }
            }
            _ => {}
        }
    }
    let uri_objects = uris.iter().map(|u| url(u)).collect();
    let uri_strings = uris.into_iter().map(Value::from).collect();
    o.set("Extensions", list_or_null(list));
    o.set("KeyUsage", key_usage);
    o.set("ExtKeyUsage", list_or_null(ext_usage));
    o.set("UnknownExtKeyUsage", list_or_null(unknown_usage));
    o.set("BasicConstraintsValid", bc_valid);
    o.set("IsCA", is_ca);
    o.set("MaxPathLen", max_path);
    o.set("MaxPathLenZero", bc_valid && max_path == 0);
    o.set("SubjectKeyId", skid);
    o.set("AuthorityKeyId", akid);
    o.set("OCSPServer", list_or_null(ocsp));
    o.set("IssuingCertificateURL", list_or_null(issuers));
    o.set("DNSNames", list_or_null(dns));
    o.set("EmailAddresses", list_or_null(emails));
    o.set("IPAddresses", list_or_null(ips));
    o.set("URIs", list_or_null(uri_objects));
    o.set("URIStrings", list_or_null(uri_strings));
    o.set("CRLDistributionPoints", list_or_null(crls));
    o.set("PolicyIdentifiers", list_or_null(policies));
    o.set("Policies", list_or_null(dotted));
    Ok(())
}

/// Go marshals a nil slice as `null`.
pub(super) fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::from(items)
    }
}

pub(super) fn base64(bytes: &[u8]) -> Value {
    Value::from(BASE64.encode(bytes))
}

pub(super) fn oid(id: &Oid) -> Value {
    Value::from(
        id.arcs()
            .map(|a| Value::from(u64::from(a)))
            .collect::<Vec<_>>(),
    )
}

/// A big-endian two's-complement integer as a JSON number (Go's `big.Int`).
pub(super) fn signed_integer(bytes: &[u8]) -> Value {
    let magnitude = BigUint::from_bytes_be(bytes);
    let text = match bytes.first() {
        Some(b) if b & 0x80 != 0 => {
            let modulus = BigUint::from(1u8) << (8 * bytes.len());
            format!("-{}", modulus - magnitude)
        }
        _ => magnitude.to_string(),
    };
    // Exact inside Rego, but regorus writes numbers out through an f64
    // (serde_json without `arbitrary_precision`) and fails on one beyond
    // its range, such as an RSA modulus: that one is kept as a decimal
    // string, where Go writes a number.
    if text.trim_start_matches('-').len() > F64_MAX_DIGITS {
        return Value::from(text);
    }
    Value::from_numeric_string(&text).unwrap_or(Value::Null)
}

/// Integers with more digits than this are beyond `f64::MAX` (~1.8e308).
const F64_MAX_DIGITS: usize = 308;

/// Go's `pkix.Name` as JSON.
pub(super) fn name(n: &Name) -> Value {
    const FIELDS: [(&str, &str); 7] = [
        ("2.5.4.6", "Country"),
        ("2.5.4.10", "Organization"),
        ("2.5.4.11", "OrganizationalUnit"),
        ("2.5.4.7", "Locality"),
        ("2.5.4.8", "Province"),
        ("2.5.4.9", "StreetAddress"),
        ("2.5.4.17", "PostalCode"),
    ];
    let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let (mut cn, mut serial) = (String::new(), String::new());
    let mut names = Vec::new();
    for atv in n.0.iter().flat_map(|rdn| rdn.0.iter()) {
        let id = atv.oid.to_string();
        let value = string_value(&atv.value);
        let mut entry = Object::new();
        entry.set("Type", oid(&atv.oid));
        entry.set("Value", value.clone().map_or(Value::Null, Value::from));
        names.push(entry.into_value());
        let Some(value) = value else { continue };
        match id.as_str() {
            "2.5.4.3" => cn = value,
            "2.5.4.5" => serial = value,
            _ => {
                if let Some((_, field)) = FIELDS.iter().find(|(o, _)| *o == id) {
                    lists.entry(field).or_default().push(Value::from(value));
                }
            }
        }
    }
    let mut o = Object::new();
    for (_, field) in FIELDS {
        o.set(field, list_or_null(lists.remove(field).unwrap_or_default()));
    }
    o.set("CommonName", cn);
    o.set("SerialNumber", serial);
    o.set("Names", list_or_null(names));
    o.set("ExtraNames", Value::Null);
    o.into_value()
}

/// The text of a directory string; `None` for other types.
fn string_value(v: &Any) -> Option<String> {
    let bytes = v.value();
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| match c {
                    &[hi, lo] => u16::from_be_bytes([hi, lo]),
                    _ => 0,
                })
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 3339 in UTC, as Go writes a `time.Time`.
fn rfc3339(t: &Time) -> Value {
    let d = t.to_date_time();
    Value::from(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds()
    ))
}

/// Go's `net.IP.String()`.
fn ip(bytes: &[u8]) -> Result<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Ok(std::net::Ipv4Addr::from(v4).to_string());
    }
    let v6 = <[u8; 16]>::try_from(bytes).map_err(|_| anyhow!("x509: invalid IP address"))?;
    let v6 = std::net::Ipv6Addr::from(v6);
    Ok(match v6.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => v6.to_string(),
    })
}

/// Go's `url.URL` as JSON, for the URIs a certificate names: scheme,
/// authority, path, query and fragment split as `url.Parse` does for them.
fn url(text: &str) -> Value {
    let (rest, fragment) = text.split_once('#').unwrap_or((text, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, rest) = match rest.split_once(':') {
        Some((s, r)) if !s.is_empty() && !s.contains('/') => (s, r),
        _ => ("", rest),
    };
    let (host, path, opaque) = match rest.strip_prefix("//") {
        Some(auth) => {
            let (host, path) = auth.find('/').map_or((auth, ""), |i| auth.split_at(i));
            (host, path, "")
        }
        None if !scheme.is_empty() && !rest.starts_with('/') => ("", "", rest),
        None => ("", rest, ""),
    };
    let mut o = Object::new();
    o.set("Scheme", scheme.to_ascii_lowercase());
    o.set("Opaque", opaque);
    o.set("User", Value::Null);
    o.set("Host", host);
    o.set("Path", path);
    o.set("RawPath", "");
    o.set("OmitHost", false);
    o.set("ForceQuery", false);
    o.set("RawQuery", query);
    o.set("Fragment", fragment);
    o.set("RawFragment", "");
    o.into_value()
}

/// Go's `x509.SignatureAlgorithm` number; 0 (unknown) for RSA-PSS, whose
/// hash is in the parameters.
pub(super) fn signature_algorithm(id: &Oid) -> u64 {
    match id.to_string().as_str() {
        "1.2.840.113549.1.1.2" => 1,
        "1.2.840.113549.1.1.4" => 2,
        "1.2.840.113549.1.1.5" => 3,
        "1.2.840.113549.1.1.11" => 4,
        "1.2.840.113549.1.1.12" => 5,
        "1.2.840.113549.1.1.13" => 6,
        "1.2.840.10040.4.3" => 7,
        "2.16.840.1.101.3.4.3.2" => 8,
        "1.2.840.10045.4.1" => 9,
        "1.2.840.10045.4.3.2" => 10,
        "1.2.840.10045.4.3.3" => 11,
        "1.2.840.10045.4.3.4" => 12,
        "1.3.101.112" => 16,
        _ => 0,
    }
}

/// Go's `x509.ExtKeyUsage` number.
fn ext_key_usage(id: &Oid) -> Option<u64> {
    Some(match id.to_string().as_str() {
        "2.5.29.37.0" => 0,
        "1.3.6.1.5.5.7.3.1" => 1,
        "1.3.6.1.5.5.7.3.2" => 2,
        "1.3.6.1.5.5.7.3.3" => 3,
        "1.3.6.1.5.5.7.3.4" => 4,
        "1.3.6.1.5.5.7.3.5" => 5,
        "1.3.6.1.5.5.7.3.6" => 6,
        "1.3.6.1.5.5.7.3.7" => 7,
        "1.3.6.1.5.5.7.3.8" => 8,
        "1.3.6.1.5.5.7.3.9" => 9,
        "1.3.6.1.4.1.311.10.3.3" => 10,
        "2.16.840.1.113730.4.1" => 11,
        "1.3.6.1.4.1.311.2.1.22" => 12,
        "1.3.6.1.4.1.311.61.1.1" => 13,
        _ => return None,
    })
}

/// Go's `x509.PublicKeyAlgorithm` number and its JSON of the key: `N` and
/// `E` for RSA, `X` and `Y` for ECDSA (the curve has no exported fields),
/// the key bytes for Ed25519.
pub(super) fn public_key(info: &spki::SubjectPublicKeyInfoOwned) -> (u64, Value) {
    let raw = info.subject_public_key.raw_bytes();
    let int = |b: &[u8]| signed_integer(&[&[0u8][..], b].concat());
    match info.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => {
            let Ok(key) = rsa::pkcs1::RsaPublicKey::from_der(raw) else {
                return (1, Value::Null);
            };
            let mut o = Object::new();
            o.set("N", int(key.modulus.as_bytes()));
            o.set("E", int(key.public_exponent.as_bytes()));
            (1, o.into_value())
        }
        "1.2.840.10040.4.1" => (2, Value::Null),
        "1.2.840.10045.2.1" => {
            let Some((&4, xy)) = raw.split_first() else {
                return (3, Value::Null);
            };
            let (x, y) = xy.split_at(xy.len() / 2);
            let mut o = Object::new();
            o.set("Curve", Value::from(BTreeMap::new()));
            o.set("X", int(x));
            o.set("Y", int(y));
            (3, o.into_value())
        }
        "1.3.101.112" => (4, base64(raw)),
        _ => (0, Value::Null),
    }
}

#[cfg(test)]
#[path = "x509_tests.rs"]
mod tests;
