//! The files of a test run, found and loaded as `opa test` loads them:
//! paths walked recursively, `*.rego` files as modules, `*.json`, `*.yaml`
//! and `*.yml` files as data placed under the path of their directory
//! relative to the directory given (a file given by name, or one at the top
//! of a directory given, is merged at the root of `data`).

use sark_policy_host::{ErrorKind, PolicyEngine};
use std::path::{Path, PathBuf};

/// Modules and data documents found under the paths of a test run.
#[derive(Default)]
pub struct Files {
    /// (module name: the path as found, source).
    modules: Vec<(String, String)>,
    data: Vec<DataFile>,
}

struct DataFile {
    path: PathBuf,
    /// Where in `data` the document goes.
    prefix: Vec<String>,
    yaml: bool,
    text: String,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Finds the modules and data files under `paths`, in name order.
pub fn collect(paths: &[PathBuf]) -> Result<Files, String> {
    let mut files = Files::default();
    for p in paths {
        walk(p, 0, &mut Vec::new(), &mut files)?;
    }
    Ok(files)
}

fn walk(
    path: &Path,
    depth: usize,
    prefix: &mut Vec<String>,
    out: &mut Files,
) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        // The directory given is the root; those below it extend the path.
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let pushed = match name {
            Some(n) if depth > 0 => {
                prefix.push(n);
                true
            }
            _ => false,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        entries.sort();
        for entry in entries {
            walk(&entry, depth + 1, prefix, out)?;
        }
        if pushed {
            prefix.pop();
        }
        return Ok(());
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "rego" => out.modules.push((path.display().to_string(), read(path)?)),
        "json" | "yaml" | "yml" => out.data.push(DataFile {
            path: path.to_owned(),
            prefix: prefix.clone(),
            yaml: ext != "json",
            text: read(path)?,
        }),
        _ if depth == 0 => {
            return Err(format!(
                "{}: not a .rego, .json, .yaml or .yml file",
                path.display()
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Loads `files` into `engine`: every module (a module that refers to one
/// not loaded yet is tried again once the others are in), then every data
/// document under its path.
pub fn load(engine: &PolicyEngine, files: &Files) -> Result<(), String> {
    // Parse the data first: YAML is read by the engine's own
    // `yaml.unmarshal`, before any module could fail to compile.
    let docs = files
        .data
        .iter()
        .map(|d| Ok((d, document(engine, d)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let mut pending: Vec<&(String, String)> = files.modules.iter().collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut first_error = None;
        for m in &pending {
            match engine.add_policy(&m.0, &m.1) {
                Ok(_) => {}
                Err(e) if e.kind() == Some(ErrorKind::InvalidPolicy) => {
                    first_error.get_or_insert_with(|| e.to_string());
                    failed.push(*m);
                }
                Err(e) => return Err(format!("{}: {e}", m.0)),
            }
        }
        if failed.len() == pending.len() {
            return Err(first_error.unwrap_or_default());
        }
        pending = failed;
    }
    for (d, doc) in docs {
        engine
            .add_data(&doc.to_string())
            .map_err(|e| format!("{}: {e}", d.path.display()))?;
    }
    Ok(())
}

/// A data file's document, nested under its directory's path.
fn document(engine: &PolicyEngine, d: &DataFile) -> Result<serde_json::Value, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", d.path.display());
    let mut value: serde_json::Value = if d.yaml {
        let input = serde_json::Value::String(d.text.clone()).to_string();
        let set = engine
            .eval_query("x := yaml.unmarshal(input)", &input)
            .map_err(|e| at(&e))?;
        let mut set: serde_json::Value = serde_json::from_str(&set).map_err(|e| at(&e))?;
        set.get_mut(0)
            .and_then(|r| r.get_mut("bindings"))
            .and_then(|b| b.get_mut("x"))
            .map(serde_json::Value::take)
            .ok_or_else(|| at(&"not valid YAML"))?
    } else {
        serde_json::from_str(&d.text).map_err(|e| at(&e))?
    };
    for key in d.prefix.iter().rev() {
        let mut object = serde_json::Map::new();
        object.insert(key.clone(), value);
        value = serde_json::Value::Object(object);
    }
    if !value.is_object() {
        return Err(at(&"a data document at the root of data must be an object"));
    }
    Ok(value)
}
