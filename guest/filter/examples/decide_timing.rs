//! Native timing of the filter's per-request work (no Envoy, no host
//! calls): a cache hit, a miss, and the parts of a miss, with the example
//! JWT policy and the bench's request.
//!
//!     cargo run -p sark-policy-filter --release --example decide_timing
//!
//! It also builds for `wasm32-wasip1`, to time the same work in a Wasm
//! runtime: a WASI runner that stubs the proxy-wasm imports (`env`), which
//! this never calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sark_policy_filter::authz::Authz;
use sark_policy_filter::config::Config;
use sark_policy_filter::input::{self, RequestParts};
use std::hint::black_box;
use std::time::Instant;

/// HS256 token for `{"sub": "alice", "role": "reader"}` signed with
/// `sark-test-secret` (what tests/envoy's `jwt()` makes).
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

fn per_call(n: u32, mut f: impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    let rego = include_str!("../../../examples/envoy-authz.rego");
    let config = serde_json::json!({
        "policies": [{"name": "envoy-authz.rego", "source": rego}],
        "data": {"jwt": {"secret": "sark-test-secret"}},
        "cache": {"capacity": 1000, "ttl_ms": 60000},
        "cache_key": {"headers": ["authorization"]},
    });
    let mut authz = Authz::new(Config::parse(config.to_string().as_bytes()).unwrap()).unwrap();
    let first = authz.decide(&parts("/api/items/1"), 0);
    assert!(
        first.decision.unwrap().allowed,
        "the bench request is allowed"
    );

    let n = 20_000;
    let hit = parts("/api/items/1");
    let t_hit = per_call(n, |_| {
        black_box(authz.decide(black_box(&hit), 1));
    });
    let t_lookup = per_call(n, |_| {
        black_box(authz.lookup(black_box(&hit), 1).is_ok());
    });
    let misses: Vec<RequestParts> = (0..n).map(|i| parts(&format!("/api/items/x{i}"))).collect();
    let n_miss = 4_000;
    let t_miss = per_call(n_miss, |i| {
        let out = authz.decide(black_box(&misses[i as usize]), 2);
        assert!(!out.cached);
        black_box(out);
    });
    let builder = input::Builder::default();
    let limits = sark_policy_core::Limits::DEFAULT;
    let t_input = per_call(n, |_| {
        black_box(builder.build(black_box(&hit), &limits).unwrap());
    });
    let t_eval = per_call(n_miss, |i| {
        black_box(
            authz
                .evaluate(black_box(&misses[(i + n_miss) as usize]))
                .unwrap(),
        );
    });
    let context = format!(r#"{{"authorization":"Bearer {TOKEN}"}}"#);
    let t_hash = per_call(n, |_| {
        black_box(sark_policy_core::keys::short_hash(black_box(
            context.as_bytes(),
        )));
    });
    println!("hit (decide)            {t_hit:8.2} us");
    println!("hit (lookup only)       {t_lookup:8.2} us");
    println!("  SHA-256 of the context {t_hash:8.2} us");
    println!("miss (decide)           {t_miss:8.2} us");
    println!("  input document        {t_input:8.2} us");
    println!("  evaluate (no cache)   {t_eval:8.2} us");
}
