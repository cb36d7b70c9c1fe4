use super::*;
use crate::body::Body;
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

/// OPA's standalone Envoy tutorial: its policy and its two tokens (guest
/// Alice, admin Bob; `sub` is the base64url of the name).
const TUTORIAL: &str = include_str!("../../../examples/envoy-tutorial.rego");
const ALICE: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJleHAiOiAyMjQxMDgxNTM5LCAibmJmIjogMTUxNDg1MTEzOSwgInJvbGUiOiAiZ3Vlc3QiLCAic3ViIjogIllXeHBZMlU9In0.Uk5hgUqMuUfDLvBLnlXMD0-X53aM_Hlziqg3vhOsCc8";
const BOB: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJleHAiOiAyMjQxMDgxNTM5LCAibmJmIjogMTUxNDg1MTEzOSwgInJvbGUiOiAiYWRtaW4iLCAic3ViIjogIlltOWkifQ.5qsm7rRTvqFHAgiB6evX0a_hWnGbWquZC0HImVQPQo8";

fn tutorial(body_in_key: bool) -> Authz {
    let config = serde_json::json!({
        "policies": {"policy.rego": TUTORIAL},
        "with_request_body": {"max_request_bytes": 8192, "allow_partial_message": true},
        "cache_key": {"headers": ["authorization"], "body": body_in_key},
    });
    Authz::new(Config::parse(config.to_string().as_bytes()).unwrap()).unwrap()
}

fn people(method: &str, token: &str, body: Option<&str>) -> RequestParts {
    let mut headers = vec![
        (":method".into(), method.into()),
        (":path".into(), "/people".into()),
        ("authorization".into(), format!("Bearer {token}")),
    ];
    if let Some(b) = body {
        headers.push(("content-type".into(), "application/json".into()));
        headers.push(("content-length".into(), b.len().to_string()));
    }
    RequestParts {
        headers,
        body: body.map(|b| Body {
            bytes: b.as_bytes().to_vec(),
            truncated: false,
        }),
        ..RequestParts::default()
    }
}

fn allowed(a: &mut Authz, parts: &RequestParts) -> bool {
    a.decide(parts, 0).decision.unwrap().allowed
}

/// The finding: `POST /people` with Bob's token is decided on the body.
#[test]
fn the_tutorial_decides_on_the_body() {
    let mut a = tutorial(false);
    let foo = Some(r#"{"firstname": "Foo", "lastname": "Bar"}"#);
    let bob = Some(r#"{"firstname": "Bob", "lastname": "Bar"}"#);
    assert!(allowed(&mut a, &people("GET", ALICE, None)));
    assert!(allowed(&mut a, &people("GET", BOB, None)));
    assert!(!allowed(&mut a, &people("POST", ALICE, foo)));
    assert!(allowed(&mut a, &people("POST", BOB, foo)));
    assert!(!allowed(&mut a, &people("POST", BOB, bob)), "own name");
    let mut unread = people("POST", BOB, foo);
    unread.body = None;
    assert!(
        !allowed(&mut a, &unread),
        "no body read: parsed_body is null"
    );
}

/// Without the body in the key, a request with a body never uses the
/// cache: Bob's allowed POST must not answer his denied one.
#[test]
fn bodies_bypass_a_cache_key_without_them() {
    let mut a = tutorial(false);
    let foo = people("POST", BOB, Some(r#"{"firstname": "Foo"}"#));
    let bob = people("POST", BOB, Some(r#"{"firstname": "Bob"}"#));
    assert!(!a.decide(&foo, 0).cached);
    let again = a.decide(&foo, 1);
    assert!(!again.cached && again.decision.unwrap().allowed);
    let other = a.decide(&bob, 1);
    assert!(!other.cached && !other.decision.unwrap().allowed);
    let get = people("GET", BOB, None);
    a.decide(&get, 0);
    assert!(a.decide(&get, 1).cached, "no body: cached as before");
}

#[test]
fn bodies_in_the_cache_key() {
    let mut a = tutorial(true);
    let foo = people("POST", BOB, Some(r#"{"firstname": "Foo"}"#));
    let bob = people("POST", BOB, Some(r#"{"firstname": "Bob"}"#));
    assert!(!a.decide(&foo, 0).cached);
    let hit = a.decide(&foo, 1);
    assert!(hit.cached && hit.decision.unwrap().allowed);
    let other = a.decide(&bob, 1);
    assert!(!other.cached && !other.decision.unwrap().allowed);
    let mut cut = foo;
    cut.body = cut.body.map(|b| Body {
        truncated: true,
        ..b
    });
    assert!(!a.decide(&cut, 1).cached, "a cut body is another key");
    let (k_foo, k_bob) = (
        a.cache_key(&people("POST", BOB, Some("{}"))),
        a.cache_key(&bob),
    );
    assert_ne!(k_foo, k_bob);
}

/// opa-envoy-plugin's `request_parse_error`: not a policy error, not cached.
#[test]
fn a_body_that_does_not_parse() {
    let mut a = tutorial(true);
    let bad = people("POST", BOB, Some("{firstname: Foo}"));
    let out = a.decide(&bad, 0);
    let Err(Failure::Body(e)) = out.decision else {
        panic!("{:?}", out.decision);
    };
    assert!(e.contains("invalid JSON"), "{e}");
    assert!(!a.decide(&bad, 1).cached);
    assert!(
        Failure::Body(e)
            .to_string()
            .starts_with("request_parse_error: ")
    );
}
