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
        error: None,
        timestamp_ns: 1_796_000_000_123_456_789,
        eval_ns: 4200,
        eval_path: EvalPath::Rvm,
    }
}

fn labels() -> Vec<(String, String)> {
    vec![
        ("id".into(), "inst-1".into()),
        ("version".into(), "0.1.0".into()),
    ]
}

fn to_json(e: &DecisionEvent) -> Json {
    e.to_json(&labels(), &[("main".into(), "r1".into())])
}

#[test]
fn events_have_opas_fields() {
    let e = to_json(&event(json!({"user": "alice"}), Some(json!(true))));
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
    assert!(to_json(&event(json!({}), None)).get("result").is_none());
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
    let m = mask(Some(&mut engine), to_json(&e), &["/input/user".into()]).unwrap();
    assert!(m.ruled);
    assert_eq!(m.event["input"], json!({"ssn": "**REDACTED**"}));
    assert_eq!(m.event["result"], json!({"allow": true}));
    let mut erased: Vec<String> = serde_json::from_value(m.event["erased"].clone()).unwrap();
    erased.sort();
    assert_eq!(erased, ["/input/password", "/input/user", "/result/secret"]);
    assert_eq!(m.event["masked"], json!(["/input/ssn"]));
    // Without a mask rule only the static list applies.
    let mut plain = Engine::new();
    let m = mask(Some(&mut plain), to_json(&e), &["/input/password".into()]).unwrap();
    assert!(!m.ruled);
    assert!(m.event["input"].get("password").is_none());
    assert_eq!(m.event["input"]["ssn"], "123-45-6789");
}

#[test]
fn a_mask_rule_that_fails_or_answers_garbage_drops_the_event() {
    let e = to_json(&event(json!({"password": "x"}), Some(json!(true))));
    for policy in [
        "package system.log\nmask := 7",
        "package system.log\nmask contains 7",
        "package system.log\nmask contains \"/labels/id\"",
        "package system.log\nmask contains {\"op\": \"explode\", \"path\": \"/input/x\"}",
        "package system.log\nmask := x if { x := 1; x == 1 }\nmask := y if { y := 2 }",
    ] {
        let mut engine = Engine::new();
        engine.add_policy("mask.rego", policy).unwrap();
        assert!(mask(Some(&mut engine), e.clone(), &[]).is_err(), "{policy}");
    }
    assert!(mask(None, e, &["input/x".into()]).is_err());
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
    let batch = buf.take_batch(size * 4 + 10, Encoding::Gzip).unwrap();
    let events = gunzip(&batch.body);
    let ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["0015", "0016", "0017", "0018"]);
    assert_eq!(batch.events, 4);
    let rest = buf.take_batch(usize::MAX, Encoding::Gzip).unwrap();
    assert_eq!(rest.events, 6);
    assert!(buf.take_batch(usize::MAX, Encoding::Gzip).is_none());
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
    let events = gunzip(&buf.take_batch(usize::MAX, Encoding::Gzip).unwrap().body);
    assert_eq!(events[0]["erased"], json!(["/input"]));
    assert_eq!(events[0]["truncated"], json!(true));
    assert_eq!(events[0]["result"], json!(true));
    assert_eq!(events[1]["erased"], json!(["/input", "/result"]));
    // A batch is always at least one event, even over the batch size.
    let mut buf = LogBuffer::new(1 << 20, 1 << 20);
    buf.push(json!({"big": "z".repeat(5000)}));
    assert_eq!(buf.take_batch(10, Encoding::Gzip).unwrap().events, 1);
}

// The decide path: one event per decision, in the instance.

use crate::authorizer::{Request, decide_logged};
use crate::{DecisionCache, Error};

const AUTHZ: &str = r#"package authz
default allow := false
allow if input.user == "alice"
boom := x if { x := 1 }
boom := y if { y := 2 }
"#;

fn logged_setup(config: LogConfig) -> (Engine, DecisionCache, DecisionLog) {
    let mut engine = Engine::new();
    engine.add_policy("authz.rego", AUTHZ).unwrap();
    let log = DecisionLog::new(LogConfig {
        labels: labels(),
        id_seed: [7, 9],
        ..config
    })
    .unwrap();
    (engine, DecisionCache::new(100).unwrap(), log)
}

