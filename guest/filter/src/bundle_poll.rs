//! Polling a bundle server, as OPA's bundle downloader does: a GET with
//! `If-None-Match` (the active bundle's ETag), the next poll at a random
//! delay in `[min, max]` after a success or a 304, exponential backoff
//! with jitter after a failure. This is the state machine and what a
//! response means; `lib.rs` makes the host calls (the HTTP call, the
//! tick), so all of this runs natively in tests.

use crate::authz::Authz;
use crate::bundle_config::BundleConfig;
use sark_policy_core::{BundleInfo, BundleLimits};

/// The first backoff delay after a failure; it doubles with each further
/// failure up to `max_delay_seconds`.
pub const BACKOFF_BASE_MS: u64 = 500;
/// Backoff delays vary by up to this fraction either way, so workers (and
/// proxies) that failed together do not retry in lockstep.
const JITTER: f64 = 0.2;
/// How long past its timeout a call may stay unanswered before it is given
/// up (Envoy answers every call, a timeout included; this is a safety net).
const ABANDON_AFTER_MS: u64 = 5_000;
/// Bounds of the tick period: the timer wakes at most this often...
const MIN_TICK_MS: u64 = 10;
/// ...and at least this often, so a clock step or a late answer costs at
/// most a second.
const MAX_TICK_MS: u64 = 1_000;

/// A small PRNG (SplitMix64) for the jitter of poll delays. The filter has
/// no other need for randomness, and the delays need none of quality.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (the clock and the VM's context id).
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        match hi.checked_sub(lo).and_then(|span| span.checked_add(1)) {
            Some(n) => lo.saturating_add(self.next_u64() % n),
            None if hi >= lo => self.next_u64(),
            None => lo,
        }
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // 53 bits: exactly representable, so the result stays below 1.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The delay after `failures` failures in a row (at least one):
/// `BACKOFF_BASE_MS * 2^(failures-1)`, capped at `max_ms`, varied by
/// `JITTER` and capped again.
pub fn backoff_ms(failures: u32, max_ms: u64, rng: &mut Rng) -> u64 {
    let doublings = failures.saturating_sub(1).min(40);
    let delay = BACKOFF_BASE_MS.saturating_mul(1 << doublings).min(max_ms);
    let factor = 1.0 + JITTER * (rng.unit() * 2.0 - 1.0);
    // `delay` is at most a day in ms, so it is exact as an f64, and the
    // product is a positive number below 2^63.
    let jittered = (delay as f64 * factor).round() as u64;
    jittered.clamp(1, max_ms.max(1))
}

/// What the server's answer says, from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: a bundle, and its ETag when the server sent one.
    Bundle {
        /// The `etag` header.
        etag: Option<String>,
    },
    /// 304: the active bundle is current.
    NotModified,
    /// Anything else, or no answer (Envoy reports a timeout or a failed
    /// connection as a response without headers).
    Failed(String),
}

/// Reads an answer from the response headers of the HTTP call.
pub fn answer(headers: &[(String, String)]) -> Answer {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    match get(":status").as_deref() {
        Some("200") => Answer::Bundle { etag: get("etag") },
        Some("304") => Answer::NotModified,
        Some(status) => Answer::Failed(format!("the bundle server answered {status}")),
        None => Answer::Failed(
            "no answer from the bundle server (timeout, refused or reset connection)".into(),
        ),
    }
}

/// `text` on one line: an error with a source excerpt (a Rego parse
/// error spans lines) becomes one log record. Lines are trimmed and joined
/// by spaces.
pub fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

/// What one poll came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A bundle was downloaded and activated.
    Activated(BundleInfo),
    /// 304: nothing changed.
    NotModified,
    /// A bundle was downloaded but refused (it does not read, verify or
    /// compile); the previous one keeps serving.
    Refused(String),
    /// No bundle came: an error status, a timeout, a failed call.
    Failed(String),
}

impl Event {
    /// Whether a bundle body was received.
    pub fn downloaded(&self) -> bool {
        matches!(self, Event::Activated(_) | Event::Refused(_))
    }

    /// Whether the poll failed (the backoff applies).
    pub fn failed(&self) -> bool {
        matches!(self, Event::Refused(_) | Event::Failed(_))
    }
}

/// A finished poll: what happened, and when the next one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What happened.
    pub event: Event,
    /// Milliseconds until the next poll.
    pub next_poll_ms: u64,
    /// Failures in a row, this one included (0 after a success).
    pub failures: u32,
}

/// What the tick should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing yet.
    Wait,
    /// Send the poll now (then call [`Poller::started`] or
    /// [`Poller::dispatch_failed`]).
    Poll,
    /// The call in flight was never answered; it counts as failed.
    Abandoned(Report),
}

use crate::call::CallState as State;

/// The polling state of one bundle in one worker VM.
#[derive(Debug, Clone)]
pub struct Poller {
    config: BundleConfig,
    /// The ETag of the active bundle (sent as `If-None-Match`).
    etag: Option<String>,
    state: State,
    failures: u32,
    rng: Rng,
}

