//! # sark-policy-filter
//!
//! sark-policy as an Envoy HTTP filter (proxy-wasm ABI, `wasm32-wasip1`).
//! Each request is decided by a Rego rule over opa-envoy-plugin's input
//! document; the rule's value is a boolean or opa-envoy-plugin's result
//! object. With `with_request_body` the decision waits for the body (up to
//! a size), as Envoy's ext_authz filter does, except that the headers go
//! upstream first (see `on_http_request_headers`). Decisions are cached per
//! worker (the cache and engine of `sark-policy-core`), and hits, misses,
//! allows, denials and errors are Envoy counters. With a `bundle`, each
//! worker VM polls an OPA bundle server (an Envoy cluster) on its root
//! context's tick and activates new revisions in its own engine
//! (`bundle_poll`). With a `decision_log`, every decision is recorded as
//! an OPA decision-log event (masked by the policies' `system.log.mask`)
//! in a per-worker buffer that the root context's tick uploads in batches
//! to a collector (an Envoy cluster; `log_upload`).
//!
//! The host-facing code is this file (requests) and `root.rs` (the
//! configuration, bundle polling and log uploads); configuration, input,
//! decision, polling, the log and metrics live in their own modules so
//! they are tested natively.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod authz;
pub mod body;
pub mod bundle_config;
pub mod bundle_poll;
mod call;
pub mod config;
pub mod input;
pub mod log_config;
pub mod log_upload;
pub mod memo;
pub mod metrics;
pub mod response;
mod root;

use authz::{Authz, Failure};
use body::Body;
use config::BodyConfig;
use input::RequestParts;
use metrics::{Counter, Metrics};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};
use response::{Decision, Headers};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

/// The module entry point (`_initialize`); private so it needs no docs.
mod entry {
    use super::LogLevel;
    use super::root::Root;
    use proxy_wasm::traits::RootContext;

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Info);
        proxy_wasm::set_root_context(|id| -> Box<dyn RootContext> { Box::new(Root::new(id)) });
    }}
}

/// Whether the warning about header changes of decisions made on the body
/// was logged (once per VM).
static HEADERS_LATE_LOGGED: AtomicBool = AtomicBool::new(false);

/// Whether the warning about requests before the first bundle was logged
/// (once per VM).
static NOT_READY_LOGGED: AtomicBool = AtomicBool::new(false);

/// The worker's authorizer, shared by the root and every request context
/// (a VM runs on one thread, so `Rc<RefCell<_>>` is enough).
type Shared = Rc<RefCell<Option<Authz>>>;

fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

struct Request {
    authz: Shared,
    metrics: Metrics,
    /// The allowing decision, for its `response_headers_to_add`.
    allowed: Option<Rc<Decision>>,
    /// Waiting for the body: the headers read, and how much body to read.
    waiting: Option<(RequestParts, BodyConfig)>,
    /// `dry_run` of the configuration, read with the headers.
    dry_run: bool,
    /// The logged decision's id and the header that carries it, until the
    /// response (or the local reply) carries it.
    decision_id: Option<(String, String)>,
}

impl Context for Request {}

impl Request {
    fn new(authz: Shared, metrics: Metrics) -> Self {
        Self {
            authz,
            metrics,
            allowed: None,
            waiting: None,
            dry_run: false,
            decision_id: None,
        }
    }

    /// The request headers, and the downstream address when `source` (the
    /// cache key holds it); the rest is read by `add_properties`.
    fn parts(&self, source: bool) -> RequestParts {
        RequestParts {
            headers: self
                .get_http_request_headers()
                .into_iter()
                .map(|(mut n, v)| {
                    // Envoy already gives lowercase names; this costs no copy.
                    n.make_ascii_lowercase();
                    (n, v)
                })
                .collect(),
            source: source
                .then(|| self.text_property(vec!["source", "address"]))
                .flatten(),
            ..RequestParts::default()
        }
    }

    /// The connection properties of the input document; read on a cache
    /// miss only, as every property is a call into Envoy.
    fn add_properties(&self, parts: &mut RequestParts) {
        if parts.source.is_none() {
            parts.source = self.text_property(vec!["source", "address"]);
        }
        parts.destination = self.text_property(vec!["destination", "address"]);
        parts.protocol = self.text_property(vec!["request", "protocol"]);
    }

    fn text_property(&self, path: Vec<&str>) -> Option<String> {
        self.get_property(path)
            .and_then(|b| String::from_utf8(b).ok())
    }

    /// The host's clock since the epoch (zero when it cannot be read).
    fn now(&self) -> Duration {
        self.get_current_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }

