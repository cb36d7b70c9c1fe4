//! `net.cidr_intersects`, `net.cidr_overlap`, `net.cidr_contains_matches`.

use crate::builtins::tests::{error_with, value};
use serde_json::json;

fn json_of(expr: &str) -> serde_json::Value {
    serde_json::from_str(&value(expr)).unwrap()
}

#[test]
fn intersects() {
    let cases = [
        // OPA conformance netcidrintersects/cidr ipv6 subnet overlaps.
        (
            r#""fd1e:5bfe:8af3:9ddc::/64", "fd1e:5bfe:8af3:9ddc:1111::/72""#,
            true,
        ),
        (r#""192.168.1.0/25", "192.168.1.64/25""#, true),
        (r#""192.168.1.0/24", "192.168.2.0/24""#, false),
        (r#""10.0.0.0/8", "10.255.255.255/32""#, true),
        (r#""10.0.0.0/8", "11.0.0.0/8""#, false),
        (r#""0.0.0.0/0", "1.2.3.4/32""#, true),
        (r#""10.0.0.0/8", "::/0""#, false),
    ];
    for (args, want) in cases {
        assert_eq!(
            json_of(&format!("net.cidr_intersects({args})")),
            json!(want),
            "{args}"
        );
    }
    let err = error_with(
        r#"net.cidr_intersects("10.0.0.0/8", "10.0.0.1")"#,
        &json!({}),
    );
    assert!(
        err.contains("net.cidr_intersects: invalid CIDR address: 10.0.0.1"),
        "{err}"
    );
}

#[test]
fn overlap_is_cidr_contains() {
    let cases = [
        (r#""10.0.0.0/8", "10.1.0.0/24""#, true),
        (r#""10.0.0.0/8", "10.1.2.3""#, true),
        (r#""10.0.0.0/8", "11.0.0.1""#, false),
        (r#""10.0.0.0/24", "10.0.0.0/16""#, false),
        (
            r#""2001:4860:4860::8888/32", "2001:4860:4860:1234::8888/40""#,
            true,
        ),
        (r#""10.0.0.0/8", "::ffff:10.1.2.3""#, true),
        (r#""::/0", "10.1.2.3""#, false),
    ];
    for (args, want) in cases {
        assert_eq!(
            json_of(&format!("net.cidr_overlap({args})")),
            json!(want),
            "{args}"
        );
    }
    let err = error_with(r#"net.cidr_overlap("10.0.0.0/8", "nope")"#, &json!({}));
    assert!(
        err.contains("not a valid textual representation of an IP address or CIDR: nope"),
        "{err}"
    );
}

#[test]
fn contains_matches() {
    let cases = [
        // OPA conformance netcidrcontainsmatches/arrays and arrays of tuples.
        (
            r#"["1.1.2.0/24", "1.1.1.0/24"], ["1.1.1.1", "1.1.2.1"]"#,
            json!([[0, 1], [1, 0]]),
        ),
        (
            r#"[["1.1.2.0/24", 1], "1.1.1.0/24"], ["1.1.1.1", "1.1.2.1"]"#,
            json!([[0, 1], [1, 0]]),
        ),
        // OPA's documented examples: strings, sets and objects.
        (
            r#""1.1.1.0/24", "1.1.1.128""#,
            json!([["1.1.1.0/24", "1.1.1.128"]]),
        ),
        (
            r#"["1.1.1.0/24", "1.1.2.0/24"], "1.1.1.128""#,
            json!([[0, "1.1.1.128"]]),
        ),
        (
            r#"[["1.1.0.0/16", "foo"], "1.1.2.0/24"], {"x": "1.1.1.128", "y": ["1.1.254.254", "bar"]}"#,
            json!([[0, "x"], [0, "y"]]),
        ),
        (
            r#"{["1.1.2.0/24", "foo", 1], "1.1.0.0/16"}, {"x": "1.1.1.128", "y": ["1.1.254.254", "bar"]}"#,
            json!([["1.1.0.0/16", "x"], ["1.1.0.0/16", "y"]]),
        ),
        (r#"[], ["1.1.1.1"]"#, json!([])),
        (
            r#"["10.0.0.0/8"], ["10.1.0.0/16", "11.0.0.0/16"]"#,
            json!([[0, 0]]),
        ),
    ];
    for (args, want) in cases {
        let got = json_of(&format!("net.cidr_contains_matches({args})"));
        assert_eq!(got, want, "{args}");
    }
    for (args, want) in [
        (
            r#"[1], "1.1.1.1""#,
            "operand 1: element must be string or non-empty array",
        ),
        (
            r#"[[]], "1.1.1.1""#,
            "operand 1: element must be string or non-empty array",
        ),
        (
            r#""1.1.1.0/24", [{}]"#,
            "operand 2: element must be string or non-empty array",
        ),
        (
            r#"[[1]], "1.1.1.1""#,
            "operand 1 must be string but got number",
        ),
        (
            r#""1.1.1.0/33", "1.1.1.1""#,
            "invalid CIDR address: 1.1.1.0/33",
        ),
        (
            r#"1, "1.1.1.1""#,
            "operand 1 must be one of {string, array, set, object}",
        ),
    ] {
        let err = error_with(&format!("net.cidr_contains_matches({args})"), &json!({}));
        assert!(err.contains(want), "{args}: {err}");
    }
}
