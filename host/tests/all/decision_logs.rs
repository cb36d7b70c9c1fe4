//! Decision logs through the Rust host: events shipped to a collector
//! (tests/log_collector.py, started and stopped here on 127.0.0.1) in
//! OPA's format, masked, retried through an outage without loss or
//! duplicates, drops counted exactly, and the CLI's console sink.

use crate::{AUTHZ, builder, trap_query};
use sark_policy_host::{
    BundleSource, DecisionLogConfig, DecisionLogStatus, PolicyEngine, Request, Runtime,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The collector, a python3 process appending accepted events to a file.
struct Collector {
    child: Option<Child>,
    port: u16,
    events: PathBuf,
    _dir: tempfile::TempDir,
}

impl Collector {
    fn start(fail_first: u32) -> Collector {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events.jsonl");
        let mut c = Collector {
            child: None,
            port: 0,
            events,
            _dir: dir,
        };
        c.spawn(fail_first);
        c
    }

    fn spawn(&mut self, fail_first: u32) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/log_collector.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--events")
            .arg(&self.events)
            .args(["--port", &self.port.to_string()])
            .args(["--fail-first", &fail_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/log_collector.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("collector said {line:?}"));
        self.child = Some(child);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/logs", self.port)
    }

    /// An outage: SIGTERM, and wait for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "the collector rejected uploads");
        }
    }

    /// The outage is over: the same port again.
    fn restart(&mut self) {
        self.spawn(0);
    }

    /// Every event accepted so far, in arrival order.
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.events)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Quick delays, so tests do not wait for the defaults.
fn fast(url: String) -> DecisionLogConfig {
    DecisionLogConfig {
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        ..DecisionLogConfig::http(url)
    }
}

fn engine_logging(config: DecisionLogConfig) -> (Runtime, PolicyEngine) {
    let runtime = builder().decision_log(config).build().unwrap();
    let engine = runtime.engine().unwrap();
    engine.add_policy("authz.rego", AUTHZ).unwrap();
    (runtime, engine)
}

fn req<'a>(user: &'a str, context: &'a str) -> Request<'a> {
    Request {
        user,
        action: "read",
        resource: "doc:1",
        context,
        ..Request::default()
    }
}

fn status(runtime: &Runtime) -> DecisionLogStatus {
    runtime.decision_log_status().unwrap()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["decision_id"].as_str().unwrap().to_owned())
        .collect()
}

const MASK: &str = r#"package system.log
mask contains "/input/context/secret"
mask contains {"op": "upsert", "path": "/input/context/card", "value": "****"} if input.input.context.card
"#;

