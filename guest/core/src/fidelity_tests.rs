//! Behaviour that must match OPA's, on both evaluation paths (the RVM and
//! the interpreter): each test names the OPA behaviour it pins.

use crate::{Engine, EvalOptions};

/// One engine per path, with the same modules.
fn engines(modules: &[(&str, &str)]) -> [(&'static str, Engine); 2] {
    let build = |interpreter_only| {
        let mut e = Engine::new();
        e.set_eval_options(EvalOptions {
            interpreter_only,
            ..EvalOptions::default()
        });
        for (name, source) in modules {
            e.add_policy(name, source).unwrap();
        }
        e
    };
    [("rvm", build(false)), ("interpreter", build(true))]
}

const COST_LIMIT: &str = r#"package cost_limit
default allow := false
allow if input.cost < 10
severity := "low" if input.cost < 100
severity := "high" if input.cost < 200
"#;

/// OPA resolves `import data.cost_limit` then `cost_limit.allow` to the one
/// rule `data.cost_limit.allow`; a conflict in a sibling rule it never names
/// (`severity`, two values for cost 10) does not fail the reference.
/// regorus evaluated the whole imported package (third_party/regorus,
/// PATCHES.md, "imported packages").
#[test]
fn an_imported_package_evaluates_only_the_rule_named() {
    let tests = r#"package cost_limit_test
import data.cost_limit
test_with_alias if { not cost_limit.allow with input as {"cost": 10} }
test_alias_plain if { not cost_limit.allow }
test_sibling_conflict_still_fails if { cost_limit.severity }
"#;
    for (path, mut e) in engines(&[("cl.rego", COST_LIMIT), ("t.rego", tests)]) {
        let eval = |e: &mut Engine, rule| e.eval_rule(rule, r#"{"cost": 10}"#);
        assert_eq!(
            eval(&mut e, "data.cost_limit_test.test_with_alias")
                .unwrap()
                .as_deref(),
            Some("true"),
            "{path}"
        );
        assert_eq!(
            eval(&mut e, "data.cost_limit_test.test_alias_plain")
                .unwrap()
                .as_deref(),
            Some("true"),
            "{path}"
        );
        let err = eval(
            &mut e,
            "data.cost_limit_test.test_sibling_conflict_still_fails",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("conflict"), "{path}: {err}");
    }
}

/// OPA prints integers of any size exactly, in rule values, query results
/// and the data document; input numbers keep their digits too.
#[test]
fn integers_of_any_size_stay_exact() {
    let policy = r#"package n
big1 := 1000000000000000000001
big2 := big1 * big1
echo := input.n
sum := input.n + 1
"#;
    for (path, mut e) in engines(&[("n.rego", policy)]) {
        let input = r#"{"n": 123456789012345678901234567890}"#;
        let eval = |e: &mut Engine, rule| e.eval_rule(rule, input).unwrap().unwrap();
        assert_eq!(
            eval(&mut e, "data.n.big1"),
            "1000000000000000000001",
            "{path}"
        );
        assert_eq!(
            eval(&mut e, "data.n.big2"),
            "1000000000000000000002000000000000000000001",
            "{path}"
        );
        assert_eq!(
            eval(&mut e, "data.n.echo"),
            "123456789012345678901234567890",
            "{path}"
        );
        assert_eq!(
            eval(&mut e, "data.n.sum"),
            "123456789012345678901234567891",
            "{path}"
        );
        let q = e.eval_query("x := data.n.big1", input).unwrap();
        assert!(q.contains("1000000000000000000001"), "{path}: {q}");
    }
}

/// A number whose exponent would expand to millions of digits is refused
/// before it is expanded (OPA keeps such numbers as floats; a policy must
/// not be able to make the engine spend seconds on one input number).
#[test]
fn a_huge_exponent_is_refused_quickly() {
    let mut e = Engine::new();
    e.add_policy("n.rego", "package n\necho := input.n")
        .unwrap();
    let r = e.eval_rule("data.n.echo", r#"{"n": 1e999999999}"#);
    assert!(r.is_err(), "{r:?}");
}

/// OPA 1.x loads pre-1.0 modules with `--v0-compatible`; a v1 engine
/// refuses them, and modules of both versions live in one engine.
#[test]
fn rego_v0_modules_load_when_asked_for() {
    let v0 = "package old\nallow { input.user == \"alice\" }\nnames[n] { n := input.names[_] }\n";
    let mut e = Engine::new();
    assert!(
        e.add_policy("old.rego", v0).is_err(),
        "v1 refuses v0 syntax"
    );
    assert_eq!(e.rego_version(), crate::RegoVersion::V1);
    e.add_policy("new.rego", "package new\nallow if data.old.allow\n")
        .unwrap();
    e.set_rego_version(crate::RegoVersion::V0);
    let revision = e.revision();
    e.add_policy("old.rego", v0).unwrap();
    assert_eq!(e.revision(), revision + 1);
    // A rebuild (removing a module re-adds the rest) keeps each version.
    e.add_policy("other.rego", "package other\nx := 1\n")
        .unwrap();
    e.remove_policy("other.rego").unwrap();
    for interpreter_only in [false, true] {
        e.set_eval_options(EvalOptions {
            interpreter_only,
            ..EvalOptions::default()
        });
        let input = r#"{"user": "alice", "names": ["a", "b"]}"#;
        assert_eq!(
            e.eval_rule("data.new.allow", input).unwrap().as_deref(),
            Some("true")
        );
        assert_eq!(
            e.eval_rule("data.old.names", input).unwrap().as_deref(),
            Some(r#"["a","b"]"#)
        );
    }
}
