//! Behaviour that must match OPA's, through the Rust host and the CLI:
//! integers of any size, imported packages under `with`, Rego v0.

use crate::builder;
use sark_policy_host::{ErrorKind, RegoVersion, Request};
use std::process::Command;

const V0: &str =
    "package old\nallow { input.user == \"alice\" }\nnames[n] { n := input.names[_] }\n";

#[test]
fn integers_of_any_size_are_exact_on_both_paths() {
    for interpreter in [false, true] {
        let e = builder()
            .interpreter_only(interpreter)
            .build()
            .unwrap()
            .engine()
            .unwrap();
        e.add_policy(
            "n.rego",
            "package n\nbig := 1000000000000000000001\necho := input.n\nsum := input.n + 1\n",
        )
        .unwrap();
        let input = r#"{"n": 123456789012345678901234567890}"#;
        let eval = |rule| e.eval_rule(rule, input).unwrap().unwrap();
        assert_eq!(eval("data.n.big"), "1000000000000000000001");
        assert_eq!(eval("data.n.echo"), "123456789012345678901234567890");
        assert_eq!(eval("data.n.sum"), "123456789012345678901234567891");
        let decision = e
            .authorizer("data.n.big")
            .decide(&Request {
                user: "u",
                action: "a",
                resource: "r",
                ..Request::default()
            })
            .unwrap();
        assert_eq!(decision.value.as_deref(), Some("1000000000000000000001"));
    }
}

#[test]
fn an_imported_package_evaluates_only_the_rule_named() {
    let e = builder().build().unwrap().engine().unwrap();
    e.add_policy(
        "cl.rego",
        "package cost_limit\ndefault allow := false\nallow if input.cost < 10\n\
         severity := \"low\" if input.cost < 100\nseverity := \"high\" if input.cost < 200\n",
    )
    .unwrap();
    e.add_policy(
        "t.rego",
        "package cost_limit_test\nimport data.cost_limit\n\
         test_deny if { not cost_limit.allow with input as {\"cost\": 10} }\n",
    )
    .unwrap();
    assert_eq!(
        e.eval_rule("data.cost_limit_test.test_deny", "")
            .unwrap()
            .as_deref(),
        Some("true")
    );
}

#[test]
fn rego_v0_policies_load_on_every_shard() {
    let v1 = builder().build().unwrap().engine().unwrap();
    let err = v1.add_policy("old.rego", V0).unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidPolicy));

    let e = builder()
        .rego_version(RegoVersion::V0)
        .shards(2)
        .build()
        .unwrap()
        .engine()
        .unwrap();
    e.add_policy("old.rego", V0).unwrap();
    let input = r#"{"user": "alice", "names": ["a", "b"]}"#;
    for _ in 0..2 {
        assert_eq!(
            e.eval_rule("data.old.allow", input).unwrap().as_deref(),
            Some("true")
        );
        assert_eq!(
            e.eval_rule("data.old.names", input).unwrap().as_deref(),
            Some(r#"["a","b"]"#)
        );
    }
}

#[test]
fn cli_v0_compatible() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let policy = dir.join("fidelity-v0.rego");
    std::fs::write(&policy, V0).unwrap();
    let input = dir.join("fidelity-v0.json");
    std::fs::write(&input, r#"{"user": "alice"}"#).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sark-policy"))
            .arg("eval")
            .args(extra)
            .arg("-p")
            .arg(&policy)
            .arg("-i")
            .arg(&input)
            .arg("data.old.allow")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    let out = run(&["--v0-compatible"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
}
