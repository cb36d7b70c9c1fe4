//! One sandboxed instance: a store with no WASI capabilities, a memory cap
//! and a deadline, holding one engine and one cache resource.

use crate::bindings::{PolicyComponent, WitError};
use crate::decide_call::{DecideFunc, LoggedFunc};
use crate::decision_log::LogStats;
use crate::paths::PathCounts;
use crate::runtime::Shared;
use crate::state::PolicyState;
use crate::{Error, PolicyError, Result};
use wasmtime::component::{ResourceAny, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Store data: an empty WASI context and the memory cap.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    cap: MemoryCap,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past `limit` and remembers that it did, so a trap
/// that follows can be reported as the memory cap.
struct MemoryCap {
    limit: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.limit;
        self.hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The exported functions and the two resources of one instance.
pub(crate) struct Guest<'a> {
    pub api: &'a PolicyComponent,
    pub engine: ResourceAny,
    pub cache: ResourceAny,
    /// `authorizer.decide` taking a borrowed request.
    pub decide: DecideFunc,
    /// The decision log and `authorizer.decide-logged`, when the runtime
    /// logs decisions.
    pub log: Option<LoggedFunc>,
}

pub(crate) struct Sandbox {
    store: Store<HostState>,
    api: PolicyComponent,
    engine: ResourceAny,
    cache: ResourceAny,
    decide: DecideFunc,
    log: Option<LoggedFunc>,
    /// The log's counters as last read: what a trap loses.
    pub log_seen: LogStats,
    /// Decisions logged since the log's counters were last read.
    pub log_unread: u32,
    /// This instance's evaluation-path counters at the last metrics reset
    /// (the guest's cannot be reset); a new instance starts from zero.
    pub paths_base: PathCounts,
}

/// A call's outcome at the wasm level: the guest's own error, or a sandbox
/// event that poisons the instance.
pub(crate) enum Failure {
    Guest(PolicyError),
    Event(Error),
}

impl From<WitError> for Failure {
    fn from(e: WitError) -> Self {
        Failure::Guest(e.into())
    }
}

impl Sandbox {
    /// A fresh instance holding `state`'s policies and data.
    pub fn new(shared: &Shared, state: &PolicyState) -> Result<Sandbox> {
        // Nothing is inherited: no preopened directories, environment,
        // arguments, stdio or network.
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let data = HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            cap: MemoryCap {
                limit: shared.memory_limit,
                hit: false,
            },
        };
        let mut store = Store::new(shared.pre.engine(), data);
        store.limiter(|s| &mut s.cap);
        store.set_epoch_deadline(shared.deadline_ticks);
        let runtime = |e: wasmtime::Error| Error::Runtime(format!("instantiating: {e:#}"));
        let instance = shared
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(runtime)?;
        let api = PolicyComponent::new(&mut store, &instance).map_err(runtime)?;
        let decide =
            DecideFunc::new(&mut store, &instance, &shared.decide_export).map_err(|e| {
                Error::Incompatible(format!("not a sark:policy@0.1.0 component: {e:#}"))
            })?;
        let engine = api
            .sark_policy_evaluator()
            .engine()
            .call_constructor(&mut store)
            .map_err(runtime)?;
        let cache = api
            .sark_policy_decision_cache()
            .cache()
            .call_create(&mut store, shared.cache_capacity)
            .map_err(runtime)?
            .map_err(|e| Error::Policy(e.into()))?;
        let log = match (&shared.decision_log, &shared.decide_logged_export) {
            (Some(logger), Some(index)) => {
                let log = api
                    .sark_policy_decision_log()
                    .log()
                    .call_create(&mut store, &logger.inner().wit_config())
                    .map_err(runtime)?
                    .map_err(|e| Error::Policy(e.into()))?;
                Some(
                    LoggedFunc::new(&mut store, &instance, index, log).map_err(|e| {
                        Error::Incompatible(format!("not a sark:policy@0.1.0 component: {e:#}"))
                    })?,
                )
            }
            _ => None,
        };
        let mut sandbox = Sandbox {
            store,
            api,
            engine,
            cache,
            decide,
            log,
            log_seen: LogStats::default(),
            log_unread: 0,
            paths_base: PathCounts::default(),
        };
        // Replaying what once succeeded gets no deadline of its own.
        sandbox.store.set_epoch_deadline(u64::MAX / 2);
        state.replay(&mut sandbox).map_err(|f| match f {
            Failure::Guest(p) => {
                Error::Runtime(format!("replaying policies into a new instance: {p}"))
            }
            Failure::Event(e) => e,
        })?;
        Ok(sandbox)
    }

    /// Runs `f` under the deadline and memory cap. A trap becomes a
    /// `Failure::Event` classified as timeout, memory cap or trap.
    pub fn call<R>(
        &mut self,
        deadline_ticks: u64,
        f: impl FnOnce(&Guest<'_>, &mut Store<HostState>) -> wasmtime::Result<Result<R, WitError>>,
    ) -> Result<R, Failure> {
        self.store.set_epoch_deadline(deadline_ticks);
        self.store.data_mut().cap.hit = false;
        let guest = Guest {
            api: &self.api,
            engine: self.engine,
            cache: self.cache,
            decide: self.decide,
            log: self.log,
        };
        match f(&guest, &mut self.store) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(Failure::Event(self.classify(e))),
        }
    }

    fn classify(&self, e: wasmtime::Error) -> Error {
        if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            // The duration is filled in by the caller, which knows it.
            return Error::Timeout(std::time::Duration::ZERO);
        }
        if self.store.data().cap.hit {
            return Error::MemoryLimit(self.store.data().cap.limit);
        }
        Error::Trap(format!("{e:#}"))
    }
}
