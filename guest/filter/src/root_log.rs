//! The root context's side of the decision log: on each tick a batch is
//! taken from the worker's log and POSTed to the collector's cluster
//! (what the answers mean is `log_upload`), and the log's counters go to
//! Envoy's metrics.

use super::{Root, now_ms};
use crate::authz::Authz;
use crate::log;
use crate::log_upload::{Report, Step, Upload, Uploader};
use crate::metrics::Counter;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel, MapType};
use sark_policy_core::decision_log::LogStats;
use std::rc::Rc;
use std::time::Duration;

impl Root {
    /// Starts uploading the decision log, if one is configured.
    pub(super) fn start_logging(&mut self, authz: &Authz, seed: u64) {
        let Some(config) = authz.config().decision_log.clone() else {
            self.uploader = None;
            return;
        };
        log(
            LogLevel::Info,
            &format!(
                "sark-policy: decision log of instance {} uploaded to cluster {:?} at {} \
                 (at most every {} ms, {} bytes of JSON per upload)",
                authz.log_instance_id().unwrap_or_default(),
                config.cluster,
                config.path,
                config.upload_interval_ms,
                config.upload_size_limit_bytes
            ),
        );
        let uploader = Uploader::new(config, seed);
        let now = now_ms();
        let wake = [
            Some(uploader.wake_ms(now)),
            self.poller.as_ref().map(|p| p.wake_ms(now)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(1000);
        let _ = hostcalls::set_tick_period(Duration::from_millis(wake));
        self.uploader = Some(uploader);
    }

    /// Uploads a batch when due; the time to sleep, when a log is
    /// configured.
    pub(super) fn tick_log(&mut self, now: u64) -> Option<u64> {
        let uploader = self.uploader.as_mut()?;
        let shared = Rc::clone(&self.authz);
        // Never busy on the tick (one thread, no reentry); if it were, the
        // next tick uploads.
        let Ok(mut guard) = shared.try_borrow_mut() else {
            return Some(uploader.wake_ms(now));
        };
        let authz = guard.as_mut()?;
        let stats = authz.log_stats()?;
        let step = uploader.tick(now, stats.buffered_bytes, |max| authz.take_log_batch(max));
        let stats = authz.log_stats().unwrap_or(stats);
        drop(guard);
        let held = uploader.held_bytes();
        self.report_stats(stats, held);
        let uploader = self.uploader.as_mut()?;
        match step {
            Step::Wait => {}
            Step::Upload => {
                let config = uploader.config();
                let headers = uploader.request_headers();
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let timeout = Duration::from_millis(config.timeout_ms);
                let call = hostcalls::dispatch_http_call(
                    &config.cluster,
                    headers,
                    uploader.body(),
                    vec![],
                    timeout,
                );
                match call {
                    Ok(token) => uploader.started(token, now),
                    Err(status) => {
                        let why = format!(
                            "Envoy refused the call to cluster {:?} ({status:?}; is the cluster \
                             defined?)",
                            config.cluster
                        );
                        let r = uploader.dispatch_failed(now, why);
                        self.log_report(&r);
                    }
                }
            }
            Step::Abandoned(r) => self.log_report(&r),
        }
        self.uploader.as_ref().map(|u| u.wake_ms(now))
    }

    /// The collector's answer to upload `token`.
    pub(super) fn log_response(&mut self, token: u32, now: u64) {
        let headers = hostcalls::get_map(MapType::HttpCallResponseHeaders).unwrap_or_default();
        let Some(uploader) = self.uploader.as_mut() else {
            return;
        };
        if let Some(r) = uploader.on_response(token, now, &headers) {
            let held = uploader.held_bytes();
            let stats = self
                .authz
                .try_borrow()
                .ok()
                .and_then(|a| a.as_ref().and_then(Authz::log_stats));
            if let Some(stats) = stats {
                self.report_stats(stats, held);
            }
            self.log_report(&r);
        }
    }

    /// Adds what the log counted since the last report to Envoy's metrics.
    fn report_stats(&mut self, stats: LogStats, held: u64) {
        let change = self.meter.change(stats, held);
        self.metrics.add(Counter::LogEvents, change.events);
        self.metrics.add(Counter::LogDropped, change.dropped);
        self.metrics.add_log_buffered(change.buffered);
    }

    /// Counts and logs a finished upload.
    fn log_report(&self, r: &Report) {
        let Some(uploader) = self.uploader.as_ref() else {
            return;
        };
        match &r.upload {
            Upload::Sent { .. } => {
                self.metrics.incr(Counter::LogUploads);
            }
            Upload::Failed(why) => {
                self.metrics.incr(Counter::LogUploadFailures);
                log(
                    LogLevel::Warn,
                    &format!(
                        "sark-policy: decision-log upload of {} events to cluster {:?} failed: \
                         {why}; retry in {} ms (failure {} in a row)",
                        uploader.held_events(),
                        uploader.config().cluster,
                        r.next_ms,
                        r.failures
                    ),
                );
            }
        }
    }
}