    /// Decides a request whose parts (body included) are read: from the
    /// cache or the policy, then lets it through or replies. `headers_held`:
    /// the request headers have not gone upstream yet, so they can change.
    fn decide(&mut self, mut parts: RequestParts, headers_held: bool) -> Action {
        let clock = self.now();
        let now = u64::try_from(clock.as_millis()).unwrap_or(u64::MAX);
        let shared = Rc::clone(&self.authz);
        let Ok(mut guard) = shared.try_borrow_mut() else {
            return self.deny(500, &Vec::new(), "sark-policy: authorizer busy\n");
        };
        let Some(authz) = guard.as_mut() else {
            return self.deny(500, &Vec::new(), "sark-policy: not configured\n");
        };
        let mut outcome = match authz.lookup(&parts, now) {
            Ok(hit) => {
                if hit.log.is_some() {
                    // A sampled cached decision is logged with its input.
                    self.add_properties(&mut parts);
                }
                hit
            }
            Err(key) => {
                self.add_properties(&mut parts);
                authz.evaluate_and_store(&parts, key, now)
            }
        };
        if let Some(id) = authz.record(&parts, &mut outcome, clock.as_nanos())
            && let Some(header) = authz.decision_id_header()
        {
            self.decision_id = Some((header.to_owned(), id));
        }
        let (fails_open, failure_status, deny_status) = (
            authz.fails_open(),
            authz.config().failure_status,
            authz.config().deny_status,
        );
        drop(guard);
        self.metrics.incr(Counter::Requests);
        self.metrics.incr(if outcome.cached {
            Counter::CacheHits
        } else {
            Counter::CacheMisses
        });
        match outcome.decision {
            Ok(decision) if decision.allowed => self.allow(decision, &parts, headers_held),
            Ok(decision) => {
                self.metrics.incr(Counter::Denied);
                let status = decision.http_status.unwrap_or(deny_status);
                self.reply(
                    status,
                    &decision.headers,
                    &decision.body,
                    &parts,
                    "denied by the policy",
                )
            }
            Err(e @ Failure::Body(_)) => {
                self.metrics.incr(Counter::BodyInvalid);
                let message = e.to_string();
                self.reply(400, &Vec::new(), &message, &parts, &message)
            }
            Err(Failure::Policy(e)) => {
                self.metrics.incr(Counter::Errors);
                log(LogLevel::Error, &format!("sark-policy: policy error: {e}"));
                if fails_open {
                    Action::Continue
                } else {
                    self.reply(
                        failure_status,
                        &Vec::new(),
                        "policy error\n",
                        &parts,
                        "policy error",
                    )
                }
            }
        }
    }

    /// A request before the configured bundle's first activation: no
    /// policy can decide it, as with OPA-Envoy before its bundle is in
    /// (an undefined decision). 503 (the service is not available yet), or
    /// through under `failure_mode: open`.
    fn not_ready(&mut self, parts: &RequestParts, fails_open: bool) -> Action {
        self.metrics.incr(Counter::Requests);
        self.metrics.incr(Counter::NotReady);
        if !NOT_READY_LOGGED.swap(true, Ordering::Relaxed) {
            log(
                LogLevel::Warn,
                &format!(
                    "sark-policy: requests came before the first bundle was activated: {} \
                     (counted in not_ready; logged once)",
                    if fails_open {
                        "let through (failure_mode open)"
                    } else {
                        "answered 503"
                    }
                ),
            );
        }
        if fails_open {
            return Action::Continue;
        }
        let why = "no bundle activated yet";
        self.reply(503, &Vec::new(), "policy not loaded yet\n", parts, why)
    }

    /// The body is over `max_request_bytes` and no partial body is allowed:
    /// 413, as Envoy's ext_authz (its buffer limit) answers.
    fn too_large(&mut self, parts: &RequestParts) -> Action {
        self.metrics.incr(Counter::Requests);
        self.metrics.incr(Counter::BodyTooLarge);
        let why = "body over max_request_bytes";
        self.reply(413, &Vec::new(), "Payload Too Large", parts, why)
    }

    /// The body read so far (at most `max` bytes past `max` to tell a cut
    /// body), then the decision on it; `None` while more is to come.
    fn decide_on_body(&mut self, buffered: usize, end_of_stream: bool) -> Option<Action> {
        let (_, config) = self.waiting.as_ref()?;
        let (max, partial) = (config.max_bytes(), config.allow_partial_message);
        // Over the limit, or all of it: decide. At exactly the limit the
        // next bytes (or the end) tell whether the body was cut.
        let truncated = buffered > max;
        if !truncated && !end_of_stream {
            return Some(Action::Pause);
        }
        let (mut parts, _) = self.waiting.take()?;
        if truncated && !partial {
            return Some(self.too_large(&parts));
        }
        let bytes = self
            .get_http_request_body(0, buffered.min(max))
            .unwrap_or_default();
        if truncated {
            self.metrics.incr(Counter::BodyTruncated);
        }
        parts.body = (!bytes.is_empty()).then_some(Body { bytes, truncated });
        Some(self.decide(parts, false))
    }

