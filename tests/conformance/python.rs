//! The Python host's outcomes: the cases go to `run_python.py` as JSON and
//! its raw results come back, normalized here like the other two ways.

use crate::cases::{Case, Outcome, bindings_of};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    std::env::var_os("SARK_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
        PathBuf::from,
    )
}

pub fn run(cases: &[Case]) -> HashMap<String, Outcome> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("cases.json"), dir.join("python-outcomes.json"));
    let payload: Vec<Value> = cases
        .iter()
        .filter(|c| c.skip.is_none())
        .map(|c| json!({"id": c.id, "modules": c.modules, "data": c.data, "input": c.input, "query": c.query, "strict": c.strict}))
        .collect();
    std::fs::write(&input, serde_json::to_vec(&payload).unwrap()).unwrap();
    let _ = std::fs::remove_file(&output);
    let py = python();
    let status = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/run_python.py"))
        .arg(&input)
        .arg(&output)
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../python-host/src"),
        )
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `make venv`, or set SARK_PYTHON)",
                py.display()
            )
        });
    assert!(status.success(), "run_python.py failed: {status}");
    let raw: HashMap<String, Value> =
        serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    let sort = |id: &str| {
        cases
            .iter()
            .find(|c| c.id == id)
            .is_some_and(|c| c.sort_bindings)
    };
    let mut out: HashMap<String, Outcome> = raw
        .into_iter()
        .map(|(id, o)| {
            let outcome = match o["kind"].as_str() {
                Some("result") => bindings_of(&o["value"].to_string(), sort(&id)),
                _ => Outcome::Error(o["message"].as_str().unwrap_or("").to_owned()),
            };
            (id, outcome)
        })
        .collect();
    for c in cases {
        if let Some(reason) = &c.skip {
            out.insert(c.id.clone(), Outcome::Skipped(reason.clone()));
        }
    }
    out
}
