//! The runtime's side of decision logging: the engines whose instances
//! log, the batches held in host memory, flush requests, and the counters
//! the status is made of.

use super::status::DecisionLogStatus;
use super::upload::{self, Sender};
use super::{DecisionLogConfig, DecisionLogSink};
use crate::bindings::{WitEncoding, WitLogConfig, WitLogStats};
use crate::pool::Pool;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One instance's log counters (the WIT `log-stats` the host reads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LogStats {
    pub logged: u64,
    pub dropped_buffer_full: u64,
    pub dropped_mask_error: u64,
    pub truncated: u64,
    pub buffered_events: u64,
    pub buffered_bytes: u64,
}

impl From<WitLogStats> for LogStats {
    fn from(s: WitLogStats) -> Self {
        LogStats {
            logged: s.logged,
            dropped_buffer_full: s.dropped_buffer_full,
            dropped_mask_error: s.dropped_mask_error,
            truncated: s.truncated,
            buffered_events: s.buffered_events,
            buffered_bytes: s.buffered_bytes,
        }
    }
}

impl LogStats {
    pub fn add(&mut self, o: &LogStats) {
        self.logged += o.logged;
        self.dropped_buffer_full += o.dropped_buffer_full;
        self.dropped_mask_error += o.dropped_mask_error;
        self.truncated += o.truncated;
        self.buffered_events += o.buffered_events;
        self.buffered_bytes += o.buffered_bytes;
    }
}

/// Events taken from an instance, held by the host until sent.
pub(crate) struct Batch {
    pub body: Vec<u8>,
    pub events: u64,
    pub json_bytes: u64,
}

impl From<crate::bindings::WitBatch> for Batch {
    fn from(b: crate::bindings::WitBatch) -> Self {
        Batch {
            body: b.body,
            events: u64::from(b.events),
            json_bytes: b.json_bytes,
        }
    }
}

/// What the uploader is asked to do.
#[derive(Default)]
struct Control {
    /// Batches of engines that were dropped, to send.
    inbox: Vec<Batch>,
    stop: bool,
    /// Flushes asked for, and the last one done (generations).
    flush_asked: u64,
    flush_done: u64,
}

/// Counters kept by the host.
#[derive(Default)]
pub(super) struct Counters {
    pub sent: u64,
    pub uploads: u64,
    pub failures: u64,
    pub consecutive_failures: u64,
    pub last_upload: Option<SystemTime>,
    pub last_error: Option<String>,
    pub last_error_time: Option<SystemTime>,
    /// What instances that are gone (recycled, or their engine dropped)
    /// counted, as last read.
    pub retired: LogStats,
    /// Events buffered in instances that trapped (as last read).
    pub dropped_recycled: u64,
    /// Events still held when shutdown's time ran out.
    pub dropped_shutdown: u64,
}

pub(crate) struct Inner {
    pub config: DecisionLogConfig,
    /// The log configuration every instance gets, but for its id seed.
    wit_config: WitLogConfig,
    pools: Mutex<Vec<Weak<Pool>>>,
    control: Mutex<Control>,
    /// The uploader waits on it.
    wake: Condvar,
    /// Flushers wait on it.
    flushed: Condvar,
    /// Set once a wake is asked for, until the uploader takes it: decide
    /// calls that find a full buffer notify once, not each.
    woken: AtomicBool,
    pub(super) counters: Mutex<Counters>,
    /// Events and JSON bytes the uploader holds.
    pub(super) held_events: AtomicU64,
    pub(super) held_bytes: AtomicU64,
}

/// A runtime's decision logging: configuration, the engines that log,
/// and the uploader thread (stopped, after a bounded flush, on drop).
pub(crate) struct Logger {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

/// A random version 4 UUID: an instance id.
fn uuid4() -> String {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

impl Logger {
    /// Checks `config` and starts the uploader.
    pub fn start(config: DecisionLogConfig) -> Result<Logger> {
        config.check()?;
        let mut labels = vec![
            ("id".to_owned(), uuid4()),
            ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
        ];
        for (k, v) in &config.labels {
            labels.retain(|(name, _)| name != k);
            labels.push((k.clone(), v.clone()));
        }
        let wit_config = WitLogConfig {
            labels,
            erase: config.erase.clone(),
            max_buffer_bytes: config.max_buffer_bytes,
            max_event_bytes: config.max_event_bytes,
            cached_sample: config.cached_sample,
            id_seed: (0, 0),
        };
        let sender = Sender::new(&config);
        let inner = Arc::new(Inner {
            config,
            wit_config,
            pools: Mutex::new(Vec::new()),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            flushed: Condvar::new(),
            woken: AtomicBool::new(false),
            counters: Mutex::new(Counters::default()),
            held_events: AtomicU64::new(0),
            held_bytes: AtomicU64::new(0),
        });
        let run = inner.clone();
        let thread = std::thread::Builder::new()
            .name("sark-decision-log".into())
            .spawn(move || upload::run(&run, sender))
            .map_err(|e| Error::Runtime(format!("starting the decision-log uploader: {e}")))?;
        Ok(Logger {
            inner,
            thread: Some(thread),
        })
    }

    pub fn inner(&self) -> &Inner {
        &self.inner
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        {
            let mut c = lock(&self.inner.control);
            c.stop = true;
            self.inner.wake.notify_all();
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        // The last engine may be dropped on the uploader itself (it holds
        // engines while it takes their batches): it then stops on its own.
        if thread.thread().id() != std::thread::current().id() {
            let _ = thread.join();
        }
    }
}

impl Inner {
    /// The configuration of a new instance's log, with fresh random bits
    /// for its decision ids.
    pub fn wit_config(&self) -> WitLogConfig {
        WitLogConfig {
            id_seed: (fastrand::u64(..), fastrand::u64(..)),
            ..self.wit_config.clone()
        }
    }

    /// How batches are written for the sink.
    pub fn encoding(&self) -> WitEncoding {
        match self.config.sink {
            DecisionLogSink::Http(_) => WitEncoding::JsonArray,
            DecisionLogSink::Console | DecisionLogSink::Stderr => WitEncoding::JsonLines,
        }
    }

    /// Uploads `pool`'s events from now on.
    pub fn register(&self, pool: &Arc<Pool>) {
        let mut pools = lock(&self.pools);
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(pool));
    }

    /// The live engines' pools (drop them outside any lock of this log:
    /// the last one dropped flushes into it).
    fn pools(&self) -> Vec<Arc<Pool>> {
        lock(&self.pools).iter().filter_map(Weak::upgrade).collect()
    }

    /// Asks the uploader to look now (an instance's buffer passed the
    /// upload size). Cheap when a wake is already pending.
    pub fn wake(&self) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            let _c = lock(&self.control);
            self.wake.notify_all();
        }
    }

