use crate::authz::Authz;
use crate::body::Body;
use crate::config::Config;
use crate::input::RequestParts;
use sark_policy_core::decision_log::Encoding;
use serde_json::{Value as Json, json};

const POLICY: &str = r#"package envoy.authz
default allow := false
allow if input.attributes.request.http.method == "GET"
conflict := true if input.parsed_path[0] == "conflict"
conflict := false if input.parsed_path[0] == "conflict"
"#;

const MASK: &str = r#"package system.log
mask contains "/input/attributes/request/http/headers/x-secret"
"#;

fn authz(rule: &str, log: &str, mask: bool) -> Authz {
    let mut policies = json!({"p.rego": POLICY});
    if mask {
        policies["mask.rego"] = json!(MASK);
    }
    let config = format!(
        r#"{{"policies": {policies}, "rule": "{rule}", "decision_log": {{"cluster": "logs"{log}}},
            "with_request_body": {{"max_request_bytes": 64}}}}"#
    );
    Authz::with_seed(Config::parse(config.as_bytes()).unwrap(), [7, 9]).unwrap()
}

fn req(method: &str, path: &str) -> RequestParts {
    RequestParts {
        headers: vec![
            (":method".into(), method.into()),
            (":path".into(), path.into()),
            ("x-secret".into(), "s3cret".into()),
            ("x-user".into(), "alice".into()),
        ],
        ..RequestParts::default()
    }
}

/// Decides and records `r` at `now`; the decision id.
fn decide(a: &mut Authz, r: &RequestParts, now: u64) -> Option<String> {
    let mut outcome = a.decide(r, now);
    a.record(r, &mut outcome, u128::from(now) * 1_000_000)
}

