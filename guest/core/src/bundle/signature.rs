//! Signed bundles as OPA signs them (`opa sign`, `opa build --signing-key`):
//! `.signatures.json` holds one JWT whose payload lists every file with its
//! digest. Verification follows OPA's `bundle/verify.go` and `hash.go`.

use super::BundleFile;
use crate::{Error, Result};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A key bundles may be signed with (OPA's `keys` configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    /// The key's id: the JWT's `kid` (or the bundle's configured `keyid`).
    pub id: String,
    /// `HS256`/`384`/`512`, `RS*`, `PS*`, `ES256`/`384`/`512` or `EdDSA`.
    pub algorithm: String,
    /// The HMAC secret for `HS*`; otherwise a PEM public key or certificate.
    pub key: String,
    /// The scope a bundle signed with this key must carry (may be empty).
    pub scope: String,
}

/// How a bundle's signature is checked (OPA's `signing` configuration of a
/// bundle, with the `keys` it may use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerificationConfig {
    /// The keys signatures may be made with.
    pub keys: Vec<VerificationKey>,
    /// The key to use whatever the JWT says (empty: the JWT's `kid`).
    pub key_id: String,
    /// The scope required (empty: the key's).
    pub scope: String,
    /// Glob patterns of files left out of the signature (`exclude_files`).
    pub exclude_files: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidBundle(format!("signature: {}", msg.into()))
}

