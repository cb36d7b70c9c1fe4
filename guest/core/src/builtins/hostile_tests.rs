//! Hostile arguments to every builtin: none may panic. A panic traps the
//! wasm instance (and drops its decision cache), so each call here runs on
//! both paths (the RVM and the interpreter), strict and not, and the test
//! lists every call that panicked instead of answering a value, undefined
//! or an error.

use crate::{Engine, EvalOptions};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Calls that once panicked inside regorus or that probe the edges of its
/// argument handling (empty strings, negative, huge and fractional numbers,
/// multi-byte characters where byte offsets are computed).
const HOSTILE: &[&str] = &[
    // strings
    r#"strings.count("abc", "")"#,
    r#"strings.count("", "")"#,
    r#"strings.count("héllo", "")"#,
    r#"indexof("", "")"#,
    r#"indexof_n("", "")"#,
    r#"indexof_n("aé", "")"#,
    r#"substring("abc", 1e20, 1)"#,
    r#"substring("abc", 1, 1e20)"#,
    r#"substring("abc", -1, 1)"#,
    r#"substring("abc", 0, -1)"#,
    r#"substring("héllo", 1, 2)"#,
    r#"substring("", 5, 5)"#,
    r#"substring("abc", 1.5, 1)"#,
    r#"format_int(-9223372036854775808, 2)"#,
    r#"format_int(1e300, 16)"#,
    r#"format_int(1.5, 37)"#,
    r#"format_int(10, -1)"#,
    r#"sprintf("%½d", [1])"#,
    r#"sprintf("%٣d", [1])"#,
    r#"sprintf("%.½f", [1])"#,
    r#"sprintf("%9999999999d", [1])"#,
    r#"sprintf("%99999999999999999999d", [1])"#,
    r#"sprintf("%.9999999999f", [1.5])"#,
    r#"sprintf("%.99999f", [1.5])"#,
    r#"sprintf("%", [])"#,
    r#"sprintf("%5", [])"#,
    r#"sprintf("%d", [])"#,
    r#"sprintf("%c", [-1])"#,
    r#"sprintf("%c", [1e20])"#,
    r#"sprintf("%c", [4294967297])"#,
    r#"sprintf("%e", [1e308])"#,
    r#"sprintf("%g", [1e308])"#,
    r#"sprintf("%+", [1])"#,
    r#"sprintf("%+v", [1])"#,
    r#"sprintf("%q", ["a"])"#,
    r#"sprintf("%x", [-1])"#,
    r#"sprintf("%08.3f", [-1.5])"#,
    r#"replace("abc", "", "x")"#,
    r#"strings.replace_n({"": "x"}, "abc")"#,
    r#"strings.replace_n({"a": "b", "b": "a"}, "")"#,
    r#"split("", "")"#,
    r#"strings.reverse("")"#,
    r#"trim("", "")"#,
    r#"trim_left("é", "")"#,
    // numbers
    r#"numbers.range(1, -9223372036854775807)"#,
    r#"numbers.range(-9223372036854775808, 9223372036854775807)"#,
    r#"count(numbers.range(0, 9223372036854775807)) > 0"#,
    r#"numbers.range(0, 1e300)"#,
    r#"numbers.range(0.5, 2)"#,
    r#"numbers.range_step(1, 10, 0)"#,
    r#"numbers.range_step(1, 10, -1)"#,
    r#"numbers.range_step(10, 1, -1)"#,
    r#"numbers.range_step(1, 10, 1.5)"#,
    r#"numbers.range_step(1, -9223372036854775807, 1)"#,
    r#"numbers.range_step(-9223372036854775808, 9223372036854775807, 9223372036854775807)"#,
    r#"numbers.range_step(9223372036854775807, -9223372036854775808, 1)"#,
    r#"rand.intn("x", -1)"#,
    r#"rand.intn("x", 1e30)"#,
    r#"abs(-9223372036854775808)"#,
    r#"round(1e308)"#,
    r#"ceil(-1e308)"#,
    r#"to_number("1e999")"#,
    r#"to_number("1e999999999")"#,
    r#"to_number("")"#,
    r#"to_number("-")"#,
    // arrays and aggregates
    r#"array.slice([1, 2, 3], 1e30, 2)"#,
    r#"array.slice([1, 2, 3], 4294967297, 4294967298)"#,
    r#"array.slice([1, 2, 3], -1, 4294967297)"#,
    r#"array.slice([1, 2, 3], 2, 1)"#,
    r#"array.slice([], 0, 0)"#,
    r#"max([])"#,
    r#"min(set())"#,
    r#"product([])"#,
    r#"sum([1e308, 1e308])"#,
    r#"object.subset([1, 2], [])"#,
    r#"object.subset([], [])"#,
    r#"object.subset([], [1])"#,
    r#"object.subset({"a": [1]}, {"a": []})"#,
    // bits
    r#"bits.lsh(1, -1)"#,
    r#"bits.rsh(1, 1e30)"#,
    r#"bits.rsh(-1, 4294967296)"#,
    r#"bits.negate(1.5)"#,
    r#"bits.and(1e300, 1)"#,
    // units
    r#"units.parse("")"#,
    r#"units.parse("\"\"")"#,
    r#"units.parse("\"")"#,
    r#"units.parse("1e2147483647")"#,
    r#"units.parse("1e-2147483648")"#,
    r#"units.parse("1e99999999999")"#,
    r#"units.parse("10e10000000Ei")"#,
    r#"units.parse("1e2147483647k")"#,
    r#"units.parse("é1")"#,
    r#"units.parse("1é")"#,
    r#"units.parse_bytes("")"#,
    r#"units.parse_bytes("1e2147483647kb")"#,
    r#"units.parse_bytes("1e99999999Ki")"#,
    r#"units.parse_bytes("é")"#,
    // time
    r#"time.parse_duration_ns("1.")"#,
    r#"time.parse_duration_ns("1sµ")"#,
    r#"time.parse_duration_ns("1")"#,
    r#"time.parse_duration_ns("")"#,
    r#"time.parse_duration_ns(".")"#,
    r#"time.parse_duration_ns("-")"#,
    r#"time.parse_duration_ns("9223372036854775808ns9223372036854775808ns")"#,
    r#"time.parse_duration_ns("99999999999999999999h")"#,
    r#"time.parse_duration_ns("1.99999999999999999999999999h")"#,
    r#"time.parse_ns("é", "é")"#,
    r#"time.parse_ns("2006é", "2020é")"#,
    r#"time.parse_ns("", "")"#,
    r#"time.parse_ns("Z07", "Z")"#,
    r#"time.format([0, "UTC", "é"])"#,
    r#"time.format([0, "UTC", "2006-01-02 é .000 ,999 MST Z07:00 -07 PM pm __2 _2006"])"#,
    r#"time.format([0, "Local"])"#,
    r#"time.format([0, "Nowhere/Nothing"])"#,
    r#"time.format([9223372036854775807, "Pacific/Kiritimati"])"#,
    r#"time.format([-9223372036854775808, "Etc/GMT+12"])"#,
    r#"time.format([0])"#,
    r#"time.format([])"#,
    r#"time.format([0, "UTC", 1])"#,
    r#"time.add_date(9223372036854775807, 1, 0, 0)"#,
    r#"time.add_date(0, 2147483647, 2147483647, 2147483647)"#,
    r#"time.add_date(0, -2147483648, -2147483648, -2147483648)"#,
    r#"time.add_date(0, 1e30, 0, 0)"#,
    r#"time.diff(-9223372036854775808, 9223372036854775807)"#,
    r#"time.diff([0, "Pacific/Kiritimati"], [0, "Etc/GMT+12"])"#,
    r#"time.date(-9223372036854775808)"#,
    r#"time.clock(1e300)"#,
    r#"time.weekday([0, ""])"#,
    r#"time.parse_rfc3339_ns("9999-12-31T23:59:59Z")"#,
    r#"time.parse_rfc3339_ns("")"#,
    // regex and glob
    r#"regex.template_match("a{b}", "", "{", "}")"#,
    r#"regex.template_match("ab{b}", "é", "{", "}")"#,
    r#"regex.template_match("a{b}", "a", "{b", "b}")"#,
    r#"regex.template_match("{", "x", "", "")"#,
    r#"regex.template_match("x{.*}y", "x", "{", "}")"#,
    r#"regex.find_n("a", "aaa", -1)"#,
    r#"regex.find_n("a", "aaa", 1e30)"#,
    r#"regex.find_n("a", "aaa", 1.5)"#,
    r#"regex.find_all_string_submatch_n("(a)|(b)", "ab", 4294967297)"#,
    r#"regex.split("", "abc")"#,
    r#"regex.replace("abc", "", "-")"#,
    r#"glob.match("", [], "")"#,
    r#"glob.match("{", null, "")"#,
    r#"glob.match("a", [""], "a")"#,
    r#"glob.match("a", ["é"], "aéb")"#,
    r#"glob.match("[", ["."], "a")"#,
    r#"glob.match("**", ["\u0000"], "\u0000")"#,
    r#"glob.quote_meta("")"#,
    r#"glob.match("{{{{", null, "")"#,
    r#"glob.match("}}},,,", null, "}}},,,")"#,
    r#"glob.match("[é-ü]", null, "ö")"#,
    r#"glob.match("[!", null, "")"#,
    r#"glob.match("**********", ["a"], "aaaa")"#,
    r#"strings.replace_n({"é": "", "": "é"}, "éé")"#,
    // encodings
    r#"base64.decode("=")"#,
    r#"base64url.decode("=")"#,
    r#"hex.decode("0")"#,
    r#"urlquery.encode("")"#,
    r#"urlquery.decode("%")"#,
    r#"urlquery.decode_object("%zz=%")"#,
    r#"urlquery.encode_object({"": ""})"#,
    r#"json.unmarshal("")"#,
    r#"json.marshal_with_options({"a": [1]}, {"indent": "", "prefix": ""})"#,
    r#"json.marshal_with_options([], {})"#,
    r#"yaml.unmarshal("")"#,
    r#"yaml.unmarshal("*a")"#,
    r#"yaml.unmarshal("!!binary x")"#,
    r#"yaml.unmarshal("{? [a]: 1}")"#,
    r#"yaml.unmarshal("a: !!float 1e999")"#,
    r#"yaml.unmarshal("a: 99999999999999999999999999")"#,
    r#"yaml.marshal(1e308)"#,
    // objects, json paths, graphs
    r#"json.filter({"a": 1}, [""])"#,
    r#"json.filter({"a": [1]}, ["a/99999999999999999999"])"#,
    r#"json.filter({"a": [1]}, [["a", -1]])"#,
    r#"json.remove({"a": [1]}, ["a/-1", "a/0/0"])"#,
    r#"json.patch([1], [{"op": "add", "path": "/99999999999999999999", "value": 1}])"#,
    r#"json.patch([1], [{"op": "move", "from": "", "path": "/0"}])"#,
    r#"json.patch({}, [{"op": "copy", "from": "/a", "path": ""}])"#,
    r#"object.get({}, [], 1)"#,
    r#"object.union_n([])"#,
    r#"graph.reachable({}, [])"#,
    r#"graph.reachable_paths({"a": ["a"]}, ["a"])"#,
    r#"graph.reachable_paths({"a": 1}, ["a"])"#,
    r#"walk(1)"#,
    // A 20,000-vertex chain: deep, so no recursion.
    r#"count(graph.reachable_paths({sprintf("%d", [i]): [sprintf("%d", [i + 1])] | some i in numbers.range(0, 20000)}, ["0"]))"#,
    // templates
    r#"strings.render_template("{{", {})"#,
    r#"strings.render_template("}}{{}}{{{{", {})"#,
    r#"strings.render_template("{{-}}", {})"#,
    r#"strings.render_template("{{ -}}{{- }}", {})"#,
    r#"strings.render_template("{{"\u12", {})"#,
    r#"strings.render_template("{{(((", {})"#,
    r#"strings.render_template("{{)}}", {})"#,
    r#"strings.render_template("{{range 99999999999}}x{{end}}", {})"#,
    r#"strings.render_template("{{index . -1}}", {"a": 1})"#,
    r#"strings.render_template("{{$x := 1}}{{$x := 2}}{{$x}}", {})"#,
    r#"strings.render_template("{{else}}{{end}}{{else if}}", {})"#,
    r#"strings.render_template("{{printf "%"}}{{printf 1}}", {})"#,
    r#"regex.globs_match("[", "]")"#,
    r#"regex.globs_match("\", "")"#,
    r#"regex.globs_match("[a-]", "[-a]")"#,
    r#"uri.parse("")"#,
    r#"uri.parse("%")"#,
    r#"uri.parse("http://[")"#,
    r#"uri.parse("http://]:")"#,
    r#"uri.parse("http://[%25%")"#,
    r#"uri.parse("é://é@é:é/é?é#é%e9")"#,
    r#"uri.parse("//@@@:/")"#,
    r#"uri.is_valid("http://[::1]%25:1")"#,
    r#"crypto.x509.parse_certificate_request("")"#,
    r#"crypto.x509.parse_certificate_request("MA==")"#,
    r#"crypto.x509.parse_certificate_request("-----BEGIN CERTIFICATE REQUEST-----
MAA=
-----END CERTIFICATE REQUEST-----
")"#,
    r#"crypto.parse_private_keys("-----BEGIN EC PRIVATE KEY-----
MAA=
-----END EC PRIVATE KEY-----
")"#,
    r#"crypto.parse_private_keys("-----BEGIN PRIVATE KEY-----
MAA=
-----END PRIVATE KEY-----
")"#,
    r#"crypto.x509.parse_keypair("", "")"#,
    r#"crypto.x509.parse_rsa_private_key("=")"#,
    // network, uuid, semver
    r#"net.cidr_expand("10.0.0.0/30")"#,
    r#"net.cidr_contains("::/0", "0.0.0.0/0")"#,
    r#"net.cidr_is_valid("")"#,
    r#"uuid.parse("")"#,
    r#"uuid.parse("00000000-0000-2000-0000-000000000000")"#,
    r#"semver.compare("", "")"#,
    r#"semver.is_valid(1)"#,
];

/// Evaluates `x := <expr>` on one path: its JSON, undefined or the error.
fn eval(expr: &str, strict: bool, interpreter_only: bool) -> crate::Result<Option<String>> {
    let mut e = Engine::new();
    e.set_strict_builtin_errors(strict);
    e.set_eval_options(EvalOptions {
        interpreter_only,
        ..EvalOptions::default()
    });
    e.add_policy("t.rego", &format!("package t\nx := {expr}\n"))?;
    e.eval_rule("data.t.x", "")
}

/// Every way of evaluating `expr` that panicked, as `expr (path, strict)`.
fn panics(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for interpreter_only in [false, true] {
        for strict in [false, true] {
            if catch_unwind(AssertUnwindSafe(|| eval(expr, strict, interpreter_only))).is_err() {
                let path = if interpreter_only {
                    "interpreter"
                } else {
                    "rvm"
                };
                out.push(format!("{expr} ({path}, strict {strict})"));
            }
        }
    }
    out
}

#[test]
fn no_builtin_panics_on_hostile_arguments() {
    let panicked: Vec<String> = HOSTILE.iter().flat_map(|e| panics(e)).collect();
    assert!(panicked.is_empty(), "panicked:\n{}", panicked.join("\n"));
}
