//! Building bundles (`sark-policy build`, [`PolicyEngine::build_bundle`]):
//! the component's `build-bundle` does the work, so the host needs no
//! native Rego engine to check what it builds.

use super::BundleSource;
use crate::bindings::exports::sark::policy::evaluator::{
    BuildOptions as WitBuildOptions, BundleFile as WitBundleFile, Signing as WitSigning,
};
use crate::engine::PolicyEngine;
use crate::{Error, Result};

/// How to sign a bundle (`opa build --signing-key --signing-alg`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signing {
    /// `RS256` (OPA's default), `RS384`/`512`, `PS*`, `ES256`/`384`/`512`,
    /// `EdDSA` or `HS256`/`384`/`512`.
    pub algorithm: String,
    /// The HMAC secret for `HS*`; otherwise a PEM private key.
    pub key: String,
    /// The JWT's `kid` (empty: none; verifiers use their configured id).
    pub key_id: String,
    /// The `scope` claim (empty: none).
    pub scope: String,
    /// Glob patterns of files left out of the signature.
    pub exclude_files: Vec<String>,
}

/// What a build sets in the manifest, and whether it signs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildOptions {
    /// The manifest's `revision`.
    pub revision: Option<String>,
    /// The manifest's `roots`.
    pub roots: Option<Vec<String>>,
    /// Sign the bundle.
    pub signing: Option<Signing>,
}

impl PolicyEngine {
    /// Builds an OPA bundle from a directory's files (a
    /// [`BundleSource::Files`], e.g. from [`BundleSource::from_path`]) as
    /// `opa build -b` does: sets the manifest's revision and roots when
    /// given, checks that the bundle reads and activates (a module that
    /// does not compile or data outside the roots fails the build), signs
    /// it when asked, and returns the gzipped tarball. This engine is not
    /// changed. Runs under the load deadline.
    pub fn build_bundle(&self, source: &BundleSource, options: &BuildOptions) -> Result<Vec<u8>> {
        let BundleSource::Files(files) = source else {
            return Err(Error::Runtime(
                "a bundle is built from a directory's files, not a tarball".into(),
            ));
        };
        let files: Vec<WitBundleFile> = files
            .iter()
            .map(|(path, bytes)| WitBundleFile {
                path: path.clone(),
                bytes: bytes.clone(),
            })
            .collect();
        let options = WitBuildOptions {
            revision: options.revision.clone(),
            roots: options.roots.clone(),
            signing: options.signing.as_ref().map(|s| WitSigning {
                algorithm: s.algorithm.clone(),
                key: s.key.clone(),
                key_id: s.key_id.clone(),
                scope: s.scope.clone(),
                exclude_files: s.exclude_files.clone(),
            }),
        };
        let ticks = self.pool.shared.load_deadline_ticks;
        self.pool.run_any_within(ticks, |g, store| {
            g.api
                .sark_policy_evaluator()
                .call_build_bundle(store, &files, &options)
        })
    }
}
