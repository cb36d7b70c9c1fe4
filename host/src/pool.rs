//! A pool of sandboxed instances holding the same policies and data. Calls
//! pick a shard; policy and data changes go to every shard; an instance that
//! traps is replaced from the shard's replay state.

use crate::bindings::{WitCacheStats, WitEncoding, WitError};
use crate::decision_log::{self, LogStats};
use crate::metrics::{self, Metrics, Recorder};
use crate::options::EvalOptions;
use crate::paths::{self, PathCounts};
use crate::runtime::Shared;
use crate::sandbox::{Failure, Guest, HostState, Sandbox};
use crate::state::{Applied, Change, PolicyState};
use crate::{Error, Result};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use wasmtime::Store;

pub(crate) struct Shard {
    /// `None` after a failed replacement; rebuilt on the next call.
    sandbox: Option<Sandbox>,
    state: Arc<PolicyState>,
    pub rec: Recorder,
}

pub(crate) struct Pool {
    pub shared: Arc<Shared>,
    /// Each on its own cache lines: a shard's lock word and counters are
    /// written on every call, and threads working on different shards must
    /// not invalidate each other's lines.
    shards: Vec<Padded<Mutex<Shard>>>,
    /// Serializes changes so every shard sees them in one order.
    changes: Mutex<()>,
    /// Written by every call that may go to any shard; apart from the
    /// fields every decision reads.
    next: Padded<AtomicUsize>,
    hasher: std::hash::RandomState,
    /// The status of each bundle of this engine (`bundles::status`).
    pub bundles: crate::bundles::Registry,
    /// Registers this pool with the runtime's decision log once.
    log_registered: std::sync::Once,
}

