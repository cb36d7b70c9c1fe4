use super::*;
use crate::RegoVersion;

const AUTHZ: &str = r#"package authz
default allow := false
allow if input.user == "alice"
allow if data.admins[input.user]
"#;

const AUTHZ_TEST: &str = r#"package authz_test
import data.authz

test_alice_allowed if authz.allow with input as {"user": "alice"}

test_bob_allowed if authz.allow with input as {"user": "bob"}

test_admin_from_data if authz.allow with input as {"user": "root"}

test_conflict if {
    x := {"a": 1}
    x.a == conflict
}

conflict := 1
conflict := 2

test_undefined if input.nothing

helper(x) := x

test_not_bool := 3

todo_test_later if false

not_a_test if true
"#;

fn engine() -> Engine {
    let mut e = Engine::new();
    e.add_policy("authz.rego", AUTHZ).unwrap();
    e.add_policy("authz_test.rego", AUTHZ_TEST).unwrap();
    e.add_data(r#"{"admins": {"root": true}}"#).unwrap();
    e
}

fn outcomes(results: &[TestResult]) -> Vec<(String, TestOutcome)> {
    results
        .iter()
        .map(|r| (r.name.clone(), r.outcome))
        .collect()
}

#[test]
fn runs_each_test_rule_and_classifies_it() {
    let mut e = engine();
    let results = e.run_tests("").unwrap();
    use TestOutcome::*;
    let want = [
        ("test_alice_allowed", Pass),
        ("test_bob_allowed", Fail),
        ("test_admin_from_data", Pass),
        ("test_conflict", Error),
        ("test_undefined", Fail),
        ("test_not_bool", Fail),
        ("todo_test_later", Skip),
    ];
    let want: Vec<(String, TestOutcome)> = want.iter().map(|(n, o)| (n.to_string(), *o)).collect();
    assert_eq!(outcomes(&results), want);
    let first = &results[0];
    assert_eq!(first.package, "data.authz_test");
    assert_eq!(first.full_name(), "data.authz_test.test_alice_allowed");
    assert_eq!(
        (first.file.as_str(), first.row, first.col),
        ("authz_test.rego", 4, 1)
    );
    assert!(first.nanos > 0 && first.message.is_empty());
    let conflict = &results[3];
    assert!(
        conflict.message.starts_with("-->") && conflict.message.contains("authz_test.rego"),
        "{}",
        conflict.message
    );
    assert_eq!(results[6].nanos, 0);
}

#[test]
fn a_run_changes_nothing() {
    let mut e = engine();
    let before = (e.revision(), e.policies(), e.data_json().unwrap());
    e.run_tests("").unwrap();
    e.run_tests("alice").unwrap();
    assert_eq!(before, (e.revision(), e.policies(), e.data_json().unwrap()));
}

#[test]
fn the_filter_is_a_regex_on_the_full_name() {
    let mut e = engine();
    let names = |r: Vec<TestResult>| r.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(
        names(e.run_tests("allowed$").unwrap()),
        ["test_alice_allowed", "test_bob_allowed"]
    );
    assert_eq!(
        names(e.run_tests(r"^data\.authz_test\.test_(un|not)").unwrap()),
        ["test_undefined", "test_not_bool"]
    );
    assert_eq!(names(e.run_tests("todo").unwrap()), ["todo_test_later"]);
    assert!(e.run_tests("no_such_test").unwrap().is_empty());
    let err = e.run_tests("test_(").unwrap_err();
    assert!(
        matches!(err, Error::Other(ref m) if m.contains("regular expression")),
        "{err}"
    );
}

#[test]
fn files_run_in_name_order_and_a_rule_defined_twice_runs_once() {
    let mut e = Engine::new();
    e.add_policy("b.rego", "package b\ntest_b if true\n")
        .unwrap();
    e.add_policy(
        "a.rego",
        "package a\ntest_twice if false\ntest_twice if true\ntest_a if true\n",
    )
    .unwrap();
    let r = e.run_tests("").unwrap();
    let got: Vec<(String, TestOutcome)> = r.iter().map(|t| (t.full_name(), t.outcome)).collect();
    assert_eq!(
        got,
        [
            ("data.a.test_twice".to_owned(), TestOutcome::Pass),
            ("data.a.test_a".to_owned(), TestOutcome::Pass),
            ("data.b.test_b".to_owned(), TestOutcome::Pass),
        ]
    );
}

#[test]
fn a_test_with_cases_fails_on_the_failing_cases() {
    let mut e = Engine::new();
    e.add_policy(
        "cases.rego",
        r#"package cases
test_sum[note] if {
    some tc in [{"note": "one", "a": 1, "want": 1}, {"note": "two", "a": 2, "want": 3}]
    note := tc.note
    tc.a == tc.want
}
test_all[note] := ok if {
    some note, ok in {"x": true, "y": true}
}
"#,
    )
    .unwrap();
    let r = e.run_tests("").unwrap();
    assert_eq!(
        outcomes(&r),
        [
            ("test_sum".to_owned(), TestOutcome::Pass),
            ("test_all".to_owned(), TestOutcome::Pass)
        ]
    );
    e.add_policy(
        "cases.rego",
        r#"package cases
test_all[note] := ok if {
    some note, ok in {"x": true, "y": false, "z": 1}
}
"#,
    )
    .unwrap();
    let r = e.run_tests("").unwrap();
    assert_eq!(r[0].outcome, TestOutcome::Fail);
    assert_eq!(r[0].message, "y: FAIL\nz: FAIL");
}

#[test]
fn v0_modules_and_ref_heads() {
    let mut e = Engine::new();
    e.set_rego_version(RegoVersion::V0);
    e.add_policy(
        "v0.rego",
        "package v0_test\ntest_old { true }\ntest_old_fails { false }\n",
    )
    .unwrap();
    e.set_rego_version(RegoVersion::V1);
    e.add_policy("ref.rego", "package r\ngroup.test_nested if true\n")
        .unwrap();
    let r = e.run_tests("").unwrap();
    let got: Vec<(String, TestOutcome)> = r.iter().map(|t| (t.full_name(), t.outcome)).collect();
    assert_eq!(
        got,
        [
            ("data.r.group.test_nested".to_owned(), TestOutcome::Pass),
            ("data.v0_test.test_old".to_owned(), TestOutcome::Pass),
            ("data.v0_test.test_old_fails".to_owned(), TestOutcome::Fail),
        ]
    );
}

#[test]
fn no_modules_no_tests() {
    assert!(Engine::new().run_tests("").unwrap().is_empty());
    assert!(Engine::new().run_tests(".*").unwrap().is_empty());
}
