//! What decision logging costs and ships: cached decisions with and
//! without logging in one run (blocks of calls alternated between the two
//! engines, median of the blocks' per-call times), then how many events a
//! second the host ships to a collector and how many gzipped bytes an
//! event takes. The collector here is a minimal HTTP sink on loopback
//! that reads and discards uploads, so the host's side is what is timed
//! (tests/log_collector.py, which decompresses and validates every event
//! in Python, is far slower than the host). First the same cached
//! decisions natively in the core, to separate the guest's work from the
//! component boundary. `SARK_BENCH_QUICK=1`: a short run.
#![allow(clippy::unwrap_used, missing_docs)]

use sark_policy_host::{DecisionLogConfig, PolicyEngine, Request, Runtime};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const POLICY: &str = r#"package authz
default allow := false
allow if input.user == "alice"
allow if data.admins[input.user]
allow if input.context.mfa == true
"#;

/// Bytes and uploads received by the sink, and its gate: closed, it
/// holds uploads unanswered.
#[derive(Default)]
struct Received {
    bytes: AtomicU64,
    uploads: AtomicU64,
    closed: Mutex<bool>,
    opened: Condvar,
}

impl Received {
    fn set_closed(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }

    fn pass(&self) {
        let mut closed = self.closed.lock().unwrap();
        while *closed {
            closed = self.opened.wait(closed).unwrap();
        }
    }
}

/// An HTTP/1.1 server that answers every POST 200 and counts its body.
fn sink() -> (String, Arc<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/logs", listener.local_addr().unwrap());
    let received = Arc::new(Received::default());
    let r = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let r = r.clone();
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let mut input = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if input.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if input.read_exact(&mut body).is_err() {
                        return;
                    }
                    r.pass();
                    r.bytes.fetch_add(length as u64, Ordering::Relaxed);
                    r.uploads.fetch_add(1, Ordering::Relaxed);
                    if out
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, received)
}

