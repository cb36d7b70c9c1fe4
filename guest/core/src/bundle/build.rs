//! Building a bundle as `opa build -b DIR` does: a gzipped tarball of a
//! directory's files, with the manifest's revision and roots set when
//! asked, checked by activating it in a scratch engine (so a module that
//! does not compile, data outside the roots or a bad manifest fails the
//! build, not the fleet), and signed as `opa build --signing-key` signs:
//! `.signatures.json` holding one JWT whose payload lists every file's
//! digest (OPA's canonical JSON for structured files).

use super::{Bundle, BundleFile, BundleLimits, BundleSource, signature};
use crate::{Engine, Error, RegoVersion, Result};
use serde_json::{Value as Json, json};

/// How to sign a bundle (`opa build --signing-key --signing-alg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    /// `RS256` (OPA's default), `RS384/512`, `PS*`, `ES256/384/512`,
    /// `EdDSA` or `HS256/384/512`.
    pub algorithm: String,
    /// The HMAC secret for `HS*`; otherwise a PEM private key.
    pub key: String,
    /// The JWT's `kid` (empty: none; verifiers then use their configured
    /// key id, OPA's `default`).
    pub key_id: String,
    /// The `scope` claim (empty: none).
    pub scope: String,
    /// Glob patterns of files left out of the signature, as verifiers'
    /// `exclude_files` list them.
    pub exclude_files: Vec<String>,
}

/// What `build` sets and checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// The manifest's `revision` (`opa build --revision`).
    pub revision: Option<String>,
    /// The manifest's `roots`.
    pub roots: Option<Vec<String>>,
    /// Signs the bundle when set.
    pub signing: Option<SigningConfig>,
}

/// Builds a bundle from `files` (a directory's, `/`-separated relative
/// paths): sets the manifest fields `options` gives, checks that it reads
/// and activates, signs it when asked, and returns the `.tar.gz` bytes.
/// Errors name the file: `InvalidBundle`, `InvalidPolicy`, `InvalidJson`,
/// `LimitExceeded`, or `Other` for a signing key that does not sign.
pub fn build(
    mut files: Vec<BundleFile>,
    options: &BuildOptions,
    limits: &BundleLimits,
    doc_limits: &crate::Limits,
) -> Result<Vec<u8>> {
    if options.signing.is_some() {
        files.retain(|f| f.path != ".signatures.json");
    }
    if options.revision.is_some() || options.roots.is_some() {
        set_manifest(&mut files, options)?;
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let bundle = Bundle::read(
        BundleSource::Files(&files),
        None,
        RegoVersion::V1,
        limits,
        doc_limits,
    )?;
    let mut scratch = Engine::with_limits(*doc_limits);
    scratch.activate_bundle("build", bundle)?;
    if let Some(signing) = &options.signing {
        let token = sign(&files, signing)?;
        let body = json!({ "signatures": [token] }).to_string();
        files.push(BundleFile {
            path: ".signatures.json".into(),
            bytes: body.into_bytes(),
        });
    }
    targz(&files)
}

/// Sets `revision` and `roots` in the `.manifest`, creating it if needed.
fn set_manifest(files: &mut Vec<BundleFile>, options: &BuildOptions) -> Result<()> {
    let index = match files.iter().position(|f| f.path == ".manifest") {
        Some(i) => i,
        None => {
            files.push(BundleFile {
                path: ".manifest".into(),
                bytes: b"{}".to_vec(),
            });
            files.len() - 1
        }
    };
    let file = files
        .get_mut(index)
        .ok_or_else(|| Error::Other("the manifest vanished".into()))?;
    let mut manifest: Json = serde_json::from_slice(&file.bytes)
        .map_err(|e| Error::InvalidBundle(format!(".manifest: {e}")))?;
    let Json::Object(fields) = &mut manifest else {
        return Err(Error::InvalidBundle(
            ".manifest is not a JSON object".into(),
        ));
    };
    if let Some(revision) = &options.revision {
        fields.insert("revision".into(), Json::String(revision.clone()));
    }
    if let Some(roots) = &options.roots {
        fields.insert("roots".into(), json!(roots));
    }
    file.bytes = manifest.to_string().into_bytes();
    Ok(())
}

/// The JWT of `.signatures.json`: every file not excluded, with its
/// SHA-256 digest as OPA computes it.
fn sign(files: &[BundleFile], signing: &SigningConfig) -> Result<String> {
    let excluded = signature::exclusions(&signing.exclude_files)?;
    let mut listed = Vec::new();
    for file in files {
        if excluded.iter().any(|g| g.matches(&file.path)) {
            continue;
        }
        let digest = signature::digest(file, "SHA-256")?;
        listed.push(json!({
            "name": file.path,
            "hash": data_encoding::HEXLOWER.encode(&digest),
            "algorithm": "SHA-256",
        }));
    }
    let mut payload = serde_json::Map::new();
    payload.insert("files".into(), Json::Array(listed));
    if !signing.scope.is_empty() {
        payload.insert("scope".into(), Json::String(signing.scope.clone()));
    }
    let payload = Json::Object(payload);
    crate::builtins::jws::sign(
        &signing.algorithm,
        &signing.key,
        &signing.key_id,
        &payload.to_string(),
    )
    .map_err(|e| Error::Other(format!("signing the bundle: {e:#}")))
}

/// A gzipped tarball of `files`, as `opa build` writes one: regular files,
/// mode 0644, no timestamps, so a build is reproducible.
fn targz(files: &[BundleFile]) -> Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &file.path, file.bytes.as_slice())
            .map_err(|e| Error::Other(format!("writing {}: {e}", file.path)))?;
    }
    let gz = tar
        .into_inner()
        .map_err(|e| Error::Other(format!("writing the tarball: {e}")))?;
    gz.finish()
        .map_err(|e| Error::Other(format!("compressing the tarball: {e}")))
}

#[cfg(test)]
#[path = "../bundle_build_tests.rs"]
mod tests;