/// `T` alone on its cache lines (128 bytes: x86-64 prefetches lines in
/// pairs, and aarch64 servers use 128-byte lines).
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What a shard whose instance cannot answer contributes to the metrics.
const NO_CACHE_STATS: WitCacheStats = WitCacheStats {
    hits: 0,
    misses: 0,
    evictions: 0,
    expirations: 0,
    entries: 0,
    capacity: 0,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    pub fn new(shared: Arc<Shared>) -> Result<Pool> {
        let empty = Arc::new(PolicyState::new(shared.eval_options, shared.rego_version));
        let shards = (0..shared.shards)
            .map(|_| {
                Ok(Padded(Mutex::new(Shard {
                    sandbox: Some(Sandbox::new(&shared, &empty)?),
                    state: empty.clone(),
                    rec: Recorder::new(),
                })))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Pool {
            shared,
            shards,
            bundles: crate::bundles::Registry::default(),
            changes: Mutex::new(()),
            next: Padded(AtomicUsize::new(0)),
            hasher: std::hash::RandomState::new(),
            log_registered: std::sync::Once::new(),
        })
    }

    /// Has the runtime's uploader ship this pool's decision-log events
    /// (once an authorizer is made: only authorizers log).
    pub fn register_log(self: &Arc<Self>) {
        if let Some(logger) = &self.shared.decision_log {
            self.log_registered
                .call_once(|| logger.inner().register(self));
        }
    }

    /// Takes up to one batch of at most `max_json` bytes of JSON from every
    /// shard's decision log into `out`, and reads the log's counters.
    pub fn take_log_batches(
        &self,
        max_json: u64,
        encoding: WitEncoding,
        out: &mut Vec<decision_log::Batch>,
    ) {
        for i in self.shards() {
            let taken = self.with_shard(i, |sandbox, _| {
                let (batch, stats) = sandbox.call(self.shared.deadline_ticks, |g, store| {
                    let Some(l) = g.log else {
                        return Ok(Ok((None, None)));
                    };
                    let log = g.api.sark_policy_decision_log().log();
                    let batch = log.call_take_batch(&mut *store, l.log, max_json, encoding)?;
                    let stats = log.call_stats(store, l.log)?;
                    Ok(Ok((batch, Some(stats))))
                })?;
                if let Some(stats) = stats {
                    sandbox.log_seen = stats.into();
                    sandbox.log_unread = 0;
                }
                Ok(batch)
            });
            if let Ok(Some(b)) = taken {
                out.push(b.into());
            }
        }
    }

    /// The decision-log counters of every shard, read now (as last read
    /// for a shard whose instance cannot answer).
    pub fn log_stats(&self) -> LogStats {
        let mut sum = LogStats::default();
        for i in self.shards() {
            let read = self.with_shard(i, |sandbox, _| {
                if let Some(stats) = read_log_stats(sandbox, self.shared.deadline_ticks)? {
                    sandbox.log_seen = stats;
                    sandbox.log_unread = 0;
                }
                Ok(sandbox.log_seen)
            });
            if let Ok(stats) = read {
                sum.add(&stats);
            }
        }
        sum
    }

    /// Hands what `sandbox`'s log holds to the uploader and retires its
    /// counters: it is about to be replaced though it still answers.
    fn retire_log(&self, sandbox: &mut Sandbox) {
        let Some(logger) = &self.shared.decision_log else {
            return;
        };
        let mut batches = Vec::new();
        let encoding = logger.inner().encoding();
        let drained = sandbox.call(self.shared.deadline_ticks, |g, store| {
            let Some(l) = g.log else {
                return Ok(Ok(None));
            };
            let log = g.api.sark_policy_decision_log().log();
            while let Some(b) = log.call_take_batch(&mut *store, l.log, u64::MAX, encoding)? {
                batches.push(decision_log::Batch::from(b));
            }
            Ok(Ok(Some(log.call_stats(store, l.log)?)))
        });
        logger.inner().enqueue(batches);
        match drained {
            Ok(Some(stats)) => logger.inner().retire(&stats.into(), false),
            Ok(None) => {}
            Err(_) => logger.inner().retire(&sandbox.log_seen, true),
        }
    }

    /// The shard for a key's parts: the same parts always give the same shard.
    pub fn shard_for(&self, parts: impl Hash) -> usize {
        // One shard (the default) needs no hashing, which is a fair part of
        // a cached decision's host-side cost.
        match self.shards.len() {
            1 => 0,
            n => (self.hasher.hash_one(parts) % n as u64) as usize,
        }
    }

    /// Runs one guest call that touches no cache on any shard: the first
    /// free one from the next in round robin, or, when all are busy, that
    /// one once it is free.
    pub fn run_any<R>(
        &self,
        f: impl FnOnce(&Guest<'_>, &mut Store<HostState>) -> wasmtime::Result<Result<R, WitError>>,
    ) -> Result<R> {
        self.run_any_within(self.shared.deadline_ticks, f)
    }

    /// [`run_any`](Self::run_any) under `ticks` instead of the per-call
    /// deadline (batches such as a test run take the load deadline).
    pub fn run_any_within<R>(
        &self,
        ticks: u64,
        f: impl FnOnce(&Guest<'_>, &mut Store<HostState>) -> wasmtime::Result<Result<R, WitError>>,
    ) -> Result<R> {
        let n = self.shards.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let free = (0..n).find_map(|k| match self.shards[(start + k) % n].try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        });
        let shard = free.unwrap_or_else(|| lock(&self.shards[start]));
        self.with_locked(shard, |sandbox, _| sandbox.call(ticks, f))
    }

    /// Runs one guest call on shard `i`.
    pub fn run<R>(
        &self,
        i: usize,
        f: impl FnOnce(&Guest<'_>, &mut Store<HostState>) -> wasmtime::Result<Result<R, WitError>>,
    ) -> Result<R> {
        self.with_shard(i, |sandbox, _| sandbox.call(self.shared.deadline_ticks, f))
    }

    /// Runs `f` with shard `i`'s instance and recorder; handles a sandbox
    /// event by counting it and replacing the instance.
    pub fn with_shard<R>(
        &self,
        i: usize,
        f: impl FnOnce(&mut Sandbox, &mut Recorder) -> Result<R, Failure>,
    ) -> Result<R> {
        let Some(slot) = self.shards.get(i) else {
            return Err(Error::Runtime(format!("no shard {i}")));
        };
        self.with_locked(lock(slot), f)
    }

    /// `with_shard` on a shard already locked.
    fn with_locked<R>(
        &self,
        mut shard: MutexGuard<'_, Shard>,
        f: impl FnOnce(&mut Sandbox, &mut Recorder) -> Result<R, Failure>,
    ) -> Result<R> {
        let shard = &mut *shard;
        if shard.sandbox.is_none() {
            shard.sandbox = Some(Sandbox::new(&self.shared, &shard.state)?);
        }
        let Some(sandbox) = shard.sandbox.as_mut() else {
            return Err(Error::Runtime("instance unavailable".into()));
        };
        match f(sandbox, &mut shard.rec) {
            Ok(r) => Ok(r),
            Err(Failure::Guest(p)) => Err(Error::Policy(p)),
            Err(Failure::Event(e)) => Err(self.recycle(shard, e)),
        }
    }

    /// Counts a sandbox event and replaces the shard's instance.
    fn recycle(&self, shard: &mut Shard, e: Error) -> Error {
        let e = match e {
            Error::Timeout(_) => {
                shard.rec.timeouts += 1;
                Error::Timeout(self.shared.deadline)
            }
            Error::MemoryLimit(n) => {
                shard.rec.memory_limits += 1;
                Error::MemoryLimit(n)
            }
            other => other,
        };
        shard.rec.recycles += 1;
        // A trapped instance cannot be asked: its buffered events, as last
        // read, are lost.
        if let (Some(logger), Some(old)) = (&self.shared.decision_log, &shard.sandbox) {
            logger.inner().retire(&old.log_seen, true);
        }
        shard.sandbox = Sandbox::new(&self.shared, &shard.state).ok();
        e
    }

    /// Makes `change` in every shard. The first shard decides: if it
    /// refuses, nothing changed anywhere.
    pub fn change(&self, change: Change<'_>) -> Result<Applied> {
        let _serial = lock(&self.changes);
        let mut next_state: Option<Arc<PolicyState>> = None;
        let mut result = Applied::Nothing;
        for (i, slot) in self.shards.iter().enumerate() {
            let outcome = self.with_shard(i, |sandbox, _| {
                change.send(sandbox, self.shared.load_deadline_ticks)
            });
            let new_state = match (&next_state, &outcome) {
                (Some(s), _) => s.clone(),
                (None, Ok(applied)) => {
                    let mut s = (*lock(slot).state).clone();
                    s.apply(&change, applied);
                    Arc::new(s)
                }
                (None, Err(_)) => Arc::new((*lock(slot).state).clone()),
            };
            match outcome {
                Ok(r) => {
                    lock(slot).state = new_state.clone();
                    if i == 0 {
                        result = r;
                    }
                }
                Err(e) if i == 0 => return Err(e),
                // Later shards hold the same state as the first, so they
                // accept what it accepted; if one still fails, rebuild it.
                Err(_) => {
                    let mut shard = lock(slot);
                    shard.state = new_state.clone();
                    if let Some(old) = shard.sandbox.as_mut() {
                        self.retire_log(old);
                    }
                    shard.sandbox = Sandbox::new(&self.shared, &new_state).ok();
                }
            }
            next_state = Some(new_state);
        }
        // A bundle's roots may have changed: data the journal holds under
        // roots no bundle owns any more would come back in a replacement
        // instance, so the journal is rebuilt from the data as it is now.
        let roots_changed = match (&change, &result) {
            (Change::RemoveBundle(_), _) => true,
            (Change::ActivateBundle(..), Applied::Bundle(info)) => info.deltas == 0,
            _ => false,
        };
        if let Some(state) = next_state.filter(|s| roots_changed || s.wants_compaction()) {
            self.compact(&state);
        }
        Ok(result)
    }

    /// Replaces every shard's state (`state`, which they all hold) by one
    /// whose data changes are the merged document, read from the first
    /// shard's instance, without the data under active bundles' roots (the
    /// bundles replay it). Call with the changes lock held. If the document
    /// cannot be read or cut to the component's limit, the journal stays
    /// as it is and compaction is tried again after as many merges again.
    fn compact(&self, state: &PolicyState) {
        let read = self.run(0, |g, store| {
            let e = g.api.sark_policy_evaluator().engine();
            let limits = e.call_limits(&mut *store, g.engine)?;
            let bundles = e.call_bundles(&mut *store, g.engine)?;
            Ok(e.call_data(store, g.engine)?
                .map(|doc| (doc, limits.max_bytes, bundles)))
        });
        let compacted = read.ok().and_then(|(doc, max_bytes, bundles)| {
            let roots: Vec<&str> = bundles
                .iter()
                .flat_map(|b| b.roots.iter().map(String::as_str))
                .collect();
            let doc = crate::state::without_roots(&doc, &roots)?;
            state.compacted(&doc, usize::try_from(max_bytes).unwrap_or(usize::MAX))
        });
        let next = Arc::new(compacted.unwrap_or_else(|| state.compaction_deferred()));
        for slot in &self.shards {
            lock(slot).state = next.clone();
        }
    }

    /// Bundles and deltas a replacement instance would replay (a test hook).
    pub fn bundles_held(&self) -> (usize, usize) {
        self.shards
            .first()
            .map_or((0, 0), |s| lock(s).state.bundles_held())
    }

    /// Data changes a replacement instance would replay (a test hook).
    pub fn journal_len(&self) -> usize {
        self.shards.first().map_or(0, |s| lock(s).state.data_len())
    }

    /// Metrics over every shard: host counters, guest cache counters and
    /// guest evaluation-path counters. A shard whose instance cannot answer
    /// contributes its host counters only.
    pub fn metrics(&self) -> Metrics {
        let mut snapshots = Vec::with_capacity(self.shards.len());
        let mut path_stats = Vec::with_capacity(self.shards.len());
        for i in self.shards() {
            let guest = self.with_shard(i, |sandbox, rec| {
                let (cache, eval) = sandbox.call(self.shared.deadline_ticks, |g, store| {
                    let cache = g
                        .api
                        .sark_policy_decision_cache()
                        .cache()
                        .call_stats(&mut *store, g.cache)?;
                    let eval = g
                        .api
                        .sark_policy_evaluator()
                        .engine()
                        .call_eval_stats(store, g.engine)?;
                    Ok(Ok((cache, eval)))
                })?;
                let counts = PathCounts::read(&eval).since(&sandbox.paths_base);
                Ok((rec.clone(), cache, counts, eval))
            });
            match guest {
                Ok((rec, cache, counts, eval)) => {
                    snapshots.push((rec, cache));
                    path_stats.push((counts, eval));
                }
                Err(_) => {
                    if let Some(slot) = self.shards.get(i) {
                        snapshots.push((lock(slot).rec.clone(), NO_CACHE_STATS));
                    }
                }
            }
        }
        let mut m = metrics::merge(snapshots.iter().map(|(r, s)| (r, *s)));
        paths::merge(&mut m, path_stats.iter().map(|(c, e)| (c, e)));
        m.bundles = self.bundles.snapshot();
        m.decision_log = self
            .shared
            .decision_log
            .as_ref()
            .map(|l| l.inner().status());
        m
    }

    /// Guest cache counters of shard `i`.
    pub fn cache_stats(&self, i: usize) -> Result<WitCacheStats> {
        self.run(i, |g, store| {
            g.api
                .sark_policy_decision_cache()
                .cache()
                .call_stats(store, g.cache)
                .map(Ok)
        })
    }

    /// Zeroes host and guest counters. The guest's evaluation-path
    /// counters cannot be zeroed, so their reading now becomes the baseline.
    pub fn reset_metrics(&self) -> Result<()> {
        for i in self.shards() {
            self.with_shard(i, |sandbox, rec| {
                rec.reset();
                let eval = sandbox.call(self.shared.deadline_ticks, |g, store| {
                    g.api
                        .sark_policy_decision_cache()
                        .cache()
                        .call_reset_stats(&mut *store, g.cache)?;
                    g.api
                        .sark_policy_evaluator()
                        .engine()
                        .call_eval_stats(store, g.engine)
                        .map(Ok)
                })?;
                sandbox.paths_base = PathCounts::read(&eval);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The evaluation options every instance holds.
    pub fn eval_options(&self) -> EvalOptions {
        self.shards
            .first()
            .map_or(self.shared.eval_options, |s| lock(s).state.options())
    }

    /// Every shard index.
    pub fn shards(&self) -> std::ops::Range<usize> {
        0..self.shards.len()
    }
}

/// The decision-log counters of `sandbox`'s instance; `None` when it does
/// not log.
pub(crate) fn read_log_stats(
    sandbox: &mut Sandbox,
    ticks: u64,
) -> Result<Option<LogStats>, Failure> {
    sandbox.call(ticks, |g, store| {
        let Some(l) = g.log else {
            return Ok(Ok(None));
        };
        let stats = g
            .api
            .sark_policy_decision_log()
            .log()
            .call_stats(store, l.log)?;
        Ok(Ok(Some(stats.into())))
    })
}

impl Drop for Pool {
    /// Hands every shard's buffered events to the runtime's uploader, which
    /// sends them (dropping the runtime waits for it, within its shutdown
    /// timeout).
    fn drop(&mut self) {
        if self.shared.decision_log.is_none() {
            return;
        }
        for slot in &self.shards {
            let mut shard = lock(slot);
            if let Some(sandbox) = shard.sandbox.as_mut() {
                self.retire_log(sandbox);
            }
        }
    }
}