#[derive(serde::Deserialize)]
struct Signatures {
    #[serde(default)]
    signatures: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Payload {
    #[serde(default)]
    files: Vec<FileInfo>,
    #[serde(default)]
    keyid: String,
    #[serde(default)]
    scope: String,
}

#[derive(serde::Deserialize)]
struct FileInfo {
    name: String,
    hash: String,
    #[serde(default)]
    algorithm: String,
}

/// Checks `files` against their `.signatures.json` under `config`: an
/// unsigned bundle, a signature by an unknown key or with another scope, a
/// file missing from the list, a digest that differs, or a listed file the
/// bundle lacks: each is `InvalidBundle`.
pub(super) fn verify(files: &[BundleFile], config: &VerificationConfig) -> Result<()> {
    let signatures = files
        .iter()
        .find(|f| f.path == ".signatures.json")
        .ok_or_else(|| invalid("bundle missing .signatures.json file"))?;
    let parsed: Signatures = serde_json::from_slice(&signatures.bytes)
        .map_err(|e| invalid(format!(".signatures.json: {e}")))?;
    let token = match parsed.signatures.as_slice() {
        [one] => one,
        [] => {
            return Err(invalid(
                ".signatures.json: missing JWT (expected exactly one)",
            ));
        }
        _ => return Err(invalid(".signatures.json: multiple JWTs not supported")),
    };
    let unverified: Payload = serde_json::from_slice(
        &crate::builtins::jws::payload_unverified(token).map_err(|e| invalid(format!("{e:#}")))?,
    )
    .map_err(|e| invalid(format!("JWT payload: {e}")))?;
    let mut key_id = config.key_id.clone();
    if key_id.is_empty() {
        key_id = crate::builtins::jws::key_id(token).map_err(|e| invalid(format!("{e:#}")))?;
    }
    if key_id.is_empty() {
        key_id = unverified.keyid;
    }
    if key_id.is_empty() {
        return Err(invalid("verification key ID is empty"));
    }
    let key = config.keys.iter().find(|k| k.id == key_id).ok_or_else(|| {
        invalid(format!(
            "verification key corresponding to ID {key_id:?} not found"
        ))
    })?;
    let payload = crate::builtins::jws::verify(token, &key.algorithm, &key.key)
        .map_err(|e| invalid(format!("{e:#}")))?;
    let payload: Payload =
        serde_json::from_slice(&payload).map_err(|e| invalid(format!("JWT payload: {e}")))?;
    let scope = if config.scope.is_empty() {
        &key.scope
    } else {
        &config.scope
    };
    if &payload.scope != scope {
        return Err(invalid("scope mismatch"));
    }
    let mut listed: BTreeMap<String, FileInfo> = payload
        .files
        .into_iter()
        .map(|f| (f.name.trim_start_matches('/').to_owned(), f))
        .collect();
    let excluded = exclusions(&config.exclude_files)?;
    for file in files {
        if file.path == ".signatures.json" {
            continue;
        }
        if excluded.iter().any(|g| g.matches(&file.path)) {
            listed.remove(&file.path);
            continue;
        }
        let info = listed.remove(&file.path).ok_or_else(|| {
            invalid(format!(
                "file {} not included in bundle signature",
                file.path
            ))
        })?;
        let got = digest(file, &info.algorithm)?;
        let want = data_encoding::HEXLOWER_PERMISSIVE
            .decode(info.hash.as_bytes())
            .map_err(|e| invalid(format!("{}: hash: {e}", file.path)))?;
        if got != want {
            return Err(invalid(format!(
                "{}: digest mismatch (want: {}, got: {})",
                file.path,
                info.hash,
                data_encoding::HEXLOWER.encode(&got)
            )));
        }
    }
    if !listed.is_empty() {
        let names: Vec<&str> = listed.keys().map(String::as_str).collect();
        return Err(invalid(format!(
            "file(s) {names:?} specified in bundle signatures but not found in the target bundle"
        )));
    }
    Ok(())
}

pub(super) fn exclusions(patterns: &[String]) -> Result<Vec<glob::Pattern>> {
    patterns
        .iter()
        .map(|p| {
            glob::Pattern::new(p.trim_start_matches('/'))
                .map_err(|e| invalid(format!("exclude_files {p:?}: {e}")))
        })
        .collect()
}

/// The file's digest as OPA computes it: structured documents (`data.json`,
/// `data.yaml`, `.manifest`) over their canonical JSON, others over bytes.
pub(super) fn digest(file: &BundleFile, algorithm: &str) -> Result<Vec<u8>> {
    let name = file.path.rsplit('/').next().unwrap_or_default();
    let bytes = if matches!(name, "data.json" | "data.yaml" | ".manifest") {
        let value: Json = if name == "data.yaml" {
            let text = std::str::from_utf8(&file.bytes)
                .map_err(|_| invalid(format!("{}: not UTF-8", file.path)))?;
            let v = regorus::Value::from_yaml_str(text)
                .map_err(|e| invalid(format!("{}: {e}", file.path)))?;
            serde_json::to_value(&v).map_err(|e| invalid(format!("{}: {e}", file.path)))?
        } else {
            serde_json::from_slice(&file.bytes)
                .map_err(|e| invalid(format!("{}: {e}", file.path)))?
        };
        let mut out = Vec::new();
        canonical(&value, &mut out);
        out
    } else {
        file.bytes.clone()
    };
    hash(algorithm, &bytes).ok_or_else(|| {
        invalid(format!(
            "{}: unsupported hashing algorithm: {algorithm:?}",
            file.path
        ))
    })
}

/// OPA's `hash.go` `walk`: objects with sorted keys, no whitespace, values
/// as Go's JSON encoder writes them without HTML escaping.
fn canonical(value: &Json, out: &mut Vec<u8>) {
    match value {
        Json::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                primitive(&Json::String(k.clone()), out);
                out.push(b':');
                if let Some(v) = map.get(k) {
                    canonical(v, out);
                }
            }
            out.push(b'}');
        }
        Json::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(v, out);
            }
            out.push(b']');
        }
        v => primitive(v, out),
    }
}

fn primitive(value: &Json, out: &mut Vec<u8>) {
    let text = value.to_string();
    // Go escapes the two JavaScript line separators; serde_json does not.
    out.extend_from_slice(
        text.replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
            .as_bytes(),
    );
}

fn hash(algorithm: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    Some(match algorithm {
        "SHA-256" => sha2::Sha256::digest(bytes).to_vec(),
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "SHA-1" => sha1::Sha1::digest(bytes).to_vec(),
        "SHA-224" => sha2::Sha224::digest(bytes).to_vec(),
        "SHA-384" => sha2::Sha384::digest(bytes).to_vec(),
        "SHA-512" => sha2::Sha512::digest(bytes).to_vec(),
        "SHA-512-224" => sha2::Sha512_224::digest(bytes).to_vec(),
        "SHA-512-256" => sha2::Sha512_256::digest(bytes).to_vec(),
        _ => return None,
    })
}