    fn allow(
        &mut self,
        decision: Rc<Decision>,
        parts: &RequestParts,
        headers_held: bool,
    ) -> Action {
        self.metrics.incr(Counter::Allowed);
        if !decision.response_headers_to_add.is_empty() {
            self.allowed = Some(Rc::clone(&decision));
        }
        if !headers_held {
            // Decided on the body: the headers went upstream already (and
            // Envoy refuses to change them, which would trap the SDK).
            let changes =
                !decision.headers.is_empty() || !decision.request_headers_to_remove.is_empty();
            if changes && !HEADERS_LATE_LOGGED.swap(true, Ordering::Relaxed) {
                log(
                    LogLevel::Warn,
                    "sark-policy: a decision made on the request body cannot change the \
                     request headers (they went upstream before the body); its headers and \
                     request_headers_to_remove are not applied (logged once)",
                );
            }
            return Action::Continue;
        }
        if let Some((name, id)) = &self.decision_id {
            // The upstream can log the id too.
            self.set_http_request_header(name, Some(id));
        }
        for name in &decision.request_headers_to_remove {
            // Every host call is a crossing; a header the request does not
            // carry needs none.
            if parts
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                self.set_http_request_header(name, None);
            }
        }
        let mut set: Vec<&str> = Vec::new();
        for (name, value) in &decision.headers {
            // The first value replaces the header, further ones append.
            if set.contains(&name.as_str()) {
                self.add_http_request_header(name, value);
            } else {
                self.set_http_request_header(name, Some(value));
                set.push(name);
            }
        }
        Action::Continue
    }

    /// A local reply; under `dry_run` only counted and logged, and the
    /// request goes on (as opa-envoy-plugin's dry-run answers OK to Envoy).
    fn reply(
        &mut self,
        status: u32,
        headers: &Headers,
        body: &str,
        parts: &RequestParts,
        why: &str,
    ) -> Action {
        if !self.dry_run {
            return self.deny(status, headers, body);
        }
        self.metrics.incr(Counter::DryRunWouldDeny);
        let path = parts.path();
        let path = path.split_once('?').map_or(path.as_ref(), |(p, _)| p);
        log(
            LogLevel::Info,
            &format!(
                "sark-policy: dry_run: would reply {status} to {} {path}: {}",
                parts.method(),
                why.trim_end()
            ),
        );
        Action::Continue
    }

    fn deny(&mut self, status: u32, headers: &Headers, body: &str) -> Action {
        let id = self.decision_id.take();
        let mut headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if let Some((name, id)) = &id {
            headers.push((name, id));
        }
        self.send_http_response(status, headers, Some(body.as_bytes()));
        Action::Pause
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let shared = Rc::clone(&self.authz);
        let settings = match shared.try_borrow() {
            Ok(guard) => guard.as_ref().map(|a| {
                let c = a.config();
                let not_ready = (!a.ready()).then_some(a.fails_open());
                (
                    c.with_request_body,
                    c.dry_run,
                    c.cache_key.source_address,
                    not_ready,
                )
            }),
            Err(_) => return self.deny(500, &Vec::new(), "sark-policy: authorizer busy\n"),
        };
        let Some((body, dry_run, source, not_ready)) = settings else {
            return self.deny(500, &Vec::new(), "sark-policy: not configured\n");
        };
        self.dry_run = dry_run;
        let parts = self.parts(source);
        if let Some(fails_open) = not_ready {
            return self.not_ready(&parts, fails_open);
        }
        // No body to wait for: none comes, or what comes is a tunnel.
        if let Some(body) = body
            && !end_of_stream
            && !parts.is_upgrade()
        {
            let max = u64::from(body.max_request_bytes);
            if !body.allow_partial_message && parts.content_length().is_some_and(|n| n > max) {
                return self.too_large(&parts);
            }
            // Envoy cannot hold the headers and still hand the body to a
            // proxy-wasm filter: a pause here also withholds the body
            // (proxy-wasm-cpp-host makes it StopAllIterationAndWatermark).
            // So the headers go on, and on_http_request_body holds the body
            // until the decision; a denial resets the upstream request
            // before any of the body reached it.
            self.waiting = Some((parts, body));
            return Action::Continue;
        }
        self.decide(parts, true)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.decide_on_body(body_size, end_of_stream)
            .unwrap_or(Action::Continue)
    }

    fn on_http_request_trailers(&mut self, _trailers: usize) -> Action {
        // Trailers end the body; how much came is read back.
        let Some((_, config)) = &self.waiting else {
            return Action::Continue;
        };
        let buffered = self
            .get_http_request_body(0, config.max_bytes().saturating_add(1))
            .map_or(0, |b| b.len());
        self.decide_on_body(buffered, true)
            .unwrap_or(Action::Continue)
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if let Some((name, id)) = self.decision_id.take() {
            self.set_http_response_header(&name, Some(&id));
        }
        if let Some(decision) = self.allowed.take() {
            for (name, value) in &decision.response_headers_to_add {
                self.add_http_response_header(name, value);
            }
        }
        Action::Continue
    }
}
