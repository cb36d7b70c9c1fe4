use super::*;

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
    let v = build(&parts("/api/v1/a%20b?x=1&x=2&y=a+b"));
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
    assert_eq!(parsed_path("/"), json!([""]));
    assert_eq!(parsed_path("/a%zz/%"), json!(["a%zz", "%"]));
    assert_eq!(parsed_query(""), json!({}));
}