fn engine(runtime: &Runtime) -> PolicyEngine {
    let engine = runtime.engine().unwrap();
    engine.add_policy("authz.rego", POLICY).unwrap();
    engine.add_data(r#"{"admins": {"root": true}}"#).unwrap();
    engine
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median per-call time (ns) of cached decisions, for each engine, over
/// `rounds` alternated blocks of `block` calls.
fn cached(engines: &[&PolicyEngine], rounds: usize, block: usize) -> Vec<f64> {
    let req = Request {
        user: "alice",
        action: "read",
        resource: "doc:1",
        context: r#"{"ip":"10.0.0.1"}"#,
        ..Request::default()
    };
    let authz: Vec<_> = engines
        .iter()
        .map(|e| e.authorizer("data.authz.allow"))
        .collect();
    for a in &authz {
        for _ in 0..block {
            std::hint::black_box(a.decide(&req).unwrap());
        }
    }
    let mut times = vec![Vec::new(); authz.len()];
    for _ in 0..rounds {
        for (a, t) in authz.iter().zip(&mut times) {
            let started = Instant::now();
            for _ in 0..block {
                std::hint::black_box(a.decide(&req).unwrap());
            }
            t.push(started.elapsed().as_nanos() as f64 / block as f64);
        }
    }
    times.into_iter().map(median).collect()
}

/// The same cached decisions natively, in the core, without the component:
/// the guest side of the cost (median ns per call of `decide` and of
/// `decide_logged` with every cached decision logged).
fn native(rounds: usize, block: usize) -> (f64, f64) {
    use sark_policy_core::authorizer::{self, Request as CoreRequest};
    use sark_policy_core::decision_log::{DecisionLog, LogConfig};
    let mut engine = sark_policy_core::Engine::new();
    engine.add_policy("authz.rego", POLICY).unwrap();
    let mut cache = sark_policy_core::DecisionCache::new(1000).unwrap();
    let mut log = DecisionLog::new(LogConfig {
        labels: vec![
            ("id".into(), "3f1e0c52-8a8e-4a43-9d55-6b2f0c1e7a10".into()),
            ("version".into(), "0.1.0".into()),
        ],
        id_seed: [1, 2],
        ..LogConfig::default()
    })
    .unwrap();
    let req = CoreRequest {
        user: "alice",
        action: "read",
        resource: "doc:1",
        context: r#"{"ip":"10.0.0.1"}"#,
    };
    let rule = "data.authz.allow";
    let (mut plain, mut logged) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let started = Instant::now();
        for _ in 0..block {
            let d = authorizer::decide(&mut engine, &mut cache, rule, &req, 1, u64::MAX);
            std::hint::black_box(d.unwrap());
        }
        let p = started.elapsed().as_nanos() as f64 / block as f64;
        let started = Instant::now();
        for i in 0..block {
            let d = authorizer::decide_logged(
                &mut engine,
                &mut cache,
                &mut log,
                rule,
                &req,
                1,
                u64::MAX,
                i as u64,
            );
            std::hint::black_box(d.unwrap());
        }
        let l = started.elapsed().as_nanos() as f64 / block as f64;
        // Keep the buffer from filling (and dropping) during the run.
        while log
            .take_batch(1 << 20, sark_policy_core::decision_log::Encoding::JsonLines)
            .is_some()
        {}
        if round > 0 {
            plain.push(p);
            logged.push(l);
        }
    }
    (median(plain), median(logged))
}

/// Where an event's time goes natively: building OPA's JSON tree
/// (`DecisionEvent::to_json`), printing it through `Display` (as the
/// buffer does) or `serde_json::to_vec`, and dropping it.
fn serialization(n: usize) {
    use sark_policy_core::decision_log::{DecisionEvent, EvalPath};
    let event = DecisionEvent {
        decision_id: "3f1e0c52-8a8e-4a43-9d55-6b2f0c1e7a10".into(),
        path: "authz/allow".into(),
        input: serde_json::json!({"user": "alice", "action": "read", "resource": "doc:1",
                                  "context": {"ip": "10.0.0.1"}}),
        result: Some(serde_json::Value::Bool(true)),
        error: None,
        timestamp_ns: 1_796_000_000_123_456_789,
        eval_ns: 0,
        eval_path: EvalPath::Cache,
    };
    let labels = vec![
        (
            "id".to_owned(),
            "3f1e0c52-8a8e-4a43-9d55-6b2f0c1e7a10".to_owned(),
        ),
        ("version".to_owned(), "0.1.0".to_owned()),
    ];
    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..n {
            f();
        }
        started.elapsed().as_nanos() as f64 / n as f64
    };
    let json = event.to_json(&labels, &[]);
    let build = time(&mut || drop(std::hint::black_box(event.to_json(&labels, &[]))));
    let display = time(&mut || drop(std::hint::black_box(json.to_string())));
    let to_vec = time(&mut || {
        let mut v = Vec::with_capacity(512);
        serde_json::to_writer(&mut v, &json).unwrap();
        drop(std::hint::black_box(v))
    });
    let ts = time(&mut || {
        drop(std::hint::black_box(
            sark_policy_core::decision_log::rfc3339_nanos(std::hint::black_box(
                1_796_000_000_123_456_789,
            )),
        ))
    });
    println!("native rfc3339_nanos {ts:.0} ns");
    println!(
        "native event ({} bytes): to_json + drop {build:.0} ns, Display {display:.0} ns, to_writer into 512 bytes {to_vec:.0} ns",
        json.to_string().len()
    );
}

