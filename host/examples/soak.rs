//! Soak: mixed load on one engine for a while, every answer checked against
//! the core evaluated natively (no sandbox, no cache), resident memory
//! sampled as it goes.
//!
//! ```sh
//! cargo run -p sark-policy-host --release --example soak -- 600    # make soak
//! cargo run -p sark-policy-host --release --example soak -- 30     # make test
//! ```
//!
//! Threads decide (hits and misses) and evaluate; between them, policies are
//! added and removed, the data replaced, and instances forced to time out
//! and to trap. Changes take a write lock, so each answer is checked against
//! the one state it was computed in. Exits non-zero on any mismatch or
//! unexpected error, and, for runs of two minutes or more, when resident
//! memory grew more than 5% after the warm-up (the first fifth).

use sark_policy_core::Engine as Native;
use sark_policy_host::{Error, PolicyEngine, Request, Runtime};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const AUTHZ: &str = include_str!("../../examples/authz.rego");
/// A second version of the policy: one more way to be allowed.
const AUTHZ_V2: &str = "\nallow if {\n\tnot denied\n\tinput.context.break_glass == true\n}\n";
const EXTRA: &str = "package extra\nlevel := count(data.users)\n";
/// Never finishes within the deadline; allocates nothing.
const SLOW: &str = "package slow\nn if {\n some i in numbers.range(1, 100000)\n some j in numbers.range(1, 100000)\n i * j == -1\n}";
/// Brackets nested 100,000 deep exhaust the guest's call stack in regorus's
/// parser: a trap (no builtin panics any more).
fn trap_query() -> String {
    format!("x := {}1{}", "[".repeat(100_000), "]".repeat(100_000))
}
const USERS: u64 = 400;
const THREADS: usize = 2;

/// The state both sides hold; bumped on every change.
struct State {
    version: u64,
    native: Native,
}

#[derive(Default)]
struct Counts {
    decisions: AtomicU64,
    hits: AtomicU64,
    evaluations: AtomicU64,
    changes: AtomicU64,
    timeouts: AtomicU64,
    traps: AtomicU64,
    mismatches: AtomicU64,
}

/// xorshift64*: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn data(rng: &mut Rng) -> String {
    let roles = ["admin", "analyst", "operator"];
    let users: Vec<String> = (0..USERS)
        .map(|i| {
            let role = roles[rng.below(3) as usize];
            format!(r#""u{i}": {{"roles": ["{role}"]}}"#)
        })
        .collect();
    let denied = rng.below(USERS);
    format!(
        r#"{{"users": {{{}}}, "roles": {{"analyst": {{"permissions": ["read:dataset:sales"]}},
        "operator": {{"permissions": ["execute:tool:deploy"]}}}},
        "critical": {{"tool:deploy": true}}, "deny_list": ["u{denied}"]}}"#,
        users.join(",")
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::args().nth(1).map_or(Ok(30), |s| s.parse())?;
    let duration = Duration::from_secs(secs);
    let engine = Runtime::builder()
        .shards(2)
        .deadline(Duration::from_millis(200))
        .build()?
        .engine()?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut native = Native::new();
    engine.add_policy("authz.rego", AUTHZ)?;
    native.add_policy("authz.rego", AUTHZ)?;
    engine.add_policy("slow.rego", SLOW)?;
    let first = data(&mut rng);
    engine.replace_data(&first)?;
    native.replace_data(&first)?;
    let state = Arc::new(RwLock::new(State { version: 0, native }));
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let engine = Arc::new(engine);

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (engine, state, counts, stop) =
                (engine.clone(), state.clone(), counts.clone(), stop.clone());
            std::thread::spawn(move || work(t as u64, &engine, &state, &counts, &stop))
        })
        .collect();

    let trap_query = trap_query();
    let started = Instant::now();
    let warm_up = duration / 5;
    let (mut rss_warm, mut next_report) = (0u64, Duration::from_secs(5));
    let mut next_event = Duration::ZERO;
    let mut v2 = false;
    println!("soak: {secs} s, {THREADS} threads, 2 shards, deadline 200 ms");
    while started.elapsed() < duration {
        std::thread::sleep(Duration::from_millis(50));
        // A change every 50 ms, under the write lock.
        {
            let mut s = state.write().map_err(|_| anyhow::anyhow!("poisoned"))?;
            match rng.below(4) {
                0 => {
                    let d = data(&mut rng);
                    engine.replace_data(&d)?;
                    s.native.replace_data(&d)?;
                }
                1 => {
                    v2 = !v2;
                    let src = if v2 {
                        format!("{AUTHZ}{AUTHZ_V2}")
                    } else {
                        AUTHZ.to_owned()
                    };
                    engine.add_policy("authz.rego", &src)?;
                    s.native.add_policy("authz.rego", &src)?;
                }
                2 => {
                    engine.add_policy("extra.rego", EXTRA)?;
                    s.native.add_policy("extra.rego", EXTRA)?;
                }
                _ => {
                    if engine.policies()?.iter().any(|p| p == "extra.rego") {
                        engine.remove_policy("extra.rego")?;
                        s.native.remove_policy("extra.rego")?;
                    }
                }
            }
            s.version += 1;
            counts.changes.fetch_add(1, Ordering::Relaxed);
        }
        // A forced timeout and a forced trap every two seconds.
        if started.elapsed() >= next_event {
            next_event += Duration::from_secs(2);
            match engine.eval_rule("slow/n", "{}") {
                Err(Error::Timeout(_)) => counts.timeouts.fetch_add(1, Ordering::Relaxed),
                other => anyhow::bail!("slow/n: expected a timeout, got {other:?}"),
            };
            match engine.eval_query(&trap_query, "") {
                Err(Error::Trap(_)) => counts.traps.fetch_add(1, Ordering::Relaxed),
                other => anyhow::bail!("the trap query: expected a trap, got {other:?}"),
            };
        }
        let t = started.elapsed();
        if t >= warm_up && rss_warm == 0 {
            rss_warm = rss_kib();
        }
        if t >= next_report {
            next_report += Duration::from_secs(5);
            report(t, rss_kib(), &counts);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
    }
    let rss_last = rss_kib();
    report(started.elapsed(), rss_last, &counts);
    let m = engine.metrics();
    let growth = (rss_last as f64 / rss_warm.max(1) as f64 - 1.0) * 100.0;
    println!(
        "soak: rss after warm-up {} KiB, at end {} KiB, growth {growth:.1}%; recycles {}, timeouts {}",
        rss_warm, rss_last, m.recycles, m.timeouts
    );
    let mismatches = counts.mismatches.load(Ordering::Relaxed);
    anyhow::ensure!(
        mismatches == 0,
        "{mismatches} answers differed from the core"
    );
    anyhow::ensure!(
        counts.decisions.load(Ordering::Relaxed) > 0 && counts.timeouts.load(Ordering::Relaxed) > 0,
        "the soak did not run"
    );
    if secs >= 120 {
        anyhow::ensure!(
            growth <= 5.0,
            "resident memory grew {growth:.1}% after warm-up"
        );
    }
    Ok(())
}