/// The events buffered, oldest first.
fn events(a: &mut Authz) -> Vec<Json> {
    let Some((log, _)) = a.log.as_mut() else {
        return Vec::new();
    };
    match log.take_batch(usize::MAX, Encoding::JsonLines) {
        Some(b) => String::from_utf8(b.body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        None => Vec::new(),
    }
}

#[test]
fn every_decision_is_an_event_with_its_input() {
    let mut a = authz("envoy/authz/allow", "", false);
    let id = a.log_instance_id().unwrap().to_owned();
    let allowed = decide(&mut a, &req("GET", "/a?b=1"), 1_000).unwrap();
    let denied = decide(&mut a, &req("POST", "/a"), 2_000).unwrap();
    assert_ne!(allowed, denied);
    let got = events(&mut a);
    assert_eq!(got.len(), 2);
    let (e, d) = (&got[0], &got[1]);
    assert_eq!(e["decision_id"], json!(allowed));
    assert_eq!(d["decision_id"], json!(denied));
    assert_eq!(e["path"], json!("envoy/authz/allow"));
    assert_eq!((&e["result"], &d["result"]), (&json!(true), &json!(false)));
    let http = &e["input"]["attributes"]["request"]["http"];
    assert_eq!(
        (&http["method"], &http["path"]),
        (&json!("GET"), &json!("/a?b=1"))
    );
    assert_eq!(e["input"]["parsed_query"], json!({"b": ["1"]}));
    assert_eq!(
        http["headers"]["x-secret"],
        json!("s3cret"),
        "no mask configured"
    );
    assert_eq!(e["timestamp"], json!("1970-01-01T00:00:01.000000000Z"));
    assert_eq!(
        e["labels"],
        json!({"id": id, "version": env!("CARGO_PKG_VERSION")})
    );
    assert_eq!(e["cached"], json!(false));
    assert!(["rvm", "interpreter"].contains(&e["eval_path"].as_str().unwrap()));
    assert!(e["metrics"]["timer_rego_query_eval_ns"].as_u64().unwrap() > 0);
    assert!(e.get("error").is_none());
}

#[test]
fn failures_are_events_with_an_error_and_no_result() {
    let mut a = authz("envoy/authz/conflict", "", false);
    assert!(decide(&mut a, &req("GET", "/conflict"), 0).is_some());
    assert!(decide(&mut a, &req("GET", "/other"), 0).is_some());
    let mut body = req("POST", "/b");
    body.headers
        .push(("content-type".into(), "application/json".into()));
    body.body = Some(Body {
        bytes: b"{nope".to_vec(),
        truncated: false,
    });
    assert!(decide(&mut a, &body, 0).is_some());
    let got = events(&mut a);
    assert_eq!(got.len(), 3);
    for e in &got {
        assert!(e.get("result").is_none(), "{e}");
    }
    let errors: Vec<&str> = got
        .iter()
        .map(|e| e["error"]["message"].as_str().unwrap())
        .collect();
    assert!(errors[0].contains("conflict"), "{errors:?}");
    assert_eq!(errors[1], "undefined decision: envoy/authz/conflict");
    assert!(errors[2].starts_with("request_parse_error: "), "{errors:?}");
}

#[test]
fn cached_decisions_are_logged_as_sampled() {
    let mut a = authz("envoy/authz/allow", "", false);
    for now in 0..3 {
        assert!(decide(&mut a, &req("GET", "/c"), now).is_some());
    }
    let got = events(&mut a);
    let cached: Vec<&Json> = got.iter().map(|e| &e["cached"]).collect();
    assert_eq!(cached, [&json!(false), &json!(true), &json!(true)]);
    assert_eq!(got[1]["eval_path"], json!("cache"));
    assert_eq!(got[1]["metrics"]["timer_rego_query_eval_ns"], json!(0));
    assert_eq!(got[1]["result"], json!(true));
    assert_eq!(
        got[1]["input"]["attributes"]["request"]["http"]["path"],
        json!("/c"),
        "a sampled cached decision's input is built"
    );

    let mut a = authz("envoy/authz/allow", r#", "cached_sample": 2"#, false);
    let ids: Vec<bool> = (0..5)
        .map(|now| decide(&mut a, &req("GET", "/c"), now).is_some())
        .collect();
    assert_eq!(ids, [true, true, false, true, false]);
    let mut a = authz("envoy/authz/allow", r#", "cached_sample": 0"#, false);
    let ids: Vec<bool> = (0..3)
        .map(|now| decide(&mut a, &req("GET", "/c"), now).is_some())
        .collect();
    assert_eq!(ids, [true, false, false]);
    assert_eq!(events(&mut a).len(), 1);
}

#[test]
fn masked_by_the_policy_and_the_erase_list() {
    let erase = r#", "erase": ["/input/attributes/request/http/headers/x-user"]"#;
    let mut a = authz("envoy/authz/allow", erase, true);
    decide(&mut a, &req("GET", "/m"), 0).unwrap();
    let got = events(&mut a);
    let headers = &got[0]["input"]["attributes"]["request"]["http"]["headers"];
    assert!(headers.get("x-secret").is_none() && headers.get("x-user").is_none());
    assert_eq!(headers[":method"], json!("GET"));
    let mut erased: Vec<&str> = got[0]["erased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    erased.sort_unstable();
    assert_eq!(
        erased,
        [
            "/input/attributes/request/http/headers/x-secret",
            "/input/attributes/request/http/headers/x-user"
        ]
    );
}

#[test]
fn a_failing_mask_drops_the_event_and_counts_it() {
    let c = Config::parse(
        format!(
            r#"{{"policies": {{"p.rego": {}, "m.rego": "package system.log\nmask := 7"}},
                "decision_log": {{"cluster": "logs"}}}}"#,
            serde_json::to_string(POLICY).unwrap()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut a = Authz::with_seed(c, [1, 1]).unwrap();
    assert!(decide(&mut a, &req("GET", "/x"), 0).is_some());
    let stats = a.log_stats().unwrap();
    assert_eq!((stats.logged, stats.dropped_mask_error), (0, 1));
    assert!(events(&mut a).is_empty());
}

#[test]
fn no_log_no_events() {
    let c = Config::parse(
        format!(
            r#"{{"policies": {{"p.rego": {}}}}}"#,
            serde_json::to_string(POLICY).unwrap()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut a = Authz::new(c).unwrap();
    assert_eq!(decide(&mut a, &req("GET", "/x"), 0), None);
    assert!(a.log_stats().is_none() && a.log_instance_id().is_none());
    assert!(a.take_log_batch(1000).is_none() && a.decision_id_header().is_none());
}

#[test]
fn instance_ids_differ_by_seed_and_batches_are_gzip() {
    let one = authz("envoy/authz/allow", "", false);
    let other = Authz::with_seed(
        Config::parse(
            format!(
                r#"{{"policies": {{"p.rego": {}}}, "decision_log": {{"cluster": "logs"}}}}"#,
                serde_json::to_string(POLICY).unwrap()
            )
            .as_bytes(),
        )
        .unwrap(),
        [8, 9],
    )
    .unwrap();
    assert_ne!(one.log_instance_id(), other.log_instance_id());
    let mut a = one;
    decide(&mut a, &req("GET", "/x"), 0).unwrap();
    let b = a.take_log_batch(32_768).unwrap();
    assert_eq!(b.events, 1);
    assert_eq!(&b.body[..2], &[0x1f, 0x8b]);
    assert_eq!(a.decision_id_header(), Some("x-sark-decision-id"));
}
