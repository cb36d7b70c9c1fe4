use crate::config::Config;

fn parse(bundle: &str) -> Result<Config, String> {
    Config::parse(format!(r#"{{"bundle": {bundle}}}"#).as_bytes())
}

#[test]
fn defaults_are_opas_and_policies_become_optional() {
    let c = parse(r#"{"cluster": "bundles", "path": "/b.tar.gz"}"#).unwrap();
    assert!(c.policies().is_empty());
    let b = c.bundle.unwrap();
    assert_eq!((b.name.as_str(), b.authority()), ("main", "bundles"));
    assert_eq!(
        (b.min_delay_ms(), b.max_delay_ms(), b.timeout_ms),
        (60_000, 120_000, 5_000)
    );
    assert!(b.token.is_none() && b.verification().is_none());
}

#[test]
fn every_field() {
    let c = parse(
        r#"{"name": "authz", "cluster": "bundles", "path": "/bundles/main.tar.gz",
            "authority": "bundles.local", "min_delay_seconds": 0.2, "max_delay_seconds": 0.4,
            "timeout_ms": 700, "token": "t0k",
            "verification": {"keys": [{"id": "k1", "algorithm": "HS256", "key": "secret"},
                                      {"id": "k2", "algorithm": "ES256", "key": "PEM", "scope": "s"}],
                             "key_id": "k1", "scope": "write", "exclude_files": ["*.md"]}}"#,
    )
    .unwrap();
    let b = c.bundle.unwrap();
    assert_eq!((b.name.as_str(), b.authority()), ("authz", "bundles.local"));
    assert_eq!(
        (b.min_delay_ms(), b.max_delay_ms(), b.timeout_ms),
        (200, 400, 700)
    );
    assert_eq!(b.token.as_deref(), Some("t0k"));
    let v = b.verification().unwrap();
    assert_eq!(v.keys.len(), 2);
    assert_eq!(
        (
            v.keys[1].id.as_str(),
            v.keys[1].algorithm.as_str(),
            v.keys[1].scope.as_str()
        ),
        ("k2", "ES256", "s")
    );
    assert_eq!((v.key_id.as_str(), v.scope.as_str()), ("k1", "write"));
    assert_eq!(v.exclude_files, vec!["*.md"]);
}

#[test]
fn inline_policies_beside_a_bundle() {
    let c = Config::parse(
        br#"{"policies": {"a.rego": "package local"},
             "bundle": {"cluster": "c", "path": "/b.tar.gz"}}"#,
    )
    .unwrap();
    assert_eq!(c.policies().len(), 1);
}

#[test]
fn refuses_bad_bundles_naming_the_field() {
    for (bad, says) in [
        (r#"{"path": "/b"}"#, "cluster"),
        (r#"{"cluster": "c"}"#, "path"),
        (r#"{"cluster": "", "path": "/b"}"#, "bundle.cluster"),
        (r#"{"cluster": "c", "path": "b.tar.gz"}"#, "bundle.path"),
        (r#"{"cluster": "c", "path": "/b\n"}"#, "bundle.path"),
        (
            r#"{"cluster": "c", "path": "/b", "name": ""}"#,
            "bundle.name",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "authority": ""}"#,
            "bundle.authority",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "token": "a\r\nx: y"}"#,
            "bundle.token",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "min_delay_seconds": 0}"#,
            "min_delay_seconds",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "min_delay_seconds": -1}"#,
            "min_delay_seconds",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "min_delay_seconds": 5, "max_delay_seconds": 4}"#,
            "max_delay_seconds",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "max_delay_seconds": 1e9}"#,
            "max_delay_seconds",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "timeout_ms": 0}"#,
            "timeout_ms",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "polling": {}}"#,
            "unknown field",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "verification": {"keys": []}}"#,
            "keys",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "verification": {"keys": [{"id": "k", "algorithm": "HS999", "key": "s"}]}}"#,
            "HS999",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "verification": {"keys": [{"id": "", "algorithm": "HS256", "key": "s"}]}}"#,
            "id",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "verification": {"keys": [{"id": "k", "algorithm": "HS256", "key": ""}]}}"#,
            "key must not be empty",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "verification": {"keys": [{"id": "k", "algorithm": "HS256", "key": "s"}, {"id": "k", "algorithm": "HS256", "key": "t"}]}}"#,
            "twice",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "verification": {"keys": [{"id": "k", "algorithm": "HS256", "key": "s"}], "key_id": "other"}}"#,
            "key_id",
        ),
        (
            r#"{"cluster": "c", "path": "/b", "verification": {"keys": [{"id": "k", "algorithm": "HS256", "key": "s", "kid": "x"}]}}"#,
            "unknown field",
        ),
    ] {
        let e = parse(bad)
            .err()
            .unwrap_or_else(|| panic!("accepted: {bad}"));
        assert!(e.contains(says), "{bad}: {e:?} does not say {says:?}");
    }
}

#[test]
fn without_a_bundle_policies_are_required() {
    let e = Config::parse(br#"{"rule": "x/allow"}"#).unwrap_err();
    assert!(e.contains("no policies"), "{e}");
}
