//! `decide`: JSONL requests in, JSONL decisions out, metrics on stderr.

use crate::Common;
use clap::Args;
use sark_policy_host::{Authorizer, Metrics, PolicyEngine, Provenance, Request, Sensitivity};
use serde::Deserialize;
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct DecideArgs {
    #[command(flatten)]
    common: Common,
    /// The rule to decide.
    #[arg(long, default_value = "data.authz.allow")]
    rule: String,
    /// Instances in the pool (decisions are sharded over them).
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Cache entries per instance.
    #[arg(long, default_value_t = 10_000)]
    capacity: u32,
    /// Print the running metrics to stderr every N requests (0: only at the end).
    #[arg(long, default_value_t = 0)]
    progress: u64,
    /// Print the final metrics in Prometheus text format.
    #[arg(long)]
    prometheus: bool,
    /// Decide with this many threads over the pool (reads all of stdin
    /// first; output keeps the input order).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// One request line: `{"user", "action", "resource", "context"?,
/// "sensitivity"?, "ttl_seconds"?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    user: String,
    action: String,
    resource: String,
    #[serde(default)]
    context: Option<serde_json::Value>,
    #[serde(default)]
    sensitivity: Option<String>,
    #[serde(default)]
    ttl_seconds: Option<f64>,
}

fn summary(m: &Metrics) -> String {
    let interpreted: u64 = m.interpreter_evaluations.values().sum();
    let reasons = m
        .interpreter_evaluations
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({reasons})")
    };
    format!(
        "requests {} | hits {} ({:.1}%) | misses {} ({:.1}%) | evictions {} | latency avg {:.1} us, p50 {:.1} us, p95 {:.1} us, p99 {:.1} us | recycles {} | timeouts {} | evaluations: rvm {}, interpreter {interpreted}{reasons}",
        m.total_requests,
        m.hits,
        m.hit_rate,
        m.misses,
        m.miss_rate,
        m.evictions,
        m.avg_latency_ms * 1e3,
        m.p50_ms * 1e3,
        m.p95_ms * 1e3,
        m.p99_ms * 1e3,
        m.recycles,
        m.timeouts,
        m.rvm_evaluations,
    )
}

/// The rules the RVM does not run, one line each, for stderr.
fn fallbacks(m: &Metrics) -> String {
    m.rvm_fallbacks
        .iter()
        .map(|(rule, reason, message)| {
            format!("interpreter fallback: {rule} ({reason}): {message}\n")
        })
        .collect()
}

fn decide_line(
    authz: &sark_policy_host::Authorizer,
    text: &str,
) -> Result<serde_json::Value, String> {
    let line: Line = serde_json::from_str(text).map_err(|e| format!("bad request: {e}"))?;
    let sensitivity = line
        .sensitivity
        .as_deref()
        .map(str::parse::<Sensitivity>)
        .transpose()?;
    let ttl = match line.ttl_seconds {
        Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => return Err(format!("bad ttl_seconds {s}")),
        None => None,
    };
    let context = line.context.map(|c| c.to_string()).unwrap_or_default();
    let req = Request {
        user: &line.user,
        action: &line.action,
        resource: &line.resource,
        context: &context,
        sensitivity,
        ttl,
    };
    let d = authz.decide(&req).map_err(|e| e.to_string())?;
    let decision = match &d.value {
        Some(v) => serde_json::from_str(v).map_err(|e| format!("decision is not JSON: {e}"))?,
        None => serde_json::Value::Null,
    };
    Ok(serde_json::json!({
        "user": line.user, "action": line.action, "resource": line.resource,
        "decision": decision, "undefined": d.value.is_none(), "allowed": d.allowed(),
        "cached": d.cached, "latency_us": (d.latency.as_secs_f64() * 1e7).round() / 10.0,
    }))
}

pub fn run(a: DecideArgs) -> Result<ExitCode, String> {
    let runtime = a.common.runtime(a.shards, a.capacity)?;
    let load = runtime.load_report();
    let engine = a.common.engine(&runtime)?;
    let authz = engine.authorizer(&a.rule);
    eprintln!(
        "component: {} in {:.1} ms",
        match load.provenance {
            Provenance::Compiled => "compiled",
            Provenance::Artifact => "loaded from the compiled artifact",
        },
        load.load_time.as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let failed = if a.threads > 1 {
        parallel(&authz, a.threads)?
    } else {
        sequential(&authz, &engine, a.progress)?
    };
    let took = started.elapsed();
    let m = engine.metrics();
    if a.prometheus {
        eprint!("{}", m.prometheus());
    } else {
        eprintln!("metrics: {}", summary(&m));
    }
    eprint!("{}", fallbacks(&m));
    eprintln!(
        "throughput: {} decisions in {:.3} s = {:.0} decisions/s ({} thread(s), {} shard(s))",
        m.total_requests,
        took.as_secs_f64(),
        m.total_requests as f64 / took.as_secs_f64().max(1e-9),
        a.threads.max(1),
        a.shards.max(1)
    );
    if failed > 0 {
        eprintln!("sark-policy: {failed} request(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Line by line, streaming: output appears as input arrives.
fn sequential(authz: &Authorizer, engine: &PolicyEngine, progress: u64) -> Result<u64, String> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0u64;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let n = n + 1;
        let line = line.map_err(|e| format!("stdin:{n}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match decide_line(authz, &line) {
            Ok(v) => writeln!(out, "{v}").map_err(|e| format!("stdout: {e}"))?,
            Err(msg) => {
                failed += 1;
                let _ = out.flush();
                eprintln!("stdin:{n}: {msg}");
            }
        }
        if progress > 0 && (n as u64).is_multiple_of(progress) {
            let _ = out.flush();
            eprintln!("after line {n}: {}", summary(&engine.metrics()));
        }
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(failed)
}

/// All of stdin, decided by `threads` threads sharing the authorizer's pool.
fn parallel(authz: &Authorizer, threads: usize) -> Result<u64, String> {
    let lines: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("stdin: {e}"))?;
    let mut results: Vec<Option<Result<serde_json::Value, String>>> = vec![None; lines.len()];
    std::thread::scope(|scope| {
        let chunk = lines.len().div_ceil(threads).max(1);
        for (lines, results) in lines.chunks(chunk).zip(results.chunks_mut(chunk)) {
            scope.spawn(move || {
                for (line, slot) in lines.iter().zip(results.iter_mut()) {
                    if !line.trim().is_empty() {
                        *slot = Some(decide_line(authz, line));
                    }
                }
            });
        }
    });
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0;
    for (n, r) in results.into_iter().enumerate() {
        match r {
            Some(Ok(v)) => writeln!(out, "{v}").map_err(|e| format!("stdout: {e}"))?,
            Some(Err(msg)) => {
                failed += 1;
                eprintln!("stdin:{}: {msg}", n + 1);
            }
            None => {}
        }
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(failed)
}