impl Poller {
    /// A poller whose first poll is due at once.
    pub fn new(config: BundleConfig, seed: u64) -> Self {
        Self {
            config,
            etag: None,
            state: State::Waiting { due_ms: 0 },
            failures: 0,
            rng: Rng::new(seed),
        }
    }

    /// The configuration polled by.
    pub fn config(&self) -> &BundleConfig {
        &self.config
    }

    /// The ETag sent as `If-None-Match`: the active bundle's.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// What to do at `now_ms`. A due time further ahead than any delay this
    /// poller sets means the clock stepped back: the poll is due.
    pub fn tick(&mut self, now_ms: u64) -> Step {
        match self.state {
            State::Waiting { due_ms } => {
                let stepped_back = due_ms.saturating_sub(now_ms) > self.config.max_delay_ms();
                if now_ms >= due_ms || stepped_back {
                    Step::Poll
                } else {
                    Step::Wait
                }
            }
            State::InFlight { since_ms, .. } => {
                let limit = self.config.timeout_ms.saturating_add(ABANDON_AFTER_MS);
                if now_ms.saturating_sub(since_ms) > limit {
                    Step::Abandoned(self.finish(
                        now_ms,
                        Event::Failed("the call to the bundle server was never answered".into()),
                        None,
                    ))
                } else {
                    Step::Wait
                }
            }
        }
    }

    /// The request headers of a poll.
    pub fn request_headers(&self) -> Vec<(&str, String)> {
        let mut headers = vec![
            (":method", "GET".to_owned()),
            (":path", self.config.path.clone()),
            (":authority", self.config.authority().to_owned()),
        ];
        if let Some(etag) = &self.etag {
            headers.push(("if-none-match", etag.clone()));
        }
        if let Some(token) = &self.config.token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        headers
    }

    /// The poll went out as call `token`.
    pub fn started(&mut self, token: u32, now_ms: u64) {
        self.state.start(token, now_ms);
    }

    /// The host refused to send the poll.
    pub fn dispatch_failed(&mut self, now_ms: u64, why: String) -> Report {
        self.finish(now_ms, Event::Failed(why), None)
    }

    /// Whether `token` is the call in flight (an abandoned call's late
    /// answer is not).
    pub fn awaits(&self, token: u32) -> bool {
        self.state.awaits(token)
    }

    /// Handles the answer to call `token`: a 200's body of `size` bytes
    /// (read by `body`, only then) is activated in `authz`. `None` when the
    /// call is not the one in flight.
    pub fn on_response(
        &mut self,
        token: u32,
        now_ms: u64,
        headers: &[(String, String)],
        size: usize,
        body: impl FnOnce() -> Option<Vec<u8>>,
        authz: &mut Authz,
    ) -> Option<Report> {
        if !self.awaits(token) {
            return None;
        }
        let max = BundleLimits::DEFAULT.max_total_bytes;
        let (event, etag) = match answer(headers) {
            Answer::Bundle { .. } if size > max => {
                let why = format!("the bundle is {size} bytes, over the limit of {max}");
                (Event::Refused(why), None)
            }
            Answer::Bundle { etag } => match body() {
                None => (
                    Event::Refused("the bundle server sent no body".into()),
                    None,
                ),
                Some(bytes) => match authz.activate_bundle(&bytes) {
                    Ok(info) => (Event::Activated(info), etag),
                    Err(e) => (Event::Refused(one_line(&e)), None),
                },
            },
            Answer::NotModified => (Event::NotModified, None),
            Answer::Failed(why) => (Event::Failed(why), None),
        };
        Some(self.finish(now_ms, event, etag))
    }

    /// Records the end of a poll and schedules the next.
    fn finish(&mut self, now_ms: u64, event: Event, etag: Option<String>) -> Report {
        let (min, max) = (self.config.min_delay_ms(), self.config.max_delay_ms());
        let delay = if event.failed() {
            self.failures = self.failures.saturating_add(1);
            backoff_ms(self.failures, max, &mut self.rng)
        } else {
            self.failures = 0;
            if let Event::Activated(_) = event {
                // A bundle without an ETag is downloaded whole every time.
                self.etag = etag;
            }
            self.rng.between(min, max)
        };
        self.state = State::Waiting {
            due_ms: now_ms.saturating_add(delay),
        };
        Report {
            event,
            next_poll_ms: delay,
            failures: self.failures,
        }
    }

    /// How long the timer should sleep from `now_ms`: until the next poll,
    /// within a tenth of the shortest delay (at most a second), so a poll
    /// is late by little.
    pub fn wake_ms(&self, now_ms: u64) -> u64 {
        let step = (self.config.min_delay_ms() / 10).clamp(MIN_TICK_MS, MAX_TICK_MS);
        match self.state {
            State::Waiting { due_ms } => due_ms.saturating_sub(now_ms).clamp(MIN_TICK_MS, step),
            State::InFlight { .. } => step,
        }
    }
}

#[cfg(test)]
#[path = "bundle_poll_tests.rs"]
mod tests;
