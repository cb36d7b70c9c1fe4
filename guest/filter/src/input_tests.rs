use super::*;
use crate::body::{Body, PARTIAL_HEADER};
use serde_json::{Value as Json, json};

/// The document as JSON, to compare with `json!` literals.
fn as_json(v: Value) -> Json {
    serde_json::to_value(v).unwrap()
}

fn parts(path: &str) -> RequestParts {
    RequestParts {
        headers: vec![
            (":method".into(), "GET".into()),
            (":path".into(), path.into()),
            (":authority".into(), "example.com".into()),
            (":scheme".into(), "http".into()),
            ("x-a".into(), "1".into()),
            ("x-a".into(), "2".into()),
        ],
        source: Some("127.0.0.1:5555".into()),
        destination: Some("[::1]:80".into()),
        protocol: Some("HTTP/1.1".into()),
        body: None,
    }
}

#[test]
fn opa_envoy_plugin_shape() {
    let v = as_json(build(&parts("/api/v1/a%20b?x=1&x=2&y=a+b")).unwrap());
    let http = &v["attributes"]["request"]["http"];
    assert_eq!(http["method"], "GET");
    assert_eq!(http["path"], "/api/v1/a%20b?x=1&x=2&y=a+b");
    assert_eq!(http["host"], "example.com");
    assert_eq!(http["scheme"], "http");
    assert_eq!(http["protocol"], "HTTP/1.1");
    assert_eq!(http["headers"]["x-a"], "1,2");
    assert_eq!(v["parsed_path"], json!(["api", "v1", "a b"]));
    assert_eq!(v["parsed_query"], json!({"x": ["1", "2"], "y": ["a b"]}));
    let src = &v["attributes"]["source"]["address"]["socketAddress"];
    assert_eq!(src["address"], "127.0.0.1");
    assert_eq!(src["portValue"], 5555);
    assert_eq!(
        v["attributes"]["destination"]["address"]["socketAddress"]["address"],
        "::1"
    );
}

#[test]
fn root_path_and_bad_escapes() {
    assert_eq!(as_json(parsed_path("/")), json!([""]));
    assert_eq!(as_json(parsed_path("/a%zz/%")), json!(["a%zz", "%"]));
    assert_eq!(as_json(parsed_query("")), json!({}));
}

/// The whole document, byte for byte as the filter built it as JSON text
/// before it built the engine's value directly.
#[test]
fn whole_document_unchanged() {
    let full = r#"{"attributes":{"destination":{"address":{"socketAddress":{"address":"::1","portValue":80}}},"request":{"http":{"headers":{":authority":"example.com",":method":"GET",":path":"/api/v1/a%20b?x=1&x=2&y=a+b#frag",":scheme":"http","x-a":"1,2"},"host":"example.com","method":"GET","path":"/api/v1/a%20b?x=1&x=2&y=a+b#frag","protocol":"HTTP/1.1","query":"x=1&x=2&y=a+b#frag","scheme":"http"}},"source":{"address":{"socketAddress":{"address":"127.0.0.1","portValue":5555}}}},"parsed_body":null,"parsed_path":["api","v1","a b"],"parsed_query":{"x":["1","2"],"y":["a b#frag"]},"truncated_body":false,"version":{"encoding":"protojson","ext_authz":"v3"}}"#;
    let v = build(&parts("/api/v1/a%20b?x=1&x=2&y=a+b#frag")).unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), full);
    assert_eq!(v, Value::from_json_str(full).unwrap());
    let mut p = parts("/");
    p.source = None;
    p.destination = Some("bad".into());
    p.protocol = None;
    p.headers.push(("x-request-id".into(), "rid".into()));
    let bare = r#"{"attributes":{"request":{"http":{"headers":{":authority":"example.com",":method":"GET",":path":"/",":scheme":"http","x-a":"1,2","x-request-id":"rid"},"host":"example.com","id":"rid","method":"GET","path":"/","scheme":"http"}}},"parsed_body":null,"parsed_path":[""],"parsed_query":{},"truncated_body":false,"version":{"encoding":"protojson","ext_authz":"v3"}}"#;
    let v = build(&p).unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), bare);
    assert_eq!(v, Value::from_json_str(bare).unwrap());
}

