//! Rego unit tests, as `opa test` runs them: discovery of the `test_*`
//! rules of the modules held, one evaluation each, and the outcome.
//!
//! A rule is a test when a plain name in its head starts with `test_`
//! (`todo_test_` marks one skipped), in any package (test packages usually
//! end in `_test`). It is evaluated with no input: `true` passes; `false`,
//! any other value or undefined fails; an evaluation error is an error. A
//! test rule with a variable key (`test_cases[note] if ...`, a partial
//! object) passes when every case's value is `true`, and a failure names
//! the cases that were not (OPA's sub-results).
//!
//! Differences from `opa test`: the definitions of one test rule are
//! evaluated together, as one rule (OPA renames a second definition
//! `test_x#01` and runs each), and there is no per-test timeout (the host's
//! deadline bounds the whole run).

use crate::{Engine, Error, Result};
use regorus::Value;
use regorus::unstable::{Expr, Module, Ref, Rule, RuleHead};
use std::collections::BTreeSet;
use std::time::Instant;

/// How one test rule ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    /// The rule is `true` (or, with cases, every case is).
    Pass,
    /// The rule is `false`, another value, or undefined.
    Fail,
    /// Evaluating the rule failed.
    Error,
    /// A `todo_test_*` rule: reported, not evaluated.
    Skip,
}

/// The result of one test rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The rule's package, e.g. `data.authz_test`.
    pub package: String,
    /// The rule's name in its package, e.g. `test_allow`.
    pub name: String,
    /// The module (file) the rule is in.
    pub file: String,
    /// Line of the rule in `file` (from 1).
    pub row: u32,
    /// Column of the rule in `file` (from 1).
    pub col: u32,
    /// How it ended.
    pub outcome: TestOutcome,
    /// For `Error`, the error; for a `Fail` of a rule with cases, one line
    /// `<case>: FAIL` per failing case; else empty.
    pub message: String,
    /// Time spent evaluating the rule, in nanoseconds.
    pub nanos: u64,
}

impl TestResult {
    /// The test's full name, `package.name`, which `run_tests` filters on.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.package, self.name)
    }
}

/// A test rule found in a module.
struct Found {
    package: String,
    name: String,
    file: String,
    row: u32,
    col: u32,
    skip: bool,
    /// The head has a variable key after the name: the value holds cases.
    cases: bool,
}

impl Found {
    fn full_name(&self) -> String {
        format!("{}.{}", self.package, self.name)
    }
}

impl Engine {
    /// Runs the test rules of the modules held, in file order (modules by
    /// name, rules in source order), each once with no input, and returns
    /// their results. `filter`, a regular expression (regorus's, the one
    /// `regex.match` uses; empty: every test), keeps the tests whose full
    /// name (`data.pkg.test_x`) it matches anywhere, as `opa test --run`.
    /// Durations are measured here, around each evaluation. Raises `Other`
    /// for a `filter` that is not a valid regular expression; a test's own
    /// failure is its result, never an error of the run.
    pub fn run_tests(&mut self, filter: &str) -> Result<Vec<TestResult>> {
        let mut modules = self.parsed_modules();
        modules.sort_by(|a, b| file_of(a).cmp(file_of(b)));
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        for module in &modules {
            for t in tests_in(module)? {
                if seen.insert(t.full_name()) {
                    found.push(t);
                }
            }
        }
        if !filter.is_empty() {
            let names: Vec<String> = found.iter().map(Found::full_name).collect();
            let keep = self.matching(filter, &names)?;
            found = found
                .into_iter()
                .zip(keep)
                .filter_map(|(t, k)| k.then_some(t))
                .collect();
        }
        Ok(found.into_iter().map(|t| self.run_one(t)).collect())
    }

    fn run_one(&mut self, t: Found) -> TestResult {
        let (outcome, message, nanos) = if t.skip {
            (TestOutcome::Skip, String::new(), 0)
        } else {
            let start = Instant::now();
            let value = self.eval_rule_value(&t.full_name(), Value::Undefined);
            let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let (outcome, message) = match value {
                Ok(v) => judge(v.as_ref(), t.cases),
                // regorus's messages open with a newline before the position.
                Err(Error::Evaluation(m)) => (TestOutcome::Error, m.trim().to_owned()),
                Err(e) => (TestOutcome::Error, e.to_string().trim().to_owned()),
            };
            (outcome, message, nanos)
        };
        TestResult {
            package: t.package,
            name: t.name,
            file: t.file,
            row: t.row,
            col: t.col,
            outcome,
            message,
            nanos,
        }
    }

