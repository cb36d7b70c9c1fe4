//! OPA bundles (<https://www.openpolicyagent.org/docs/management-bundles>):
//! reading a bundle from a gzipped tarball or from its files, its
//! `.manifest`, its data files placed by directory, its roots, and its
//! signature. Activating one in an engine is `Engine::activate_bundle`
//! (`engine_bundles.rs`); hosts own the network and the clock.

mod archive;
mod build;
mod data;
mod manifest;
mod roots;
mod signature;

pub use build::{BuildOptions, SigningConfig, build};
pub use manifest::{BundleKind, Manifest};
pub use signature::{VerificationConfig, VerificationKey};

pub use data::{PatchKind, PatchOp};
pub(crate) use data::{apply_patch, merge_into, remove_path};
pub(crate) use roots::{Root, check_package, overlap, within};

use crate::{Error, RegoVersion, Result};
use serde_json::Value as Json;

/// Bounds on what one bundle may hold, checked while it is read, so a
/// hostile archive (a gzip bomb, a million entries) costs at most these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// Most files in the bundle.
    pub max_files: usize,
    /// Most bytes of all files together, uncompressed.
    pub max_total_bytes: usize,
    /// Most bytes of one file, uncompressed.
    pub max_file_bytes: usize,
}

impl BundleLimits {
    /// 10,000 files, 64 MiB in all, 16 MiB per file.
    pub const DEFAULT: BundleLimits = BundleLimits {
        max_files: 10_000,
        max_total_bytes: 64 << 20,
        max_file_bytes: 16 << 20,
    };
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One file of a bundle: its path inside the bundle (`/`-separated, no
/// leading `/`) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Path inside the bundle, e.g. `authz/policy.rego`.
    pub path: String,
    /// The file's contents.
    pub bytes: Vec<u8>,
}

/// A Rego module of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleModule {
    /// Path inside the bundle.
    pub path: String,
    /// The module's source.
    pub source: String,
    /// The Rego version it is parsed as (manifest, then `file_rego_versions`).
    pub version: RegoVersion,
}

/// A bundle read and checked, ready to activate.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Its `.manifest` (defaults when it has none).
    pub manifest: Manifest,
    /// Its Rego modules, by path.
    pub modules: Vec<BundleModule>,
    /// Its data: every `data.json` / `data.yaml` merged at its directory.
    /// For a delta bundle, empty; see [`Bundle::patch`].
    pub data: Json,
    /// A delta bundle's `patch.json` operations.
    pub patch: Vec<data::PatchOp>,
}

/// Where a bundle comes from.
#[derive(Debug, Clone, Copy)]
pub enum BundleSource<'a> {
    /// A gzipped tarball, as `opa build` writes and bundle servers serve.
    TarGz(&'a [u8]),
    /// The files of a bundle directory (hosts read the directory).
    Files(&'a [BundleFile]),
}

impl Bundle {
    /// Reads, verifies (when `verification` is given) and checks a bundle:
    /// its manifest, modules, data and that both lie within its roots.
    /// `default_version` is the Rego version of modules the manifest says
    /// nothing about. Errors are `InvalidBundle`, except a data file that
    /// is not JSON (`InvalidJson`) or is over the document limits.
    pub fn read(
        source: BundleSource<'_>,
        verification: Option<&VerificationConfig>,
        default_version: RegoVersion,
        limits: &BundleLimits,
        doc_limits: &crate::Limits,
    ) -> Result<Bundle> {
        let owned;
        let files: &[BundleFile] = match source {
            BundleSource::TarGz(bytes) => {
                owned = archive::read_targz(bytes, limits)?;
                &owned
            }
            BundleSource::Files(files) => {
                archive::check_files(files, limits)?;
                files
            }
        };
        Self::from_files(files, verification, default_version, doc_limits)
    }

    fn from_files(
        files: &[BundleFile],
        verification: Option<&VerificationConfig>,
        default_version: RegoVersion,
        doc_limits: &crate::Limits,
    ) -> Result<Bundle> {
        if let Some(config) = verification {
            signature::verify(files, config)?;
        }
        let mut manifest = match files.iter().find(|f| f.path == ".manifest") {
            Some(f) => Manifest::parse(&f.bytes)?,
            None => Manifest::default(),
        };
        if files.iter().any(|f| f.path == "patch.json") {
            manifest.kind = BundleKind::Delta;
        }
        let roots: Vec<Root> = manifest.roots.iter().map(|r| Root::parse(r)).collect();
        let mut modules = Vec::new();
        let mut docs = Vec::new();
        let mut patch = Vec::new();
        for file in files {
            let name = file.path.rsplit('/').next().unwrap_or_default();
            if file.path.ends_with(".rego") {
                let source = std::str::from_utf8(&file.bytes).map_err(|_| {
                    Error::InvalidBundle(format!("{}: a module is not UTF-8", file.path))
                })?;
                let version = manifest.version_of(&file.path).unwrap_or(default_version);
                modules.push(BundleModule {
                    path: file.path.clone(),
                    source: source.to_owned(),
                    version,
                });
            } else if matches!(name, "data.json" | "data.yaml" | "data.yml") {
                docs.push((file, data::parse_file(file, doc_limits)?));
            } else if name == "patch.json" && file.path == "patch.json" {
                patch = data::parse_patch(&file.bytes, doc_limits)?;
            } else if file.path.ends_with(".wasm") || name == "plan.json" {
                return Err(Error::InvalidBundle(format!(
                    "{}: Wasm and plan modules in bundles are not supported; ship Rego",
                    file.path
                )));
            }
            // Other files (README, .signatures.json, the manifest) carry no
            // policy or data, as in OPA.
        }
        if manifest.kind == BundleKind::Delta && (!modules.is_empty() || !docs.is_empty()) {
            return Err(Error::InvalidBundle(
                "a delta bundle holds only .manifest and patch.json".into(),
            ));
        }
        let mut data = Json::Object(Default::default());
        for (file, doc) in docs {
            let dir = file.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let at: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
            merge_into(&mut data, &at, doc)
                .map_err(|e| Error::InvalidBundle(format!("{}: {e}", file.path)))?;
        }
        roots::check_data(&roots, &data)?;
        for op in &patch {
            roots::check_path(&roots, &op.path)?;
        }
        Ok(Bundle {
            manifest,
            modules,
            data,
            patch,
        })
    }
}

/// The path segments of a module's package (`data.a.b` -> `[a, b]`).
pub(crate) fn package_segments(package: &str) -> Vec<String> {
    let path = package.strip_prefix("data.").unwrap_or(package);
    let mut segs = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix("[\"") {
            let end = quoted.find("\"]").unwrap_or(quoted.len());
            segs.push(quoted.get(..end).unwrap_or_default().to_owned());
            rest = quoted.get(end + 2..).unwrap_or_default();
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segs.push(rest.get(..end).unwrap_or_default().to_owned());
            rest = rest.get(end..).unwrap_or_default();
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    segs
}

#[cfg(test)]
#[path = "../bundle_tests.rs"]
mod tests;
