//! Rego unit tests: `PolicyEngine::run_tests` and `sark-policy test` on the
//! fixtures in tests/testrun (shared with the Python CLI's tests).

use sark_policy_host::{ErrorKind, TestOutcome};
use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const SUITE: &str = "tests/testrun/suite";

/// `sark-policy test ARGS` from the repository root, so file names in the
/// report are `tests/testrun/...`.
fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sark-policy"))
        .arg("test")
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Durations in a pretty report replaced by `D`.
fn normalized(report: &str) -> String {
    report
        .lines()
        .map(|l| match l.rfind(" (") {
            Some(i)
                if l.ends_with(')')
                    && (l.contains(": PASS") || l.contains(": FAIL") || l.contains(": ERROR")) =>
            {
                format!("{} (D)", &l[..i])
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn run_tests_in_the_engine() {
    let engine = crate::builder().build().unwrap().engine().unwrap();
    engine
        .add_policy(
            "lib.rego",
            "package lib\nallow if input.user == \"alice\"\n",
        )
        .unwrap();
    engine
        .add_policy(
            "lib_test.rego",
            "package lib_test\nimport data.lib\n\
             test_alice if lib.allow with input as {\"user\": \"alice\"}\n\
             test_bob if lib.allow with input as {\"user\": \"bob\"}\n\
             x := 1\nx := 2\ntest_error if x == 1\ntodo_test_later if false\n",
        )
        .unwrap();
    let revision = engine.revision().unwrap();
    let results = engine.run_tests("").unwrap();
    let got: Vec<(&str, TestOutcome)> = results
        .iter()
        .map(|r| (r.name.as_str(), r.outcome))
        .collect();
    assert_eq!(
        got,
        [
            ("test_alice", TestOutcome::Pass),
            ("test_bob", TestOutcome::Fail),
            ("test_error", TestOutcome::Error),
            ("todo_test_later", TestOutcome::Skip),
        ]
    );
    let alice = &results[0];
    assert_eq!(
        (
            alice.package.as_str(),
            alice.file.as_str(),
            alice.row,
            alice.col
        ),
        ("data.lib_test", "lib_test.rego", 3, 1)
    );
    assert!(!alice.duration.is_zero() && alice.message.is_empty());
    assert!(results[2].message.contains("lib_test.rego"));
    let some = engine.run_tests("alice|bob").unwrap();
    assert_eq!(some.len(), 2);
    let err = engine.run_tests("(").unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Other), "{err}");
    assert_eq!(engine.revision().unwrap(), revision);
}

#[test]
fn a_directory_with_passing_failing_and_erroring_tests() {
    let out = cli(&[SUITE]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let report = normalized(&text(&out.stdout));
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "tests/testrun/suite/authz_test.rego:12:",
            "data.authz_test.test_bob_reads: FAIL (D)",
            "tests/testrun/suite/authz_test.rego:15:",
            "data.authz_test.test_level_conflict: ERROR (D)",
            lines[4],
        ]
    );
    assert!(
        lines[4].starts_with("  ") && lines[4].contains("authz"),
        "{report}"
    );
    let tail = [
        "tests/testrun/suite/authz_test.rego:17:",
        "data.authz_test.todo_test_audit_log: SKIPPED",
        &"-".repeat(80),
        "PASS: 5/8",
        "FAIL: 1/8",
        "SKIPPED: 1/8",
        "ERROR: 1/8",
    ];
    assert_eq!(lines[lines.len() - tail.len()..], tail, "{report}");
}

#[test]
fn verbose_lists_every_test() {
    let out = cli(&["-v", SUITE]);
    assert_eq!(out.status.code(), Some(2));
    let report = normalized(&text(&out.stdout));
    let passed: Vec<&str> = report
        .lines()
        .filter(|l| l.ends_with(": PASS (D)"))
        .collect();
    assert_eq!(
        passed,
        [
            "data.authz_test.test_admin_allowed: PASS (D)",
            "data.authz_test.test_reader_reads: PASS (D)",
            "data.authz_test.test_reader_cannot_write: PASS (D)",
            "data.roles_test.test_roles_from_yaml: PASS (D)",
            "data.roles_test.test_each_role: PASS (D)",
        ]
    );
}

#[test]
fn run_selects_tests_by_regex() {
    let out = cli(&["--run", "reader", SUITE]);
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(0), "PASS: 2/2\n")
    );
    let out = cli(&["-r", r"^data\.authz_test\.test_bob", SUITE]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).ends_with("\nFAIL: 1/1\n"));
    let out = cli(&["--run", "(", SUITE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("regular expression"));
    let out = cli(&["-z", "--run", "todo|roles", SUITE]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).ends_with("PASS: 2/3\nSKIPPED: 1/3\n"));
}

#[test]
fn json_format() {
    let out = cli(&["--format", "json", SUITE]);
    assert_eq!(out.status.code(), Some(2));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 8);
    let first = &results[0];
    assert_eq!(
        first["location"],
        serde_json::json!({"file": "tests/testrun/suite/authz_test.rego", "row": 5, "col": 1})
    );
    assert_eq!(first["package"], "data.authz_test");
    assert_eq!(first["name"], "test_admin_allowed");
    assert!(first["duration"].as_u64().unwrap() > 0);
    assert!(first.get("fail").is_none() && first.get("error").is_none());
    assert_eq!(results[3]["fail"], true);
    assert_eq!(results[4]["error"]["code"], "eval_error");
    assert_eq!(results[5]["skip"], true);
}

#[test]
fn v0_compatible() {
    let out = cli(&["tests/testrun/v0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("tests/testrun/v0/policy"));
    let out = cli(&["--v0-compatible", "tests/testrun/v0"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(0), "PASS: 2/2\n")
    );
}

#[test]
fn bad_paths() {
    let out = cli(&["tests/testrun/no-such-dir"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no-such-dir"));
    let out = cli(&["tests/testrun/README.md"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a .rego"));
}
