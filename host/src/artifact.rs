//! The compiled component kept on disk, so a second start deserializes in
//! milliseconds instead of compiling for seconds.

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
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
    if let Some((path, compiled)) = path
        .as_deref()
        .and_then(|p| Some((p, std::fs::read(p).ok()?)))
    {
        // SAFETY: the bytes come from a file `store` below wrote from a
        // component we compiled, under a name keyed by the component's hash
        // and the engine's compatibility hash; wasmtime checks the header and
        // the compatibility again. The artifact directory must be trusted
        // (see `RuntimeBuilder::artifact_dir`).
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine, &compiled) };
        if let Ok(component) = loaded {
            // Marks it used, for `prune`.
            let _ = std::fs::File::open(path).and_then(|f| f.set_modified(SystemTime::now()));
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
    if std::io::Write::write_all(&mut tmp, &bytes).is_ok() && tmp.persist(path).is_ok() {
        prune(dir, KEEP);
    }
}

/// Artifacts of this host a directory keeps: one per component build and
/// wasmtime configuration, about 20 MB each, would otherwise pile up with
/// every build.
const KEEP: usize = 4;

/// Whether `name` is one of this host's artifacts (`file_name`'s shape);
/// other files, like the Python host's, are left alone.
fn is_artifact(name: &str) -> bool {
    let Some(hashes) = name
        .strip_prefix("sark_policy-")
        .and_then(|n| n.strip_suffix(".cwasm"))
    else {
        return false;
    };
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    matches!(hashes.split_once('-'), Some((c, e)) if hex(c, 32) && hex(e, 16))
}

/// Deletes all but the `keep` most recently used artifacts in `dir` (a
/// load marks its file used). A process that still wants a deleted one
/// compiles it again.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut ours: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            is_artifact(e.file_name().to_str()?)
                .then_some(())
                .and_then(|()| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        })
        .collect();
    ours.sort_by_key(|a| std::cmp::Reverse(a.0));
    for (_, path) in ours.into_iter().skip(keep) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn prune_keeps_the_most_recently_used_of_ours() {
        let dir = tempfile::tempdir().unwrap();
        let name = |i: usize| format!("sark_policy-{i:032x}-{:016x}.cwasm", 7);
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for i in 0..7 {
            let f = std::fs::File::create(dir.path().join(name(i))).unwrap();
            f.set_modified(epoch + Duration::from_secs(i as u64))
                .unwrap();
        }
        let foreign = [
            "sark_policy-1cedaaf2a858064e13c45c235c9c62ec-wasmtime50.0.1-x86_64-epoch.cwasm",
            "notes.txt",
        ];
        for f in foreign {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        prune(dir.path(), 4);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want: Vec<String> = (3..7).map(name).collect();
        want.extend(foreign.iter().map(|f| f.to_string()));
        want.sort();
        assert_eq!(left, want);
    }
}
