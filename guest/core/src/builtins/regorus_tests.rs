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

/// Patch 9: strings.replace_n is Go's strings.NewReplacer over the sorted
/// keys (OPA's conformance cases replacen/test-replacen-semantics.yaml).
#[test]
fn replace_n_is_one_left_to_right_pass() {
    let cases = [
        (
            r#"{"info": "X", "anotherinfo": "Y"}, "anotherinfo""#,
            r#""Y""#,
        ),
        (r#"{"a": "YY", "bba": "bX"}, "bbab""#, r#""bXb""#),
        (r#"{"ab": "b", "b": "Y"}, "baaabbbba""#, r#""YaabYYYa""#),
        (r#"{"a": "b", "b": "a"}, "abba""#, r#""baab""#),
        (
            r#"{"a": "Xa", "ab": "X", "ba": "bYa", "aaa": "X"}, "aaaaab""#,
            r#""XaXaXaXaXab""#,
        ),
        (r#"{"aab": "Y", "a": "", "b": ""}, "bbaab""#, r#""""#),
        (r#"{"": "X"}, """#, r#""X""#),
        (r#"{"": "X"}, "ab""#, r#""XaXbX""#),
        (r#"{"": "X", "a": "Y"}, "ab""#, r#""XYXbX""#),
        (r#"{"é": "e"}, "café""#, r#""cafe""#),
    ];
    for (args, want) in cases {
        assert_eq!(value(&format!("strings.replace_n({args})")), want, "{args}");
    }
    assert!(error(r#"strings.replace_n({"a": 1}, "a")"#).contains("strings.replace_n"));
}

/// Patch 10: json.is_valid and yaml.is_valid as OPA answers them.
#[test]
fn is_valid_answers_false_for_non_strings_and_checks_every_yaml_document() {
    assert_eq!(value("json.is_valid(1)"), "false");
    assert_eq!(value("yaml.is_valid(1)"), "false");
    assert_eq!(value(r#"json.is_valid("{\"a\": 1}")"#), "true");
    assert_eq!(value(r#"yaml.is_valid("a: 1\n---\nb: 2\n")"#), "true");
    assert_eq!(value(r#"yaml.is_valid("a: 1\n---\n\tb: 2\n")"#), "false");
    assert_eq!(
        value(r#"yaml.is_valid("  test:\ntest1: hello\n")"#),
        "false"
    );
    assert_eq!(value(r#"yaml.is_valid("")"#), "true");
}

/// Patch 11: glob.match is gobwas/glob, as in OPA (its documented
/// examples, and the wildcard cases of its conformance suite).
#[test]
fn glob_match_is_gobwas() {
    let cases = [
        (r#""*.github.com", [], "api.github.com""#, true),
        (r#""*.github.com", [], "api.cdn.github.com""#, false),
        (r#""*hub.com", null, "api.cdn.github.com""#, true),
        (r#""*:github:com", [":"], "api:github:com""#, true),
        (r#""api.**.com", [], "api.github.com""#, true),
        (r#""api.**.com", [], "api.cdn.github.com""#, true),
        (r#""?at", [], "cat""#, true),
        (r#""?at", [], "at""#, false),
        (r#""[abc]at", [], "bat""#, true),
        (r#""[abc]at", [], "lat""#, false),
        (r#""[!abc]at", [], "cat""#, false),
        (r#""[!abc]at", [], "lat""#, true),
        (r#""[a-c]at", [], "cat""#, true),
        (r#""[!a-c]at", [], "lat""#, true),
        (r#""{cat,bat,[fr]at}", [], "rat""#, true),
        (r#""{cat,bat,[fr]at}", [], "at""#, false),
        // An empty alternative, and `**` that is not a path component.
        (r#""{**/,}x", null, "x""#, true),
        (r#""{**/,}x", null, "a/b/x""#, true),
        (r#""a**b", ["/"], "a/x/b""#, true),
        (r#""a*b", ["/"], "a/x/b""#, false),
        (r#""a/**/b", null, "a/b""#, false),
        (r#""{a,{b,c}}d", [], "cd""#, true),
        (r#""\\*", null, "*""#, true),
        (r#""\\*", null, "a""#, false),
        (r#""***", ["."], """#, true),
        (r#""*?*", [".", "/"], "api.github.com""#, false),
        (r#""a,b", [], "a,b""#, true),
        (r#""[!.]", ["."], ".""#, false),
        (r#""x]}", [], "x]}""#, true),
    ];
    for (args, want) in cases {
        assert_eq!(
            value(&format!("glob.match({args})")),
            want.to_string(),
            "{args}"
        );
    }
    for bad in [
        r#""[", null, "a""#,
        r#""{a", null, "a""#,
        r#""[z-a]", null, "a""#,
        r#""a\\", null, "a""#,
        r#""[]", null, "a""#,
    ] {
        assert!(
            error(&format!("glob.match({bad})")).contains("invalid glob"),
            "{bad}"
        );
    }
    assert!(error(r#"glob.match("a", [""], "a")"#).contains("single character"));
    assert_eq!(
        value(r#"glob.quote_meta("*.github.com")"#),
        r#""\\*.github.com""#
    );
    assert_eq!(
        value(r#"glob.quote_meta("[a]{b}?\\")"#),
        r#""\\[a\\]\\{b\\}\\?\\\\""#
    );
}

/// `query` on both paths against `module`: OPA's result set, the same on both.
fn query_both(module: &str, query: &str) -> String {
    let run = |interpreter_only| {
        let mut e = Engine::new();
        e.set_eval_options(EvalOptions {
            interpreter_only,
            ..EvalOptions::default()
        });
        e.add_policy("t.rego", module).unwrap();
        e.eval_query(query, "").unwrap()
    };
    let (rvm, interpreter) = (run(false), run(true));
    assert_eq!(rvm, interpreter, "{query}");
    let v: serde_json::Value = serde_json::from_str(&rvm).unwrap();
    v[0]["bindings"]["x"].to_string()
}

/// Patch 12: `walk(x)` without an output parameter generates every
/// `[path, value]` pair (OPA's conformance case for its issue 7656).
#[test]
fn walk_without_an_output_parameter_generates_every_pair() {
    let module = r#"package t
doc := {"a": [{"b": "BB"}, {"c": "C"}]}
pairs := {k: v | [k, v] := walk(doc); count(v) == 2}
paths := [k | walk(doc, [k, _])]
"#;
    assert_eq!(
        query_both(module, "x = data.t.pairs"),
        r#"{"[\"a\",0,\"b\"]":"BB","[\"a\"]":[{"b":"BB"},{"c":"C"}]}"#
    );
    assert_eq!(
        query_both(module, "x = data.t.paths"),
        r#"[[],["a"],["a",0],["a",0,"b"],["a",1],["a",1,"c"]]"#
    );
}

/// Patch 13: `with` replaces a function by a builtin of the same arity.
#[test]
fn with_replaces_a_function_by_a_builtin() {
    let module = r#"package t
f(_) := 2
direct := y if { y = f([1]) with f as count }
captured if { f([1], 1) with f as count }
dotted := y if { y = f("a.b") with f as strings.reverse }
shadowed := y if { count := 7; y = f([1]) with f as count }
"#;
    assert_eq!(query_both(module, "x = data.t.direct"), "1");
    assert_eq!(query_both(module, "x = data.t.captured"), "true");
    assert_eq!(query_both(module, "x = data.t.dotted"), r#""b.a""#);
    // A local variable of a builtin's name is a value replacement.
    assert_eq!(query_both(module, "x = data.t.shadowed"), "7");
}

/// Patch 14: offsets beyond `u32` are not truncated on 32-bit targets (the
/// component is wasm32): there, 4294967297 became 1.
#[test]
fn offsets_beyond_u32_are_not_truncated() {
    assert_eq!(
        value("array.slice([1, 2, 3], 4294967297, 4294967298)"),
        "[]"
    );
    assert_eq!(value("array.slice([1, 2, 3], -1, 4294967297)"), "[1,2,3]");
    assert_eq!(value(r#"substring("abc", 4294967297, 1)"#), r#""""#);
    assert_eq!(value(r#"substring("abc", 1, 4294967297)"#), r#""bc""#);
    assert_eq!(
        value(r#"regex.find_n("a", "aaa", 4294967297)"#),
        r#"["a","a","a"]"#
    );
}

/// Patch 15: graph.reachable_paths as OPA's `builtinReachablePaths`
/// (OPA's test cases reachable/test-reachable-paths-0422.yaml and -1022.yaml,
/// in the out-parameter form they use).
#[test]
fn reachable_paths_is_opas() {
    let cases = [
        ("{}", r#"{"a"}"#, "[]"),
        (
            r#"{"a": {"b"}, "b": {"c"}, "c": {"a"}}"#,
            r#"{"a"}"#,
            r#"[["a","b","c"]]"#,
        ),
        (
            r#"{"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set(), "e": {"f"}, "f": {"e"}, "x": {"x"}}"#,
            r#"{"b", "e"}"#,
            r#"[["b","d"],["e","f"]]"#,
        ),
        (
            r#"{"a": ["b"], "b": ["c"], "c": ["a"]}"#,
            r#"["a"]"#,
            r#"[["a","b","c"]]"#,
        ),
        (r#"{"a": null}"#, r#"["a"]"#, r#"[["a"]]"#),
        (
            r#"{"a": ["b", "c"], "b": ["c"], "c": []}"#,
            r#"{"a"}"#,
            r#"[["a","b","c"],["a","c"]]"#,
        ),
        (
            r#"{"1": [], "2": ["1"], "3": ["2"], "4": ["3", "2"], "5": ["4"]}"#,
            r#"["5"]"#,
            r#"[["5","4","2","1"],["5","4","3","2","1"]]"#,
        ),
        (
            r#"{"a": ["b"], "b": ["nonexistent"]}"#,
            r#"{"a", "b"}"#,
            r#"[["a","b"],["b"]]"#,
        ),
        (
            r#"{"one": ["two", "five"], "two": ["four"], "three": [""], "four": ["three"], "five": ["seven", "six"], "six": ["nine", "seven"], "seven": ["eight"], "eight": ["three"], "nine": [""]}"#,
            r#"{"one"}"#,
            r#"[["one","five","seven","eight","three"],["one","five","six","nine"],["one","five","six","seven","eight","three"],["one","two","four","three"]]"#,
        ),
        // A vertex whose neighbors are an object (OPA's org-chart example
        // writes `"ceo": {}`) or a string has none; regorus failed on it.
        (
            r#"{"ceo": {}, "hr": {"ceo"}}"#,
            r#"{"hr"}"#,
            r#"[["hr","ceo"]]"#,
        ),
        (r#"{"a": "b"}"#, r#"["a"]"#, r#"[["a"]]"#),
        // OPA enters an initial vertex's neighbor without checking the path.
        (
            r#"{"r": ["r", "b"], "b": ["r"]}"#,
            r#"["r"]"#,
            r#"[["r","b"],["r","r"],["r","r","b"]]"#,
        ),
    ];
    for (graph, initial, want) in cases {
        let module = format!(
            "package t\np := result if {{ graph.reachable_paths({graph}, {initial}, result) }}\n"
        );
        assert_eq!(
            query_both(&module, "x = data.t.p"),
            want,
            "{graph} from {initial}"
        );
    }
    assert!(error(r#"graph.reachable_paths({"a": []}, "a")"#).contains("array/set"));
}