    /// Which of `names` the regular expression `pattern` matches, asked of
    /// regorus's own `regex` builtins (so `--run` reads a pattern as the
    /// policies' `regex.match` would, without a second regex engine here).
    fn matching(&mut self, pattern: &str, names: &[String]) -> Result<Vec<bool>> {
        let input = serde_json::json!({ "p": pattern, "n": names }).to_string();
        let valid = self.eval_query("x := regex.is_valid(input.p)", &input)?;
        if first_binding(&valid) != Some(serde_json::Value::Bool(true)) {
            return Err(Error::Other(format!(
                "the test filter {pattern:?} is not a valid regular expression"
            )));
        }
        let found = self.eval_query(
            "x := [m | n := input.n[_]; m := regex.match(input.p, n)]",
            &input,
        )?;
        let Some(serde_json::Value::Array(marks)) = first_binding(&found) else {
            return Err(Error::Other("matching test names failed".into()));
        };
        if marks.len() != names.len() {
            return Err(Error::Other("matching test names failed".into()));
        }
        Ok(marks
            .iter()
            .map(|m| m == &serde_json::Value::Bool(true))
            .collect())
    }
}

/// The binding `x` of the first result of a query's result set (JSON).
fn first_binding(result_set: &str) -> Option<serde_json::Value> {
    let mut set: serde_json::Value = serde_json::from_str(result_set).ok()?;
    set.get_mut(0)?
        .get_mut("bindings")?
        .get_mut("x")
        .map(serde_json::Value::take)
}

/// The outcome of a test whose evaluation gave `value` (`None`: undefined).
fn judge(value: Option<&Value>, cases: bool) -> (TestOutcome, String) {
    match value {
        Some(Value::Bool(true)) => (TestOutcome::Pass, String::new()),
        Some(v @ Value::Object(_)) if cases => {
            let mut failing = Vec::new();
            failing_cases(v, "", &mut failing);
            if failing.is_empty() {
                (TestOutcome::Pass, String::new())
            } else {
                let lines: Vec<String> = failing.iter().map(|c| format!("{c}: FAIL")).collect();
                (TestOutcome::Fail, lines.join("\n"))
            }
        }
        _ => (TestOutcome::Fail, String::new()),
    }
}

/// Collects the names of the cases of `v` (nested objects: names joined by
/// `.`) whose value is not `true`, as OPA's sub-results.
fn failing_cases(v: &Value, prefix: &str, out: &mut Vec<String>) {
    let Ok(object) = v.as_object() else { return };
    for (key, value) in object.iter() {
        let key = match key {
            Value::String(s) => s.to_string(),
            other => crate::engine::to_json(other).unwrap_or_default(),
        };
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Bool(true) => {}
            Value::Object(_) => failing_cases(value, &name, out),
            _ => out.push(name),
        }
    }
}

fn file_of(module: &Ref<Module>) -> &str {
    module.package.span.source.get_path()
}

/// The test rules of one module, in source order (definitions of one rule
/// may repeat; the caller keeps the first).
fn tests_in(module: &Ref<Module>) -> Result<Vec<Found>> {
    let package = regorus::utils::get_path_string(&module.package.refr, Some("data"))
        .map_err(|e| Error::Other(format!("reading a package name: {e:#}")))?;
    let mut out = Vec::new();
    for rule in &module.policy {
        let (refr, span) = match rule.as_ref() {
            Rule::Spec { head, span, .. } => match head {
                RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. } => (refr, span),
                // A function is not a test: it needs arguments.
                RuleHead::Func { .. } => continue,
            },
            Rule::Default {
                refr, args, span, ..
            } if args.is_empty() => (refr, span),
            Rule::Default { .. } => continue,
        };
        let parts = head_parts(refr);
        let Some(at) = parts.iter().position(|p| {
            p.as_deref()
                .is_some_and(|n| n.starts_with("test_") || n.starts_with("todo_test_"))
        }) else {
            continue;
        };
        let Some(ground) = parts.get(..=at) else {
            continue;
        };
        // Only a plain-named path leads to the test (`a.test_b`, not `a[x].test_b`).
        let Some(names) = ground.iter().cloned().collect::<Option<Vec<String>>>() else {
            continue;
        };
        let skip = names.last().is_some_and(|n| n.starts_with("todo_test_"));
        out.push(Found {
            package: package.clone(),
            name: names.join("."),
            file: span.source.get_path().clone(),
            row: span.line,
            col: span.col,
            skip,
            cases: parts.len() > at + 1,
        });
    }
    Ok(out)
}

/// The components of a rule head's reference: `Some(name)` for a name or a
/// string key, `None` for any other (variable) key.
fn head_parts(refr: &Expr) -> Vec<Option<String>> {
    let mut parts = Vec::new();
    let mut cur = refr;
    loop {
        match cur {
            Expr::Var { span, .. } => {
                parts.push(Some(span.text().to_owned()));
                break;
            }
            Expr::RefDot { refr, field, .. } => {
                parts.push(Some(field.0.text().to_owned()));
                cur = refr;
            }
            Expr::RefBrack { refr, index, .. } => {
                parts.push(match index.as_ref() {
                    Expr::String { value, .. } | Expr::RawString { value, .. } => {
                        value.as_string().ok().map(|s| s.to_string())
                    }
                    _ => None,
                });
                cur = refr;
            }
            _ => {
                parts.push(None);
                break;
            }
        }
    }
    parts.reverse();
    parts
}

#[cfg(test)]
#[path = "testrun_tests.rs"]
mod tests;
