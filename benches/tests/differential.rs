//! The RVM against the interpreter on the benchmark policies: regorus's
//! nine evaluation policies with their three inputs each, and the bundled
//! example with a set of requests. Every answer must be the same on both
//! paths, natively and through the component, and every one of these rules
//! must run on the RVM (no fallback).
#![allow(missing_docs, clippy::unwrap_used)]

use sark_policy_benches::{AUTHZ_RULE, BENCH_RULE, authz_example, regorus_cases};
use sark_policy_core::{Engine, EvalOptions};
use sark_policy_host::Runtime;

fn interpreter_only() -> EvalOptions {
    EvalOptions {
        interpreter_only: true,
        ..EvalOptions::default()
    }
}

/// Evaluates `rule` for every input on the RVM, then on the interpreter,
/// natively and in the component, and checks all four agree.
fn check(
    rt: &Runtime,
    name: &str,
    policy: &str,
    data: Option<&str>,
    rule: &str,
    inputs: &[String],
) {
    let mut native = Engine::new();
    native.add_policy("policy.rego", policy).unwrap();
    let component = rt.engine().unwrap();
    component.add_policy("policy.rego", policy).unwrap();
    if let Some(d) = data {
        native.add_data(d).unwrap();
        component.add_data(d).unwrap();
    }
    let mut forced = native.clone();
    forced.set_eval_options(interpreter_only());
    for input in inputs {
        let on_rvm = native.eval_rule(rule, input).unwrap();
        let interpreted = forced.eval_rule(rule, input).unwrap();
        assert_eq!(on_rvm, interpreted, "{name}: {input}");
        assert_eq!(
            component.eval_rule(rule, input).unwrap(),
            on_rvm,
            "{name}: {input}"
        );
    }
    let stats = native.eval_stats();
    assert!(stats.fallbacks.is_empty(), "{name}: {:?}", stats.fallbacks);
    assert_eq!(stats.rvm, inputs.len() as u64, "{name}");
    assert_eq!(forced.eval_stats().rvm, 0, "{name}");
}

#[test]
fn the_nine_regorus_policies_agree_on_both_paths() {
    let rt = Runtime::builder().build().unwrap();
    let cases = regorus_cases();
    assert_eq!(cases.len(), 9);
    for case in cases {
        check(&rt, case.name, &case.policy, None, BENCH_RULE, &case.inputs);
    }
}

#[test]
fn the_example_agrees_on_both_paths() {
    let rt = Runtime::builder().build().unwrap();
    let (policy, data) = authz_example();
    let mut inputs = Vec::new();
    for user in ["alice", "bob", "carol", "dave", "mallory", "nobody"] {
        for (action, resource) in [
            ("read", "dataset:sales"),
            ("read", "dataset:ops"),
            ("execute", "tool:deploy"),
            ("execute", "tool:calculator"),
            ("write", "dataset:sales"),
        ] {
            for context in [r#"{}"#, r#"{"mfa":true}"#, r#"{"mfa":false}"#] {
                inputs.push(format!(
                    r#"{{"user":"{user}","action":"{action}","resource":"{resource}","context":{context}}}"#
                ));
            }
        }
    }
    check(
        &rt,
        "authz (example)",
        &policy,
        Some(&data),
        AUTHZ_RULE,
        &inputs,
    );
}
