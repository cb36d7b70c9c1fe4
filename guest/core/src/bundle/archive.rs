//! A bundle's files out of a gzipped tarball, within [`BundleLimits`].

use super::{BundleFile, BundleLimits};
use crate::{Error, Result};
use std::io::Read;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidBundle(msg.into())
}

/// The regular files of a `.tar.gz`, paths normalised (no leading `/` or
/// `./`). Directories and other entry kinds are skipped; a path with `..`,
/// a duplicate path, or going over a limit is an error.
pub(super) fn read_targz(bytes: &[u8], limits: &BundleLimits) -> Result<Vec<BundleFile>> {
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(gz);
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("not a gzipped tarball: {e}")))?;
    let mut files: Vec<BundleFile> = Vec::new();
    let mut total = 0usize;
    for entry in entries {
        let entry = entry.map_err(|e| invalid(format!("reading the tarball: {e}")))?;
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            continue;
        }
        let raw = entry.path_bytes();
        let path = normalise(&String::from_utf8_lossy(&raw))?;
        if files.len() >= limits.max_files {
            return Err(Error::LimitExceeded(format!(
                "the bundle holds more than {} files",
                limits.max_files
            )));
        }
        let room = limits
            .max_file_bytes
            .min(limits.max_total_bytes.saturating_sub(total));
        let mut bytes = Vec::new();
        let cap = u64::try_from(room).unwrap_or(u64::MAX).saturating_add(1);
        entry
            .take(cap)
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(format!("{path}: reading the tarball: {e}")))?;
        if bytes.len() > room {
            return Err(Error::LimitExceeded(if room == limits.max_file_bytes {
                format!(
                    "{path} is over {} bytes uncompressed",
                    limits.max_file_bytes
                )
            } else {
                format!(
                    "the bundle is over {} bytes uncompressed",
                    limits.max_total_bytes
                )
            }));
        }
        total += bytes.len();
        if path.is_empty() {
            continue;
        }
        files.push(BundleFile { path, bytes });
    }
    check_files(&files, limits)?;
    Ok(files)
}

/// The limits and path rules for files a host read from a directory.
pub(super) fn check_files(files: &[BundleFile], limits: &BundleLimits) -> Result<()> {
    if files.len() > limits.max_files {
        return Err(Error::LimitExceeded(format!(
            "the bundle holds more than {} files",
            limits.max_files
        )));
    }
    let mut total = 0usize;
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        if normalise(&f.path)? != f.path {
            return Err(invalid(format!(
                "{:?}: bundle paths are relative, `/`-separated, without `.` or `..`",
                f.path
            )));
        }
        if f.bytes.len() > limits.max_file_bytes {
            return Err(Error::LimitExceeded(format!(
                "{} is over {} bytes",
                f.path, limits.max_file_bytes
            )));
        }
        total = total.saturating_add(f.bytes.len());
        if !seen.insert(f.path.as_str()) {
            return Err(invalid(format!("{} appears twice in the bundle", f.path)));
        }
    }
    if total > limits.max_total_bytes {
        return Err(Error::LimitExceeded(format!(
            "the bundle is over {} bytes",
            limits.max_total_bytes
        )));
    }
    Ok(())
}

/// `./a//b/c.rego` and `/a/b/c.rego` -> `a/b/c.rego`; `..` is refused.
fn normalise(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(invalid(format!(
                    "{path:?}: a bundle path may not hold `..`"
                )));
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}
