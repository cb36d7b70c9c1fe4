//! Decisions per second with one thread over one shard against N threads
//! over N shards, on an all-miss load (every user new) and a mixed one
//! (4,000 users, each asked about ten times: 90% hits), with the example
//! policy and data.
//!
//! ```sh
//! cargo run -p sark-policy-host --release --example decide_scaling -- [REQUESTS] [ROUNDS] [THREADS]
//! # One configuration (one, affine, shared or separate) on one load, for profiling:
//! cargo run -p sark-policy-host --release --example decide_scaling -- 40000 20 2 affine mixed
//! # The same loads as JSONL, for `sark-policy decide`:
//! cargo run -p sark-policy-host --release --example decide_scaling -- jsonl miss 40000 > miss.jsonl
//! cargo run -p sark-policy-host --release --example decide_scaling -- jsonl mixed 40000 > mixed.jsonl
//! ```
//!
//! `affine` threads each own the shards `s` with `s % N` equal to their
//! index and decide only those requests (what `decide --threads` does);
//! `shared` threads each take a contiguous part of the requests, whatever
//! their shards, and meet on a shard's lock when they pick the same one;
//! `separate` threads each have an engine of their own, made from a runtime
//! of their own, and share nothing but the process: the ceiling for
//! `affine`, which shares one engine. "cpu us/dec" is the CPU time the
//! threads used per decision: when it grows with the threads, they slow
//! each other down. (On this 2-vCPU virtual machine it does even for
//! `separate`, and for two processes: one busy core runs faster than two.)
//! Every round gets fresh engines, so both loads start with empty caches.
//! The configurations take turns round by round, and each column is the
//! median over the rounds; the ratio is the median of each round's ratio
//! to the single thread of the same round (on a shared machine, rounds
//! next to each other in time see the same neighbours).

use sark_policy_host::{Authorizer, PolicyEngine, Request, Runtime, Sensitivity};
use std::time::Instant;

const ACTIONS: [(&str, &str); 4] = [
    ("read", "dataset:sales"),
    ("execute", "tool:deploy"),
    ("execute", "tool:calculator"),
    ("read", "dataset:ops"),
];
const SENSITIVITIES: [Sensitivity; 4] = [
    Sensitivity::Critical,
    Sensitivity::Confidential,
    Sensitivity::Internal,
    Sensitivity::Public,
];

/// Users of request `i` (`n` requests) in `load`.
fn user_of(load: &str, i: usize, n: usize, rng: &mut u64) -> usize {
    match load {
        "miss" => i,
        _ => {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            (*rng % (n as u64 / 10).max(1)) as usize
        }
    }
}

struct Load {
    users: Vec<String>,
    picks: Vec<usize>,
}

impl Load {
    fn new(load: &str, n: usize) -> Load {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let picks: Vec<usize> = (0..n).map(|i| user_of(load, i, n, &mut rng)).collect();
        let users = (0..=picks.iter().copied().max().unwrap_or(0))
            .map(|u| format!("user{u}"))
            .collect();
        Load { users, picks }
    }

    fn request(&self, i: usize) -> Request<'_> {
        let u = self.picks[i];
        let (action, resource) = ACTIONS[u % 4];
        Request {
            user: &self.users[u],
            action,
            resource,
            context: if u.is_multiple_of(3) {
                r#"{"mfa":true}"#
            } else {
                r#"{"mfa":false}"#
            },
            sensitivity: Some(SENSITIVITIES[u % 4]),
            ttl: None,
        }
    }

    fn len(&self) -> usize {
        self.picks.len()
    }
}

fn engine(shards: usize) -> anyhow::Result<PolicyEngine> {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let engine = Runtime::builder().shards(shards).build()?.engine()?;
    engine.add_policy(
        "authz.rego",
        &std::fs::read_to_string(examples.join("authz.rego"))?,
    )?;
    engine.add_data(&std::fs::read_to_string(examples.join("data.json"))?)?;
    Ok(engine)
}

/// Thread `t` of `threads` decides, in order, the requests for its shards.
fn affine(authz: &Authorizer, load: &Load, t: usize, threads: usize) -> anyhow::Result<()> {
    for i in 0..load.len() {
        let req = load.request(i);
        if authz.shard(&req) % threads == t {
            authz.decide(&req)?;
        }
    }
    Ok(())
}

/// Thread `t` of `threads` decides its contiguous part of the requests.
fn shared(authz: &Authorizer, load: &Load, t: usize, threads: usize) -> anyhow::Result<()> {
    let part = load.len().div_ceil(threads);
    for i in (t * part)..((t + 1) * part).min(load.len()) {
        authz.decide(&load.request(i))?;
    }
    Ok(())
}

/// How threads share out the requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Affine,
    Shared,
    Separate,
}

impl Mode {
    fn work(self, authz: &Authorizer, load: &Load, t: usize, threads: usize) -> anyhow::Result<()> {
        match self {
            Mode::Affine => affine(authz, load, t, threads),
            Mode::Shared => shared(authz, load, t, threads),
            Mode::Separate => separate(authz, load, t, threads),
        }
    }
}

/// This thread's time on a CPU and waiting for one, in nanoseconds
/// (Linux's schedstat; zeros elsewhere).
fn schedstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

/// One round's decisions per second, and per decision, the CPU time its
/// threads used and the time they were ready but waited for a CPU (other
/// processes on the machine), in microseconds.
#[derive(Clone, Copy, Default)]
struct Round {
    rate: f64,
    cpu_us: f64,
    queued_us: f64,
}

