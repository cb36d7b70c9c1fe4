//! # sark-policy-filter
//!
//! sark-policy as an Envoy HTTP filter (proxy-wasm ABI, `wasm32-wasip1`).
//! Each request is decided by a Rego rule over opa-envoy-plugin's input
//! document; the rule's value is a boolean or opa-envoy-plugin's result
//! object. Decisions are cached per worker (the cache and engine of
//! `sark-policy-core`), and hits, misses, allows, denials and errors are
//! Envoy counters.
//!
//! The host-facing code is this file; configuration, input, decision and
//! metrics live in their own modules so they are tested natively.
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
pub mod config;
pub mod input;
pub mod memo;
pub mod metrics;
pub mod response;

use authz::Authz;
use config::Config;
use input::RequestParts;
use metrics::{Counter, Metrics};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use response::{Decision, Headers};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

/// The module entry point (`_initialize`); private so it needs no docs.
mod entry {
    use super::{LogLevel, Root, RootContext};

    proxy_wasm::main! {{
        proxy_wasm::set_log_level(LogLevel::Info);
        proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
    }}
}

/// The worker's authorizer, shared by the root and every request context
/// (a VM runs on one thread, so `Rc<RefCell<_>>` is enough).
type Shared = Rc<RefCell<Option<Authz>>>;

#[derive(Default)]
struct Root {
    authz: Shared,
    metrics: Metrics,
}

fn log(level: LogLevel, message: &str) {
    let _ = proxy_wasm::hostcalls::log(level, message);
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let (metrics, failed) = Metrics::define();
        if !failed.is_empty() {
            log(
                LogLevel::Warn,
                &format!("sark-policy: metrics not defined: {failed:?}"),
            );
        }
        self.metrics = metrics;
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&bytes).and_then(Authz::new) {
            Ok(authz) => {
                log(
                    LogLevel::Info,
                    &format!(
                        "sark-policy: loaded {} policies, rule {}",
                        authz.config().policies().len(),
                        authz.config().rule
                    ),
                );
                *self.authz.borrow_mut() = Some(authz);
                true
            }
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("sark-policy: bad configuration: {e}"),
                );
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            authz: Rc::clone(&self.authz),
            metrics: self.metrics,
            allowed: None,
        }))
    }
}

struct Request {
    authz: Shared,
    metrics: Metrics,
    /// The allowing decision, for its `response_headers_to_add`.
    allowed: Option<Rc<Decision>>,
}

impl Context for Request {}

impl Request {
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

    fn now_ms(&self) -> u64 {
        self.get_current_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn allow(&mut self, decision: Rc<Decision>, parts: &RequestParts) -> Action {
        self.metrics.incr(Counter::Allowed);
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
        if !decision.response_headers_to_add.is_empty() {
            self.allowed = Some(decision);
        }
        Action::Continue
    }

    fn deny(&self, status: u32, headers: &Headers, body: &str) -> Action {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.send_http_response(status, headers, Some(body.as_bytes()));
        Action::Pause
    }
}

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let now = self.now_ms();
        let Ok(mut guard) = self.authz.try_borrow_mut() else {
            return self.deny(500, &Vec::new(), "sark-policy: authorizer busy\n");
        };
        let Some(authz) = guard.as_mut() else {
            return self.deny(500, &Vec::new(), "sark-policy: not configured\n");
        };
        let mut parts = self.parts(authz.config().cache_key.source_address);
        let outcome = match authz.lookup(&parts, now) {
            Ok(hit) => hit,
            Err(key) => {
                self.add_properties(&mut parts);
                authz.evaluate_and_store(&parts, key, now)
            }
        };
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
            Ok(decision) if decision.allowed => self.allow(decision, &parts),
            Ok(decision) => {
                self.metrics.incr(Counter::Denied);
                let status = decision.http_status.unwrap_or(deny_status);
                self.deny(status, &decision.headers, &decision.body)
            }
            Err(e) => {
                self.metrics.incr(Counter::Errors);
                log(LogLevel::Error, &format!("sark-policy: policy error: {e}"));
                if fails_open {
                    Action::Continue
                } else {
                    self.deny(failure_status, &Vec::new(), "policy error\n")
                }
            }
        }
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if let Some(decision) = self.allowed.take() {
            for (name, value) in &decision.response_headers_to_add {
                self.add_http_response_header(name, value);
            }
        }
        Action::Continue
    }
}
