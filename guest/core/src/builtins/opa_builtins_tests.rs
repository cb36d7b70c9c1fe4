//! Every builtin of OPA's newest capabilities file
//! (testdata/opa-capabilities-v1.20.2.txt) either resolves in this engine
//! (regorus's own, or an extension of this module) or is listed below with
//! the reason it does not; a listed one that starts resolving fails the
//! test, so the lists cannot go stale. OPA-BUILTINS.md is the same
//! comparison for readers.

use crate::{Engine, EvalOptions};

const CAPABILITIES: &str = include_str!("testdata/opa-capabilities-v1.20.2.txt");

/// Builtins OPA has and this engine does not, and why.
pub(super) const NOT_PROVIDED: &[(&str, &str)] = &[
    (
        "crypto.x509.parse_and_verify_certificates",
        "not yet: Go's x509 chain verification (signatures, validity, CA and \
         key-usage rules); a partial verifier answering true wrongly would be a hole",
    ),
    (
        "crypto.x509.parse_and_verify_certificates_with_options",
        "not yet: as crypto.x509.parse_and_verify_certificates",
    ),
    ("graphql.is_valid", "no GraphQL schema validator built in"),
    ("graphql.parse", "no GraphQL schema validator built in"),
    (
        "graphql.parse_and_verify",
        "no GraphQL schema validator built in",
    ),
    ("graphql.parse_query", "no GraphQL parser built in"),
    ("graphql.parse_schema", "no GraphQL parser built in"),
    (
        "graphql.schema_is_valid",
        "no GraphQL schema validator built in",
    ),
    (
        "providers.aws.sign_req",
        "not yet: AWS SigV4 request signing, to match OPA's choice of signed headers",
    ),
    (
        "rego.metadata.chain",
        "regorus keeps no METADATA annotations for rules",
    ),
    (
        "rego.metadata.rule",
        "regorus keeps no METADATA annotations for rules",
    ),
    (
        "rego.parse_module",
        "would have to produce OPA's own AST JSON, which regorus's parser does not share",
    ),
    // Deprecated: OPA v1 refuses them at compile time (rego.v1), so no v1
    // policy calls them.
    ("all", "deprecated, refused by OPA v1's compiler"),
    ("any", "deprecated, refused by OPA v1's compiler"),
    ("cast_array", "deprecated, refused by OPA v1's compiler"),
    ("cast_boolean", "deprecated, refused by OPA v1's compiler"),
    ("cast_null", "deprecated, refused by OPA v1's compiler"),
    ("cast_object", "deprecated, refused by OPA v1's compiler"),
    ("cast_set", "deprecated, refused by OPA v1's compiler"),
    ("cast_string", "deprecated, refused by OPA v1's compiler"),
    ("re_match", "deprecated, refused by OPA v1's compiler"),
    ("set_diff", "deprecated, refused by OPA v1's compiler"),
];

/// OPA's internal builtins: the compiler's rewrites, no policy calls them.
const INTERNAL: &[(&str, &str)] = &[
    (
        "internal.print",
        "OPA's rewrite of print, which regorus handles itself",
    ),
    ("internal.test_case", "OPA's test runner"),
    (
        "internal.template_string",
        "OPA 1.20's template strings ($\"...{x}...\"), a syntax regorus's parser lacks",
    ),
];

/// Builtins written as operators, and an expression using each.
const OPERATORS: &[(&str, &str)] = &[
    ("and", "{1, 2} & {2} == {2}"),
    ("or", "{1} | {2} == {1, 2}"),
    ("assign", "true"),
    ("eq", "1 = 1"),
    ("equal", "1 == 1"),
    ("neq", "1 != 2"),
    ("gt", "2 > 1"),
    ("gte", "2 >= 2"),
    ("lt", "1 < 2"),
    ("lte", "1 <= 1"),
    ("plus", "1 + 2 == 3"),
    ("minus", "3 - 2 == 1"),
    ("mul", "2 * 3 == 6"),
    ("div", "6 / 3 == 2"),
    ("rem", "7 % 3 == 1"),
    ("internal.member_2", "1 in [1]"),
    ("internal.member_3", "0, 1 in [1]"),
];

/// OPA's builtins as (name, number of arguments), `None` for variadic.
fn capabilities() -> Vec<(&'static str, Option<usize>)> {
    CAPABILITIES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap();
            (name, words.next().unwrap().parse().ok())
        })
        .collect()
}

/// Whether `name` resolves: a call with `n` arguments on the interpreter
/// (the RVM compiler refuses unknown functions the same way) is anything
/// but "could not find function".
fn resolves(name: &str, n: Option<usize>) -> bool {
    let args = vec!["1"; n.unwrap_or(1)].join(", ");
    let mut e = Engine::new();
    e.set_eval_options(EvalOptions {
        interpreter_only: true,
        ..EvalOptions::default()
    });
    e.add_policy("t.rego", &format!("package t\nx := {name}({args})\n"))
        .unwrap();
    match e.eval_rule("data.t.x", "") {
        Ok(_) => true,
        Err(err) => !err.to_string().contains("could not find function"),
    }
}

#[test]
fn every_opa_builtin_resolves_or_is_listed_with_a_reason() {
    let caps = capabilities();
    assert!(caps.len() > 200, "{} builtins", caps.len());
    let mut problems = Vec::new();
    for &(name, n) in &caps {
        let listed = NOT_PROVIDED.iter().chain(INTERNAL).any(|(n, _)| *n == name);
        if let Some((_, expr)) = OPERATORS.iter().find(|(n, _)| *n == name) {
            let mut e = Engine::new();
            e.add_policy("t.rego", &format!("package t\nx if {{ {expr} }}\n"))
                .unwrap();
            if e.eval_rule("data.t.x", "").unwrap().as_deref() != Some("true") {
                problems.push(format!("operator {name}: `{expr}` does not hold"));
            }
            continue;
        }
        match (resolves(name, n), listed) {
            (true, true) => problems.push(format!("{name} resolves: take it off the lists")),
            (false, false) => problems.push(format!("{name} is missing and not listed")),
            _ => {}
        }
    }
    for (name, _) in NOT_PROVIDED.iter().chain(INTERNAL).chain(OPERATORS) {
        if !caps.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name} is listed but not in OPA's capabilities"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn refused_builtins_are_opa_builtins() {
    let caps = capabilities();
    for (name, nargs, _) in super::REFUSED {
        assert!(
            caps.iter()
                .any(|(n, a)| n == name && *a == Some(usize::from(*nargs))),
            "{name}"
        );
    }
    for (name, nargs, _) in super::BUILTINS {
        assert!(
            caps.iter()
                .any(|(n, a)| n == name && *a == Some(usize::from(*nargs))),
            "{name}/{nargs} is not an OPA builtin"
        );
    }
}
