use super::*;
use crate::input::RequestParts;

const POLICY: &str = r#"package envoy.authz
default allow := false
allow if input.attributes.request.http.method == "GET"
conflict := true if input.parsed_path[0] == "conflict"
conflict := false if input.parsed_path[0] == "conflict"
"#;

fn authz(rule: &str) -> Authz {
    let config = format!(
        r#"{{"policies": {{"p.rego": {}}}, "rule": "{rule}", "cache_key": {{"headers": ["x-user"]}}}}"#,
        serde_json::to_string(POLICY).unwrap()
    );
    Authz::new(Config::parse(config.as_bytes()).unwrap()).unwrap()
}

fn req(method: &str, path: &str, user: &str) -> RequestParts {
    RequestParts {
        headers: vec![
            (":method".into(), method.into()),
            (":path".into(), path.into()),
            ("x-user".into(), user.into()),
        ],
        ..RequestParts::default()
    }
}

#[test]
fn caches_by_method_path_and_headers() {
    let mut a = authz("envoy/authz/allow");
    let first = a.decide(&req("GET", "/x", "alice"), 0);
    assert!(first.decision.unwrap().allowed && !first.cached);
    assert!(a.decide(&req("GET", "/x", "alice"), 1).cached);
    assert!(!a.decide(&req("GET", "/x", "bob"), 1).cached);
    let post = a.decide(&req("POST", "/x", "alice"), 1);
    assert!(!post.cached && !post.decision.unwrap().allowed);
    assert!(
        !a.decide(&req("GET", "/x", "alice"), 60_001).cached,
        "expired"
    );
}

#[test]
fn errors_are_not_cached() {
    let mut a = authz("envoy/authz/conflict");
    assert!(a.decide(&req("GET", "/conflict", "a"), 0).decision.is_err());
    let again = a.decide(&req("GET", "/conflict", "a"), 1);
    assert!(again.decision.is_err() && !again.cached);
    assert!(
        a.decide(&req("GET", "/other", "a"), 1).decision.is_err(),
        "undefined"
    );
}

#[test]
fn unknown_rule_or_bad_policy_refused() {
    let c = Config::parse(br#"{"policies": {"p.rego": "package x\nallow := true"}}"#).unwrap();
    assert!(Authz::new(c).err().unwrap().contains("envoy.authz.allow"));
    let c = Config::parse(br#"{"policies": {"p.rego": "package x\nallow if {"}}"#).unwrap();
    assert!(Authz::new(c).err().unwrap().contains("p.rego"));
}