    /// Hands the uploader batches of a pool being dropped.
    pub fn enqueue(&self, batches: Vec<Batch>) {
        if batches.is_empty() {
            return;
        }
        lock(&self.control).inbox.extend(batches);
        self.wake();
    }

    /// Records the counters of an instance that is gone, as last read;
    /// `lost`: its buffered events went with it (a trap).
    pub fn retire(&self, seen: &LogStats, lost: bool) {
        let mut c = lock(&self.counters);
        c.retired.add(&LogStats {
            buffered_events: 0,
            buffered_bytes: 0,
            ..*seen
        });
        if lost {
            c.dropped_recycled += seen.buffered_events;
        }
    }

    /// Takes up to one batch from every instance of every engine into
    /// `held`; false when every buffer was empty.
    pub(super) fn take(&self, held: &mut VecDeque<Batch>) -> bool {
        let pools = self.pools();
        let before = held.len();
        let mut taken = Vec::new();
        for pool in &pools {
            pool.take_log_batches(self.config.upload_size_limit, self.encoding(), &mut taken);
        }
        held.extend(taken);
        drop(pools);
        held.len() > before
    }

    /// Moves the inbox into `held` and says whether to stop and which
    /// flush is asked for.
    pub(super) fn control(&self, held: &mut VecDeque<Batch>) -> (bool, u64) {
        let mut c = lock(&self.control);
        held.extend(c.inbox.drain(..));
        (c.stop, c.flush_asked)
    }

    /// Every flush up to `generation` is done.
    pub(super) fn flushed_up_to(&self, generation: u64) {
        let mut c = lock(&self.control);
        if c.flush_done < generation {
            c.flush_done = generation;
            self.flushed.notify_all();
        }
    }

    /// Sleeps up to `d`; with `on_work`, returns early when woken or told
    /// to stop, else only when told to stop.
    pub(super) fn sleep(&self, d: Duration, on_work: bool) {
        let until = Instant::now() + d;
        let mut c = lock(&self.control);
        loop {
            let woken = on_work && self.woken.swap(false, Ordering::AcqRel);
            if c.stop || woken || (on_work && !c.inbox.is_empty()) {
                return;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            c = self
                .wake
                .wait_timeout(c, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Uploads everything logged before this call; false when `timeout`
    /// passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let generation = {
            let mut c = lock(&self.control);
            c.flush_asked += 1;
            c.flush_asked
        };
        self.wake();
        let mut c = lock(&self.control);
        while c.flush_done < generation {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || c.stop {
                return false;
            }
            c = self
                .flushed
                .wait_timeout(c, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// The status: host counters, and the counters of every instance of
    /// every engine (read now) and of instances gone.
    pub fn status(&self) -> DecisionLogStatus {
        let pools = self.pools();
        let mut live = LogStats::default();
        for pool in &pools {
            live.add(&pool.log_stats());
        }
        drop(pools);
        let c = lock(&self.counters);
        let mut all = c.retired;
        all.add(&live);
        let held_events = self.held_events.load(Ordering::Acquire);
        DecisionLogStatus {
            sink: match &self.config.sink {
                DecisionLogSink::Http(url) => url.clone(),
                DecisionLogSink::Console => "console".into(),
                DecisionLogSink::Stderr => "stderr".into(),
            },
            logged: all.logged,
            sent: c.sent,
            uploads: c.uploads,
            upload_failures: c.failures,
            consecutive_failures: c.consecutive_failures,
            dropped_buffer_full: all.dropped_buffer_full,
            dropped_mask_error: all.dropped_mask_error,
            dropped_recycled: c.dropped_recycled,
            dropped_shutdown: c.dropped_shutdown,
            truncated: all.truncated,
            buffered_events: all.buffered_events + held_events,
            buffered_bytes: all.buffered_bytes + self.held_bytes.load(Ordering::Acquire),
            last_upload: c.last_upload,
            last_error: c.last_error.clone(),
            last_error_time: c.last_error_time,
        }
    }
}
