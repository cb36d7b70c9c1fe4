//! The compiled component kept on disk, so a second start deserializes in
//! milliseconds instead of compiling for seconds.

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

/// Where a component came from at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Compiled by Cranelift now (and written to the artifact directory).
    Compiled,
    /// Deserialized from the artifact directory.
    Artifact,
}

/// `$SARK_POLICY_CACHE_DIR`, else `$XDG_CACHE_HOME/sark-policy`, else
/// `~/.cache/sark-policy`.
pub fn default_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("SARK_POLICY_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("sark-policy")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("sark-policy")))
}

/// The artifact's file name: the component's SHA-256 and the engine's
/// compatibility hash (wasmtime version and compiler settings).
fn file_name(engine: &wasmtime::Engine, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("sark_policy-{hex}-{:016x}.cwasm", h.finish())
}

/// Loads the compiled artifact for `bytes` from `dir`, or compiles and
/// stores it. A stale or corrupt artifact is recompiled and overwritten; a
/// directory that cannot be written only costs the next start a compile.
pub(crate) fn load(
    engine: &wasmtime::Engine,
    bytes: &[u8],
    dir: Option<&Path>,
) -> Result<(Component, Provenance)> {
    let path = dir.map(|d| d.join(file_name(engine, bytes)));
    // Read into memory rather than `deserialize_file`: that one maps the
    // file, and another process truncating it would crash this one (SIGBUS).
    if let Some(compiled) = path.as_deref().and_then(|p| std::fs::read(p).ok()) {
        // SAFETY: the bytes come from a file `store` below wrote from a
        // component we compiled, under a name keyed by the component's hash
        // and the engine's compatibility hash; wasmtime checks the header and
        // the compatibility again. The artifact directory must be trusted
        // (see `RuntimeBuilder::artifact_dir`).
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine, &compiled) };
        if let Ok(component) = loaded {
            return Ok((component, Provenance::Artifact));
        }
    }
    let component = Component::new(engine, bytes)
        .map_err(|e| Error::Incompatible(format!("not a valid WebAssembly component: {e:#}")))?;
    if let Some(path) = &path {
        store(&component, path);
    }
    Ok((component, Provenance::Compiled))
}

/// Writes the artifact through a uniquely named temporary file and a rename,
/// so concurrent writers and readers never see a partial file.
fn store(component: &Component, path: &Path) {
    let Ok(bytes) = component.serialize() else {
        return;
    };
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
        return;
    };
    if std::io::Write::write_all(&mut tmp, &bytes).is_ok() {
        let _ = tmp.persist(path);
    }
}
