//! A bundle's `.manifest`: revision, roots, Rego versions, metadata.

use crate::{Error, RegoVersion, Result};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A snapshot replaces everything under its roots; a delta (a bundle with
/// a `patch.json`, as OPA tells them apart) patches the active one's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BundleKind {
    /// A whole bundle (the default).
    #[default]
    Snapshot,
    /// `patch.json` operations on the active bundle's data.
    Delta,
}

/// What a `.manifest` declares (OPA's `bundle.Manifest`).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The bundle's revision, as the publisher set it (may be empty).
    pub revision: String,
    /// Paths under `data` the bundle owns (`""` is all of it, the default).
    pub roots: Vec<String>,
    /// The Rego version of its modules, when the manifest says.
    pub rego_version: Option<RegoVersion>,
    /// Per-file Rego versions: a path or glob (`*` stays within a
    /// directory, `**` crosses them) to the version.
    pub file_rego_versions: Vec<(String, RegoVersion)>,
    /// Free-form metadata, as JSON (`{}` when none).
    pub metadata: Json,
    /// Snapshot or delta (set from the files: a `patch.json` makes a delta).
    pub kind: BundleKind,
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            revision: String::new(),
            roots: vec![String::new()],
            rego_version: None,
            file_rego_versions: Vec::new(),
            metadata: Json::Object(Default::default()),
            kind: BundleKind::Snapshot,
        }
    }
}

/// The fields OPA reads; others are ignored, as OPA's JSON decoding does.
#[derive(serde::Deserialize)]
struct Raw {
    #[serde(default)]
    revision: String,
    roots: Option<Vec<String>>,
    rego_version: Option<i64>,
    #[serde(default)]
    file_rego_versions: BTreeMap<String, i64>,
    metadata: Option<Json>,
    /// OPA writes the Wasm entrypoints here; this engine has none.
    #[serde(default)]
    wasm: Option<Json>,
}

fn version(n: i64, what: &str) -> Result<RegoVersion> {
    match n {
        0 => Ok(RegoVersion::V0),
        1 => Ok(RegoVersion::V1),
        _ => Err(Error::InvalidBundle(format!(
            ".manifest: {what} must be 0 or 1, not {n}"
        ))),
    }
}

impl Manifest {
    /// Parses a `.manifest`; bad JSON, a bad version, overlapping roots or
    /// a non-object `metadata` are `InvalidBundle`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let raw: Raw = serde_json::from_slice(bytes)
            .map_err(|e| Error::InvalidBundle(format!(".manifest: {e}")))?;
        if raw.wasm.as_ref().is_some_and(|w| !w.is_null()) {
            return Err(Error::InvalidBundle(
                ".manifest: Wasm modules in bundles are not supported; ship Rego".into(),
            ));
        }
        let metadata = raw.metadata.unwrap_or(Json::Object(Default::default()));
        if !metadata.is_object() {
            return Err(Error::InvalidBundle(
                ".manifest: metadata must be an object".into(),
            ));
        }
        let mut roots = raw.roots.unwrap_or_else(|| vec![String::new()]);
        for r in &mut roots {
            *r = r.trim_matches('/').to_owned();
        }
        for (i, a) in roots.iter().enumerate() {
            for b in roots.iter().skip(i + 1) {
                if super::roots::overlap(&super::Root::parse(a), &super::Root::parse(b)) {
                    return Err(Error::InvalidBundle(format!(
                        ".manifest has overlapped roots: {a:?} and {b:?}"
                    )));
                }
            }
        }
        let file_rego_versions = raw
            .file_rego_versions
            .into_iter()
            .map(|(path, n)| {
                let v = version(n, &format!("file_rego_versions[{path:?}]"))?;
                glob::Pattern::new(path.trim_start_matches('/')).map_err(|e| {
                    Error::InvalidBundle(format!(".manifest: file_rego_versions {path:?}: {e}"))
                })?;
                Ok((path.trim_start_matches('/').to_owned(), v))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            revision: raw.revision,
            roots,
            rego_version: raw
                .rego_version
                .map(|n| version(n, "rego_version"))
                .transpose()?,
            file_rego_versions,
            metadata,
            kind: BundleKind::Snapshot,
        })
    }

    /// The Rego version of the module at `path`: `file_rego_versions` first
    /// (most specific: an exact path, then the longest matching glob), then
    /// the manifest's `rego_version`; `None` when the manifest is silent.
    pub fn version_of(&self, path: &str) -> Option<RegoVersion> {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.file_rego_versions
            .iter()
            .filter(|(p, _)| {
                p == path || glob::Pattern::new(p).is_ok_and(|g| g.matches_with(path, options))
            })
            .max_by_key(|(p, _)| (p == path, p.len()))
            .map(|(_, v)| *v)
            .or(self.rego_version)
    }
}
