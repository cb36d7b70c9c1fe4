//! OPA's YAML conformance cases: loading and the outcome of one run.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One case, by the fields of OPA's `v1/test/cases/testdata` format.
pub struct Case {
    /// `<file relative to the cases dir>#<index>`: unique, unlike `note`.
    pub id: String,
    pub category: String,
    pub note: String,
    pub modules: Vec<String>,
    pub data: Option<Value>,
    /// The input as JSON text; `None` for no input.
    pub input: Option<String>,
    pub query: String,
    pub want_result: Option<Value>,
    pub want_error: bool,
    pub strict: bool,
    pub sort_bindings: bool,
    /// Why the case cannot run here at all.
    pub skip: Option<String>,
}

/// What a way of running produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The result set's bindings, normalized.
    Result(Value),
    /// An error (policy, data or evaluation), with its message.
    Error(String),
    /// The case was not run, with the reason.
    Skipped(String),
}

impl Outcome {
    pub fn same_as(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Result(a), Outcome::Result(b)) => a == b,
            (Outcome::Error(_), Outcome::Error(_)) => true,
            (Outcome::Skipped(_), Outcome::Skipped(_)) => true,
            _ => false,
        }
    }

    pub fn brief(&self) -> String {
        match self {
            Outcome::Result(v) => v.to_string(),
            Outcome::Error(m) => {
                let lines: Vec<&str> = m.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                format!(
                    "error: {}",
                    lines.join(" | ").chars().take(300).collect::<String>()
                )
            }
            Outcome::Skipped(r) => format!("skipped: {r}"),
        }
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Every case under `root` whose id contains `filter` (empty: all).
pub fn load(root: &Path, filter: &str) -> Vec<Case> {
    let mut files = Vec::new();
    yaml_files(root, &mut files);
    let mut cases = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let doc: Value = yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let category = rel.split('/').next().unwrap_or("").to_owned();
        for (i, c) in doc["cases"].as_array().into_iter().flatten().enumerate() {
            let id = format!("{rel}#{i}");
            if !id.contains(filter) {
                continue;
            }
            cases.push(parse_case(id, category.clone(), c));
        }
    }
    cases
}

fn parse_case(id: String, category: String, c: &Value) -> Case {
    let modules = c["modules"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut skip = c
        .get("skip")
        .filter(|s| s.as_bool() != Some(false))
        .map(|s| format!("marked skip: {s}"));
    let input = match (c.get("input"), c.get("input_term").and_then(Value::as_str)) {
        (Some(v), _) => Some(v.to_string()),
        (None, Some(term)) => match serde_json::from_str::<Value>(term) {
            Ok(v) => Some(v.to_string()),
            Err(_) => {
                skip.get_or_insert_with(|| "input_term is a Rego term, not JSON".into());
                None
            }
        },
        (None, None) => None,
    };
    Case {
        id,
        category,
        note: c["note"].as_str().unwrap_or("").to_owned(),
        modules,
        data: c.get("data").filter(|d| !d.is_null()).cloned(),
        input,
        query: c["query"].as_str().unwrap_or("").to_owned(),
        want_result: c.get("want_result").cloned(),
        want_error: c.get("want_error").is_some() || c.get("want_error_code").is_some(),
        strict: c["strict_error"].as_bool().unwrap_or(false),
        sort_bindings: c["sort_bindings"].as_bool().unwrap_or(false),
        skip,
    }
}

/// Numbers compared by value (1 and 1.0 are equal), as OPA does.
fn normalize_numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n
                .as_f64()
                .filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15)
            {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize_numbers),
        Value::Object(o) => o.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

fn sort_arrays_in(v: &mut Value) {
    if let Value::Object(o) = v {
        for b in o.values_mut() {
            if let Value::Array(a) = b {
                a.sort_by_key(|x| x.to_string());
            }
        }
    }
}

/// Normalizes a list of binding sets: numbers by value, binding sets in a
/// canonical order, array bindings sorted when the case asks.
pub fn normalize(mut bindings: Value, sort_bindings: bool) -> Value {
    normalize_numbers(&mut bindings);
    if let Value::Array(list) = &mut bindings {
        if sort_bindings {
            list.iter_mut().for_each(sort_arrays_in);
        }
        list.sort_by_key(|x| x.to_string());
    }
    bindings
}

/// The bindings of an OPA result set (`[{"expressions", "bindings"}]`).
pub fn bindings_of(result_set: &str, sort_bindings: bool) -> Outcome {
    match serde_json::from_str::<Value>(result_set) {
        Ok(Value::Array(results)) => {
            let b = results
                .into_iter()
                .map(|r| {
                    r.get("bindings")
                        .cloned()
                        .unwrap_or_else(|| Value::Object(Default::default()))
                })
                .collect();
            Outcome::Result(normalize(Value::Array(b), sort_bindings))
        }
        Ok(other) => Outcome::Error(format!("result set is not a list: {other}")),
        Err(e) => Outcome::Error(format!("result set is not JSON: {e}")),
    }
}

/// Whether `got` is what the case wants.
pub fn passes(case: &Case, got: &Outcome) -> bool {
    match got {
        Outcome::Skipped(_) => false,
        Outcome::Error(_) => case.want_error,
        Outcome::Result(v) => match &case.want_result {
            Some(want) if !case.want_error => *v == normalize(want.clone(), case.sort_bindings),
            _ => false,
        },
    }
}
