//! Evaluation paths: options on every instance (also after a trap), the
//! interpreter fallbacks and their metrics.

use crate::{builder, engine_with};
use sark_policy_host::{Error, ErrorKind, EvalOptions, Request};
use std::collections::BTreeMap;

/// `with` is refused by the RVM compiler: this rule runs on the interpreter.
const WITH: &str = r#"package w
admin if input.user == "alice"
as_alice if admin with input as {"user": "alice"}
"#;

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(r, n)| (r.to_owned(), n)).collect()
}

fn alice(e: &sark_policy_host::PolicyEngine) -> Result<Option<String>, Error> {
    e.eval_rule("authz/allow", r#"{"user":"alice"}"#)
}

#[test]
fn options_reach_every_shard_and_change_at_run_time() {
    let e = engine_with(builder().shards(3).interpreter_only(true));
    assert!(e.eval_options().interpreter_only);
    // Round robin: three evaluations visit each of the three shards once.
    for _ in 0..3 {
        assert_eq!(alice(&e).unwrap().as_deref(), Some("true"));
    }
    let m = e.metrics();
    assert_eq!(m.interpreter_evaluations, counts(&[("forced", 3)]));
    assert_eq!((m.rvm_evaluations, m.rvm_programs_compiled), (0, 0));

    let rvm = EvalOptions {
        interpreter_only: false,
        ..e.eval_options()
    };
    let revision = e.revision().unwrap();
    e.set_eval_options(rvm).unwrap();
    assert_eq!(e.eval_options(), rvm);
    assert_eq!(e.revision().unwrap(), revision);
    for _ in 0..3 {
        assert_eq!(alice(&e).unwrap().as_deref(), Some("true"));
    }
    let m = e.metrics();
    assert_eq!(m.rvm_evaluations, 3, "{m:?}");
    assert_eq!(m.rvm_programs_compiled, 3, "one program per instance");
    assert_eq!(m.interpreter_evaluations, counts(&[("forced", 3)]));
    assert!(m.rvm_fallbacks.is_empty(), "{:?}", m.rvm_fallbacks);
}

#[test]
fn with_falls_back_with_its_reason_and_answers() {
    let e = engine_with(builder().shards(2));
    e.add_policy("w.rego", WITH).unwrap();
    for _ in 0..2 {
        assert_eq!(
            e.eval_rule("w/as_alice", r#"{"user":"bob"}"#)
                .unwrap()
                .as_deref(),
            Some("true")
        );
    }
    let d = e
        .authorizer("data.w.as_alice")
        .decide(&Request {
            user: "bob",
            action: "read",
            resource: "doc",
            ..Request::default()
        })
        .unwrap();
    assert_eq!(d.value.as_deref(), Some("true"));
    let m = e.metrics();
    assert_eq!(m.interpreter_evaluations, counts(&[("with-keyword", 3)]));
    // Both instances refused the rule; it is listed once.
    assert_eq!(m.rvm_fallbacks.len(), 1, "{:?}", m.rvm_fallbacks);
    let (rule, reason, message) = &m.rvm_fallbacks[0];
    assert_eq!(
        (rule.as_str(), reason.as_str()),
        ("data.w.as_alice", "with-keyword")
    );
    assert!(!message.is_empty());
}

#[test]
fn a_tiny_instruction_budget_is_limit_exceeded_and_the_instance_stays() {
    let e = engine_with(builder().max_instructions(10));
    assert_eq!(e.eval_options().max_instructions, 10);
    let authz = e.authorizer("authz/allow");
    let req = Request {
        user: "alice",
        action: "read",
        resource: "doc",
        ..Request::default()
    };
    let err = authz.decide(&req).unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::LimitExceeded), "{err}");
    assert_eq!(
        alice(&e).unwrap_err().kind(),
        Some(ErrorKind::LimitExceeded)
    );
    assert_eq!(e.metrics().recycles, 0);

    e.set_eval_options(EvalOptions::default()).unwrap();
    assert_eq!(alice(&e).unwrap().as_deref(), Some("true"));
    // The failed decision was not cached.
    assert!(!authz.decide(&req).unwrap().cached);
    assert!(authz.decide(&req).unwrap().cached);
}

#[test]
fn a_recycled_instance_keeps_the_options() {
    // From the builder.
    let e = engine_with(builder().max_instructions(10));
    let err = e.eval_query(&crate::trap_query(), "").unwrap_err();
    assert!(matches!(err, Error::Trap(_)), "{err}");
    assert_eq!(e.metrics().recycles, 1);
    assert_eq!(
        alice(&e).unwrap_err().kind(),
        Some(ErrorKind::LimitExceeded)
    );

    // Set at run time.
    e.set_eval_options(EvalOptions {
        interpreter_only: true,
        ..EvalOptions::default()
    })
    .unwrap();
    let err = e.eval_query(&crate::trap_query(), "").unwrap_err();
    assert!(matches!(err, Error::Trap(_)), "{err}");
    assert_eq!(alice(&e).unwrap().as_deref(), Some("true"));
    let m = e.metrics();
    assert_eq!(m.recycles, 2);
    // The trapped instance took its counts along; the new one counted one.
    assert_eq!(m.interpreter_evaluations, counts(&[("forced", 1)]));
}

#[test]
fn prometheus_has_the_evaluation_path_lines() {
    let e = engine_with(builder().shards(2));
    e.add_policy("w.rego", WITH).unwrap();
    for _ in 0..4 {
        alice(&e).unwrap();
    }
    e.eval_rule("w/as_alice", "{}").unwrap();
    e.eval_rule("w/as_alice", "{}").unwrap();
    e.eval_query("x := 1", "").unwrap();
    let m = e.metrics();
    assert_eq!(
        (m.rvm_evaluations, m.rvm_programs_compiled),
        (4, 2),
        "{m:?}"
    );
    let text = m.prometheus();
    for line in [
        "# HELP sark_policy_evaluations_total ",
        "# TYPE sark_policy_evaluations_total counter\n",
        "sark_policy_evaluations_total{path=\"rvm\"} 4\n",
        "sark_policy_evaluations_total{path=\"interpreter\",reason=\"query\"} 1\n",
        "sark_policy_evaluations_total{path=\"interpreter\",reason=\"with-keyword\"} 2\n",
        "# HELP sark_policy_rvm_programs_compiled_total ",
        "# TYPE sark_policy_rvm_programs_compiled_total counter\n",
        "sark_policy_rvm_programs_compiled_total 2\n",
        "# HELP sark_policy_rvm_fallback_rules ",
        "# TYPE sark_policy_rvm_fallback_rules gauge\n",
        "sark_policy_rvm_fallback_rules 1\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    assert!(!text.contains("reason=\"forced\""), "{text}");

    // A reset zeroes the counters; the fallback rules are still the rules.
    e.reset_metrics().unwrap();
    let m = e.metrics();
    assert_eq!(
        (m.rvm_evaluations, m.rvm_programs_compiled),
        (0, 0),
        "{m:?}"
    );
    assert!(m.interpreter_evaluations.is_empty(), "{m:?}");
    assert_eq!(m.rvm_fallbacks.len(), 1);
    alice(&e).unwrap();
    assert_eq!(e.metrics().rvm_evaluations, 1);
    assert!(
        m.prometheus()
            .contains("sark_policy_evaluations_total{path=\"rvm\"} 0\n")
    );
}
