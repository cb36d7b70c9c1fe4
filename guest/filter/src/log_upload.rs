//! Uploading a worker's decision-log events, as OPA's decision-log plugin
//! does: a POST of a gzipped JSON array to the collector's `/logs`, when
//! the buffer holds an upload's worth or the interval is up. A failed
//! upload (an error status, no answer, a call Envoy refused) keeps its
//! batch, which is sent again before any newer event after an exponential
//! backoff with jitter; one upload is in flight at a time, so events
//! arrive in order. This is the state machine; `root_log.rs` makes the
//! host calls, so all of this runs natively in tests.

use crate::bundle_poll::{Rng, backoff_ms};
use crate::log_config::DecisionLogConfig;
use sark_policy_core::decision_log::{Batch, LogStats};

/// How long past its timeout an upload may stay unanswered before it is
/// given up (Envoy answers every call, a timeout included; a safety net).
const ABANDON_AFTER_MS: u64 = 5_000;
/// Bounds of the tick period while events wait or an upload is out.
const MIN_TICK_MS: u64 = 10;
const MAX_TICK_MS: u64 = 1_000;

/// What the tick should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing yet.
    Wait,
    /// Send [`Uploader::body`] now (then call [`Uploader::started`] or
    /// [`Uploader::dispatch_failed`]).
    Upload,
    /// The upload in flight was never answered; it counts as failed.
    Abandoned(Report),
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// The collector took the batch (2xx).
    Sent {
        /// Events in it.
        events: u32,
        /// Bytes of their JSON.
        json_bytes: usize,
        /// Bytes sent (gzipped).
        body_bytes: usize,
    },
    /// Not taken; the batch is sent again later.
    Failed(String),
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// How it ended.
    pub upload: Upload,
    /// Failures in a row, this one included (0 after a success).
    pub failures: u32,
    /// Milliseconds until the batch is retried, or until the interval
    /// next allows an upload.
    pub next_ms: u64,
}

use crate::call::CallState as State;

/// The upload state of one worker's decision log.
#[derive(Debug, Clone)]
pub struct Uploader {
    config: DecisionLogConfig,
    state: State,
    /// The batch in flight, or the failed one waiting for its retry.
    batch: Option<Batch>,
    failures: u32,
    rng: Rng,
}

impl Uploader {
    /// An uploader whose first upload may go as soon as there are events.
    pub fn new(config: DecisionLogConfig, seed: u64) -> Self {
        Self {
            config,
            state: State::Waiting { due_ms: 0 },
            batch: None,
            failures: 0,
            rng: Rng::new(seed),
        }
    }

    /// The configuration uploaded by.
    pub fn config(&self) -> &DecisionLogConfig {
        &self.config
    }

    /// What to do at `now_ms` with `buffered_bytes` of events in the log;
    /// `take` takes a batch of at most the given JSON bytes from it. A due
    /// time further ahead than any delay this uploader sets means the
    /// clock stepped back: the upload is due.
    pub fn tick(
        &mut self,
        now_ms: u64,
        buffered_bytes: u64,
        take: impl FnOnce(usize) -> Option<Batch>,
    ) -> Step {
        let due_ms = match self.state {
            State::InFlight { since_ms, .. } => {
                let limit = self.config.timeout_ms.saturating_add(ABANDON_AFTER_MS);
                if now_ms.saturating_sub(since_ms) < limit && since_ms <= now_ms {
                    return Step::Wait;
                }
                let why = "no answer from the collector within the timeout".to_owned();
                return Step::Abandoned(self.fail(now_ms, why));
            }
            State::Waiting { due_ms } => due_ms,
        };
        let longest = self
            .config
            .upload_interval_ms
            .max(self.config.max_backoff_ms);
        let due = now_ms >= due_ms || due_ms.saturating_sub(now_ms) > longest;
        if self.batch.is_some() {
            // A retry waits for its backoff, whatever the buffer holds.
            return if due { Step::Upload } else { Step::Wait };
        }
        let limit = self.config.upload_size_limit_bytes;
        let full = buffered_bytes >= u64::try_from(limit).unwrap_or(u64::MAX);
        if !(due || full) || buffered_bytes == 0 {
            return Step::Wait;
        }
        match take(limit) {
            Some(batch) => {
                self.batch = Some(batch);
                Step::Upload
            }
            None => Step::Wait,
        }
    }

    /// The body of the upload to send: the batch taken or retried.
    pub fn body(&self) -> Option<&[u8]> {
        self.batch.as_ref().map(|b| b.body.as_slice())
    }

    /// Events in the batch held (in flight or waiting for its retry).
    pub fn held_events(&self) -> u32 {
        self.batch.as_ref().map_or(0, |b| b.events)
    }

    /// JSON bytes of the batch held, out of the log's buffer.
    pub fn held_bytes(&self) -> u64 {
        self.batch
            .as_ref()
            .map_or(0, |b| u64::try_from(b.json_bytes).unwrap_or(u64::MAX))
    }

