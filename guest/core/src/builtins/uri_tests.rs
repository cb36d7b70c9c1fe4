//! `uri.parse` and `uri.is_valid`: Go's `net/url.Parse` answers.

use crate::builtins::tests::{error_with, value_with};
use serde_json::json;

fn parse(uri: &str) -> serde_json::Value {
    value_with("uri.parse(input.u)", &json!({ "u": uri }))
}

#[test]
fn parses_as_go_does() {
    assert_eq!(
        parse("https://user:pa%20ss@Example.com:8443/a%2Fb/c d?x=1&y=2#fr%41g"),
        json!({"scheme": "https", "hostname": "Example.com", "port": "8443",
               "path": "/a/b/c d", "raw_path": "/a%2Fb/c d", "raw_query": "x=1&y=2",
               "fragment": "frAg"})
    );
    assert_eq!(
        parse("HTTP://[fe80::1%25en0]:80/"),
        json!({"scheme": "http", "hostname": "fe80::1%en0", "port": "80", "path": "/", "raw_path": "/"})
    );
    assert_eq!(
        parse("/just/a/path"),
        json!({"path": "/just/a/path", "raw_path": "/just/a/path"})
    );
    assert_eq!(parse("a/b"), json!({"path": "a/b", "raw_path": "a/b"}));
    // An opaque URI has no authority and no path, as OPA reports it.
    assert_eq!(
        parse("mailto:someone@example.com"),
        json!({"scheme": "mailto"})
    );
    assert_eq!(
        parse("//host.example/p?"),
        json!({"hostname": "host.example", "path": "/p", "raw_path": "/p"})
    );
    assert_eq!(parse("*"), json!({"path": "*", "raw_path": "*"}));
    assert_eq!(
        parse("http://h:/"),
        json!({"scheme": "http", "hostname": "h", "path": "/", "raw_path": "/"})
    );
    assert_eq!(parse("?q#"), json!({"raw_query": "q"}));
}

#[test]
fn refuses_what_go_refuses() {
    for (uri, message) in [
        (":foo", "missing protocol scheme"),
        ("1a:b", "first path segment in URL cannot contain colon"),
        ("http://a b.com/", "invalid character \" \" in host name"),
        ("http://x:port/", "invalid port \":port\" after host"),
        ("http://[::1/", "missing ']' in host"),
        ("/%zz", "invalid URL escape \"%zz\""),
        ("/%4", "invalid URL escape \"%4\""),
        ("http://%41.com/", "invalid URL escape \"%41\""),
        ("http://us er@h/", "invalid userinfo"),
        ("http://h/\u{7f}", "invalid control character"),
    ] {
        let err = error_with("uri.parse(input.u)", &json!({ "u": uri }));
        assert!(
            err.contains("uri.parse: ") && err.contains(message),
            "{uri}: {err}"
        );
        assert_eq!(
            value_with("uri.is_valid(input.u)", &json!({ "u": uri })),
            json!(false),
            "{uri}"
        );
    }
}

#[test]
fn is_valid() {
    for (input, want) in [
        (json!("https://example.com"), true),
        (json!("relative/path"), true),
        (json!(""), false),
        (json!(1), false),
        (json!("http://[::1"), false),
    ] {
        assert_eq!(
            value_with("uri.is_valid(input.u)", &json!({ "u": input })),
            json!(want),
            "{input}"
        );
    }
}
