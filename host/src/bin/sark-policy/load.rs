//! Reading policy, data and input files, with errors that name the file.

use sark_policy_host::{Error, ErrorKind, PolicyEngine};
use std::path::Path;

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// An error message that names `path` (the component's messages carry the
/// line and column).
pub fn located(path: Option<&Path>, e: &Error) -> String {
    match path {
        Some(p)
            if e.kind() == Some(ErrorKind::InvalidJson)
                || e.kind() == Some(ErrorKind::LimitExceeded) =>
        {
            format!("{}: {e}", p.display())
        }
        _ => e.to_string(),
    }
}

/// Loads every policy (its path is its module name, so parse errors name
/// file, line and column) and merges every data file.
pub fn policies_and_data(
    engine: &PolicyEngine,
    policies: &[impl AsRef<Path>],
    data: &[impl AsRef<Path>],
) -> Result<(), String> {
    for p in policies {
        let p = p.as_ref();
        let name = p.display().to_string();
        engine
            .add_policy(&name, &read(p)?)
            .map_err(|e| match e.kind() {
                Some(ErrorKind::InvalidPolicy) => e.to_string(),
                _ => format!("{name}: {e}"),
            })?;
    }
    for d in data {
        let d = d.as_ref();
        engine
            .add_data(&read(d)?)
            .map_err(|e| format!("{}: {e}", d.display()))?;
    }
    Ok(())
}

/// The file's text, or empty (no input) when there is no file.
pub fn optional_text(path: Option<&Path>) -> Result<String, String> {
    path.map_or(Ok(String::new()), read)
}

/// A bearer token from a file (`--bundle-token-file`,
/// `--decision-log-token-file`), surrounding whitespace trimmed.
pub fn token(path: Option<&Path>) -> Result<Option<String>, String> {
    path.map(|p| {
        std::fs::read_to_string(p)
            .map(|t| t.trim().to_owned())
            .map_err(|e| format!("{}: {e}", p.display()))
    })
    .transpose()
}
