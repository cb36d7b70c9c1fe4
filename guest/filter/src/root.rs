//! The root context of a worker VM: the configuration, and on the root
//! context's tick the polling of the configured bundle (the HTTP call to
//! the bundle server's cluster and its answer; what they mean is
//! `bundle_poll`) and the decision-log uploads (`root_log.rs`).

use crate::authz::Authz;
use crate::bundle_poll::{Event, Poller, Report, Step};
use crate::config::Config;
use crate::log_upload::{Meter, Uploader};
use crate::metrics::{Counter, Metrics};
use crate::{Request, Shared, log};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel, MapType};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

#[path = "root_log.rs"]
mod root_log;

/// The worker VM's root context.
pub(crate) struct Root {
    authz: Shared,
    metrics: Metrics,
    /// Polls the configured bundle, if any.
    poller: Option<Poller>,
    /// Seeds the poll jitter, with the clock.
    context_id: u32,
    /// Uploads the decision log, if one is configured.
    uploader: Option<Uploader>,
    /// The log's counters last reported to Envoy.
    meter: Meter,
}

/// The host's clock in ms since the epoch (0 when it cannot be read).
fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Root {
    pub(crate) fn new(context_id: u32) -> Self {
        Self {
            authz: Rc::default(),
            metrics: Metrics::default(),
            poller: None,
            context_id,
            uploader: None,
            meter: Meter::default(),
        }
    }

    /// 128 random bits: the host's (WASI `random_get`, which seeds std's
    /// `RandomState`), mixed with the clock and the context id in case
    /// they are not random.
    fn seed(&self) -> [u64; 2] {
        let nanos = hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let clock = (nanos as u64) ^ ((nanos >> 64) as u64);
        let random = RandomState::new();
        [
            random.hash_one(clock) ^ clock,
            random.hash_one(self.context_id) ^ (u64::from(self.context_id) << 32),
        ]
    }

    /// Starts polling at the next tick (the first poll is due at once).
    fn start_polling(&mut self, authz: &Authz) {
        let Some(bundle) = authz.config().bundle.clone() else {
            self.poller = None;
            return;
        };
        log(
            LogLevel::Info,
            &format!(
                "sark-policy: polling bundle {:?} from cluster {:?} at {} every {}-{} s",
                bundle.name,
                bundle.cluster,
                bundle.path,
                bundle.min_delay_seconds,
                bundle.max_delay_seconds
            ),
        );
        let nanos = hostcalls::get_current_time()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.subsec_nanos());
        let seed = now_ms() ^ (u64::from(nanos) << 20) ^ (u64::from(self.context_id) << 44);
        let poller = Poller::new(bundle, seed);
        let _ = hostcalls::set_tick_period(Duration::from_millis(poller.wake_ms(now_ms())));
        self.poller = Some(poller);
    }
}

/// Counts and logs a finished poll.
fn report(metrics: Metrics, name: &str, ready: bool, r: &Report, now_ms: u64) {
    if r.event.downloaded() {
        metrics.incr(Counter::BundleDownloads);
    }
    let next = r.next_poll_ms;
    let serving = if ready {
        "the active bundle keeps serving"
    } else {
        "no bundle is active yet"
    };
    match &r.event {
        Event::Activated(info) => {
            metrics.incr(Counter::BundleActivations);
            metrics.set_last_activation(now_ms / 1000);
            log(
                LogLevel::Info,
                &format!(
                    "sark-policy: bundle {name:?} activated: revision {:?}, {} modules; \
                     next poll in {next} ms",
                    info.revision,
                    info.modules.len()
                ),
            );
        }
        Event::NotModified => metrics.incr(Counter::BundleNotModified),
        Event::Refused(e) | Event::Failed(e) => {
            metrics.incr(Counter::BundleFailures);
            // A bundle refused needs its publisher; a failed download may
            // be a passing outage.
            let (what, level) = if r.event.downloaded() {
                ("refused", LogLevel::Error)
            } else {
                ("not downloaded", LogLevel::Warn)
            };
            log(
                level,
                &format!(
                    "sark-policy: bundle {name:?} {what}: {e}; {serving}; \
                     retry in {next} ms (failure {} in a row)",
                    r.failures
                ),
            );
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let now = now_ms();
        if self.uploader.as_ref().is_some_and(|u| u.awaits(token_id)) {
            self.log_response(token_id, now);
            return;
        }
        let Some(poller) = self.poller.as_mut() else {
            return;
        };
        if !poller.awaits(token_id) {
            return;
        }
        let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
        let body = || {
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
                .ok()
                .flatten()
        };
        let shared = Rc::clone(&self.authz);
        let Ok(mut guard) = shared.try_borrow_mut() else {
            // Never while a request is decided (one thread, no reentry);
            // the call is abandoned and retried after its timeout.
            return;
        };
        let Some(authz) = guard.as_mut() else {
            return;
        };
        let Some(r) = poller.on_response(token_id, now, &headers, body_size, body, authz) else {
            return;
        };
        if matches!(r.event, Event::Activated(_)) && !authz.has_rule() {
            log(
                LogLevel::Warn,
                &format!(
                    "sark-policy: the active policies define no rule {}: requests fail ({})",
                    authz.config().rule,
                    if authz.fails_open() {
                        "let through, failure_mode open"
                    } else {
                        "failure_status"
                    }
                ),
            );
        }
        let ready = authz.ready();
        drop(guard);
        report(self.metrics, &poller.config().name, ready, &r, now);
    }
}

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
        let seed = self.seed();
        match Config::parse(&bytes).and_then(|c| Authz::with_seed(c, seed)) {
            Ok(authz) => {
                log(
                    LogLevel::Info,
                    &format!(
                        "sark-policy: loaded {} policies, rule {}",
                        authz.config().policies().len(),
                        authz.config().rule
                    ),
                );
                self.start_polling(&authz);
                self.start_logging(&authz, seed[0] ^ seed[1]);
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

    fn on_tick(&mut self) {
        let now = now_ms();
        let wake = [self.tick_bundle(now), self.tick_log(now)]
            .into_iter()
            .flatten()
            .min();
        if let Some(ms) = wake {
            let _ = hostcalls::set_tick_period(Duration::from_millis(ms));
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request::new(Rc::clone(&self.authz), self.metrics)))
    }
}

impl Root {
    /// Polls the bundle when due; the time to sleep, when one is polled.
    fn tick_bundle(&mut self, now: u64) -> Option<u64> {
        let ready = self
            .authz
            .try_borrow()
            .is_ok_and(|a| a.as_ref().is_some_and(Authz::ready));
        let metrics = self.metrics;
        let poller = self.poller.as_mut()?;
        match poller.tick(now) {
            Step::Wait => {}
            Step::Poll => {
                let config = poller.config().clone();
                let headers = poller.request_headers();
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let timeout = Duration::from_millis(config.timeout_ms);
                match hostcalls::dispatch_http_call(&config.cluster, headers, None, vec![], timeout)
                {
                    Ok(token) => poller.started(token, now),
                    Err(status) => {
                        let why = format!(
                            "Envoy refused the call to cluster {:?} ({status:?}; is the cluster \
                             defined?)",
                            config.cluster
                        );
                        let r = poller.dispatch_failed(now, why);
                        report(metrics, &config.name, ready, &r, now);
                    }
                }
            }
            Step::Abandoned(r) => report(metrics, &poller.config().name, ready, &r, now),
        }
        Some(poller.wake_ms(now))
    }
}
