//! `sark-policy build DIR -o bundle.tar.gz`: an OPA bundle from a
//! directory, checked and optionally signed, as `opa build -b` makes one.

use clap::Args;
use sark_policy_host::{BuildOptions, BundleSource, Runtime, Signing};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct BuildArgs {
    /// The bundle directory: `.manifest`, `*.rego`, `data.json` /
    /// `data.yaml` files placed by directory.
    dir: PathBuf,
    /// Where to write the gzipped tarball.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "bundle.tar.gz"
    )]
    output: PathBuf,
    /// Set the manifest's revision.
    #[arg(long)]
    revision: Option<String>,
    /// Set the manifest's roots (repeat for several).
    #[arg(long = "root", value_name = "PATH")]
    roots: Vec<String>,
    /// Sign the bundle: the HMAC secret itself (HS*), or a file holding it
    /// or a PEM private key, as `opa build --signing-key` takes it.
    #[arg(long, value_name = "KEY|FILE")]
    signing_key: Option<String>,
    /// The signing algorithm.
    #[arg(long, default_value = "RS256", requires = "signing_key")]
    signing_alg: String,
    /// The JWT's `kid` (verifiers otherwise use their configured key id).
    #[arg(long, value_name = "ID", requires = "signing_key")]
    signing_key_id: Option<String>,
    /// The `scope` claim of the signature.
    #[arg(long, requires = "signing_key")]
    scope: Option<String>,
    /// Leave files matching this glob out of the signature (repeat).
    #[arg(
        long = "exclude-files-verify",
        value_name = "GLOB",
        requires = "signing_key"
    )]
    exclude_files: Vec<String>,
    /// Load this component instead of the built-in one.
    #[arg(long, value_name = "FILE.wasm")]
    component: Option<PathBuf>,
}

pub fn run(a: BuildArgs) -> Result<ExitCode, String> {
    if !a.dir.is_dir() {
        return Err(format!("{}: not a directory", a.dir.display()));
    }
    let source =
        BundleSource::from_path(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;
    let files = match &source {
        BundleSource::Files(f) => f.len(),
        BundleSource::Tarball(_) => 0,
    };
    let signing = match &a.signing_key {
        None => None,
        Some(key) => {
            let path = PathBuf::from(key);
            let key = if path.is_file() {
                std::fs::read_to_string(&path).map_err(|e| format!("{key}: {e}"))?
            } else {
                key.clone()
            };
            Some(Signing {
                algorithm: a.signing_alg.clone(),
                key,
                key_id: a.signing_key_id.clone().unwrap_or_default(),
                scope: a.scope.clone().unwrap_or_default(),
                exclude_files: a.exclude_files.clone(),
            })
        }
    };
    let options = BuildOptions {
        revision: a.revision.clone(),
        roots: (!a.roots.is_empty()).then(|| a.roots.clone()),
        signing,
    };
    let mut builder = Runtime::builder();
    if let Some(path) = &a.component {
        builder = builder.component_path(path);
    }
    let engine = builder
        .build()
        .and_then(|r| r.engine())
        .map_err(|e| e.to_string())?;
    let bytes = engine
        .build_bundle(&source, &options)
        .map_err(|e| format!("{}: {e}", a.dir.display()))?;
    // Written beside the target and renamed: a bundle server never serves
    // half a file.
    let tmp = a.output.with_extension("tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &a.output).map_err(|e| format!("{}: {e}", a.output.display()))?;
    eprintln!(
        "{}: {} bytes from {files} files{}",
        a.output.display(),
        bytes.len(),
        match &options.signing {
            Some(s) => format!(", signed with {}", s.algorithm),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}