#[test]
fn events_arrive_in_opa_format_masked_with_their_decision_ids() {
    let collector = Collector::start(0);
    let mut config = fast(collector.url());
    config.labels = vec![("env".into(), "test".into())];
    config.erase = vec!["/input/context/password".into()];
    let (runtime, engine) = engine_logging(config);
    engine.add_policy("mask.rego", MASK).unwrap();
    engine
        .activate_bundle(
            "extra",
            BundleSource::Files(vec![
                (
                    ".manifest".into(),
                    br#"{"revision": "r7", "roots": ["extra"]}"#.to_vec(),
                ),
                (
                    "extra/x.rego".into(),
                    b"package extra\nfine := true".to_vec(),
                ),
            ]),
            None,
        )
        .unwrap();
    let authz = engine.authorizer("data.authz.allow");
    let ctx = r#"{"password":"hunter2","secret":"s","card":"4111","mfa":false}"#;
    let first = authz.decide(&req("alice", ctx)).unwrap();
    let again = authz.decide(&req("alice", ctx)).unwrap();
    let bob = authz.decide(&req("bob", "{}")).unwrap();
    assert!(!first.cached && again.cached);
    let returned: Vec<String> = [&first, &again, &bob]
        .iter()
        .map(|d| d.decision_id.clone().unwrap())
        .collect();
    assert!(runtime.flush_decision_log(Duration::from_secs(10)));
    let events = collector.events();
    assert_eq!(ids(&events), returned);
    let e = &events[0];
    assert_eq!(e["path"], "authz/allow");
    assert_eq!(e["result"], true);
    assert_eq!(events[2]["result"], false);
    assert_eq!(e["input"]["user"], "alice");
    assert_eq!(e["input"]["context"]["mfa"], false);
    let context = e["input"]["context"].as_object().unwrap();
    assert!(!context.contains_key("password") && !context.contains_key("secret"));
    assert_eq!(context["card"], "****");
    let erased: HashSet<&str> = e["erased"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        erased,
        HashSet::from(["/input/context/password", "/input/context/secret"])
    );
    assert_eq!(e["masked"], serde_json::json!(["/input/context/card"]));
    assert_eq!(e["labels"]["env"], "test");
    assert_eq!(e["labels"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(e["labels"]["id"], events[2]["labels"]["id"]);
    assert_eq!(e["bundles"]["extra"]["revision"], "r7");
    let ts = e["timestamp"].as_str().unwrap();
    assert!(ts.len() == 30 && ts.ends_with('Z'), "{ts}");
    assert_eq!(e["cached"], false);
    assert_ne!(e["eval_path"], "cache");
    assert!(e["metrics"]["timer_rego_query_eval_ns"].as_u64().unwrap() > 0);
    assert_eq!(events[1]["cached"], true);
    assert_eq!(events[1]["eval_path"], "cache");
    let s = status(&runtime);
    assert_eq!((s.logged, s.sent, s.dropped()), (3, 3, 0));
    assert!(s.uploads >= 1 && s.last_upload.is_some() && s.last_error.is_none());
    let text = engine.metrics().prometheus();
    assert!(
        text.contains("sark_policy_decision_log_events_sent_total 3\n"),
        "{text}"
    );
    assert!(
        text.contains("sark_policy_decision_log_events_dropped_total{reason=\"buffer_full\"} 0\n")
    );
}

#[test]
fn a_mask_rule_that_answers_garbage_drops_every_event_and_counts_it() {
    let collector = Collector::start(0);
    let (runtime, engine) = engine_logging(fast(collector.url()));
    engine
        .add_policy("mask.rego", "package system.log\nmask := 7")
        .unwrap();
    let authz = engine.authorizer("data.authz.allow");
    for user in ["alice", "bob", "alice"] {
        // The decision stands; only its event goes.
        assert!(
            authz
                .decide(&req(user, "{}"))
                .unwrap()
                .decision_id
                .is_some()
        );
    }
    assert!(runtime.flush_decision_log(Duration::from_secs(10)));
    assert!(collector.events().is_empty());
    let s = engine.metrics().decision_log.unwrap();
    assert_eq!((s.dropped_mask_error, s.logged, s.sent), (3, 0, 0));
}

#[test]
fn a_failing_collector_is_retried_and_every_event_arrives_once() {
    let collector = Collector::start(3);
    let (runtime, engine) = engine_logging(fast(collector.url()));
    let authz = engine.authorizer("data.authz.allow");
    let mut returned = Vec::new();
    for i in 0..20 {
        let user = format!("u{i}");
        returned.push(
            authz
                .decide(&req(&user, "{}"))
                .unwrap()
                .decision_id
                .unwrap(),
        );
    }
    assert!(runtime.flush_decision_log(Duration::from_secs(20)));
    assert_eq!(ids(&collector.events()), returned);
    let s = status(&runtime);
    assert_eq!(s.upload_failures, 3);
    assert!(s.last_error_time.is_some() && s.last_error.is_none());
    assert_eq!((s.sent, s.consecutive_failures), (20, 0));
}

#[test]
fn a_trap_loses_the_buffered_events_counted_and_logging_goes_on() {
    let collector = Collector::start(0);
    let config = DecisionLogConfig {
        // Never on its own during the test: only the flush uploads.
        min_delay: Duration::from_secs(600),
        max_delay: Duration::from_secs(600),
        ..DecisionLogConfig::http(collector.url())
    };
    let (runtime, engine) = engine_logging(config);
    let authz = engine.authorizer("data.authz.allow");
    for user in ["a", "b", "c", "d", "e"] {
        authz.decide(&req(user, "{}")).unwrap();
    }
    // Reading the metrics reads the buffers: five events, then the trap.
    assert_eq!(engine.metrics().decision_log.unwrap().buffered_events, 5);
    assert!(engine.eval_query(&trap_query(), "").is_err());
    assert_eq!(engine.metrics().recycles, 1);
    let after = authz.decide(&req("f", "{}")).unwrap();
    assert!(runtime.flush_decision_log(Duration::from_secs(10)));
    assert_eq!(ids(&collector.events()), vec![after.decision_id.unwrap()]);
    let s = status(&runtime);
    assert_eq!((s.dropped_recycled, s.logged, s.sent), (5, 6, 1));
}

/// One decision every `pace` on each engine until `stop`; the ids returned.
fn decide_until(engine: &PolicyEngine, tag: &str, pace: Duration, stop: Instant) -> Vec<String> {
    let authz = engine.authorizer("data.authz.allow");
    let mut out = Vec::new();
    let mut i = 0;
    while Instant::now() < stop {
        let user = format!("{tag}{}", i % 50);
        let d = authz.decide(&req(&user, "{}")).unwrap();
        out.push(d.decision_id.unwrap());
        i += 1;
        std::thread::sleep(pace);
    }
    out
}

#[test]
fn a_ten_second_outage_loses_nothing_within_the_buffer_and_counts_every_drop_past_it() {
    let mut collector = Collector::start(0);
    let label = |run: &str| vec![("run".to_owned(), run.to_owned())];
    // Room for every event of the outage, and room for about 40.
    let (big_rt, big) = engine_logging(DecisionLogConfig {
        labels: label("big"),
        ..fast(collector.url())
    });
    let (small_rt, small) = engine_logging(DecisionLogConfig {
        labels: label("small"),
        max_buffer_bytes: 12_000,
        ..fast(collector.url())
    });
    let pace = Duration::from_millis(4);
    let started = Instant::now();
    let (big_ids, small_ids) = std::thread::scope(|s| {
        let stop = started + Duration::from_millis(11_500);
        let (big, small) = (&big, &small);
        let a = s.spawn(move || decide_until(big, "b", pace, stop));
        let b = s.spawn(move || decide_until(small, "s", pace, stop));
        std::thread::sleep(Duration::from_millis(500));
        collector.stop();
        std::thread::sleep(Duration::from_secs(10));
        collector.restart();
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(big_rt.flush_decision_log(Duration::from_secs(20)));
    assert!(small_rt.flush_decision_log(Duration::from_secs(20)));
    let events = collector.events();
    let mut by_run: HashMap<String, Vec<String>> = HashMap::new();
    for e in &events {
        by_run
            .entry(e["labels"]["run"].as_str().unwrap().to_owned())
            .or_default()
            .push(e["decision_id"].as_str().unwrap().to_owned());
    }
    let big_got = by_run.remove("big").unwrap_or_default();
    let small_got = by_run.remove("small").unwrap_or_default();
    let unique = |v: &[String]| v.iter().cloned().collect::<HashSet<_>>();
    // Within the buffer: every event once, in order.
    assert!(big_ids.len() > 1000, "{} decisions", big_ids.len());
    assert_eq!(big_got.len(), unique(&big_got).len(), "duplicates");
    assert_eq!(big_got, big_ids);
    let s = status(&big_rt);
    assert!(s.upload_failures >= 3, "{s:?}");
    assert_eq!((s.dropped(), s.sent), (0, big_ids.len() as u64));
    // Past it: the oldest dropped, every drop counted, nothing twice.
    let s = status(&small_rt);
    assert_eq!(small_got.len(), unique(&small_got).len(), "duplicates");
    assert!(unique(&small_got).is_subset(&unique(&small_ids)));
    assert!(s.dropped_buffer_full > 500, "{s:?}");
    assert_eq!(
        s.dropped_buffer_full,
        (small_ids.len() - small_got.len()) as u64,
        "{s:?}"
    );
    assert_eq!(s.dropped(), s.dropped_buffer_full);
}

#[test]
fn the_cli_prints_decision_log_events_as_json_lines() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sark-policy"))
        .arg("decide")
        .arg("-p")
        .arg(examples.join("authz.rego"))
        .arg("-d")
        .arg(examples.join("data.json"))
        .args(["--decision-log", "console"])
        .args(["--decision-log-label", "env=ci"])
        .args(["--decision-log-erase", "/input/context/password"])
        .args(["--decision-log-cached-sample", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = r#"{"user":"alice","action":"read","resource":"doc:1","context":{"password":"x"}}"#;
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{line}\n{line}\n{line}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&Value> = lines.iter().filter(|l| l.get("labels").is_some()).collect();
    let decisions: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("allowed").is_some())
        .collect();
    // Three decisions, each line with its id; the evaluated one and one
    // cached in two logged, under the ids the decision lines carry.
    assert_eq!(decisions.len(), 3);
    assert_eq!(events.len(), 2, "{lines:?}");
    let printed: Vec<&str> = decisions
        .iter()
        .map(|d| d["decision_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        (
            events[0]["decision_id"].as_str(),
            events[1]["decision_id"].as_str()
        ),
        (Some(printed[0]), Some(printed[1]))
    );
    for e in &events {
        assert_eq!(e["labels"]["env"], "ci");
        assert_eq!(e["path"], "authz/allow");
        assert!(e["input"]["context"].get("password").is_none());
    }
    assert_eq!(
        (events[0]["cached"].as_bool(), events[1]["cached"].as_bool()),
        (Some(false), Some(true))
    );
    assert!(
        stderr.contains("decision log (console): 2 logged, 2 sent"),
        "{stderr}"
    );
}
