//! OPA's answers where regorus's own builtins were patched
//! (third_party/regorus/PATCHES.md): each test names its patch and checks
//! both evaluation paths (the RVM and the interpreter) agree with OPA.

use crate::{Engine, EvalOptions};

/// `x := <expr>` in strict mode on both paths: its JSON (`None` when
/// undefined) or the error, the same on both.
pub(super) fn both(expr: &str) -> Result<Option<String>, String> {
    let run = |interpreter_only| {
        let mut e = Engine::new();
        e.set_strict_builtin_errors(true);
        e.set_eval_options(EvalOptions {
            interpreter_only,
            ..EvalOptions::default()
        });
        e.add_policy("t.rego", &format!("package t\nx := {expr}\n"))
            .map_err(|e| e.to_string())?;
        e.eval_rule("data.t.x", "").map_err(|e| e.to_string())
    };
    let (rvm, interpreter) = (run(false), run(true));
    match (&rvm, &interpreter) {
        (Err(_), Err(_)) => {}
        _ => assert_eq!(
            rvm, interpreter,
            "{expr}: the RVM and the interpreter differ"
        ),
    }
    rvm
}

/// `expr`'s value on both paths, as JSON.
pub(super) fn value(expr: &str) -> String {
    match both(expr) {
        Ok(Some(v)) => v,
        other => panic!("{expr}: {other:?}"),
    }
}

/// `expr`'s error on both paths.
pub(super) fn error(expr: &str) -> String {
    match both(expr) {
        Err(e) => e,
        Ok(v) => panic!("{expr}: expected an error, got {v:?}"),
    }
}

