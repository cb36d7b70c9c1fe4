//! The RVM column: every case whose query is `data.<rule> = <var>` (418 of
//! the 432) is also evaluated as a rule, natively, once on the RVM (the
//! engine's default path) and once on the interpreter, and the two answers
//! must be the same: the same value, both undefined, or both an error of the
//! same kind.

use crate::cases::Case;
use sark_policy_core::{Engine, EvalOptions, Reason};

/// How the RVM answered one case.
pub struct RvmOutcome {
    /// The RVM ran the rule (no fallback).
    pub on_rvm: bool,
    /// Why the rule fell back to the interpreter, with the compiler's words.
    pub fallback: Option<(Reason, String)>,
    /// The two paths' answers, when they differ.
    pub disagreement: Option<(String, String)>,
}

/// The rule path of a `data.<path> = <var>` query.
fn rule_of(query: &str) -> Option<&str> {
    let (lhs, rhs) = query.split_once('=')?;
    let (lhs, rhs) = (lhs.trim(), rhs.trim());
    let plain = |s: &str, extra: char| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == extra)
    };
    (lhs.starts_with("data.") && plain(lhs, '.') && plain(rhs, '_')).then_some(lhs)
}

/// A brief, comparable form of a rule's answer.
fn brief(r: &sark_policy_core::Result<Option<String>>) -> String {
    match r {
        Ok(Some(v)) => v.clone(),
        Ok(None) => "undefined".into(),
        Err(e) => format!("error kind {:?}", std::mem::discriminant(e)),
    }
}

/// Runs `case` both ways; `None` when it is not a rule query or does not set up.
pub fn run(case: &Case) -> Option<RvmOutcome> {
    if case.skip.is_some() {
        return None;
    }
    let rule = rule_of(&case.query)?;
    let mut e = Engine::new();
    if case.strict {
        e.set_strict_builtin_errors(true);
    }
    for (i, m) in case.modules.iter().enumerate() {
        e.add_policy(&format!("module{i}.rego"), m).ok()?;
    }
    if let Some(data) = &case.data {
        e.add_data(&data.to_string()).ok()?;
    }
    let input = case.input.as_deref().unwrap_or("");
    let rvm = e.eval_rule(rule, input);
    let stats = e.eval_stats();
    e.set_eval_options(EvalOptions {
        interpreter_only: true,
        ..EvalOptions::default()
    });
    let interp = e.eval_rule(rule, input);
    let (a, b) = (brief(&rvm), brief(&interp));
    Some(RvmOutcome {
        on_rvm: stats.rvm > 0,
        fallback: stats.fallbacks.first().map(|f| {
            let first_line = f.message.lines().rev().find(|l| !l.trim().is_empty());
            (f.reason, first_line.unwrap_or("").trim().to_owned())
        }),
        disagreement: (a != b).then_some((a, b)),
    })
}