fn req<'a>(user: &'a str, context: &'a str) -> Request<'a> {
    Request {
        user,
        action: "read",
        resource: "doc:1",
        context,
    }
}

fn drain(log: &mut DecisionLog) -> Vec<Json> {
    let mut all = Vec::new();
    while let Some(b) = log.take_batch(1 << 20, Encoding::Gzip) {
        all.extend(gunzip(&b.body).as_array().unwrap().clone());
    }
    all
}

#[test]
fn every_decision_is_logged_with_its_id_and_how_it_was_served() {
    let (mut engine, mut cache, mut log) = logged_setup(LogConfig::default());
    let ctx = r#"{"ip": "10.0.0.1"}"#;
    let first = decide_logged(
        &mut engine,
        &mut cache,
        &mut log,
        "data.authz.allow",
        &req("alice", ctx),
        1000,
        61_000,
        5,
    )
    .unwrap();
    let second = decide_logged(
        &mut engine,
        &mut cache,
        &mut log,
        "data.authz.allow",
        &req("alice", ctx),
        2000,
        62_000,
        6,
    )
    .unwrap();
    assert!(!first.decision.cached && second.decision.cached);
    assert_ne!(first.decision_id, second.decision_id);
    let events = drain(&mut log);
    assert_eq!(events.len(), 2);
    let (miss, hit) = (&events[0], &events[1]);
    assert_eq!(miss["decision_id"], first.decision_id.as_str());
    assert_eq!(hit["decision_id"], second.decision_id.as_str());
    assert_eq!(miss["path"], "authz/allow");
    assert_eq!(
        miss["input"],
        json!({"user": "alice", "action": "read", "resource": "doc:1", "context": {"ip": "10.0.0.1"}})
    );
    assert_eq!(hit["input"], miss["input"]);
    assert_eq!(
        (miss["result"].clone(), hit["result"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        (miss["cached"].clone(), miss["eval_path"].clone()),
        (json!(false), json!("rvm"))
    );
    assert_eq!(
        (hit["cached"].clone(), hit["eval_path"].clone()),
        (json!(true), json!("cache"))
    );
    assert!(
        miss["metrics"]["timer_rego_query_eval_ns"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(hit["metrics"]["timer_rego_query_eval_ns"], 0);
    assert_eq!(miss["labels"]["id"], "inst-1");
    assert_eq!(hit["timestamp"], "1970-01-01T00:00:00.000000006Z");
    let s = log.stats();
    assert_eq!((s.logged, s.batched_events, s.buffered_events), (2, 2, 0));
}

#[test]
fn a_failed_evaluation_is_logged_with_its_error_and_a_bad_context_is_not() {
    let (mut engine, mut cache, mut log) = logged_setup(LogConfig::default());
    let err = decide_logged(
        &mut engine,
        &mut cache,
        &mut log,
        "data.authz.boom",
        &req("bob", "{}"),
        0,
        1000,
        0,
    );
    assert!(matches!(err, Err(Error::Evaluation(_))), "{err:?}");
    let bad = decide_logged(
        &mut engine,
        &mut cache,
        &mut log,
        "data.authz.allow",
        &req("bob", "{nope"),
        0,
        1000,
        0,
    );
    assert!(matches!(bad, Err(Error::InvalidJson(_))));
    let events = drain(&mut log);
    assert_eq!(events.len(), 1);
    assert!(
        events[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evaluation")
    );
    assert!(events[0].get("result").is_none());
    assert_eq!(cache.stats().entries, 0, "an error is never cached");
}

#[test]
fn cached_decisions_are_sampled_as_configured() {
    for (sample, expected) in [(0u32, 1usize), (1, 11), (5, 3)] {
        let (mut engine, mut cache, mut log) = logged_setup(LogConfig {
            cached_sample: sample,
            ..LogConfig::default()
        });
        for t in 0..11 {
            decide_logged(
                &mut engine,
                &mut cache,
                &mut log,
                "data.authz.allow",
                &req("alice", "{}"),
                t,
                1000,
                t,
            )
            .unwrap();
        }
        // One miss, then ten hits of which one in `sample` is logged.
        assert_eq!(drain(&mut log).len(), expected, "sample {sample}");
    }
}

#[test]
fn events_are_masked_in_the_instance_and_name_the_bundles() {
    let (mut engine, mut cache, mut log) = logged_setup(LogConfig {
        erase: vec!["/input/context/token".into()],
        ..LogConfig::default()
    });
    engine
        .add_policy(
            "mask.rego",
            "package system.log\nmask contains \"/input/user\" if input.path == \"authz/allow\"",
        )
        .unwrap();
    let ctx = r#"{"token": "secret", "ip": "1.2.3.4"}"#;
    decide_logged(
        &mut engine,
        &mut cache,
        &mut log,
        "authz/allow",
        &req("alice", ctx),
        0,
        1000,
        0,
    )
    .unwrap();
    let e = &drain(&mut log)[0];
    assert_eq!(
        e["input"],
        json!({"action": "read", "resource": "doc:1", "context": {"ip": "1.2.3.4"}})
    );
    let mut erased: Vec<String> = serde_json::from_value(e["erased"].clone()).unwrap();
    erased.sort();
    assert_eq!(erased, ["/input/context/token", "/input/user"]);
    // A mask rule that answers garbage drops the event and counts it.
    engine
        .add_policy("mask.rego", "package system.log\nmask := 7")
        .unwrap();
    decide_logged(
        &mut engine,
        &mut cache,
        &mut log,
        "authz/allow",
        &req("alice", ctx),
        0,
        1000,
        0,
    )
    .unwrap();
    assert!(drain(&mut log).is_empty());
    assert_eq!(log.stats().dropped_mask_error, 1);
    assert!(
        DecisionLog::new(LogConfig {
            erase: vec!["/labels/id".into()],
            ..LogConfig::default()
        })
        .is_err()
    );
}

#[test]
fn json_lines_batches_hold_one_event_per_line() {
    let (mut engine, mut cache, mut log) = logged_setup(LogConfig::default());
    for user in ["alice", "bob", "carol"] {
        decide_logged(
            &mut engine,
            &mut cache,
            &mut log,
            "data.authz.allow",
            &req(user, "{}"),
            0,
            1000,
            0,
        )
        .unwrap();
    }
    let batch = log.take_batch(1 << 20, Encoding::JsonLines).unwrap();
    let text = String::from_utf8(batch.body).unwrap();
    let users: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Json>(l).unwrap()["input"]["user"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(users, ["alice", "bob", "carol"]);
    assert!(text.ends_with('\n'));
}

#[test]
fn events_written_as_text_equal_the_ones_built_as_json() {
    // The fast path (no mask rule, no erase list) and the JSON tree path
    // write the same event; a context on several lines stays one line.
    let mut engine = Engine::new();
    engine.add_policy("authz.rego", AUTHZ).unwrap();
    let mut log = DecisionLog::new(LogConfig {
        labels: labels(),
        ..LogConfig::default()
    })
    .unwrap();
    let e = EventText {
        decision_id: "6b9e10d9-9aa4-40f9-9911-40249e323411",
        path: "authz/allow",
        input: r#"{"user":"a\"b","context":{"ip":"1.2.3.4"}}"#,
        result: Some(r#"{"allow":true}"#),
        error: Some("evaluation error: \"x\"\n"),
        timestamp_ns: 1_796_000_000_123_456_789,
        eval_ns: 42,
        eval_path: EvalPath::Interpreter,
    };
    log.record_text(&mut engine, &e);
    let text =
        String::from_utf8(log.take_batch(1 << 20, Encoding::JsonLines).unwrap().body).unwrap();
    let fast: Json = serde_json::from_str(text.trim_end()).unwrap();
    let tree = DecisionEvent {
        decision_id: e.decision_id.into(),
        path: e.path.into(),
        input: serde_json::from_str(e.input).unwrap(),
        result: Some(json!({"allow": true})),
        error: e.error.map(Into::into),
        timestamp_ns: 1_796_000_000_123_456_789,
        eval_ns: 42,
        eval_path: EvalPath::Interpreter,
    }
    .to_json(&labels(), &[]);
    assert_eq!(fast, tree);
    let (mut engine, mut cache, mut log) = logged_setup(LogConfig::default());
    decide_logged(
        &mut engine,
        &mut cache,
        &mut log,
        "data.authz.allow",
        &req("alice", "{\n\"a\": [1,\n2]\n}"),
        0,
        1000,
        0,
    )
    .unwrap();
    let text =
        String::from_utf8(log.take_batch(1 << 20, Encoding::JsonLines).unwrap().body).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let e: Json = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(e["input"]["context"], json!({"a": [1, 2]}));
}
