use super::*;
use crate::Engine;
use std::collections::BTreeSet;

/// An engine with OPA's strict builtin errors on, so a builtin's error is
/// an evaluation error the tests can read (off, it is undefined).
fn strict_engine() -> Engine {
    let mut e = Engine::new();
    e.set_strict_builtin_errors(true);
    e
}

/// Evaluates `data.t.x` for a policy `package t` with `body` (rules for `x`),
/// in strict mode.
pub(super) fn eval(body: &str) -> crate::Result<Option<String>> {
    let mut e = strict_engine();
    e.add_policy("t.rego", &format!("package t\n{body}"))?;
    e.eval_rule("data.t.x", "")
}

/// `x := <expr>` against a JSON input, in strict mode: its value, `None`
/// when undefined.
pub(super) fn eval_with(
    expr: &str,
    input: &serde_json::Value,
) -> crate::Result<Option<serde_json::Value>> {
    let mut e = strict_engine();
    e.add_policy("t.rego", &format!("package t\nx := {expr}"))?;
    let out = e.eval_rule("data.t.x", &input.to_string())?;
    Ok(out.map(|v| serde_json::from_str(&v).unwrap()))
}

/// [`eval_with`] that must produce a value.
pub(super) fn value_with(expr: &str, input: &serde_json::Value) -> serde_json::Value {
    match eval_with(expr, input) {
        Ok(Some(v)) => v,
        other => panic!("{expr}: {other:?}"),
    }
}

/// [`eval_with`] that must fail; its message.
pub(super) fn error_with(expr: &str, input: &serde_json::Value) -> String {
    match eval_with(expr, input) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{expr}: expected an error, got {v:?}"),
    }
}

/// `x := <expr>` evaluated to JSON; panics on an error or undefined.
pub(super) fn value(expr: &str) -> String {
    match eval(&format!("x := {expr}")) {
        Ok(Some(v)) => v,
        other => panic!("{expr}: {other:?}"),
    }
}

/// The error message of `x := <expr>`; panics when it evaluates.
pub(super) fn error(expr: &str) -> String {
    match eval(&format!("x := {expr}")) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{expr}: expected an error, got {v:?}"),
    }
}

#[test]
fn names_are_distinct() {
    let names: BTreeSet<&str> = BUILTINS.iter().map(|b| b.0).collect();
    assert_eq!(names.len(), BUILTINS.len());
}

#[test]
fn no_name_is_a_regorus_builtin() {
    // Extensions are looked up before builtins, so one with a builtin's name
    // would silently replace it. Calling each name on a bare regorus engine
    // shows regorus does not know it.
    for &(name, nargs, _) in BUILTINS {
        let mut rego = regorus::Engine::new();
        let args = vec!["1"; usize::from(nargs)].join(", ");
        rego.add_policy("t.rego".into(), format!("package t\nx := {name}({args})"))
            .unwrap();
        let err = rego
            .eval_rule("data.t.x".into())
            .expect_err(name)
            .to_string();
        assert!(err.contains("could not find function"), "{name}: {err}");
    }
}

#[test]
fn regorus_builtins_left_alone_still_work() {
    assert_eq!(
        value(r#"net.cidr_contains("10.0.0.0/8", "10.1.0.0/24")"#),
        "true"
    );
    assert_eq!(value(r#"net.cidr_is_valid("10.0.0.0/33")"#), "false");
    assert_eq!(
        value(r#"net.cidr_expand("192.168.1.1/31")"#),
        r#"["192.168.1.0","192.168.1.1"]"#
    );
}

#[test]
fn errors_name_the_builtin() {
    let err = error("crypto.md5(1)");
    assert!(
        err.contains("crypto.md5: operand 1 must be string but got number"),
        "{err}"
    );
}

#[test]
fn an_error_is_undefined_unless_strict() {
    // As OPA: without strict builtin errors the expression is undefined,
    // so the default applies; with them the evaluation fails.
    let mut e = Engine::new();
    e.add_policy(
        "t.rego",
        "package t\ndefault x := false\nx if io.jwt.decode(\"junk\")",
    )
    .unwrap();
    assert_eq!(
        e.eval_rule("data.t.x", "").unwrap().as_deref(),
        Some("false")
    );
    e.set_strict_builtin_errors(true);
    let err = e.eval_rule("data.t.x", "").unwrap_err().to_string();
    assert!(err.contains("io.jwt.decode:"), "{err}");
    e.set_strict_builtin_errors(false);
    assert_eq!(
        e.eval_rule("data.t.x", "").unwrap().as_deref(),
        Some("false")
    );
}

#[test]
fn the_out_parameter_form_works_as_in_opa() {
    let policy = "x := y if {\n\tcrypto.md5(\"a\", y)\n}";
    assert_eq!(
        eval(policy).unwrap().as_deref(),
        Some("\"0cc175b9c0f1b6a831c399e269772661\"")
    );
    let tuple = "x := [h, p] if {\n\tio.jwt.decode(\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\", [h, p, _])\n}";
    assert_eq!(
        eval(tuple).unwrap().as_deref(),
        Some(r#"[{"alg":"HS256"},{"sub":"a"}]"#)
    );
}

#[test]
fn cloned_and_rebuilt_engines_keep_the_builtins() {
    let mut e = Engine::new();
    e.add_policy("a.rego", "package a\nx := crypto.sha1(\"abc\")")
        .unwrap();
    // Replacing a module rebuilds the regorus engine from scratch.
    e.add_policy("a.rego", "package a\nx := crypto.sha256(\"abc\")")
        .unwrap();
    let mut clone = e.clone();
    assert_eq!(
        clone.eval_rule("a.x", "").unwrap().as_deref(),
        Some("\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"")
    );
}

#[test]
fn builtins_that_need_the_network_or_opas_runtime_say_why_on_both_paths() {
    for (expr, why) in [
        (r#"net.lookup_ip_addr("example.com")"#, "no network"),
        ("opa.runtime()", "no OPA runtime"),
        (
            r#"http.send({"method": "GET", "url": "http://127.0.0.1:1/"})"#,
            "no network",
        ),
    ] {
        for strict in [false, true] {
            for interpreter_only in [false, true] {
                let mut e = Engine::new();
                e.set_strict_builtin_errors(strict);
                e.set_eval_options(crate::EvalOptions {
                    interpreter_only,
                    ..crate::EvalOptions::default()
                });
                e.add_policy("t.rego", &format!("package t\nx := {expr}"))
                    .unwrap();
                let err = e.eval_rule("data.t.x", "").unwrap_err().to_string();
                assert!(err.contains(why), "{expr} (strict {strict}): {err}");
            }
        }
    }
}
