//! The `decision-log` interface: a `RefCell` around the core's log.

use crate::Component;
use crate::exports::sark::policy::decision_log::{
    Batch, Encoding, Error, Guest, GuestLog, Log, LogConfig, LogStats,
};
use core::cell::RefCell;
use sark_policy_core::decision_log as core_log;

/// The `log` resource.
pub struct LogResource(pub RefCell<core_log::DecisionLog>);

impl Guest for Component {
    type Log = LogResource;
}

/// A size from the host, saturating on a 32-bit guest.
fn size(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

impl GuestLog for LogResource {
    fn create(config: LogConfig) -> Result<Log, Error> {
        let log = core_log::DecisionLog::new(core_log::LogConfig {
            labels: config.labels,
            erase: config.erase,
            max_buffer_bytes: size(config.max_buffer_bytes),
            max_event_bytes: size(config.max_event_bytes),
            cached_sample: config.cached_sample,
            id_seed: [config.id_seed.0, config.id_seed.1],
        })?;
        Ok(Log::new(LogResource(RefCell::new(log))))
    }

    fn take_batch(&self, max_json_bytes: u64, encoding: Encoding) -> Option<Batch> {
        let encoding = match encoding {
            Encoding::Gzip => core_log::Encoding::Gzip,
            Encoding::JsonLines => core_log::Encoding::JsonLines,
            Encoding::JsonArray => core_log::Encoding::JsonArray,
        };
        let b = self
            .0
            .borrow_mut()
            .take_batch(size(max_json_bytes), encoding)?;
        Some(Batch {
            body: b.body,
            events: b.events,
            json_bytes: b.json_bytes as u64,
        })
    }

    fn stats(&self) -> LogStats {
        let s = self.0.borrow().stats();
        LogStats {
            logged: s.logged,
            dropped_buffer_full: s.dropped_buffer_full,
            dropped_mask_error: s.dropped_mask_error,
            truncated: s.truncated,
            buffered_events: s.buffered_events,
            buffered_bytes: s.buffered_bytes,
            batches: s.batches,
            batched_events: s.batched_events,
        }
    }
}