    /// The request headers of an upload (OPA's: JSON, gzipped).
    pub fn request_headers(&self) -> Vec<(&str, String)> {
        let length = self.body().map_or(0, <[u8]>::len);
        let mut headers = vec![
            (":method", "POST".to_owned()),
            (":path", self.config.path.clone()),
            (":authority", self.config.authority().to_owned()),
            ("content-type", "application/json".to_owned()),
            ("content-encoding", "gzip".to_owned()),
            ("content-length", length.to_string()),
        ];
        if let Some(token) = &self.config.token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        headers
    }

    /// The upload went out as call `token`.
    pub fn started(&mut self, token: u32, now_ms: u64) {
        self.state.start(token, now_ms);
    }

    /// The host refused to send the upload.
    pub fn dispatch_failed(&mut self, now_ms: u64, why: String) -> Report {
        self.fail(now_ms, why)
    }

    /// Whether `token` is the upload in flight (an abandoned call's late
    /// answer is not).
    pub fn awaits(&self, token: u32) -> bool {
        self.state.awaits(token)
    }

    /// Handles the answer to call `token`, given its response headers;
    /// `None` when the call is not the upload in flight.
    pub fn on_response(
        &mut self,
        token: u32,
        now_ms: u64,
        headers: &[(String, String)],
    ) -> Option<Report> {
        if !self.awaits(token) {
            return None;
        }
        let status = headers
            .iter()
            .find(|(n, _)| n == ":status")
            .map(|(_, v)| v.as_str());
        Some(match status {
            Some(s) if s.len() == 3 && s.starts_with('2') => self.succeed(now_ms),
            Some(s) => self.fail(now_ms, format!("the collector answered {s}")),
            None => self.fail(
                now_ms,
                "no answer from the collector (timeout, refused or reset connection)".into(),
            ),
        })
    }

    fn succeed(&mut self, now_ms: u64) -> Report {
        let upload = match self.batch.take() {
            Some(b) => Upload::Sent {
                events: b.events,
                json_bytes: b.json_bytes,
                body_bytes: b.body.len(),
            },
            None => Upload::Sent {
                events: 0,
                json_bytes: 0,
                body_bytes: 0,
            },
        };
        self.failures = 0;
        let next_ms = self.config.upload_interval_ms;
        self.state = State::Waiting {
            due_ms: now_ms.saturating_add(next_ms),
        };
        Report {
            upload,
            failures: 0,
            next_ms,
        }
    }

    fn fail(&mut self, now_ms: u64, why: String) -> Report {
        self.failures = self.failures.saturating_add(1);
        let next_ms = backoff_ms(self.failures, self.config.max_backoff_ms, &mut self.rng);
        self.state = State::Waiting {
            due_ms: now_ms.saturating_add(next_ms),
        };
        Report {
            upload: Upload::Failed(why),
            failures: self.failures,
            next_ms,
        }
    }

    /// How long the timer should sleep from `now_ms`: until the next
    /// upload may go, and at most a tenth of the interval, so a buffer that
    /// fills up (or a first event after a quiet spell) waits little.
    pub fn wake_ms(&self, now_ms: u64) -> u64 {
        let step = (self.config.upload_interval_ms / 10).clamp(MIN_TICK_MS, MAX_TICK_MS);
        match self.state {
            State::Waiting { due_ms } if due_ms > now_ms => {
                (due_ms - now_ms).clamp(MIN_TICK_MS, step)
            }
            _ => step,
        }
    }
}

/// Turns a log's counters into the changes of Envoy's metrics: each worker
/// adds what happened since it last reported, so the metrics (shared by
/// every worker) are totals.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meter {
    events: u64,
    dropped: u64,
    buffered: u64,
}

/// What changed since the last report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    /// Events recorded.
    pub events: u64,
    /// Events dropped (buffer full or mask errors).
    pub dropped: u64,
    /// Bytes waiting for upload, buffered or held for a retry.
    pub buffered: i64,
}

impl Meter {
    /// The change from the last report to `stats`, with `held` bytes of a
    /// batch out of the buffer but not yet uploaded.
    pub fn change(&mut self, stats: LogStats, held: u64) -> Change {
        let dropped = stats
            .dropped_buffer_full
            .saturating_add(stats.dropped_mask_error);
        let buffered = stats.buffered_bytes.saturating_add(held);
        let change = Change {
            events: stats.logged.saturating_sub(self.events),
            dropped: dropped.saturating_sub(self.dropped),
            buffered: i64::try_from(buffered)
                .unwrap_or(i64::MAX)
                .saturating_sub(i64::try_from(self.buffered).unwrap_or(i64::MAX)),
        };
        *self = Meter {
            events: stats.logged,
            dropped,
            buffered,
        };
        change
    }
}

#[cfg(test)]
#[path = "log_upload_tests.rs"]
mod tests;
