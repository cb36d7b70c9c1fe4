//! OPA bundles in the Rust host: the bundle's bytes ([`BundleSource`]),
//! signature verification settings, what the component reports of an
//! active bundle, polling a bundle server ([`BundlePoller`]) and the status
//! of each bundle in the metrics. Reading and activating bundles is the
//! component's (`engine.activate-bundle`); the host owns files, the network
//! and the clock.

mod build;
mod poll;
mod status;

pub use build::{BuildOptions, Signing};
pub use poll::{BundleConfig, BundlePoller, PollOutcome};
pub use status::BundleStatus;
pub(crate) use status::{Registry, prometheus};

use crate::bindings::exports::sark::policy::evaluator::{
    BundleFile as WitBundleFile, BundleInfo as WitBundleInfo, BundleSource as WitBundleSource,
    Verification as WitVerification, VerificationKey as WitVerificationKey,
};
use std::path::Path;

/// An OPA bundle's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleSource {
    /// A gzipped tarball, as `opa build` writes and bundle servers serve.
    Tarball(Vec<u8>),
    /// The files of a bundle directory: (path inside the bundle, contents).
    Files(Vec<(String, Vec<u8>)>),
}

impl BundleSource {
    /// A `.tar.gz` file, or a bundle directory (every regular file under
    /// it, paths relative and `/`-separated; hidden files such as
    /// `.manifest` included, symbolic links not followed).
    pub fn from_path(path: &Path) -> std::io::Result<BundleSource> {
        if path.is_dir() {
            let mut files = Vec::new();
            collect(path, path, &mut files)?;
            files.sort();
            Ok(BundleSource::Files(files))
        } else {
            std::fs::read(path).map(BundleSource::Tarball)
        }
    }

    /// Bytes held (for the journal's accounting and for messages).
    pub fn len(&self) -> usize {
        match self {
            BundleSource::Tarball(b) => b.len(),
            BundleSource::Files(f) => f.iter().map(|(p, b)| p.len() + b.len()).sum(),
        }
    }

    /// True when it holds no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn to_wit(&self) -> WitBundleSource {
        match self {
            BundleSource::Tarball(b) => WitBundleSource::Tarball(b.clone()),
            BundleSource::Files(f) => WitBundleSource::Files(
                f.iter()
                    .map(|(path, bytes)| WitBundleFile {
                        path: path.clone(),
                        bytes: bytes.clone(),
                    })
                    .collect(),
            ),
        }
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, std::fs::read(&path)?));
        }
    }
    Ok(())
}

/// A key signed bundles may be verified with (OPA's `keys`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerificationKey {
    /// The key's id, matched against the JWT's `kid` (or [`Verification::key_id`]).
    pub id: String,
    /// `HS256`/`384`/`512`, `RS*`, `PS*`, `ES256`/`384`/`512` or `EdDSA`.
    pub algorithm: String,
    /// The HMAC secret for `HS*`; otherwise a PEM public key or certificate,
    /// or a JWK.
    pub key: String,
    /// The scope bundles signed with this key must carry (may be empty).
    pub scope: String,
}

/// How a bundle's `.signatures.json` is checked (OPA's `signing`). With
/// one, an unsigned bundle, one signed with another key, or one whose files
/// differ from what was signed is refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verification {
    /// The keys signatures may be made with.
    pub keys: Vec<VerificationKey>,
    /// Use this key whatever the JWT says (empty: the JWT's `kid`).
    pub key_id: String,
    /// The scope required (empty: the key's).
    pub scope: String,
    /// Glob patterns of files left out of the signature.
    pub exclude_files: Vec<String>,
}

impl Verification {
    pub(crate) fn to_wit(&self) -> WitVerification {
        WitVerification {
            keys: self
                .keys
                .iter()
                .map(|k| WitVerificationKey {
                    id: k.id.clone(),
                    algorithm: k.algorithm.clone(),
                    key: k.key.clone(),
                    scope: k.scope.clone(),
                })
                .collect(),
            key_id: self.key_id.clone(),
            scope: self.scope.clone(),
            exclude_files: self.exclude_files.clone(),
        }
    }
}

/// A bundle active in an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// The name it was activated under.
    pub name: String,
    /// The manifest's revision (the last delta's once one applied).
    pub revision: String,
    /// The paths under `data` it owns.
    pub roots: Vec<String>,
    /// The manifest's `metadata` as JSON (`{}` when none).
    pub metadata: String,
    /// Its modules in the engine: `{name}/{path in the bundle}`.
    pub modules: Vec<String>,
    /// Delta bundles applied since its snapshot.
    pub deltas: u64,
}

impl From<WitBundleInfo> for BundleInfo {
    fn from(b: WitBundleInfo) -> Self {
        BundleInfo {
            name: b.name,
            revision: b.revision,
            roots: b.roots,
            metadata: b.metadata,
            modules: b.modules,
            deltas: b.deltas,
        }
    }
}
