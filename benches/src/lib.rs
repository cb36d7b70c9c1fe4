//! # sark-policy-benches
//!
//! Shared fixtures of the sark-policy benchmarks: regorus's evaluation
//! policies and inputs (copied into `evaluation/test_data`, MIT, see
//! `evaluation/README.md`) and the bundled example policy.
//!
//! ```
//! let cases = sark_policy_benches::regorus_cases();
//! assert_eq!(cases.len(), 9);
//! assert!(cases.iter().all(|c| c.inputs.len() == 3));
//! ```

use std::path::{Path, PathBuf};

pub mod counting;

/// The rule every regorus evaluation policy defines.
pub const BENCH_RULE: &str = "data.bench.allow";

/// The bundled example's rule.
pub const AUTHZ_RULE: &str = "data.authz.allow";

/// The names of regorus's evaluation policies, in its order.
pub const POLICIES: [&str; 9] = [
    "rbac",
    "api_access",
    "data_sensitivity",
    "time_based",
    "data_processing",
    "azure_vm",
    "azure_storage",
    "azure_keyvault",
    "azure_nsg",
];

/// One policy with its inputs (JSON text).
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name (`rbac`).
    pub name: &'static str,
    /// Rego source.
    pub policy: String,
    /// JSON inputs.
    pub inputs: Vec<String>,
}

/// This crate's directory.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The nine regorus evaluation policies with their three inputs each.
pub fn regorus_cases() -> Vec<Case> {
    let base = root().join("evaluation").join("test_data");
    POLICIES
        .iter()
        .map(|&name| Case {
            name,
            policy: read(&base.join("policies").join(format!("{name}_policy.rego"))),
            inputs: ["", "2", "3"]
                .iter()
                .map(|n| read(&base.join("inputs").join(format!("{name}_input{n}.json"))))
                .collect(),
        })
        .collect()
}

/// `examples/authz.rego` and `examples/data.json`.
pub fn authz_example() -> (String, String) {
    let ex = root().join("..").join("examples");
    (read(&ex.join("authz.rego")), read(&ex.join("data.json")))
}

/// Plain regorus, configured like regorus's own benchmark: one engine per
/// policy, warmed by a first evaluation.
pub fn native_regorus(policy: &str) -> regorus::Engine {
    let mut e = regorus::Engine::new();
    e.add_policy("policy.rego".into(), policy.into())
        .unwrap_or_else(|err| panic!("policy: {err}"));
    e.set_input(regorus::Value::new_object());
    let _ = e.eval_rule(BENCH_RULE.into());
    e
}

/// What the component does per `eval-rule`, done natively by plain regorus:
/// parse the JSON input, evaluate, serialize the value.
pub fn native_regorus_eval(e: &mut regorus::Engine, input: &str) -> String {
    let v = regorus::Value::from_json_str(input).unwrap_or_else(|err| panic!("input: {err}"));
    e.set_input(v);
    let out = e
        .eval_rule(BENCH_RULE.into())
        .unwrap_or_else(|err| panic!("eval: {err}"));
    serde_json::to_string(&out).unwrap_or_else(|err| panic!("json: {err}"))
}

/// Plain regorus on its RVM, set up as regorus's own `rvm_benchmark` does:
/// the rule compiled once (`compile_with_entrypoint`, then
/// `Compiler::compile_from_policy`) and one VM reused across evaluations.
pub fn native_regorus_rvm(policy: &str) -> regorus::rvm::RegoVM {
    let mut e = native_regorus(policy);
    let compiled = e
        .compile_with_entrypoint(&BENCH_RULE.into())
        .unwrap_or_else(|err| panic!("compile: {err}"));
    let program =
        regorus::languages::rego::compiler::Compiler::compile_from_policy(&compiled, &[BENCH_RULE])
            .unwrap_or_else(|err| panic!("rvm compile: {err}"));
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(program);
    vm.set_max_instructions(usize::MAX);
    vm
}

/// [`native_regorus_eval`] on the RVM: parse the JSON input, execute,
/// serialize the value.
pub fn native_regorus_rvm_eval(vm: &mut regorus::rvm::RegoVM, input: &str) -> String {
    let v = regorus::Value::from_json_str(input).unwrap_or_else(|err| panic!("input: {err}"));
    vm.set_input(v);
    let out = vm
        .execute_entry_point_by_index(0)
        .unwrap_or_else(|err| panic!("rvm eval: {err}"));
    serde_json::to_string(&out).unwrap_or_else(|err| panic!("json: {err}"))
}

/// A core engine that evaluates every rule with the interpreter.
pub fn core_interpreter(policy: &str) -> sark_policy_core::Engine {
    let mut e = sark_policy_core::Engine::new();
    e.add_policy("policy.rego", policy)
        .unwrap_or_else(|err| panic!("policy: {err}"));
    e.set_eval_options(sark_policy_core::EvalOptions {
        interpreter_only: true,
        ..sark_policy_core::EvalOptions::default()
    });
    e
}