/// Thread `t` of `threads` decides, in order, the requests of the users
/// `u` with `u % threads == t`, each thread on its own engine (made from its
/// own runtime): nothing shared but the process.
fn separate(authz: &Authorizer, load: &Load, t: usize, threads: usize) -> anyhow::Result<()> {
    for i in 0..load.len() {
        if load.picks[i] % threads == t {
            authz.decide(&load.request(i))?;
        }
    }
    Ok(())
}

/// `threads` threads over `threads` shards of a fresh engine, or for
/// `separate`, each over a fresh engine of one shard.
fn round(load: &Load, threads: usize, mode: Mode) -> anyhow::Result<Round> {
    let engines = if mode == Mode::Separate {
        (0..threads)
            .map(|_| engine(1))
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        vec![engine(threads)?]
    };
    let authzs: Vec<Authorizer> = engines
        .iter()
        .map(|e| e.authorizer("data.authz.allow"))
        .collect();
    let started = Instant::now();
    let times = std::thread::scope(|s| {
        let running: Vec<_> = (0..threads)
            .map(|t| {
                let authz = &authzs[t % authzs.len()];
                s.spawn(move || {
                    let (cpu, queued) = schedstat();
                    mode.work(authz, load, t, threads)?;
                    let (cpu2, queued2) = schedstat();
                    anyhow::Ok((cpu2 - cpu, queued2 - queued))
                })
            })
            .collect();
        running
            .into_iter()
            .map(|r| r.join().expect("worker panicked"))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let took = started.elapsed().as_secs_f64();
    let total: u64 = engines.iter().map(|e| e.metrics().total_requests).sum();
    anyhow::ensure!(total == load.len() as u64, "{total} decisions");
    let n = load.len() as f64;
    let sum = |f: fn(&(u64, u64)) -> u64| times.iter().map(f).sum::<u64>() as f64 / 1e3 / n;
    Ok(Round {
        rate: n / took,
        cpu_us: sum(|t| t.0),
        queued_us: sum(|t| t.1),
    })
}

fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Prints `load` as JSONL request lines for `sark-policy decide`.
fn jsonl(load: &str, n: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let load = Load::new(load, n);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..load.len() {
        let r = load.request(i);
        let sensitivity = r.sensitivity.map(|s| format!("{s:?}").to_lowercase());
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "user": r.user, "action": r.action, "resource": r.resource,
                "context": serde_json::from_str::<serde_json::Value>(r.context)?,
                "sensitivity": sensitivity,
            })
        )?;
    }
    Ok(out.flush()?)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("jsonl") {
        let load = args.get(1).map_or("miss", String::as_str);
        anyhow::ensure!(matches!(load, "miss" | "mixed"), "load: miss or mixed");
        return jsonl(load, args.get(2).map_or(Ok(40_000), |s| s.parse())?);
    }
    let n: usize = args.first().map_or(Ok(40_000), |s| s.parse())?;
    let rounds: usize = args.get(1).map_or(Ok(5), |s| s.parse())?;
    let threads: usize = args.get(2).map_or(Ok(2), |s| s.parse())?;
    // `one`, `affine` or `shared` with a load: that configuration only, for
    // profiling.
    if let Some(only) = args.get(3) {
        let load = Load::new(args.get(4).map_or("mixed", String::as_str), n);
        let (threads, mode) = match only.as_str() {
            "one" => (1, Mode::Affine),
            "affine" => (threads, Mode::Affine),
            "shared" => (threads, Mode::Shared),
            "separate" => (threads, Mode::Separate),
            other => {
                anyhow::bail!("unknown configuration {other:?} (one, affine, shared, separate)")
            }
        };
        for _ in 0..rounds {
            let r = round(&load, threads, mode)?;
            println!("{:.0}/s, {:.2} cpu us/decision", r.rate, r.cpu_us);
        }
        return Ok(());
    }
    println!(
        "{n} requests per round, medians of {rounds} rounds, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<6} {:<34} {:>12} {:>7} {:>10} {:>10}",
        "load", "threads / shards", "decisions/s", "ratio", "cpu us/dec", "queued us"
    );
    let configs: [(String, usize, Mode); 4] = [
        ("1 thread / 1 shard".into(), 1, Mode::Affine),
        (
            format!("{threads} threads / {threads} shards, affine"),
            threads,
            Mode::Affine,
        ),
        (
            format!("{threads} threads / {threads} shards, shared"),
            threads,
            Mode::Shared,
        ),
        (
            format!("{threads} threads / {threads} engines"),
            threads,
            Mode::Separate,
        ),
    ];
    for name in ["miss", "mixed"] {
        let load = Load::new(name, n);
        let mut rounds_of: [Vec<Round>; 4] = Default::default();
        for _ in 0..rounds {
            for ((_, threads, mode), all) in configs.iter().zip(&mut rounds_of) {
                all.push(round(&load, *threads, *mode)?);
            }
        }
        for ((label, _, _), all) in configs.iter().zip(&rounds_of) {
            let ratios: Vec<f64> = all
                .iter()
                .zip(&rounds_of[0])
                .map(|(r, one)| r.rate / one.rate)
                .collect();
            println!(
                "{name:<6} {label:<34} {:>12.0} {:>6.2}x {:>10.2} {:>10.2}",
                median(all.iter().map(|r| r.rate)),
                median(ratios),
                median(all.iter().map(|r| r.cpu_us)),
                median(all.iter().map(|r| r.queued_us)),
            );
        }
    }
    Ok(())
}