fn report(t: Duration, rss: u64, c: &Counts) {
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "t={:>4}s rss={:>7} KiB decisions={} (hits {}) evaluations={} changes={} timeouts={} traps={} mismatches={}",
        t.as_secs(),
        rss,
        n(&c.decisions),
        n(&c.hits),
        n(&c.evaluations),
        n(&c.changes),
        n(&c.timeouts),
        n(&c.traps),
        n(&c.mismatches)
    );
}

/// One worker: decides and evaluates until told to stop, each answer
/// checked against its own copy of the native engine at the same version.
fn work(
    seed: u64,
    engine: &PolicyEngine,
    state: &RwLock<State>,
    counts: &Counts,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let mut rng = Rng(0x2545_f491 + seed * 7919);
    let authz = engine.authorizer("data.authz.allow");
    let (mut mirror, mut version) = (Native::new(), u64::MAX);
    let actions = [("read", "dataset:sales"), ("execute", "tool:deploy")];
    while !stop.load(Ordering::Relaxed) {
        let s = state.read().map_err(|_| anyhow::anyhow!("poisoned"))?;
        if s.version != version {
            mirror = s.native.clone();
            version = s.version;
        }
        let user = format!("u{}", rng.below(USERS));
        let (action, resource) = actions[rng.below(2) as usize];
        let context = match rng.below(3) {
            0 => "{}",
            1 => r#"{"mfa":true}"#,
            _ => r#"{"break_glass":true}"#,
        };
        let input = format!(
            r#"{{"user":"{user}","action":"{action}","resource":"{resource}","context":{context}}}"#
        );
        let expected = mirror.eval_rule("data.authz.allow", &input)?;
        let got = if rng.below(5) == 0 {
            counts.evaluations.fetch_add(1, Ordering::Relaxed);
            engine.eval_rule("data.authz.allow", &input)
        } else {
            let req = Request {
                user: &user,
                action,
                resource,
                context,
                ..Request::default()
            };
            authz.decide(&req).map(|d| {
                counts.decisions.fetch_add(1, Ordering::Relaxed);
                if d.cached {
                    counts.hits.fetch_add(1, Ordering::Relaxed);
                }
                d.value
            })
        };
        drop(s);
        match got {
            Ok(v) if v == expected => {}
            // A forced timeout on the shard this call needed is not a
            // mismatch: the call was refused, typed, and nothing changed.
            Err(Error::Timeout(_)) => {}
            other => {
                counts.mismatches.fetch_add(1, Ordering::Relaxed);
                eprintln!("mismatch for {input}: got {other:?}, expected {expected:?}");
            }
        }
    }
    Ok(())
}
