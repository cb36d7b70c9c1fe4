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
            eval(&mut e, "data.cost_limit_test.test_with_alias").unwrap().as_deref(),
            Some("true"),
            "{path}"
        );
        assert_eq!(
            eval(&mut e, "data.cost_limit_test.test_alias_plain").unwrap().as_deref(),
            Some("true"),
            "{path}"
        );
        let err = eval(&mut e, "data.cost_limit_test.test_sibling_conflict_still_fails")
            .unwrap_err()
            .to_string();
        assert!(err.contains("conflict"), "{path}: {err}");
    }
}
