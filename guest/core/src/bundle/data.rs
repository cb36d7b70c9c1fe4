//! A bundle's data: its `data.json` / `data.yaml` files, merging them at
//! their directories, clearing a root, and a delta's `patch.json`.

use super::BundleFile;
use crate::{Error, Limits, Result};
use serde_json::Value as Json;

/// One `patch.json` operation (OPA's `PatchOperation`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// `upsert`, `remove` or `replace`.
    pub op: PatchKind,
    /// A `/`-separated path under `data`.
    pub path: String,
    /// The value for `upsert` and `replace`.
    pub value: Json,
}

/// What a patch operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// Sets the value at the path, creating objects on the way.
    Upsert,
    /// Removes the value at the path; an error when it is absent.
    Remove,
    /// Sets the value at an existing path; an error when it is absent.
    Replace,
}

/// A data file as JSON, within the document limits. YAML is read by
/// regorus's YAML reader (the one `yaml.unmarshal` uses).
pub(super) fn parse_file(file: &BundleFile, limits: &Limits) -> Result<Json> {
    let text = std::str::from_utf8(&file.bytes)
        .map_err(|_| Error::InvalidBundle(format!("{}: not UTF-8", file.path)))?;
    let value = if file.path.ends_with(".json") {
        limits.check_json(&file.path, text)?;
        serde_json::from_str::<Json>(text)
            .map_err(|e| Error::InvalidJson(format!("{}: {e}", file.path)))?
    } else {
        limits.check_size(&file.path, text)?;
        let value = regorus::Value::from_yaml_str(text)
            .map_err(|e| Error::InvalidBundle(format!("{}: invalid YAML: {e}", file.path)))?;
        let json = serde_json::to_value(&value)
            .map_err(|e| Error::InvalidBundle(format!("{}: {e}", file.path)))?;
        limits.check_json(&file.path, &json.to_string())?;
        json
    };
    if !value.is_object() {
        return Err(Error::InvalidBundle(format!(
            "{}: a data file must hold an object",
            file.path
        )));
    }
    Ok(value)
}

/// Merges `value` into `doc` at `path` (objects merge key by key); a key
/// given two different non-object values is an error, as in OPA.
pub(crate) fn merge_into<S: AsRef<str>>(
    doc: &mut Json,
    path: &[S],
    value: Json,
) -> Result<(), String> {
    let mut node = doc;
    for seg in path {
        let Json::Object(map) = node else {
            return Err(format!("{} is not an object", seg.as_ref()));
        };
        node = map
            .entry(seg.as_ref().to_owned())
            .or_insert_with(|| Json::Object(Default::default()));
    }
    merge(node, value, &mut Vec::new())
}

fn merge(into: &mut Json, value: Json, at: &mut Vec<String>) -> Result<(), String> {
    match (into, value) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                at.push(k.clone());
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v, at)?,
                    None => {
                        a.insert(k, v);
                    }
                }
                at.pop();
            }
            Ok(())
        }
        (slot, v) if *slot == v => Ok(()),
        _ => Err(format!("merge error: two values at /{}", at.join("/"))),
    }
}

/// Removes the value at `path` (the whole document for an empty path,
/// leaving `{}`); an absent path is not an error.
pub(crate) fn remove_path<S: AsRef<str>>(doc: &mut Json, path: &[S]) {
    let Some((last, parents)) = path.split_last() else {
        *doc = Json::Object(Default::default());
        return;
    };
    let mut node = doc;
    for seg in parents {
        match node.get_mut(seg.as_ref()) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Json::Object(map) = node {
        map.remove(last.as_ref());
    }
}

/// `patch.json`: `{"data": [{"op", "path", "value"}, ...]}`.
pub(super) fn parse_patch(bytes: &[u8], limits: &Limits) -> Result<Vec<PatchOp>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::InvalidBundle("patch.json: not UTF-8".into()))?;
    limits.check_json("patch.json", text)?;
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(default)]
        data: Vec<RawOp>,
    }
    #[derive(serde::Deserialize)]
    struct RawOp {
        op: String,
        path: String,
        #[serde(default)]
        value: Json,
    }
    let raw: Raw =
        serde_json::from_str(text).map_err(|e| Error::InvalidBundle(format!("patch.json: {e}")))?;
    raw.data
        .into_iter()
        .map(|o| {
            let op = match o.op.as_str() {
                "upsert" => PatchKind::Upsert,
                "remove" => PatchKind::Remove,
                "replace" => PatchKind::Replace,
                other => {
                    return Err(Error::InvalidBundle(format!(
                        "patch.json: unknown op {other:?} (upsert, remove or replace)"
                    )));
                }
            };
            Ok(PatchOp {
                op,
                path: o.path,
                value: o.value,
            })
        })
        .collect()
}

/// Applies `ops` to `doc` in order; the first that fails is the error and
/// `doc` may be half-patched (callers patch a copy).
pub(crate) fn apply_patch(doc: &mut Json, ops: &[PatchOp]) -> Result<()> {
    for op in ops {
        let segs: Vec<&str> = op.path.split('/').filter(|s| !s.is_empty()).collect();
        let Some((last, parents)) = segs.split_last() else {
            return Err(Error::InvalidBundle(
                "patch.json: an operation on the whole data document".into(),
            ));
        };
        let mut node = &mut *doc;
        for seg in parents {
            let Json::Object(map) = node else {
                return Err(Error::InvalidBundle(format!(
                    "patch.json: {}: a parent is not an object",
                    op.path
                )));
            };
            node = match op.op {
                PatchKind::Upsert => map
                    .entry((*seg).to_owned())
                    .or_insert_with(|| Json::Object(Default::default())),
                _ => map.get_mut(*seg).ok_or_else(|| {
                    Error::InvalidBundle(format!("patch.json: {}: not found", op.path))
                })?,
            };
        }
        let Json::Object(map) = node else {
            return Err(Error::InvalidBundle(format!(
                "patch.json: {}: a parent is not an object",
                op.path
            )));
        };
        match op.op {
            PatchKind::Upsert => {
                map.insert((*last).to_owned(), op.value.clone());
            }
            PatchKind::Replace if map.contains_key(*last) => {
                map.insert((*last).to_owned(), op.value.clone());
            }
            PatchKind::Remove if map.remove(*last).is_some() => {}
            _ => {
                return Err(Error::InvalidBundle(format!(
                    "patch.json: {}: not found",
                    op.path
                )));
            }
        }
    }
    Ok(())
}
