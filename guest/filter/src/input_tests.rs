use super::*;
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
    }
}

#[test]
fn opa_envoy_plugin_shape() {
    let v = as_json(build(&parts("/api/v1/a%20b?x=1&x=2&y=a+b")));
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
    let v = build(&parts("/api/v1/a%20b?x=1&x=2&y=a+b#frag"));
    assert_eq!(serde_json::to_string(&v).unwrap(), full);
    assert_eq!(v, Value::from_json_str(full).unwrap());
    let mut p = parts("/");
    p.source = None;
    p.destination = Some("bad".into());
    p.protocol = None;
    p.headers.push(("x-request-id".into(), "rid".into()));
    let bare = r#"{"attributes":{"request":{"http":{"headers":{":authority":"example.com",":method":"GET",":path":"/",":scheme":"http","x-a":"1,2","x-request-id":"rid"},"host":"example.com","id":"rid","method":"GET","path":"/","scheme":"http"}}},"parsed_body":null,"parsed_path":[""],"parsed_query":{},"truncated_body":false,"version":{"encoding":"protojson","ext_authz":"v3"}}"#;
    let v = build(&p);
    assert_eq!(serde_json::to_string(&v).unwrap(), bare);
    assert_eq!(v, Value::from_json_str(bare).unwrap());
}
