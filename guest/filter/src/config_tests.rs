use super::*;

#[test]
fn defaults_match_opa_envoy_plugin() {
    let c = Config::parse(br#"{"policies": {"a.rego": "package envoy.authz"}}"#).unwrap();
    assert_eq!(c.rule, "envoy/authz/allow");
    assert_eq!(c.failure_mode, FailureMode::Closed);
    assert_eq!((c.failure_status, c.deny_status), (403, 403));
    assert!(c.cache_key.method && c.cache_key.path && c.cache_key.headers.is_empty());
    assert!(c.with_request_body.is_none() && !c.cache_key.body);
    assert!(!c.dry_run && !c.skip_request_body_parse);
}

#[test]
fn request_body_and_dry_run() {
    let c = Config::parse(
        br#"{"policies": {"a.rego": "package x"}, "dry_run": true,
             "with_request_body": {"max_request_bytes": 8192, "allow_partial_message": true},
             "cache_key": {"body": true}, "skip_request_body_parse": true}"#,
    )
    .unwrap();
    let body = c.with_request_body.unwrap();
    assert_eq!(
        (
            body.max_bytes(),
            body.allow_partial_message,
            body.pack_as_bytes
        ),
        (8192, true, false)
    );
    assert!(c.dry_run && c.cache_key.body && c.skip_request_body_parse);
    let c = Config::parse(
        br#"{"policies": {"a.rego": "package x"},
             "with_request_body": {"max_request_bytes": 1, "pack_as_bytes": true}}"#,
    )
    .unwrap();
    let body = c.with_request_body.unwrap();
    assert!(!body.allow_partial_message && body.pack_as_bytes);
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
        br#"{"policies": {"a": "package x"}, "with_request_body": {}}"#,
        br#"{"policies": {"a": "package x"}, "with_request_body": {"max_request_bytes": 0}}"#,
        br#"{"policies": {"a": "package x"}, "with_request_body": {"max_request_bytes": -1}}"#,
        br#"{"policies": {"a": "package x"}, "with_request_body": {"max_request_bytes": 9, "partial": true}}"#,
        br#"{"policies": {"a": "package x"}, "cache_key": {"body": true}}"#,
        br#"{"policies": {"a": "package x"}, "dry_run": "yes"}"#,
        br#"{"policies": {"a": "package x"}, "dry-run": true}"#,
    ] {
        assert!(
            Config::parse(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}
