use super::*;

#[test]
fn defaults_match_opa_envoy_plugin() {
    let c = Config::parse(br#"{"policies": {"a.rego": "package envoy.authz"}}"#).unwrap();
    assert_eq!(c.rule, "envoy/authz/allow");
    assert_eq!(c.failure_mode, FailureMode::Closed);
    assert_eq!((c.failure_status, c.deny_status), (403, 403));
    assert!(c.cache_key.method && c.cache_key.path && c.cache_key.headers.is_empty());
}

#[test]
fn policies_as_list_and_header_names_lowercased() {
    let c = Config::parse(
        br#"{"policies": [{"name": "a.rego", "source": "package x"}],
             "cache_key": {"headers": ["X-User", "x-user"]}, "failure_mode": "open"}"#,
    )
    .unwrap();
    assert_eq!(c.policies(), vec![("a.rego", "package x")]);
    assert_eq!(c.cache_key.headers, vec!["x-user"]);
    assert_eq!(c.failure_mode, FailureMode::Open);
}

#[test]
fn refuses_bad_configurations() {
    for bad in [
        &b"not json"[..],
        br#"{"policies": {}}"#,
        br#"{"policies": {"a": "package x"}, "rulez": "x"}"#,
        br#"{"policies": {"a": "package x"}, "failure_mode": "sideways"}"#,
        br#"{"policies": {"a": "package x"}, "deny_status": 99}"#,
    ] {
        assert!(
            Config::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}