fn with_body(content_type: &str, body: &[u8], truncated: bool) -> RequestParts {
    let mut p = parts("/people");
    p.headers.push(("content-type".into(), content_type.into()));
    p.headers.push((PARTIAL_HEADER.into(), "true".into()));
    p.body = Some(Body {
        bytes: body.to_vec(),
        truncated,
    });
    p
}

/// The body where ext_authz puts it, with its partial-body header (a
/// client's own is dropped), and parsed as opa-envoy-plugin parses it.
#[test]
fn body_in_the_input() {
    let v = as_json(
        build(&with_body(
            "application/json",
            br#"{"firstname": "Bob"}"#,
            false,
        ))
        .unwrap(),
    );
    let http = &v["attributes"]["request"]["http"];
    assert_eq!(http["body"], r#"{"firstname": "Bob"}"#);
    assert_eq!(http["headers"][PARTIAL_HEADER], "false");
    assert!(http.get("rawBody").is_none());
    assert_eq!(v["parsed_body"], json!({"firstname": "Bob"}));
    assert_eq!(v["truncated_body"], false);

    let v = as_json(build(&with_body("application/json", br#"{"first"#, true)).unwrap());
    let http = &v["attributes"]["request"]["http"];
    assert_eq!(http["body"], r#"{"first"#);
    assert_eq!(http["headers"][PARTIAL_HEADER], "true");
    assert_eq!(
        (&v["parsed_body"], &v["truncated_body"]),
        (&json!(null), &json!(true))
    );

    // No body read: a client's partial-body header does not reach the input.
    let mut p = with_body("application/json", b"", false);
    p.body = None;
    let v = as_json(build(&p).unwrap());
    let http = &v["attributes"]["request"]["http"];
    assert!(http["headers"].get(PARTIAL_HEADER).is_none());
    assert!(http.get("body").is_none());
    assert_eq!(
        (&v["parsed_body"], &v["truncated_body"]),
        (&json!(null), &json!(false))
    );
}

#[test]
fn body_as_bytes_and_parse_skipped() {
    let p = with_body(
        "application/x-www-form-urlencoded",
        b"a=1&a=2&b=x+y\xff",
        false,
    );
    let limits = Limits::DEFAULT;
    let v = as_json(Builder::new(true, false).build(&p, &limits).unwrap());
    let http = &v["attributes"]["request"]["http"];
    assert_eq!(http["rawBody"], "YT0xJmE9MiZiPXgref8=");
    assert!(http.get("body").is_none());
    assert_eq!(
        v["parsed_body"],
        json!({"a": ["1", "2"], "b": ["x y\u{fffd}"]})
    );

    let v = as_json(Builder::new(false, true).build(&p, &limits).unwrap());
    assert_eq!(v["attributes"]["request"]["http"]["body"], "a=1&a=2&b=x+y!");
    assert!(v.get("parsed_body").is_none() && v.get("truncated_body").is_none());
    // Skipped, a body that does not parse is no error.
    let bad = with_body("application/json", b"{not json", false);
    assert!(Builder::new(false, false).build(&bad, &limits).is_err());
    assert!(Builder::new(false, true).build(&bad, &limits).is_ok());
}

#[test]
fn tunnels_and_content_length() {
    let mut p = parts("/ws");
    assert!(!p.is_upgrade());
    assert_eq!(p.content_length(), None);
    p.headers.push(("upgrade".into(), "websocket".into()));
    assert!(!p.is_upgrade(), "upgrade without connection: upgrade");
    p.headers
        .push(("connection".into(), "keep-alive, Upgrade".into()));
    assert!(p.is_upgrade());
    let mut c = parts("/");
    c.headers[0].1 = "CONNECT".into();
    assert!(c.is_upgrade());
    c.headers.push(("content-length".into(), "42".into()));
    assert_eq!(c.content_length(), Some(42));
}