fn main() {
    let quick = std::env::var_os("SARK_BENCH_QUICK").is_some();
    let (rounds, block, shipped) = if quick {
        (5, 2_000, 20_000)
    } else {
        (31, 20_000, 200_000)
    };
    // 0. The guest side alone, natively (`SARK_BENCH_NATIVE_ONLY=1`: only
    // this, e.g. under perf).
    let (p, l) = native(rounds, block);
    println!(
        "native core: decide {p:.0} ns, decide_logged {l:.0} ns ({:.2}x)",
        l / p
    );
    serialization(block);
    if std::env::var_os("SARK_BENCH_NATIVE_ONLY").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let builder = || Runtime::builder().artifact_dir(Some(dir.path().to_path_buf()));
    let (url, received) = sink();

    // 1. The decide path.
    let plain_rt = builder().build().unwrap();
    let plain = engine(&plain_rt);
    let logging = |sample: u32| {
        builder()
            .decision_log(DecisionLogConfig {
                cached_sample: sample,
                ..DecisionLogConfig::http(url.clone())
            })
            .build()
            .unwrap()
    };
    let (every_rt, none_rt, some_rt) = (logging(1), logging(0), logging(100));
    let (every, none, some) = (engine(&every_rt), engine(&none_rt), engine(&some_rt));
    let t = cached(&[&plain, &every, &none, &some], rounds, block);
    println!("cached decide, median of {rounds} alternated blocks of {block} calls:");
    println!("  no decision log              {:7.0} ns", t[0]);
    for (name, v) in [
        ("logging, cached_sample=1  ", t[1]),
        ("logging, cached_sample=0  ", t[2]),
        ("logging, cached_sample=100", t[3]),
    ] {
        println!("  {name}   {v:7.0} ns  ({:.2}x)", v / t[0]);
    }
    for rt in [&every_rt, &none_rt, &some_rt] {
        rt.flush_decision_log(Duration::from_secs(30));
    }
    drop((every, none, some, every_rt, none_rt, some_rt));

    // 2. Shipping: buffer `shipped` events of varied requests while the
    // collector holds the first upload, then time how long the uploader
    // takes to send them all once it answers.
    received.set_closed(true);
    let before = (
        received.bytes.load(Ordering::Relaxed),
        received.uploads.load(Ordering::Relaxed),
    );
    let rt = builder()
        .decision_log(DecisionLogConfig {
            max_buffer_bytes: 1 << 30,
            min_delay: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
            timeout: Duration::from_secs(3600),
            ..DecisionLogConfig::http(url.clone())
        })
        .build()
        .unwrap();
    let e = engine(&rt);
    let authz = e.authorizer("data.authz.allow");
    let started = Instant::now();
    for i in 0..shipped {
        let user = format!("user{}", i % 1000);
        let resource = format!("doc:{}", i % 37);
        let context = format!(
            r#"{{"ip":"10.0.{}.{}","mfa":{}}}"#,
            i % 7,
            i % 250,
            i % 3 == 0
        );
        authz
            .decide(&Request {
                user: &user,
                action: "read",
                resource: &resource,
                context: &context,
                ..Request::default()
            })
            .unwrap();
    }
    let decided = started.elapsed();
    let buffered = rt.decision_log_status().unwrap();
    let started = Instant::now();
    received.set_closed(false);
    assert!(rt.flush_decision_log(Duration::from_secs(600)));
    let took = started.elapsed();
    let status = rt.decision_log_status().unwrap();
    let bytes = received.bytes.load(Ordering::Relaxed) - before.0;
    let uploads = received.uploads.load(Ordering::Relaxed) - before.1;
    println!(
        "shipping: {} events ({} bytes of JSON, {:.0} per event) decided in {:.2} s, uploaded in {:.2} s = {:.0} events/s, {uploads} uploads",
        status.sent,
        buffered.buffered_bytes,
        buffered.buffered_bytes as f64 / status.sent.max(1) as f64,
        decided.as_secs_f64(),
        took.as_secs_f64(),
        status.sent as f64 / took.as_secs_f64()
    );
    println!(
        "gzip: {bytes} bytes for {} events = {:.1} bytes per event ({:.1}x smaller than JSON)",
        status.sent,
        bytes as f64 / status.sent.max(1) as f64,
        buffered.buffered_bytes as f64 / bytes.max(1) as f64
    );
    assert_eq!(status.sent, shipped as u64);
    assert_eq!(status.dropped(), 0);
}
