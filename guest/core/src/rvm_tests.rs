use super::*;
use crate::Engine;

fn engine(source: &str) -> Engine {
    let mut e = Engine::new();
    e.add_policy("p.rego", source).unwrap();
    e
}

fn interpreter_only(e: &mut Engine) {
    e.set_eval_options(EvalOptions {
        interpreter_only: true,
        ..e.eval_options()
    });
}

/// Evaluates `rule` on both paths and returns the RVM's answer after
/// checking the interpreter gives the same one.
fn both(e: &mut Engine, rule: &str, input: &str) -> Result<Option<String>> {
    let options = e.eval_options();
    let rvm = e.eval_rule(rule, input);
    interpreter_only(e);
    let interp = e.eval_rule(rule, input);
    e.set_eval_options(options);
    match (&rvm, &interp) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{rule} with {input}"),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{rule} with {input}: {a} vs {b}"
        ),
        _ => panic!("{rule} with {input}: RVM {rvm:?}, interpreter {interp:?}"),
    }
    rvm
}

#[test]
fn rules_run_on_the_rvm_compiled_once_per_revision() {
    let mut e = engine("package a\ndefault allow := false\nallow if input.user == \"alice\"");
    for user in ["alice", "bob", "alice"] {
        e.eval_rule("data.a.allow", &format!(r#"{{"user":"{user}"}}"#))
            .unwrap();
    }
    let s = e.eval_stats();
    assert_eq!((s.rvm, s.compiled, s.interpreter), (3, 1, [0; 7]));
    assert!(s.fallbacks.is_empty());
    assert_eq!(
        e.eval_rule("a/allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    // A new revision compiles again, and sees the change.
    e.add_policy("p.rego", "package a\nallow if input.user == \"bob\"")
        .unwrap();
    assert_eq!(e.eval_rule("a/allow", r#"{"user":"alice"}"#).unwrap(), None);
    assert_eq!(e.eval_stats().compiled, 2);
    e.add_data(r#"{"x": 1}"#).unwrap();
    e.eval_rule("a/allow", r#"{"user":"bob"}"#).unwrap();
    assert_eq!(e.eval_stats().compiled, 3);
}

#[test]
fn data_reaches_the_vm_and_data_changes_are_seen() {
    let mut e = engine("package a\nallow if data.admins[input.user]");
    assert_eq!(both(&mut e, "a.allow", r#"{"user":"root"}"#).unwrap(), None);
    e.add_data(r#"{"admins": {"root": true}}"#).unwrap();
    assert_eq!(
        both(&mut e, "a.allow", r#"{"user":"root"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    e.replace_data(r#"{"admins": {}}"#).unwrap();
    assert_eq!(both(&mut e, "a.allow", r#"{"user":"root"}"#).unwrap(), None);
    assert_eq!(e.eval_stats().interpreter(Reason::Forced), 3);
}

#[test]
fn with_falls_back_to_the_interpreter_with_the_reason() {
    let mut e =
        engine("package a\nx := input.n\ny := v if { v := x with input.n as 7 }\nz := input.n + 1");
    assert_eq!(
        e.eval_rule("a.y", r#"{"n": 1}"#).unwrap().as_deref(),
        Some("7")
    );
    assert_eq!(
        e.eval_rule("a.z", r#"{"n": 1}"#).unwrap().as_deref(),
        Some("2")
    );
    let s = e.eval_stats();
    assert_eq!((s.rvm, s.interpreter(Reason::With)), (1, 1));
    assert_eq!(s.fallbacks.len(), 1);
    let f = &s.fallbacks[0];
    assert_eq!((f.rule.as_str(), f.reason), ("data.a.y", Reason::With));
    assert!(f.message.contains("with"), "{}", f.message);
}

#[test]
fn added_builtins_run_on_the_rvm_as_host_awaits() {
    let mut e = engine(
        r#"package a
h := crypto.sha256(input.s)
ok if net.cidr_intersects(input.a, "10.0.0.0/8")
bad := crypto.hmac.sha256(1, "k")
"#,
    );
    assert_eq!(
        both(&mut e, "a.h", r#"{"s": "abc"}"#).unwrap().as_deref(),
        Some(r#""ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#)
    );
    assert_eq!(
        both(&mut e, "a.ok", r#"{"a": "10.1.0.0/16"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        both(&mut e, "a.ok", r#"{"a": "11.1.0.0/16"}"#).unwrap(),
        None
    );
    // An undefined argument skips the call, as in the interpreter.
    assert_eq!(both(&mut e, "a.h", "{}").unwrap(), None);
    // A builtin error is undefined unless strict (strict runs elsewhere).
    assert_eq!(both(&mut e, "a.bad", "{}").unwrap(), None);
    assert!(e.eval_stats().fallbacks.is_empty());
    assert_eq!(e.eval_stats().rvm, 5);
    e.set_strict_builtin_errors(true);
    let err = both(&mut e, "a.bad", "{}").unwrap_err();
    assert!(
        matches!(&err, Error::Evaluation(m) if m.contains("crypto.hmac.sha256")),
        "{err:?}"
    );
}

#[test]
fn an_instruction_budget_stop_is_a_typed_error_and_changes_nothing() {
    let mut e = engine("package a\nn := count([x | some x in numbers.range(1, 5000); x % 2 == 0])");
    assert_eq!(e.eval_rule("a.n", "").unwrap().as_deref(), Some("2500"));
    e.set_eval_options(EvalOptions {
        max_instructions: 1000,
        ..EvalOptions::default()
    });
    let err = e.eval_rule("a.n", "").unwrap_err();
    assert!(
        matches!(&err, Error::LimitExceeded(m) if m.contains("1000 RVM instructions") && m.contains("data.a.n")),
        "{err:?}"
    );
    e.set_eval_options(EvalOptions::default());
    assert_eq!(e.eval_rule("a.n", "").unwrap().as_deref(), Some("2500"));
}

#[test]
fn the_default_budget_runs_past_regorus_s_25000() {
    let mut e =
        engine("package a\nn := count([x | some x in numbers.range(1, 100000); x % 3 == 0])");
    assert_eq!(e.eval_rule("a.n", "").unwrap().as_deref(), Some("33333"));
    assert_eq!(e.eval_stats().rvm, 1);
}

#[test]
fn errors_are_the_same_case_on_both_paths() {
    let mut e = engine("package a\nx := 1 if input.a\nx := 2 if input.b\nd := 1 / input.z");
    assert!(matches!(
        both(&mut e, "a.x", r#"{"a": true, "b": true}"#),
        Err(Error::Evaluation(_))
    ));
    assert_eq!(
        both(&mut e, "a.x", r#"{"a": true}"#).unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(both(&mut e, "a.d", r#"{"z": 0}"#).unwrap(), None);
    assert!(matches!(
        e.eval_rule("a.nothere.deep", "{}"),
        Err(_) | Ok(None)
    ));
}

#[test]
fn differential_on_rule_kinds() {
    let mut e = engine(
        r#"package a
import rego.v1
default allow := false
allow if { some r in input.roles; r == "admin" }
deny contains msg if { some r in input.roles; r != "admin"; msg := sprintf("role %s", [r]) }
obj[k] := v if { some k, v in input.attrs; v > 1 }
f(x) := x * 2
doubled := [f(x) | some x in input.nums]
every_pos if every x in input.nums { x > 0 }
str := concat(",", sort(input.roles))
big := 12345678901234567890
"#,
    );
    let inputs = [
        r#"{"roles": ["admin", "dev"], "attrs": {"a": 1, "b": 2}, "nums": [1, 2, 3]}"#,
        r#"{"roles": ["dev"], "attrs": {}, "nums": [-1]}"#,
        r#"{"roles": [], "nums": []}"#,
        "{}",
        "",
    ];
    for rule in [
        "a.allow",
        "a.deny",
        "a.obj",
        "a.doubled",
        "a.every_pos",
        "a.str",
        "a.big",
    ] {
        for input in inputs {
            let _ = both(&mut e, rule, input);
        }
    }
    // Only the partial object, whose loop could yield one key twice.
    let fallbacks = e.eval_stats().fallbacks;
    assert_eq!(fallbacks.len(), 1, "{fallbacks:?}");
    assert_eq!(fallbacks[0].rule, "data.a.obj");
}

#[test]
fn programs_held_are_bounded() {
    let mut src = String::from("package a\n");
    for i in 0..(MAX_PROGRAMS + 10) {
        src.push_str(&format!("r{i} := {i}\n"));
    }
    let mut e = engine(&src);
    for i in 0..(MAX_PROGRAMS + 10) {
        assert_eq!(
            e.eval_rule(&format!("a.r{i}"), "").unwrap(),
            Some(i.to_string())
        );
        assert!(e.programs_held() <= MAX_PROGRAMS);
    }
}

#[test]
fn a_clone_compiles_afresh_and_answers_the_same() {
    let mut e = engine("package a\nallow if input.x == 1");
    e.eval_rule("a.allow", r#"{"x": 1}"#).unwrap();
    let mut c = e.clone();
    assert_eq!(
        c.eval_rule("a.allow", r#"{"x": 1}"#).unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(c.eval_stats().compiled, 2);
}

#[test]
fn conflicts_and_strict_errors_are_errors_as_in_opa() {
    // Each of these is an error in OPA; the RVM alone would answer a value
    // or undefined, so the engine runs them on the interpreter.
    let cases = [
        (
            "package a\nx := v if { some v in input.a }",
            "a.x",
            r#"{"a":[1,2]}"#,
        ),
        (
            "package a\nx := 1 if input.a\nx := 2 if input.b",
            "a.x",
            r#"{"a":true,"b":true}"#,
        ),
        (
            "package a\nobj[k] := v if { some p in input.a; k := p[0]; v := p[1] }",
            "a.obj",
            r#"{"a":[["k",1],["k",2]]}"#,
        ),
        (
            "package a\nf(x) := 1 if x > 0\nf(x) := 2 if x > 1\ny := f(5)",
            "a.y",
            "{}",
        ),
        (
            "package a\nq := y if { y := x }\nx := v if { some v in input.a }",
            "a.q",
            r#"{"a":[1,2]}"#,
        ),
        (
            "package a\nallow if not x\nx := v if { some v in input.a }",
            "a.allow",
            r#"{"a":[1,2]}"#,
        ),
    ];
    for (src, rule, input) in cases {
        let mut e = engine(src);
        let err = both(&mut e, rule, input).unwrap_err();
        assert!(matches!(err, Error::Evaluation(_)), "{rule}: {err:?}");
        assert_eq!(
            e.eval_stats().fallbacks[0].reason,
            Reason::Conflict,
            "{src}"
        );
    }
    for (src, rule) in [
        ("package a\ny := to_number(\"x\")", "a.y"),
        ("package a\ny := 1 / 0", "a.y"),
    ] {
        let mut e = engine(src);
        assert_eq!(both(&mut e, rule, "{}").unwrap(), None);
        assert_eq!(e.eval_stats().rvm, 1);
        e.set_strict_builtin_errors(true);
        assert!(matches!(
            both(&mut e, rule, "{}"),
            Err(Error::Evaluation(_))
        ));
        assert_eq!(e.eval_stats().fallbacks[0].reason, Reason::Strict);
    }
}

#[test]
fn rules_that_cannot_conflict_stay_on_the_rvm() {
    let mut e = engine(
        r#"package a
default allow := false
allow if { some r in input.roles; r == "admin" }
allow if input.user == "root"
level := "high" if { some r in input.roles; r == "admin" }
name := input.user
pick := 1 if input.a else := 2
"#,
    );
    for rule in ["a.allow", "a.level", "a.name", "a.pick"] {
        both(
            &mut e,
            rule,
            r#"{"roles": ["admin", "dev", "admin"], "user": "u"}"#,
        )
        .unwrap();
    }
    assert!(e.eval_stats().fallbacks.is_empty(), "{:?}", e.eval_stats());
}

#[test]
fn known_rvm_divergences_stay_on_the_interpreter() {
    // From OPA's conformance cases, where regorus 0.14.1's RVM answers
    // differently: default functions, ref heads with variable paths, and a
    // number in a data path matched against a string key.
    let cases = [
        (
            "package test\ndefault f(x) := 1\nf(x) := x if { x > 0 }\np if { f(-1) == 1 }",
            "test.p",
            "",
            None,
        ),
        (
            "package test\ndefault f(x) := 1000\nf(x) := x if { x > 0 }\np := xs if { xs := [y | x = [1, -2, 3][_]; y := f(x)] }",
            "test.p",
            "",
            None,
        ),
        (
            "package test\nobj.sub[x][x] contains x if some x in [\"one\", \"two\"]\nobj[x][x] contains x if x := \"whatever\"\nmain contains x if {\n  [1 | obj.sub[_].one[_]]\n  x := obj.sub[_][_][_]\n}",
            "test.main",
            "",
            None,
        ),
        (
            "package test\np := data.nested[2]",
            "test.p",
            "",
            Some(r#"{"nested": {"2": "bar"}}"#),
        ),
    ];
    for (src, rule, input, data) in cases {
        let mut e = engine(src);
        if let Some(d) = data {
            e.add_data(d).unwrap();
        }
        let answer = both(&mut e, rule, input).unwrap();
        assert!(answer.is_some(), "{src}");
        let s = e.eval_stats();
        assert_eq!(s.rvm, 0, "{src}: {s:?}");
        assert_eq!(s.fallbacks[0].reason, Reason::Unsupported, "{src}");
    }
}

#[test]
fn http_send_is_an_error_that_says_why_on_both_paths() {
    let mut e = engine(
        "package h\nr := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1/\"})",
    );
    // Not undefined (regorus's own answer), strict or not.
    for strict in [false, true] {
        e.set_strict_builtin_errors(strict);
        let err = both(&mut e, "h.r", "{}").unwrap_err();
        assert!(
            matches!(&err, Error::Evaluation(m) if m.contains("http.send") && m.contains("no network")),
            "{err:?}"
        );
    }
}
