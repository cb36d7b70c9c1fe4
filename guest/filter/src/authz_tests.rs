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

/// Keys are what they were when the context went through `serde_json::Map`
/// (the values below came from that implementation): a later entry wins,
/// a missing header is `null`, strings are escaped as serde_json does.
#[test]
fn cache_keys_unchanged() {
    // The stored key carries the context's full SHA-256; its first 16 hex
    // digits are the seed-format hash these keys had before, so the
    // canonical context text is unchanged.
    let config = format!(
        r#"{{"policies": {{"p.rego": {}}}, "cache_key": {{"host": true, "source_address": true, "headers": ["x-user", "X-Missing", ":authority", "a\"q"]}}}}"#,
        serde_json::to_string(POLICY).unwrap()
    );
    let mut a = Authz::new(Config::parse(config.as_bytes()).unwrap()).unwrap();
    let mut r = req("GET", "/p?q=1", "al\"ice\u{1}é");
    r.headers.push((":authority".into(), "h:1".into()));
    r.headers.push(("x-user".into(), "second".into()));
    r.source = Some("[::1]:5".into());
    assert_eq!(
        a.cache_key(&r),
        "policy:decision:envoy:GET:/p?q=1:b182306146e46bcb3153ce6db5cf0c3810ef3259937d76e1c0f6f086539ba36e:envoy/authz/allow@1:5.3.6"
    );
    let mut b = authz("envoy/authz/allow");
    assert_eq!(
        b.cache_key(&req("GET", "/x", "alice")),
        "policy:decision:envoy:GET:/x:4cab24df83e42088d3af835fbe31a5072fde5ae1878563fef57a321fad531754:envoy/authz/allow@1:5.3.2"
    );
    assert_eq!(
        b.cache_key(&RequestParts::default()),
        "policy:decision:envoy:::06a0700520ad6764ad635002c52ea9ece7e48e325f542da2f6b9786612851ce4:envoy/authz/allow@1:5.0.0"
    );
    // Again, with the context hash from the memo.
    assert_eq!(
        b.cache_key(&req("GET", "/x", "alice")),
        "policy:decision:envoy:GET:/x:4cab24df83e42088d3af835fbe31a5072fde5ae1878563fef57a321fad531754:envoy/authz/allow@1:5.3.2"
    );
}

#[test]
fn json_strings_escaped_as_serde_json_does() {
    let mut all: String = (0u8..0x80).map(char::from).collect();
    all.push_str("é\u{2028}😀\"\\");
    for s in [all.as_str(), "", "plain", "\u{1f}x\u{7f}"] {
        let mut out = String::new();
        push_json_string(&mut out, s);
        assert_eq!(out, serde_json::to_string(s).unwrap());
    }
}

#[test]
fn a_hit_reuses_the_parsed_decision() {
    let mut a = authz("envoy/authz/allow");
    let first = a.decide(&req("GET", "/x", "alice"), 0).decision.unwrap();
    let hit = a.decide(&req("GET", "/x", "alice"), 1);
    assert!(hit.cached && Rc::ptr_eq(&first, &hit.decision.unwrap()));
}
