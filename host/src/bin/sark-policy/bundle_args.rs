//! Bundle options shared by `eval`, `query` and `decide`, named as `opa run`
//! names them: bundles from files or directories (`--bundle`), one bundle
//! polled from a bundle server (`--bundle-url`), and signature
//! verification (`--verification-key`, `--verification-key-id`,
//! `--signing-alg`, `--scope`, `--exclude-files-verify`).

use clap::Args;
use sark_policy_host::{
    BundleConfig, BundlePoller, BundleSource, PolicyEngine, Verification, VerificationKey,
};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Clone, Default)]
pub struct BundleArgs {
    /// An OPA bundle to activate: a `.tar.gz` or a bundle directory, named
    /// after its file name (repeat for several; their roots must not
    /// overlap).
    #[arg(short = 'b', long = "bundle", value_name = "PATH")]
    pub bundles: Vec<PathBuf>,
    /// Poll this bundle server URL for a bundle (`If-None-Match`, backoff on
    /// errors); the first download happens before any request is read.
    #[arg(long, value_name = "URL")]
    pub bundle_url: Option<String>,
    /// The name of the polled bundle.
    #[arg(long, default_value = "bundle", value_name = "NAME")]
    pub bundle_name: String,
    /// Shortest wait between polls, in seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub bundle_min_delay: f64,
    /// Longest wait between polls (and backoff cap), in seconds.
    #[arg(long, default_value_t = 120.0, value_name = "SECONDS")]
    pub bundle_max_delay: f64,
    /// A file holding the bearer token sent to the bundle server.
    #[arg(long, value_name = "FILE")]
    pub bundle_token_file: Option<PathBuf>,
    /// Keep the last good bundle here and serve it at start when the server
    /// is down (OPA's `persist`).
    #[arg(long, value_name = "DIR")]
    pub bundle_persist_dir: Option<PathBuf>,
    /// Verify bundle signatures with this key: a PEM public key or
    /// certificate, a JWK, or the HMAC secret for `HS*` (a file).
    #[arg(long, value_name = "FILE")]
    pub verification_key: Option<PathBuf>,
    /// The id of the verification key.
    #[arg(long, default_value = "default", value_name = "ID")]
    pub verification_key_id: String,
    /// The signature algorithm of the verification key.
    #[arg(long, default_value = "RS256", value_name = "ALG")]
    pub signing_alg: String,
    /// The scope signatures must carry.
    #[arg(long, default_value = "")]
    pub scope: String,
    /// Files (glob patterns) left out of the signature check.
    #[arg(long = "exclude-files-verify", value_name = "GLOB")]
    pub exclude_files: Vec<String>,
}

/// A bundle's name from its path: the file name without `.tar.gz`.
pub fn name_of(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".tar.gz").to_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl BundleArgs {
    fn verification(&self) -> Result<Option<Verification>, String> {
        let Some(path) = &self.verification_key else {
            return Ok(None);
        };
        let key = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Some(Verification {
            keys: vec![VerificationKey {
                id: self.verification_key_id.clone(),
                algorithm: self.signing_alg.clone(),
                key: key.trim_end_matches('\n').to_owned(),
                scope: self.scope.clone(),
            }],
            key_id: self.verification_key_id.clone(),
            scope: self.scope.clone(),
            exclude_files: self.exclude_files.clone(),
        }))
    }

    /// Activates the bundle files, then starts polling the URL (after one
    /// poll made here; its failure is reported and polling goes on).
    pub fn load(&self, engine: &PolicyEngine, poll: bool) -> Result<Option<BundlePoller>, String> {
        let verification = self.verification()?;
        for path in &self.bundles {
            let name = name_of(path);
            let source =
                BundleSource::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let info = engine
                .activate_bundle(&name, source, verification.as_ref())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("bundle {name}: revision {:?} activated", info.revision);
        }
        let Some(url) = &self.bundle_url else {
            return Ok(None);
        };
        let seconds = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s).map_err(|_| format!("--{what}: {s} is not a duration"))
        };
        let token = crate::load::token(self.bundle_token_file.as_deref())?;
        let config = BundleConfig {
            min_delay: seconds(self.bundle_min_delay, "bundle-min-delay")?,
            max_delay: seconds(self.bundle_max_delay, "bundle-max-delay")?,
            token,
            verification,
            persist_dir: self.bundle_persist_dir.clone(),
            ..BundleConfig::new(self.bundle_name.clone(), url.clone())
        };
        let poller = BundlePoller::new(engine, config).map_err(|e| e.to_string())?;
        match poller.poll_now() {
            Ok(_) => eprintln!(
                "bundle {}: revision {:?} active",
                self.bundle_name,
                poller.status().active_revision.unwrap_or_default()
            ),
            Err(e) => eprintln!("sark-policy: {e}"),
        }
        if !poll {
            return Ok(None);
        }
        poller.spawn().map(Some).map_err(|e| e.to_string())
    }
}
