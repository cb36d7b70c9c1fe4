//! `decide`: JSONL requests in, JSONL decisions out, metrics on stderr.

use crate::Common;
use crate::line::decide_into;
use clap::Args;
use sark_policy_host::{Authorizer, Metrics, PolicyEngine, Provenance};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

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
    /// Decide with this many threads, each owning a share of the shards
    /// (reads stdin in batches; output keeps the input order).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[command(flatten)]
    log: crate::log_args::LogArgs,
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
        "requests {} | hits {} ({:.1}%) | misses {} ({:.1}%) | evictions {} | latency avg {:.1} us, p50 {:.1} us, p95 {:.1} us, p99 {:.1} us | recycles {} | timeouts {} | evaluations: rvm {}, interpreter {interpreted}{reasons}{}",
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
        bundles(m),
    ) + &crate::log_args::summary(m.decision_log.as_ref())
}

/// ` | bundles: main r3 (2 activations, 1 failure: why)`, or nothing.
fn bundles(m: &Metrics) -> String {
    let parts: Vec<String> = m
        .bundles
        .iter()
        .map(|b| {
            let error = b
                .last_error
                .as_ref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default();
            format!(
                "{} {} ({} activations, {} failures{error})",
                b.name,
                b.active_revision.as_deref().unwrap_or("(none)"),
                b.activations,
                b.failures
            )
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" | bundles: {}", parts.join(", "))
    }
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

pub fn run(a: DecideArgs) -> Result<ExitCode, String> {
    let runtime = a
        .log
        .apply(a.common.builder(a.shards, a.capacity))?
        .build()
        .map_err(|e| e.to_string())?;
    let load = runtime.load_report();
    // The poller keeps the bundle current while requests stream in.
    let (engine, _poller) = a.common.engine(&runtime, true)?;
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
        crate::parallel::run(&authz, a.threads)?
    } else {
        sequential(&authz, &engine, a.progress)?
    };
    let took = started.elapsed();
    // Events are shipped before the metrics count them (stdout is free
    // again for console events).
    runtime.flush_decision_log(std::time::Duration::from_secs(5));
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
    let mut decision = Vec::new();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let n = n + 1;
        let line = line.map_err(|e| format!("stdin:{n}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        decision.clear();
        match decide_into(authz, &line, &mut decision) {
            Ok(()) => out
                .write_all(&decision)
                .map_err(|e| format!("stdout: {e}"))?,
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
