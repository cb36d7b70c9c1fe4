//! The two in-process ways of running a case: the core natively, and the
//! component through the Rust host. (The Python host writes its outcomes to
//! a JSON file the runner reads.)

use crate::cases::{Case, Outcome, bindings_of};
use sark_policy_host::{PolicyEngine, Runtime};

/// A policy engine, whichever way it runs.
trait Way {
    fn add_policy(&mut self, name: &str, source: &str) -> Result<(), String>;
    fn add_data(&mut self, json: &str) -> Result<(), String>;
    fn strict(&mut self) -> Result<(), String>;
    fn query(&mut self, query: &str, input: &str) -> Result<String, String>;
}

fn run(way: &mut dyn Way, case: &Case) -> Outcome {
    if let Some(reason) = &case.skip {
        return Outcome::Skipped(reason.clone());
    }
    let setup = (|| {
        if case.strict {
            way.strict()?;
        }
        for (i, m) in case.modules.iter().enumerate() {
            way.add_policy(&format!("module{i}.rego"), m)?;
        }
        if let Some(data) = &case.data {
            way.add_data(&data.to_string())?;
        }
        Ok::<(), String>(())
    })();
    if let Err(e) = setup {
        return Outcome::Error(e);
    }
    match way.query(&case.query, case.input.as_deref().unwrap_or("")) {
        Ok(rs) => bindings_of(&rs, case.sort_bindings),
        Err(e) => Outcome::Error(e),
    }
}

struct Native(sark_policy_core::Engine);

impl Way for Native {
    fn add_policy(&mut self, name: &str, source: &str) -> Result<(), String> {
        self.0
            .add_policy(name, source)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    fn add_data(&mut self, json: &str) -> Result<(), String> {
        self.0.add_data(json).map_err(|e| e.to_string())
    }
    fn strict(&mut self) -> Result<(), String> {
        self.0.set_strict_builtin_errors(true);
        Ok(())
    }
    fn query(&mut self, query: &str, input: &str) -> Result<String, String> {
        self.0.eval_query(query, input).map_err(|e| e.to_string())
    }
}

struct Component(PolicyEngine);

impl Way for Component {
    fn add_policy(&mut self, name: &str, source: &str) -> Result<(), String> {
        self.0
            .add_policy(name, source)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    fn add_data(&mut self, json: &str) -> Result<(), String> {
        self.0.add_data(json).map_err(|e| e.to_string())
    }
    fn strict(&mut self) -> Result<(), String> {
        self.0
            .set_strict_builtin_errors(true)
            .map_err(|e| e.to_string())
    }
    fn query(&mut self, query: &str, input: &str) -> Result<String, String> {
        self.0.eval_query(query, input).map_err(|e| e.to_string())
    }
}

/// The core crate compiled for this machine: no wasm.
pub fn native(case: &Case) -> Outcome {
    run(&mut Native(sark_policy_core::Engine::new()), case)
}

/// The component in wasmtime, through the Rust host; a fresh engine per case.
pub fn component(runtime: &Runtime, case: &Case) -> Outcome {
    match runtime.engine() {
        Ok(engine) => run(&mut Component(engine), case),
        Err(e) => Outcome::Error(format!("host: {e}")),
    }
}
