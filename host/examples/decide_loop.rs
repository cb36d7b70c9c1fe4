//! A cached decide in a tight loop, for profiling the host's per-call
//! overhead with `perf` (criterion's harness adds its own frames and
//! timing). Prints the best of several rounds in nanoseconds per call.
//!
//! ```sh
//! cargo run -p sark-policy-host --release --example decide_loop -- empty 1000000
//! perf record -g target/release/examples/decide_loop context 3000000
//! ```
//!
//! The case is `empty` (no context) or `context` (`{"mfa":true}`), the
//! requests of the criterion bench `authz/decide-hit`, or `revision`: the
//! floor, one component call without arguments through the same pool.

use sark_policy_host::{Request, Runtime};
use std::hint::black_box;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "empty".into());
    let n: u32 = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let rounds: u32 = args.next().map_or(Ok(5), |s| s.parse())?;

    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let engine = Runtime::builder().build()?.engine()?;
    engine.add_policy(
        "authz.rego",
        &std::fs::read_to_string(examples.join("authz.rego"))?,
    )?;
    engine.add_data(&std::fs::read_to_string(examples.join("data.json"))?)?;
    let authz = engine.authorizer("data.authz.allow");
    let req = match case.as_str() {
        "empty" | "revision" => Request {
            user: "bob",
            action: "read",
            resource: "dataset:sales",
            ..Request::default()
        },
        "context" => Request {
            user: "carol",
            action: "execute",
            resource: "tool:deploy",
            context: r#"{"mfa":true}"#,
            ..Request::default()
        },
        other => anyhow::bail!("unknown case {other:?} (empty, context, revision)"),
    };
    authz.decide(&req)?;
    anyhow::ensure!(authz.decide(&req)?.cached, "the second decide must hit");

    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let started = Instant::now();
        if case == "revision" {
            for _ in 0..n {
                black_box(engine.revision()?);
            }
        } else {
            for _ in 0..n {
                black_box(authz.decide(black_box(&req))?);
            }
        }
        best = best.min(started.elapsed().as_nanos() as f64 / f64::from(n));
    }
    println!("{case}: best of {rounds} rounds of {n}: {best:.0} ns per call");
    Ok(())
}
