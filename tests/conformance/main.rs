//! OPA's YAML conformance cases run three ways: natively (the core crate,
//! no wasm), through the component from the Rust host, and through the
//! component from the Python host; and every `data.<rule> = x` case also as
//! a rule on the RVM and on the interpreter (`rvm.rs`). Prints a table per
//! category, the rules that fall back from the RVM with the reason, and
//! every case where the ways disagree; fails on a disagreement or when the
//! outcomes and `expected-failures.txt` differ in either direction.
//!
//! `cargo test --release -p sark-policy-tests --test conformance [-- FILTER]`
//! runs the cases whose id (`<file>#<index>`) contains FILTER.
#![allow(missing_docs)]

mod cases;
mod expected;
mod python;
mod rvm;
mod ways;

use cases::{Case, Outcome, passes};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
    disagreements: usize,
    /// Rule cases the RVM ran, and those where it and the interpreter differ.
    rvm: usize,
    rvm_disagreements: usize,
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/opa-v1");
    let cases = cases::load(&root, &filter);
    assert!(!cases.is_empty(), "no cases match {filter:?}");

    // Generous deadline: a case that is slow (big-number arithmetic) should
    // show as a result, not as a sandbox timeout that no other way has.
    let runtime = sark_policy_host::Runtime::builder()
        .deadline(std::time::Duration::from_secs(60))
        .build()
        .expect("loading the component");
    let python = python::run(&cases);
    let expected = expected::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/expected-failures.txt"),
    );

    let mut table: BTreeMap<String, Tally> = BTreeMap::new();
    let mut skipped_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut failing = Vec::new();
    let mut fallbacks: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for case in &cases {
        if let Some(r) = rvm::run(case) {
            let t = table.entry(case.category.clone()).or_default();
            t.rvm += usize::from(r.on_rvm);
            if let Some((reason, message)) = r.fallback {
                fallbacks
                    .entry(reason.as_str())
                    .or_default()
                    .push(format!("{}: {message}", case.id));
            }
            if let Some((on_rvm, interpreted)) = r.disagreement {
                t.rvm_disagreements += 1;
                problems.push(format!(
                    "RVM DISAGREES {} ({})\n  rvm:         {on_rvm}\n  interpreter: {interpreted}",
                    case.id, case.note
                ));
            }
        }
        let native = ways::native(case);
        let component = ways::component(&runtime, case);
        let py = python
            .get(&case.id)
            .cloned()
            .unwrap_or_else(|| Outcome::Error("no Python outcome".into()));
        let t = table.entry(case.category.clone()).or_default();
        if !native.same_as(&component) || !native.same_as(&py) {
            t.disagreements += 1;
            problems.push(format!(
                "DISAGREE {} ({})\n  native:    {}\n  component: {}\n  python:    {}",
                case.id,
                case.note,
                native.brief(),
                component.brief(),
                py.brief()
            ));
        }
        if let Outcome::Skipped(reason) = &native {
            t.skipped += 1;
            *skipped_reasons.entry(reason.clone()).or_default() += 1;
            continue;
        }
        if passes(case, &component) {
            t.passed += 1;
            if let Some(reason) = expected.get(&case.id) {
                problems.push(format!("PASSES BUT LISTED {} (listed as: {reason}): remove it from expected-failures.txt", case.id));
            }
        } else {
            t.failed += 1;
            failing.push(case);
            if !expected.contains_key(&case.id) {
                problems.push(unexpected_failure(case, &component));
            }
        }
    }
    if filter.is_empty() {
        for id in expected.keys() {
            if !cases.iter().any(|c| &c.id == id) {
                problems.push(format!("LISTED BUT UNKNOWN {id}: no such case"));
            }
        }
    }
    print_table(&table, &skipped_reasons);
    print_fallbacks(&fallbacks);
    if !problems.is_empty() {
        println!("\n{} problem(s):", problems.len());
        for p in &problems {
            println!("{p}");
        }
        std::process::exit(1);
    }
    println!(
        "\nconformance: ok ({} expected failures, listed with reasons)",
        failing.len()
    );
}

fn unexpected_failure(case: &Case, got: &Outcome) -> String {
    let want = if case.want_error {
        "an error".to_owned()
    } else {
        case.want_result.as_ref().map_or("?".into(), |w| {
            cases::normalize(w.clone(), case.sort_bindings).to_string()
        })
    };
    format!(
        "FAIL {} ({})\n  want: {want}\n  got:  {}",
        case.id,
        case.note,
        got.brief()
    )
}

fn print_table(table: &BTreeMap<String, Tally>, skipped: &BTreeMap<String, usize>) {
    println!(
        "{:<30} {:>6} {:>6} {:>7} {:>8} {:>5} {:>6}",
        "category", "passed", "failed", "skipped", "disagree", "rvm", "rvm!="
    );
    let row = |name: &str, t: &Tally| {
        println!(
            "{name:<30} {:>6} {:>6} {:>7} {:>8} {:>5} {:>6}",
            t.passed, t.failed, t.skipped, t.disagreements, t.rvm, t.rvm_disagreements
        );
    };
    let mut total = Tally::default();
    for (cat, t) in table {
        row(cat, t);
        total.passed += t.passed;
        total.failed += t.failed;
        total.skipped += t.skipped;
        total.disagreements += t.disagreements;
        total.rvm += t.rvm;
        total.rvm_disagreements += t.rvm_disagreements;
    }
    row("TOTAL", &total);
    for (reason, n) in skipped {
        println!("skipped {n}: {reason}");
    }
}

/// The rule cases the interpreter ran because the RVM does not, by reason.
fn print_fallbacks(fallbacks: &BTreeMap<&'static str, Vec<String>>) {
    for (reason, cases) in fallbacks {
        println!(
            "\nfell back from the RVM ({reason}): {} case(s)",
            cases.len()
        );
        for c in cases {
            println!("  {}", c.chars().take(160).collect::<String>());
        }
    }
}
