//! What compiling rules to the RVM costs, per policy: the first evaluation
//! after a policy change (which compiles the rule) against the next ones,
//! natively (the core crate) and through the component (Rust host); the
//! heap the compiled program holds natively (a counting allocator: live
//! bytes after the first evaluation minus before it); and the size of the
//! program serialized by regorus (`Program::serialize_binary`).
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)]

use sark_policy_benches::counting::{Counting, live_bytes};
use sark_policy_benches::{AUTHZ_RULE, BENCH_RULE, authz_example, regorus_cases};
use sark_policy_core::{Engine, EvalOptions};
use sark_policy_host::Runtime;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} us", d.as_secs_f64() * 1e6)
}

/// One policy: (name, source, data, rule, input).
type Policy = (String, String, Option<String>, &'static str, String);

fn policies() -> Vec<Policy> {
    let mut out: Vec<Policy> = regorus_cases()
        .into_iter()
        .map(|c| {
            let input = c.inputs[0].clone();
            (c.name.to_owned(), c.policy, None, BENCH_RULE, input)
        })
        .collect();
    let (policy, data) = authz_example();
    out.push((
        "authz (example)".into(),
        policy,
        Some(data),
        AUTHZ_RULE,
        r#"{"user":"carol","action":"execute","resource":"tool:deploy","context":{"mfa":true}}"#
            .into(),
    ));
    out
}

fn native_engine(p: &Policy, interpreter_only: bool) -> Engine {
    let mut e = Engine::new();
    e.add_policy("policy.rego", &p.1).unwrap();
    if let Some(d) = &p.2 {
        e.add_data(d).unwrap();
    }
    e.set_eval_options(EvalOptions {
        interpreter_only,
        ..EvalOptions::default()
    });
    e
}

/// Median over `runs` fresh engines of (first evaluation, a later one).
fn native_first_and_steady(
    p: &Policy,
    runs: usize,
    interpreter_only: bool,
) -> (Duration, Duration) {
    let (mut first, mut steady) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut e = native_engine(p, interpreter_only);
        let t = Instant::now();
        e.eval_rule(p.3, &p.4).unwrap();
        first.push(t.elapsed());
        e.eval_rule(p.3, &p.4).unwrap();
        let t = Instant::now();
        e.eval_rule(p.3, &p.4).unwrap();
        steady.push(t.elapsed());
    }
    (median(first), median(steady))
}

/// Live heap bytes the first (compiling) evaluation leaves behind, less what
/// a first interpreter evaluation leaves (its own caches).
fn program_heap(p: &Policy) -> isize {
    let held = |interpreter_only| {
        let mut e = native_engine(p, interpreter_only);
        let before = live_bytes() as isize;
        e.eval_rule(p.3, &p.4).unwrap();
        let after = live_bytes() as isize;
        drop(e);
        after - before
    };
    held(false) - held(true)
}

fn serialized_size(p: &Policy) -> usize {
    let mut e = regorus::Engine::new();
    e.add_policy("policy.rego".into(), p.1.clone()).unwrap();
    let compiled = e.compile_with_entrypoint(&p.3.into()).unwrap();
    let program =
        regorus::languages::rego::compiler::Compiler::compile_from_policy(&compiled, &[p.3])
            .unwrap();
    program.serialize_binary().map(|b| b.len()).unwrap_or(0)
}

/// Through the component: median of (add_policy, first evaluation after
/// it, a later evaluation).
fn component(rt: &Runtime, p: &Policy, runs: usize) -> (Duration, Duration, Duration) {
    let engine = rt.engine().unwrap();
    if let Some(d) = &p.2 {
        engine.add_data(d).unwrap();
    }
    let (mut add, mut first, mut steady) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        // A changed source each run, so every add is a real change.
        let source = format!("{}\n# run {i}\n", p.1);
        let t = Instant::now();
        engine.add_policy("policy.rego", &source).unwrap();
        add.push(t.elapsed());
        let t = Instant::now();
        engine.eval_rule(p.3, &p.4).unwrap();
        first.push(t.elapsed());
        engine.eval_rule(p.3, &p.4).unwrap();
        let t = Instant::now();
        engine.eval_rule(p.3, &p.4).unwrap();
        steady.push(t.elapsed());
    }
    (median(add), median(first), median(steady))
}

fn main() {
    let runs = if std::env::var_os("SARK_BENCH_QUICK").is_some() {
        3
    } else {
        21
    };
    let rt = Runtime::builder().build().unwrap();
    println!(
        "| policy | native: first eval (RVM compile) | native: first eval, interpreter | native: next eval (RVM) | \
         program heap | serialized program | component: add-policy | component: first eval | component: next eval |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for p in policies() {
        let (first, steady) = native_first_and_steady(&p, runs, false);
        let (first_interp, _) = native_first_and_steady(&p, runs, true);
        let heap = program_heap(&p);
        let size = serialized_size(&p);
        let (add, cfirst, csteady) = component(&rt, &p, runs);
        println!(
            "| {} | {} | {} | {} | {:.1} KiB | {:.1} KiB | {} | {} | {} |",
            p.0,
            us(first),
            us(first_interp),
            us(steady),
            heap as f64 / 1024.0,
            size as f64 / 1024.0,
            us(add),
            us(cfirst),
            us(csteady)
        );
    }
}
