//! `strings.render_template`: Go text/template's output for each form the
//! module supports (OPA's documented example first).

use crate::builtins::tests::{error_with, value_with};
use serde_json::json;

fn render(template: &str, vars: serde_json::Value) -> String {
    let input = json!({"t": template, "v": vars});
    match value_with("strings.render_template(input.t, input.v)", &input) {
        serde_json::Value::String(s) => s,
        other => panic!("{other}"),
    }
}

fn render_error(template: &str, vars: serde_json::Value) -> String {
    let input = json!({"t": template, "v": vars});
    error_with("strings.render_template(input.t, input.v)", &input)
}

#[test]
fn opa_documented_example() {
    assert_eq!(
        render("{{.test}}", json!({"test": "hello world"})),
        "hello world"
    );
}

#[test]
fn fields_values_and_missing_keys() {
    let v = json!({"a": "x", "n": 42, "f": 1.5, "t": true, "obj": {"b": 2, "a": "x", "c": {"d": null}},
        "arr": ["a", 1, null, {"k": "v"}], "nested": {"deep": {"er": "yes"}}, "nil": null});
    assert_eq!(
        render("{{.a}} {{.n}} {{.f}} {{.t}}", v.clone()),
        "x 42 1.5 true"
    );
    assert_eq!(render("{{.obj}}", v.clone()), "map[a:x b:2 c:map[d:<nil>]]");
    assert_eq!(render("{{.arr}}", v.clone()), "[a 1 <nil> map[k:v]]");
    assert_eq!(render("{{.nested.deep.er}}", v.clone()), "yes");
    assert_eq!(
        render("{{.missing}}|{{.nil}}", v.clone()),
        "<undefined>|<undefined>"
    );
    assert_eq!(render("{{.}}", json!({"b": 1})), "map[b:1]");
    assert_eq!(render("{{$.a}}", v.clone()), "x");
    assert!(render_error("{{.a.b}}", v).contains("can't evaluate field b"));
}

#[test]
fn control_structures() {
    let v = json!({"items": ["a", "b"], "flag": true, "empty": [], "m": {"y": 2, "x": 1}, "user": {"name": "ann"}, "k": "y"});
    assert_eq!(render("{{range .items}}{{.}},{{end}}", v.clone()), "a,b,");
    assert_eq!(
        render("{{range $i, $v := .items}}{{$i}}={{$v}} {{end}}", v.clone()),
        "0=a 1=b "
    );
    assert_eq!(
        render("{{range $k, $v := .m}}{{$k}}:{{$v}};{{end}}", v.clone()),
        "x:1;y:2;"
    );
    assert_eq!(
        render("{{range .empty}}x{{else}}none{{end}}", v.clone()),
        "none"
    );
    assert_eq!(render("{{if .flag}}yes{{else}}no{{end}}", v.clone()), "yes");
    assert_eq!(render("{{if .empty}}yes{{else}}no{{end}}", v.clone()), "no");
    assert_eq!(
        render(
            r#"{{if eq .k "x"}}X{{else if eq .k "y"}}Y{{else}}Z{{end}}"#,
            v.clone()
        ),
        "Y"
    );
    assert_eq!(render("{{with .user}}{{.name}}{{end}}", v.clone()), "ann");
    assert_eq!(
        render("{{with .nope}}x{{else}}no user{{end}}", v.clone()),
        "no user"
    );
    assert_eq!(
        render(
            "{{range .items}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}",
            v.clone()
        ),
        "a"
    );
    assert_eq!(
        render(
            "{{range .items}}{{if eq . \"a\"}}{{continue}}{{end}}{{.}}{{end}}",
            v.clone()
        ),
        "b"
    );
    assert_eq!(render("{{$x := .k}}{{$x}}{{$x = \"z\"}}{{$x}}", v), "yz");
}

#[test]
fn functions_and_pipelines() {
    let v =
        json!({"items": ["a", "bb"], "s": "héllo", "a": "x", "n": 3, "t": true, "m": {"k": "v"}});
    assert_eq!(render("{{len .items}} {{len .s}}", v.clone()), "2 6");
    assert_eq!(
        render("{{index .items 1}} {{index .m \"k\"}}", v.clone()),
        "bb v"
    );
    assert_eq!(render(r#"{{printf "%s-%v%%" .a .n}}"#, v.clone()), "x-3%");
    assert_eq!(render(r#"{{.a | printf "%q"}}"#, v.clone()), "\"x\"");
    assert_eq!(
        render("{{print .a .n}} {{print .n .n}} {{print .t .t}}", v.clone()),
        "x3 33 true true"
    );
    assert_eq!(render("{{println .a .n}}", v.clone()), "x 3\n");
    assert_eq!(
        render("{{if and .a (not .missing)}}ok{{end}}", v.clone()),
        "ok"
    );
    assert_eq!(render("{{or .missing .a}}", v.clone()), "x");
    assert_eq!(
        render("{{if lt 1 2}}lt{{end}}{{if ge .n 3}}ge{{end}}", v.clone()),
        "ltge"
    );
    assert_eq!(render("{{(index .items 0)}}", v), "a");
}

#[test]
fn text_trimming_and_comments() {
    let v = json!({"a": "A"});
    assert_eq!(render("  x  {{- .a -}}  y", v.clone()), "  xAy");
    assert_eq!(render("{{/* a comment */}}hi", v.clone()), "hi");
    assert_eq!(render("{{- /* trimmed */ -}}  \n hi", v.clone()), "hi");
    assert_eq!(render(r#"{{"}}"}}"#, v.clone()), "}}");
    assert_eq!(render("{{`raw\\n`}}", v.clone()), "raw\\n");
    assert_eq!(render("no actions", v), "no actions");
}

#[test]
fn errors() {
    for (template, message) in [
        ("{{.a", "unclosed action"),
        ("{{foo .a}}", "function \"foo\" not defined"),
        ("{{end}}", "unexpected"),
        ("{{if .a}}x", "without {{end}}"),
        ("{{define \"x\"}}{{end}}", "not supported"),
        ("{{index .l 5}}", "index out of range"),
        ("{{$y}}", "undefined variable"),
        ("{{.a 1}}", "can't give argument to non-function"),
    ] {
        let err = render_error(template, json!({"a": "x", "l": [1]}));
        assert!(
            err.contains("strings.render_template: template: ") && err.contains(message),
            "{template}: {err}"
        );
    }
    let err = error_with("strings.render_template(\"x\", [])", &json!({}));
    assert!(
        err.contains("operand 2 must be object but got array"),
        "{err}"
    );
}

#[test]
fn nesting_and_output_are_bounded() {
    let deep = "{{if .a}}".repeat(100) + &"{{end}}".repeat(100);
    assert!(render_error(&deep, json!({"a": true})).contains("nests deeper"));
    let big = "{{range .a}}{{range $.a}}{{range $.a}}{{$.s}}{{end}}{{end}}{{end}}";
    let err = render_error(
        big,
        json!({"a": (0..200).collect::<Vec<_>>(), "s": "x".repeat(100)}),
    );
    assert!(err.contains("larger than"), "{err}");
}
