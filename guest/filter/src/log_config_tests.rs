use crate::config::Config;

fn parse(log: &str) -> Result<Config, String> {
    Config::parse(
        format!(r#"{{"policies": {{"p.rego": "package envoy.authz\nallow := true"}}, "decision_log": {log}}}"#).as_bytes(),
    )
}

fn refused(log: &str) -> String {
    parse(log).err().unwrap()
}

#[test]
fn defaults_are_opas_where_it_has_them() {
    let c = parse(r#"{"cluster": "logs"}"#)
        .unwrap()
        .decision_log
        .unwrap();
    assert_eq!((c.path.as_str(), c.authority()), ("/logs", "logs"));
    assert_eq!(c.upload_size_limit_bytes, 32_768);
    assert_eq!(
        (c.max_buffer_bytes, c.max_event_bytes),
        (4 << 20, 256 << 10)
    );
    assert_eq!(
        (c.upload_interval_ms, c.max_backoff_ms, c.timeout_ms),
        (5_000, 60_000, 5_000)
    );
    assert_eq!(c.cached_sample, 1);
    assert_eq!(c.decision_id_header(), Some("x-sark-decision-id"));
    assert!(c.labels.is_empty() && c.erase.is_empty() && c.token.is_none());
}

#[test]
fn every_field() {
    let c = parse(
        r#"{"cluster": "logs", "path": "/v1/logs", "authority": "logs.local", "token": "t",
            "labels": {"region": "eu", "app": "gw"}, "erase": ["/input/attributes/request/http/headers/authorization"],
            "max_buffer_bytes": 65536, "max_event_bytes": 4096, "upload_size_limit_bytes": 1024,
            "upload_interval_ms": 200, "max_backoff_ms": 2000, "timeout_ms": 700,
            "cached_sample": 10, "decision_id_header": ""}"#,
    )
    .unwrap()
    .decision_log
    .unwrap();
    assert_eq!((c.path.as_str(), c.authority()), ("/v1/logs", "logs.local"));
    assert_eq!(c.decision_id_header(), None);
    let core = c.core("instance", [1, 2]);
    let labels: Vec<(&str, &str)> = core
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("app", "gw"),
            ("region", "eu"),
            ("id", "instance"),
            ("version", env!("CARGO_PKG_VERSION"))
        ]
    );
    assert_eq!(
        (
            core.max_buffer_bytes,
            core.max_event_bytes,
            core.cached_sample
        ),
        (65536, 4096, 10)
    );
    assert_eq!(core.erase.len(), 1);
    assert_eq!(core.id_seed, [1, 2]);
}

#[test]
fn mistakes_are_refused_by_name() {
    for (log, says) in [
        (r#"{"path": "/logs"}"#, "missing field `cluster`"),
        (r#"{"cluster": "logs", "pth": "/x"}"#, "unknown field `pth`"),
        (
            r#"{"cluster": ""}"#,
            "decision_log.cluster must not be empty",
        ),
        (r#"{"cluster": "c", "path": "logs"}"#, "must start with '/'"),
        (
            r#"{"cluster": "c", "labels": {"id": "x"}}"#,
            "labels.id is set by the filter",
        ),
        (
            r#"{"cluster": "c", "labels": {"a": ""}}"#,
            "labels.a must not be empty",
        ),
        (
            r#"{"cluster": "c", "max_buffer_bytes": 10}"#,
            "max_buffer_bytes must be from",
        ),
        (
            r#"{"cluster": "c", "max_buffer_bytes": 2048, "max_event_bytes": 4096}"#,
            "must not exceed max_buffer_bytes",
        ),
        (
            r#"{"cluster": "c", "upload_interval_ms": 0}"#,
            "upload_interval_ms must be",
        ),
        (
            r#"{"cluster": "c", "timeout_ms": 99999999999}"#,
            "timeout_ms must be",
        ),
        (
            r#"{"cluster": "c", "decision_id_header": "X-Id"}"#,
            "not a lowercase header name",
        ),
        (r#"{"cluster": "c", "cached_sample": -1}"#, "invalid value"),
    ] {
        let e = refused(log);
        assert!(e.contains(says), "{log}: {e}");
    }
}

#[test]
fn a_bad_erase_path_stops_the_plugin() {
    let c = parse(r#"{"cluster": "c", "erase": ["/labels/id"]}"#).unwrap();
    let e = crate::authz::Authz::new(c).err().unwrap();
    assert!(e.starts_with("decision_log.erase: "), "{e}");
}
