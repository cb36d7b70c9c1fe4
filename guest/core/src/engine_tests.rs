use super::*;

const AUTHZ: &str = r#"package authz
default allow := false
allow if input.user == "alice"
allow if data.admins[input.user]
"#;

fn engine() -> Engine {
    let mut e = Engine::new();
    assert_eq!(e.add_policy("authz.rego", AUTHZ).unwrap(), "data.authz");
    e
}

/// Everything observable about an engine, to show a failed call changed nothing.
fn snapshot(e: &mut Engine) -> (u64, Vec<String>, Vec<String>, String) {
    let data = e.clone().eval_query("data", "").unwrap();
    (e.revision(), e.policies(), e.packages(), data)
}

#[test]
fn evaluates_rules_and_reports_undefined_as_none() {
    let mut e = engine();
    assert_eq!(
        e.eval_rule("data.authz.allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"bob"}"#)
            .unwrap()
            .as_deref(),
        Some("false")
    );
    e.add_policy("x.rego", "package x\ny if input.n > 1")
        .unwrap();
    assert_eq!(e.eval_rule("x.y", r#"{"n": 0}"#).unwrap(), None);
    assert_eq!(
        e.eval_rule("/x/y", r#"{"n": 2}"#).unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(e.eval_rule("x/y", "").unwrap(), None);
}

#[test]
fn data_add_merge_replace_clear() {
    let mut e = engine();
    e.add_data(r#"{"admins": {"root": true}}"#).unwrap();
    assert_eq!(
        e.eval_rule("data.authz.allow", r#"{"user":"root"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    e.add_data(r#"{"admins": {"ops": true}}"#).unwrap();
    assert_eq!(
        e.eval_rule("data.authz.allow", r#"{"user":"ops"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    // The base document only, merged: what a host replays in one call.
    assert_eq!(
        e.data_json().unwrap(),
        r#"{"admins":{"ops":true,"root":true}}"#
    );
    e.replace_data(r#"{"admins": {"ops": true}}"#).unwrap();
    assert_eq!(e.data_json().unwrap(), r#"{"admins":{"ops":true}}"#);
    assert_eq!(
        e.eval_rule("data.authz.allow", r#"{"user":"root"}"#)
            .unwrap()
            .as_deref(),
        Some("false")
    );
    e.clear_data();
    assert_eq!(
        e.eval_rule("data.authz.allow", r#"{"user":"ops"}"#)
            .unwrap()
            .as_deref(),
        Some("false")
    );
}

#[test]
fn revision_changes_on_every_change() {
    let mut e = Engine::new();
    let mut last = e.revision();
    let mut step = |e: &mut Engine| {
        assert_ne!(e.revision(), last);
        last = e.revision();
    };
    e.add_policy("a.rego", AUTHZ).unwrap();
    step(&mut e);
    e.add_policy("a.rego", "package authz\nallow := true")
        .unwrap();
    step(&mut e);
    e.add_data("{}").unwrap();
    step(&mut e);
    e.replace_data(r#"{"k": 1}"#).unwrap();
    step(&mut e);
    e.clear_data();
    step(&mut e);
    e.set_strict_builtin_errors(true);
    step(&mut e);
    e.remove_policy("a.rego").unwrap();
    step(&mut e);
}

#[test]
fn replace_and_remove_policies() {
    let mut e = engine();
    e.add_policy("authz.rego", "package authz\nallow := \"replaced\"")
        .unwrap();
    assert_eq!(
        e.eval_rule("authz/allow", "{}").unwrap().as_deref(),
        Some("\"replaced\"")
    );
    e.add_policy("other.rego", "package other\nx := 1").unwrap();
    assert_eq!(e.policies(), ["authz.rego", "other.rego"]);
    assert_eq!(e.packages(), ["data.authz", "data.other"]);
    e.remove_policy("authz.rego").unwrap();
    assert_eq!(e.packages(), ["data.other"]);
    assert!(matches!(
        e.eval_rule("authz/allow", "{}"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        e.remove_policy("authz.rego"),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn removing_a_policy_keeps_data() {
    let mut e = engine();
    e.add_data(r#"{"admins": {"root": true}}"#).unwrap();
    e.add_policy("other.rego", "package other\nx := 1").unwrap();
    e.remove_policy("other.rego").unwrap();
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"root"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
}

#[test]
fn query_returns_opa_result_sets() {
    let mut e = engine();
    let r: serde_json::Value =
        serde_json::from_str(&e.eval_query("x := input.n + 1", r#"{"n": 41}"#).unwrap()).unwrap();
    assert_eq!(r[0]["bindings"]["x"], 42);
    assert_eq!(
        e.eval_query("x := input.missing", r#"{"n": 1}"#).unwrap(),
        "[]"
    );
}

#[test]
fn bad_policy_is_typed_positioned_and_changes_nothing() {
    let mut e = engine();
    let before = snapshot(&mut e);
    let err = e
        .add_policy("bad.rego", "package bad\nallow if {")
        .unwrap_err();
    let Error::InvalidPolicy(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("bad.rego:"), "{msg}");
    // Parses, but does not compile: an unsafe variable.
    let err = e
        .add_policy("bad.rego", "package bad\nallow if x > 1")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPolicy(_)), "{err:?}");
    // Replacing a good module with a bad one keeps the good one.
    assert!(
        e.add_policy("authz.rego", "package authz\nallow if {")
            .is_err()
    );
    assert_eq!(snapshot(&mut e), before);
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
}

#[test]
fn bad_json_and_limits_are_typed_and_change_nothing() {
    let mut e = Engine::with_limits(Limits {
        max_depth: 4,
        max_bytes: 256,
    });
    e.add_policy("authz.rego", AUTHZ).unwrap();
    e.add_data(r#"{"admins": {"root": true}}"#).unwrap();
    let before = snapshot(&mut e);
    assert!(matches!(e.add_data("{nope"), Err(Error::InvalidJson(_))));
    assert!(matches!(e.add_data("[1]"), Err(Error::Evaluation(_))));
    assert!(matches!(e.replace_data("[1]"), Err(Error::InvalidJson(_))));
    assert!(matches!(
        e.add_data(r#"{"admins": {"root": false}}"#),
        Err(Error::Evaluation(_))
    ));
    assert!(matches!(
        e.replace_data(r#"{"a":[[[[[1]]]]]}"#),
        Err(Error::LimitExceeded(_))
    ));
    let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(300));
    assert!(matches!(e.add_data(&big), Err(Error::LimitExceeded(_))));
    assert!(matches!(
        e.eval_rule("authz/allow", &big),
        Err(Error::LimitExceeded(_))
    ));
    assert!(matches!(
        e.eval_rule("authz/allow", "{"),
        Err(Error::InvalidJson(_))
    ));
    assert!(matches!(
        e.add_policy("p.rego", &"#".repeat(300)),
        Err(Error::LimitExceeded(_))
    ));
    assert_eq!(snapshot(&mut e), before);
}

#[test]
fn evaluation_errors_are_typed() {
    let mut e = Engine::new();
    e.add_policy("c.rego", "package c\nx := input.a\nx := input.b")
        .unwrap();
    let err = e.eval_rule("c/x", r#"{"a": 1, "b": 2}"#).unwrap_err();
    assert!(matches!(err, Error::Evaluation(_)), "{err:?}");
    assert!(matches!(
        e.eval_query("1 +", "{}"),
        Err(Error::Evaluation(_))
    ));
    assert!(matches!(
        e.eval_rule("nope/x", "{}"),
        Err(Error::NotFound(_))
    ));
    // The engine still answers after an error.
    assert_eq!(
        e.eval_rule("c/x", r#"{"a": 1, "b": 1}"#)
            .unwrap()
            .as_deref(),
        Some("1")
    );
}

#[test]
fn strict_builtin_errors_switch() {
    let mut e = Engine::new();
    e.add_policy("s.rego", "package s\nx := to_number(input.v)")
        .unwrap();
    assert_eq!(e.eval_rule("s/x", r#"{"v": "nan?"}"#).unwrap(), None);
    e.set_strict_builtin_errors(true);
    assert!(matches!(
        e.eval_rule("s/x", r#"{"v": "nan?"}"#),
        Err(Error::Evaluation(_))
    ));
}
