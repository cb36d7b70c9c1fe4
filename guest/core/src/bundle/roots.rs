//! Bundle roots: the paths under `data` a bundle owns (OPA's
//! `RootPathsContain` / `RootPathsOverlap`), and the checks that a bundle's
//! data, packages and patches stay within them.

use crate::{Error, Result};
use serde_json::Value as Json;

/// A root as path segments; no segments is the whole of `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Root(Vec<String>);

impl Root {
    /// `a/b` (slashes trimmed) -> `[a, b]`; `""` -> `[]`.
    pub(crate) fn parse(root: &str) -> Root {
        Root(
            root.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The root's segments.
    pub(crate) fn segments(&self) -> &[String] {
        &self.0
    }

    fn contains<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.0.len() <= path.len() && self.0.iter().zip(path).all(|(a, b)| a == b.as_ref())
    }
}

/// Whether `path` lies under one of `roots`.
pub(crate) fn within<S: AsRef<str>>(roots: &[Root], path: &[S]) -> bool {
    roots.iter().any(|r| r.contains(path))
}

/// Whether two roots overlap: one is a prefix of the other.
pub(crate) fn overlap(a: &Root, b: &Root) -> bool {
    a.contains(&b.0) || b.contains(&a.0)
}

fn shown(roots: &[Root]) -> String {
    let names: Vec<String> = roots
        .iter()
        .map(|r| format!("{:?}", r.0.join("/")))
        .collect();
    format!("[{}]", names.join(", "))
}

/// Every value of `data` lies under a root, or is an object on the way to
/// one (OPA's check in `validateAndInjectDefaults`).
pub(super) fn check_data(roots: &[Root], data: &Json) -> Result<()> {
    fn walk(roots: &[Root], path: &mut Vec<String>, node: &Json) -> Result<()> {
        if within(roots, path) {
            return Ok(());
        }
        if let Json::Object(map) = node
            && roots.iter().any(|r| r.0.starts_with(path))
        {
            for (k, v) in map {
                path.push(k.clone());
                walk(roots, path, v)?;
                path.pop();
            }
            return Ok(());
        }
        Err(Error::InvalidBundle(format!(
            "manifest roots {} do not permit data at path '/{}'",
            shown(roots),
            path.join("/")
        )))
    }
    walk(roots, &mut Vec::new(), data)
}

/// A patch path (`/a/b`) lies under a root.
pub(super) fn check_path(roots: &[Root], path: &str) -> Result<()> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if within(roots, &segs) {
        return Ok(());
    }
    Err(Error::InvalidBundle(format!(
        "manifest roots {} do not permit data patch at path '{path}'",
        shown(roots)
    )))
}

/// A module's package lies under a root.
pub(crate) fn check_package(roots: &[Root], package: &str, module: &str) -> Result<()> {
    let segs = super::package_segments(package);
    if within(roots, &segs) {
        return Ok(());
    }
    Err(Error::InvalidBundle(format!(
        "manifest roots {} do not permit '{package}' in module '{module}'",
        shown(roots)
    )))
}
