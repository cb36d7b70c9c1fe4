//! Native cost of the decision log on the filter's decide path (no Envoy,
//! no host calls): a cache hit and a miss without logging, logging every
//! decision, and logging one cached decision in 100 (the bearer token
//! erased), in the same run, and the bytes an event takes as JSON and
//! after gzip.
//!
//!     cargo run -p sark-policy-filter --release --example log_timing
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sark_policy_filter::authz::Authz;
use sark_policy_filter::config::Config;
use sark_policy_filter::input::RequestParts;
use std::hint::black_box;
use std::time::Instant;

const TOKEN: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiYWxpY2UiLCAicm9sZSI6ICJyZWFkZXIifQ.TUEuQilWZj-vozXg26dCv_D-pvrIsOg7743oGR9CmZY";

fn parts(path: &str) -> RequestParts {
    let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
    RequestParts {
        headers: vec![
            h(":authority", "127.0.0.1:10000"),
            h(":path", path),
            h(":method", "GET"),
            h(":scheme", "http"),
            h("authorization", &format!("Bearer {TOKEN}")),
            h("x-forwarded-proto", "http"),
            h("x-request-id", "5f8a3c1e-2b7d-4e9f-a6c0-1d2e3f4a5b6c"),
        ],
        source: Some("127.0.0.1:40000".into()),
        destination: Some("127.0.0.1:10000".into()),
        protocol: Some("HTTP/1.1".into()),
        body: None,
    }
}

/// `cached_sample`: `None` for no log.
fn authz(cached_sample: Option<u32>) -> Authz {
    let rego = include_str!("../../../examples/envoy-authz.rego");
    let mut config = serde_json::json!({
        "policies": [{"name": "envoy-authz.rego", "source": rego}],
        "data": {"jwt": {"secret": "sark-test-secret"}},
        "cache": {"capacity": 100000, "ttl_ms": 60000},
        "cache_key": {"headers": ["authorization"]},
    });
    if let Some(sample) = cached_sample {
        config["decision_log"] = serde_json::json!({
            "cluster": "logs",
            "cached_sample": sample,
            "erase": ["/input/attributes/request/http/headers/authorization"],
            "max_buffer_bytes": 1 << 30,
            "max_event_bytes": 1 << 20,
        });
    }
    Authz::with_seed(
        Config::parse(config.to_string().as_bytes()).unwrap(),
        [1, 2],
    )
    .unwrap()
}

/// Microseconds per decision (decided and recorded, as the filter does).
fn per_call(a: &mut Authz, requests: &[RequestParts], now: u64) -> f64 {
    let start = Instant::now();
    for r in requests {
        let mut out = a.decide(black_box(r), now);
        black_box(a.record(r, &mut out, 1));
    }
    start.elapsed().as_secs_f64() * 1e6 / requests.len() as f64
}

fn main() {
    let n = 20_000;
    let hits: Vec<RequestParts> = (0..n).map(|_| parts("/api/items/1")).collect();
    let misses: Vec<RequestParts> = (0..n).map(|i| parts(&format!("/api/items/x{i}"))).collect();
    let mut all = [authz(None), authz(Some(1)), authz(Some(100))];
    for a in &mut all {
        per_call(a, &hits[..1], 0);
    }
    // Interleaved rounds, the best of each: the machine is shared.
    let (mut hit, mut miss) = ([f64::MAX; 3], [f64::MAX; 3]);
    for round in 0..5 {
        let chunk = &misses[round * 4000..(round + 1) * 4000];
        for (i, a) in all.iter_mut().enumerate() {
            hit[i] = hit[i].min(per_call(a, &hits, 1));
            miss[i] = miss[i].min(per_call(a, chunk, 1));
        }
    }
    let on = &mut all[1];
    let stats = on.log_stats().unwrap();
    let (mut events, mut json, mut gzip) = (0u64, 0usize, 0usize);
    while let Some(b) = on.take_log_batch(32_768) {
        events += u64::from(b.events);
        json += b.json_bytes;
        gzip += b.body.len();
    }
    println!("             no log      every decision     cached_sample 100");
    for (name, t) in [("cached hit", hit), ("miss", miss)] {
        println!(
            "{name:<12} {:7.2} us   {:7.2} us {:5.2}x   {:7.2} us {:5.2}x",
            t[0],
            t[1],
            t[1] / t[0],
            t[2],
            t[2] / t[0]
        );
    }
    println!(
        "{} events ({} logged, {} dropped): {:.0} B of JSON, {:.0} B gzipped per event in 32 KiB batches",
        events,
        stats.logged,
        stats.dropped_buffer_full + stats.dropped_mask_error,
        json as f64 / events as f64,
        gzip as f64 / events as f64
    );
}
