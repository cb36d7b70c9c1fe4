//! Decision-log events, masking, the bounded buffer and batches.

use super::*;
use crate::Engine;
use serde_json::{Value as Json, json};
use std::io::Read;

fn event(input: Json, result: Option<Json>) -> DecisionEvent {
    DecisionEvent {
        decision_id: DecisionIds::new([1, 2]).next_id(),
        path: "authz/allow".into(),
        input,
        result,
        timestamp_ns: 1_796_000_000_123_456_789,
        bundles: vec![("main".into(), "r1".into())],
        labels: vec![
            ("id".into(), "inst-1".into()),
            ("version".into(), "0.1.0".into()),
        ],
        eval_ns: 4200,
        eval_path: EvalPath::Rvm,
    }
}

#[test]
fn events_have_opas_fields() {
    let e = event(json!({"user": "alice"}), Some(json!(true))).to_json();
    assert_eq!(e["path"], "authz/allow");
    assert_eq!(e["input"], json!({"user": "alice"}));
    assert_eq!(e["result"], json!(true));
    assert_eq!(e["timestamp"], "2026-11-30T00:53:20.123456789Z");
    assert_eq!(e["bundles"], json!({"main": {"revision": "r1"}}));
    assert_eq!(e["labels"], json!({"id": "inst-1", "version": "0.1.0"}));
    assert_eq!(e["metrics"], json!({"timer_rego_query_eval_ns": 4200}));
    assert_eq!(
        (e["cached"].clone(), e["eval_path"].clone()),
        (json!(false), json!("rvm"))
    );
    let id = e["decision_id"].as_str().unwrap();
    let parsed = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    // Undefined: no result field, as OPA writes it.
    assert!(event(json!({}), None).to_json().get("result").is_none());
}

#[test]
fn ids_are_unique_within_and_across_seeds() {
    let mut seen = std::collections::HashSet::new();
    for seed in 0..4u64 {
        let mut ids = DecisionIds::new([seed, seed * 7 + 1]);
        for _ in 0..10_000 {
            assert!(seen.insert(ids.next_id()));
        }
    }
}

const MASK_POLICY: &str = r#"package system.log
mask contains "/input/password"
mask contains {"op": "upsert", "path": "/input/ssn", "value": "**REDACTED**"} if input.input.ssn
mask contains "/result/secret" if input.path == "authz/allow"
"#;

#[test]
fn the_mask_rule_erases_and_upserts_before_an_event_leaves() {
    let mut engine = Engine::new();
    engine.add_policy("mask.rego", MASK_POLICY).unwrap();
    let e = event(
        json!({"user": "alice", "password": "hunter2", "ssn": "123-45-6789"}),
        Some(json!({"allow": true, "secret": "s"})),
    );
    let m = mask(&mut engine, e.to_json(), &["/input/user".into()]).unwrap();
    assert!(m.ruled);
    assert_eq!(m.event["input"], json!({"ssn": "**REDACTED**"}));
    assert_eq!(m.event["result"], json!({"allow": true}));
    let mut erased: Vec<String> = serde_json::from_value(m.event["erased"].clone()).unwrap();
    erased.sort();
    assert_eq!(erased, ["/input/password", "/input/user", "/result/secret"]);
    assert_eq!(m.event["masked"], json!(["/input/ssn"]));
    // Without a mask rule only the static list applies.
    let mut plain = Engine::new();
    let m = mask(&mut plain, e.to_json(), &["/input/password".into()]).unwrap();
    assert!(!m.ruled);
    assert!(m.event["input"].get("password").is_none());
    assert_eq!(m.event["input"]["ssn"], "123-45-6789");
}

#[test]
fn a_mask_rule_that_fails_or_answers_garbage_drops_the_event() {
    let e = event(json!({"password": "x"}), Some(json!(true))).to_json();
    for policy in [
        "package system.log\nmask := 7",
        "package system.log\nmask contains 7",
        "package system.log\nmask contains \"/labels/id\"",
        "package system.log\nmask contains {\"op\": \"explode\", \"path\": \"/input/x\"}",
        "package system.log\nmask := x if { x := 1; x == 1 }\nmask := y if { y := 2 }",
    ] {
        let mut engine = Engine::new();
        engine.add_policy("mask.rego", policy).unwrap();
        assert!(mask(&mut engine, e.clone(), &[]).is_err(), "{policy}");
    }
    assert!(mask(&mut Engine::new(), e, &["input/x".into()]).is_err());
}

fn gunzip(b: &[u8]) -> Json {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    serde_json::from_str(&s).unwrap()
}

#[test]
fn the_buffer_drops_the_oldest_and_counts_every_drop() {
    let one = |i: u64| json!({"decision_id": format!("{i:04}"), "input": {"n": format!("{i:04}")}});
    let size = one(0).to_string().len();
    let mut buf = LogBuffer::new(size * 10, size * 2);
    for i in 0..25 {
        buf.push(one(i));
    }
    let s = buf.stats();
    assert_eq!(
        (s.logged, s.dropped_buffer_full, s.buffered_events),
        (25, 15, 10)
    );
    let batch = buf.take_batch(size * 4 + 10).unwrap();
    let events = gunzip(&batch.gzip);
    let ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["0015", "0016", "0017", "0018"]);
    assert_eq!(batch.events, 4);
    let rest = buf.take_batch(usize::MAX).unwrap();
    assert_eq!(rest.events, 6);
    assert!(buf.take_batch(usize::MAX).is_none());
    let s = buf.stats();
    assert_eq!((s.batches, s.batched_events, s.buffered_bytes), (2, 10, 0));
    // Every event accepted is either batched or counted as dropped.
    assert_eq!(s.logged, s.batched_events + s.dropped_buffer_full);
}

#[test]
fn a_huge_input_is_truncated_and_counted() {
    let mut buf = LogBuffer::new(1 << 20, 1024);
    buf.push(json!({"decision_id": "a", "input": {"blob": "x".repeat(10_000)}, "result": true}));
    buf.push(json!({"decision_id": "b", "input": {}, "result": "y".repeat(10_000)}));
    let s = buf.stats();
    assert_eq!((s.truncated, s.logged), (2, 2));
    let events = gunzip(&buf.take_batch(usize::MAX).unwrap().gzip);
    assert_eq!(events[0]["erased"], json!(["/input"]));
    assert_eq!(events[0]["truncated"], json!(true));
    assert_eq!(events[0]["result"], json!(true));
    assert_eq!(events[1]["erased"], json!(["/input", "/result"]));
    // A batch is always at least one event, even over the batch size.
    let mut buf = LogBuffer::new(1 << 20, 1 << 20);
    buf.push(json!({"big": "z".repeat(5000)}));
    assert_eq!(buf.take_batch(10).unwrap().events, 1);
}
