//! Every public handle and method.

use crate::{AUTHZ, builder, engine_with};
use sark_policy_host::{Error, ErrorKind, Request};

fn req<'a>(user: &'a str) -> Request<'a> {
    Request {
        user,
        action: "read",
        resource: "doc:1",
        ..Request::default()
    }
}

#[test]
fn policy_engine_methods() {
    let e = engine_with(builder().shards(2));
    assert_eq!(e.policies().unwrap(), ["authz.rego"]);
    assert_eq!(e.packages().unwrap(), ["data.authz"]);
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"bob"}"#)
            .unwrap()
            .as_deref(),
        Some("false")
    );
    let r0 = e.revision().unwrap();
    e.add_data(r#"{"admins":{"bob":true}}"#).unwrap();
    assert_ne!(e.revision().unwrap(), r0);
    // Every shard got the data: evaluate often enough to visit both.
    for _ in 0..4 {
        assert_eq!(
            e.eval_rule("authz/allow", r#"{"user":"bob"}"#)
                .unwrap()
                .as_deref(),
            Some("true")
        );
    }
    e.replace_data(r#"{"admins":{"carol":true}}"#).unwrap();
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"carol"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
    e.clear_data().unwrap();
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"carol"}"#)
            .unwrap()
            .as_deref(),
        Some("false")
    );
    let q = e.eval_query("x := 6 * 7", "").unwrap();
    assert!(q.contains(r#""x":42"#), "{q}");
    e.add_policy("t.rego", "package t\nn := to_number(input.s)")
        .unwrap();
    assert_eq!(e.eval_rule("t/n", r#"{"s":"x"}"#).unwrap(), None);
    e.set_strict_builtin_errors(true).unwrap();
    assert_eq!(
        e.eval_rule("t/n", r#"{"s":"x"}"#).unwrap_err().kind(),
        Some(ErrorKind::Evaluation)
    );
    e.remove_policy("t.rego").unwrap();
    assert_eq!(e.policies().unwrap(), ["authz.rego"]);
}

#[test]
fn errors_are_typed_and_change_nothing() {
    let e = engine_with(builder().shards(3));
    e.add_data(r#"{"admins":{"bob":true}}"#).unwrap();
    let rev = e.revision().unwrap();
    let err = e
        .add_policy("bad.rego", "package bad\nallow if {")
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidPolicy));
    assert!(err.to_string().contains("bad.rego:2:"), "{err}");
    assert_eq!(
        e.add_policy("authz.rego", "package authz\nallow if {")
            .unwrap_err()
            .kind(),
        Some(ErrorKind::InvalidPolicy)
    );
    assert_eq!(
        e.add_data("{nope").unwrap_err().kind(),
        Some(ErrorKind::InvalidJson)
    );
    assert_eq!(
        e.add_data(r#"{"admins":{"bob":false}}"#)
            .unwrap_err()
            .kind(),
        Some(ErrorKind::Evaluation)
    );
    assert_eq!(
        e.remove_policy("nope.rego").unwrap_err().kind(),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        e.eval_rule("nope/x", "{}").unwrap_err().kind(),
        Some(ErrorKind::NotFound)
    );
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(
        e.eval_rule("authz/allow", &deep).unwrap_err().kind(),
        Some(ErrorKind::LimitExceeded)
    );
    assert_eq!(e.revision().unwrap(), rev);
    assert_eq!(e.policies().unwrap(), ["authz.rego"]);
    for _ in 0..6 {
        assert_eq!(
            e.eval_rule("authz/allow", r#"{"user":"bob"}"#)
                .unwrap()
                .as_deref(),
            Some("true")
        );
    }
}

#[test]
fn authorizer_and_cache_share_shards_and_keys() {
    let e = engine_with(builder().shards(4));
    let authz = e.authorizer("data.authz.allow");
    assert_eq!(authz.rule(), "data.authz.allow");
    let cache = e.cache();
    let alice = req("alice");
    let d = authz.decide(&alice).unwrap();
    assert!(!d.cached && d.allowed());
    assert!(d.key.starts_with(&cache.key(&alice).unwrap()));
    assert!(authz.decide(&alice).unwrap().cached);
    assert!(!authz.decide(&req("bob")).unwrap().allowed());
    assert_eq!(cache.size().unwrap(), 2);

    // The seed-style cache API on the same instances.
    let ctx = Request {
        context: r#"{"ip":"10.0.0.1","mfa":false}"#,
        ..req("dave")
    };
    assert_eq!(cache.get(&ctx).unwrap(), None);
    cache
        .set(&ctx, r#"{"allow":true,"reason":"test"}"#)
        .unwrap();
    let reordered = Request {
        context: r#"{"mfa":false,"ip":"10.0.0.1"}"#,
        ..ctx
    };
    assert_eq!(
        cache.get(&reordered).unwrap().as_deref(),
        Some(r#"{"allow":true,"reason":"test"}"#)
    );
    assert_eq!(
        cache.set(&ctx, "{nope").unwrap_err().kind(),
        Some(ErrorKind::InvalidJson)
    );
    assert!(cache.delete(&ctx).unwrap());
    assert!(!cache.delete(&ctx).unwrap());
    let st = cache.stats().unwrap();
    assert_eq!((st.hits, st.entries, st.capacity), (2, 2, 4 * 10_000));
    cache.clear().unwrap();
    assert_eq!(cache.size().unwrap(), 0);
    assert!(!authz.decide(&alice).unwrap().cached);
}

#[test]
fn a_policy_change_invalidates_cached_decisions() {
    let e = engine_with(builder().shards(2));
    let authz = e.authorizer("authz/allow");
    assert!(authz.decide(&req("bob")).unwrap().value.as_deref() == Some("false"));
    e.add_data(r#"{"admins":{"bob":true}}"#).unwrap();
    let d = authz.decide(&req("bob")).unwrap();
    assert_eq!((d.value.as_deref(), d.cached), (Some("true"), false));
    e.add_policy("authz.rego", "package authz\nallow := false")
        .unwrap();
    assert!(!authz.decide(&req("alice")).unwrap().allowed());
}

#[test]
fn metrics_arithmetic_and_prometheus() {
    let e = engine_with(builder().shards(2).cache_capacity(2));
    let authz = e.authorizer("authz/allow");
    for user in [
        "alice", "alice", "alice", "bob", "carol", "dave", "erin", "frank",
    ] {
        authz.decide(&req(user)).unwrap();
    }
    let m = e.metrics();
    assert_eq!((m.hits, m.misses, m.total_requests), (2, 6, 8));
    assert_eq!((m.hit_rate, m.miss_rate), (25.0, 75.0));
    // 6 distinct keys over 2 shards of 2 entries: at least 2 evicted.
    assert_eq!(m.evictions + m.entries, 6);
    assert!(m.entries <= 4);
    assert!(m.avg_latency_ms > 0.0 && m.p50_ms <= m.p95_ms && m.p95_ms <= m.p99_ms);
    let text = m.prometheus();
    assert!(text.contains("sark_policy_cache_hits_total 2\n"), "{text}");
    assert!(text.contains("sark_policy_requests_total 8\n"));
    assert!(text.contains("# TYPE sark_policy_decision_latency_seconds summary"));
    e.reset_metrics().unwrap();
    let m = e.metrics();
    assert_eq!((m.hits, m.misses, m.evictions, m.hit_rate), (0, 0, 0, 0.0));
}

#[test]
fn component_loading_errors_are_clear() {
    let missing = builder()
        .component_path("/nonexistent/sark.wasm")
        .build()
        .err()
        .unwrap();
    assert!(matches!(missing, Error::Read { .. }), "{missing}");
    assert!(missing.to_string().contains("/nonexistent/sark.wasm"));
    let module = builder()
        .component_bytes(b"\0asm\x01\0\0\0".to_vec())
        .build()
        .err()
        .unwrap();
    assert!(matches!(module, Error::Incompatible(_)), "{module}");
    // A valid component that does not implement sark:policy@0.1.0: the
    // empty one, `(component)` in the binary format (version 0x0d, layer 1).
    let other = builder()
        .component_bytes(b"\0asm\x0d\0\x01\0".to_vec())
        .build()
        .err()
        .unwrap();
    assert!(matches!(other, Error::Incompatible(_)), "{other}");
    assert!(other.to_string().contains("sark:policy"), "{other}");
    // The embedded component implements it.
    assert!(
        builder()
            .build()
            .unwrap()
            .engine()
            .unwrap()
            .add_policy("a.rego", AUTHZ)
            .is_ok()
    );
}

#[test]
fn compiled_artifact_is_reused() {
    use sark_policy_host::Provenance;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifact-reuse");
    let _ = std::fs::remove_dir_all(&dir);
    let first = builder().artifact_dir(Some(dir.clone())).build().unwrap();
    assert_eq!(first.load_report().provenance, Provenance::Compiled);
    let second = builder().artifact_dir(Some(dir.clone())).build().unwrap();
    assert_eq!(second.load_report().provenance, Provenance::Artifact);
    drop((first, second));
    // A corrupt artifact is recompiled, not trusted.
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::write(&files[0], b"garbage").unwrap();
    let third = builder().artifact_dir(Some(dir.clone())).build().unwrap();
    assert_eq!(third.load_report().provenance, Provenance::Compiled);
    assert!(third.engine().unwrap().add_policy("a.rego", AUTHZ).is_ok());
}