/// Patch 2: Go's strings.Count.
#[test]
fn strings_count_is_gos() {
    assert_eq!(value(r#"strings.count("abc", "")"#), "4");
    assert_eq!(value(r#"strings.count("", "")"#), "1");
    assert_eq!(value(r#"strings.count("héllo", "")"#), "6");
    // Non-overlapping, like Go (regorus counted overlapping windows: 3).
    assert_eq!(value(r#"strings.count("aaaa", "aa")"#), "2");
    assert_eq!(value(r#"strings.count("cheese", "e")"#), "3");
}

/// Patch 3: sprintf widths and precisions.
#[test]
fn sprintf_widths_are_bounded_and_ascii() {
    // Only ASCII digits make a width: '½' is the verb, which takes no
    // number (Go prints `%!½(int=1)`; regorus reports the bad verb).
    assert!(error(r#"sprintf("%½d", [1])"#).contains("format verb"));
    assert!(error(r#"sprintf("%9999999999d", [1])"#).contains("larger than"));
    assert_eq!(
        value(r#"sprintf("%5d|%.2f", [42, 3.14159])"#),
        r#""   42|3.14""#
    );
    // Precision beyond Rust's formatter (65,535) and beyond f64's exact
    // digits: Go prints the exact expansion, then zeros.
    let long = value(r#"sprintf("%.70000f", [1.5])"#);
    assert_eq!(long.len(), 2 + 2 + 70_000);
    assert!(long.starts_with(r#""1.5000"#));
    assert_eq!(value(r#"count(sprintf("%.400f", [0.1]))"#), "402");
    assert!(
        value(r#"sprintf("%.400f", [0.1])"#)
            .starts_with(r#""0.1000000000000000055511151231257827"#)
    );
    assert!(error(r#"sprintf("%c", [4294967362])"#).contains("invalid value"));
}

/// Patch 4: numbers.range and numbers.range_step bounds.
#[test]
fn ranges_check_their_size_and_step() {
    assert_eq!(value("numbers.range(2, -1)"), "[2,1,0,-1]");
    assert_eq!(value("numbers.range_step(10, 1, 4)"), "[10,6,2]");
    for expr in [
        "numbers.range(1, -9223372036854775807)",
        "numbers.range(0, 9223372036854775807)",
        "numbers.range_step(1, -9223372036854775807, 1)",
    ] {
        assert!(error(expr).contains("more than memory can hold"), "{expr}");
    }
    assert!(error("numbers.range_step(1, 10, 0)").contains("step must be a positive integer"));
    assert!(error("numbers.range_step(1, 10, -1)").contains("step must be a positive integer"));
    // Not strict: OPA's error makes the call undefined.
    let mut e = Engine::new();
    e.add_policy("t.rego", "package t\nx := numbers.range_step(1, 10, 0)\n")
        .unwrap();
    assert_eq!(e.eval_rule("data.t.x", "").unwrap(), None);
}

/// Patch 5: the empty array is a subarray of every array.
#[test]
fn object_subset_takes_an_empty_array() {
    assert_eq!(value("object.subset([1, 2], [])"), "true");
    assert_eq!(value("object.subset([], [])"), "true");
    assert_eq!(value("object.subset([], [1])"), "false");
    assert_eq!(value(r#"object.subset({"a": [1]}, {"a": []})"#), "true");
    assert_eq!(value("object.subset([1, 2, 3], [2, 3])"), "true");
}

/// Patch 6: regex.template_match as OPA compiles it (gorilla/mux).
#[test]
fn regex_template_match_is_one_anchored_regex() {
    // OPA's documented example.
    assert_eq!(
        value(r#"regex.template_match("urn:foo:{.*}", "urn:foo:bar:baz", "{", "}")"#),
        "true"
    );
    assert_eq!(
        value(r#"regex.template_match("a{b}", "", "{", "}")"#),
        "false"
    );
    assert_eq!(
        value(r#"regex.template_match("ab{b}", "é", "{", "}")"#),
        "false"
    );
    // Backtracking across the pieces: `a*` must leave the last "a".
    assert_eq!(
        value(r#"regex.template_match("{a*}a", "aaa", "{", "}")"#),
        "true"
    );
    // Literals are literal.
    assert_eq!(
        value(r#"regex.template_match("a.{[0-9]+}", "a.12", "{", "}")"#),
        "true"
    );
    assert_eq!(
        value(r#"regex.template_match("a.{[0-9]+}", "ab12", "{", "}")"#),
        "false"
    );
    // Nested braces belong to the regex.
    assert_eq!(
        value(r#"regex.template_match("id-{[0-9]{2}}", "id-42", "{", "}")"#),
        "true"
    );
    assert!(error(r#"regex.template_match("a{b}", "a", "{b", "b}")"#).contains("one character"));
    assert!(error(r#"regex.template_match("a{b", "a", "{", "}")"#).contains("unbalanced"));
    assert!(error(r#"regex.template_match("a}", "a", "{", "}")"#).contains("unbalanced"));
}

/// Patch 7: Go time layouts with multi-byte characters, and
/// time.parse_duration_ns with a missing unit.
#[test]
fn time_layouts_and_durations_take_any_text() {
    assert_eq!(value(r#"time.format([0, "UTC", "é 2006"])"#), r#""é 1970""#);
    assert_eq!(
        value(r#"time.parse_ns("2006é", "2020é")"#),
        "1577836800000000000"
    );
    assert!(error(r#"time.parse_ns("é", "e")"#).contains("parse"));
    assert!(error(r#"time.parse_duration_ns("1.")"#).contains("missing unit"));
    assert!(error(r#"time.parse_duration_ns("1")"#).contains("missing unit"));
    assert!(error(r#"time.parse_duration_ns("1sµ")"#).contains("unknown unit"));
    assert_eq!(
        value(r#"time.parse_duration_ns("1.5h30m")"#),
        "7200000000000"
    );
    assert_eq!(value(r#"time.parse_duration_ns("1µs2μs")"#), "3000");
    assert_eq!(value(r#"time.parse_duration_ns("-0")"#), "0");
}

/// Patch 8: units.parse and units.parse_bytes refuse exponents of more
/// than six digits, fast, with OPA's message.
#[test]
fn units_refuse_huge_exponents() {
    for expr in [
        r#"units.parse("10e10000000Ei")"#,
        r#"units.parse("1e2147483647")"#,
        r#"units.parse("1e+1234567k")"#,
        r#"units.parse_bytes("1e99999999Ki")"#,
    ] {
        assert!(error(expr).contains("exponent too large"), "{expr}");
    }
    assert_eq!(value(r#"units.parse("1e3k")"#), "1000000");
    assert_eq!(value(r#"units.parse_bytes("1e1KiB")"#), "10240");
}
