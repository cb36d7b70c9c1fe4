//! The uploader thread: takes batches from the instances (one per
//! instance per round, each under its shard's lock for as long as the
//! component takes to write it), sends them in order, and keeps a batch
//! that failed in host memory, retrying it with exponential backoff and
//! jitter until it is accepted. While it retries it takes nothing new, so
//! an outage fills the instances' bounded buffers, which drop their oldest
//! events and count each one, instead of host memory. Decide calls never
//! wait for it.

use super::logger::{Batch, Inner};
use super::{DecisionLogConfig, DecisionLogSink};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Writes batches to the sink.
pub(super) enum Sender {
    Http {
        agent: ureq::Agent,
        url: String,
        token: Option<String>,
    },
    Console,
    Stderr,
}

impl Sender {
    pub fn new(config: &DecisionLogConfig) -> Self {
        match &config.sink {
            DecisionLogSink::Http(url) => Sender::Http {
                agent: ureq::Agent::config_builder()
                    .timeout_global(Some(config.timeout))
                    .http_status_as_error(false)
                    .build()
                    .into(),
                url: url.clone(),
                token: config.token.clone(),
            },
            DecisionLogSink::Console => Sender::Console,
            DecisionLogSink::Stderr => Sender::Stderr,
        }
    }

    /// Sends one batch within `timeout`; `Err` says why it was not accepted.
    fn send(&self, batch: &Batch, timeout: Duration) -> Result<(), String> {
        match self {
            Sender::Http { agent, url, token } => {
                let mut req = agent
                    .post(url)
                    .header("Content-Type", "application/json")
                    .header("Content-Encoding", "gzip");
                if let Some(token) = token {
                    req = req.header("Authorization", format!("Bearer {token}"));
                }
                let body = gzip(&batch.body);
                let mut resp = req
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .send(&body[..])
                    .map_err(|e| format!("POST {url}: {e}"))?;
                // Read to the end, so the connection is kept for the next.
                let _ = resp.body_mut().read_to_vec();
                let status = resp.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("POST {url}: HTTP {status}"))
                }
            }
            Sender::Console => {
                let mut out = std::io::stdout().lock();
                out.write_all(&batch.body)
                    .and_then(|()| out.flush())
                    .map_err(|e| format!("stdout: {e}"))
            }
            Sender::Stderr => std::io::stderr()
                .lock()
                .write_all(&batch.body)
                .map_err(|e| format!("stderr: {e}")),
        }
    }
}

/// The retry delay after `failures` failures in a row: `min` doubling up
/// to `max`, then a uniformly random point in its upper half, so hosts
/// that failed together do not retry together.
fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let d = min
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max);
    d.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// The uploader's loop, until the runtime is dropped and what is buffered
/// is sent or `shutdown_timeout` has passed.
pub(super) fn run(inner: &Inner, sender: Sender) {
    let config = &inner.config;
    let mut held: VecDeque<Batch> = VecDeque::new();
    let mut failures = 0u32;
    let mut deadline: Option<Instant> = None;
    loop {
        let (stop, flush_asked) = inner.control(&mut held);
        if stop && deadline.is_none() {
            deadline = Some(Instant::now() + config.shutdown_timeout);
        }
        if held.is_empty() && !inner.take(&mut held) {
            // Every buffer was empty after the flush was asked for.
            inner.flushed_up_to(flush_asked);
            if stop {
                return;
            }
            inner.sleep(config.min_delay, true);
            continue;
        }
        publish(inner, &held);
        let Some(batch) = held.front() else { continue };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            abandon(inner, &mut held);
            return;
        }
        let timeout = left.map_or(config.timeout, |l| l.min(config.timeout));
        let outcome = sender.send(batch, timeout);
        let now = SystemTime::now();
        let mut c = inner.counters.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                c.sent += batch.events;
                c.uploads += 1;
                c.consecutive_failures = 0;
                c.last_upload = Some(now);
                c.last_error = None;
                drop(c);
                held.pop_front();
                publish(inner, &held);
                failures = 0;
            }
            Err(e) => {
                c.failures += 1;
                c.consecutive_failures += 1;
                c.last_error = Some(e);
                c.last_error_time = Some(now);
                drop(c);
                failures = failures.saturating_add(1);
                let mut wait = backoff(config.min_delay, config.max_delay, failures);
                if let Some(d) = deadline {
                    wait = wait.min(d.saturating_duration_since(Instant::now()));
                }
                inner.sleep(wait, false);
            }
        }
    }
}

/// Shows what the uploader holds in the status.
fn publish(inner: &Inner, held: &VecDeque<Batch>) {
    let (events, bytes) = held
        .iter()
        .fold((0, 0), |(e, b), x| (e + x.events, b + x.json_bytes));
    inner.held_events.store(events, Ordering::Release);
    inner.held_bytes.store(bytes, Ordering::Release);
}

/// Shutdown ran out of time: what is held is dropped, and counted.
fn abandon(inner: &Inner, held: &mut VecDeque<Batch>) {
    let lost: u64 = held.drain(..).map(|b| b.events).sum();
    inner
        .counters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .dropped_shutdown += lost;
    publish(inner, held);
}

/// The batch's JSON array gzipped, as OPA's plugin sends it. The instance
/// hands it over uncompressed (`json-array`): compressing here is native
/// code on this thread, not wasm under the shard's lock.
fn gzip(json: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(json);
    gz.finish().unwrap_or_default()
}
