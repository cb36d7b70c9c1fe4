//! The runtime: one wasmtime engine, the compiled component, the sandbox
//! settings and the TTL policy, shared by every handle made from it.

use crate::artifact::{self, Provenance};
use crate::bindings::PolicyComponentPre;
use crate::decision_log::{DecisionLogConfig, DecisionLogStatus, Logger};
use crate::options::{EvalOptions, RegoVersion};
use crate::sandbox::HostState;
use crate::ticker::Ticker;
use crate::ttl::{Clock, MonotonicClock, TtlPolicy};
use crate::{Error, PolicyEngine, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, ComponentExportIndex, Linker};

/// The component built into this binary (`make component`).
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dist/sark_policy.wasm"
));

/// How long one epoch tick is; deadlines are rounded up to whole ticks.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// How the component was obtained at build time, for reporting start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    /// Compiled now, or read from the on-disk artifact.
    pub provenance: Provenance,
    /// Time spent compiling or deserializing.
    pub load_time: Duration,
}

/// State shared by every handle of a runtime.
pub(crate) struct Shared {
    pub pre: PolicyComponentPre<HostState>,
    /// Where `authorizer.decide` is among the component's exports.
    pub decide_export: ComponentExportIndex,
    pub deadline: Duration,
    /// `deadline` in epoch ticks, computed once: every call arms it.
    pub deadline_ticks: u64,
    /// The deadline of policy, data and bundle changes, in epoch ticks.
    pub load_deadline_ticks: u64,
    pub memory_limit: usize,
    /// What a new engine's instances start with.
    pub eval_options: EvalOptions,
    /// The Rego version every module of its engines is read as.
    pub rego_version: RegoVersion,
    pub ttl: TtlPolicy,
    pub shards: usize,
    pub cache_capacity: u32,
    pub clock: Arc<dyn Clock>,
    /// Decision logging, when configured; its uploader stops (after a
    /// bounded flush) when the last handle of the runtime goes.
    pub decision_log: Option<Logger>,
    /// Where `authorizer.decide-logged` is, when decisions are logged.
    pub decide_logged_export: Option<ComponentExportIndex>,
    _ticker: Ticker,
}

/// The deadline in epoch ticks: at least the deadline, plus the tick
/// already under way.
fn deadline_ticks(deadline: Duration) -> u64 {
    let ticks = deadline.as_nanos().div_ceil(TICK.as_nanos());
    u64::try_from(ticks)
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// A loaded, compiled policy component and its sandbox settings.
///
/// Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
    report: LoadReport,
}

impl Runtime {
    /// A builder with the defaults documented on each setter.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A new policy engine (a pool of `shards` instances, each with its own
    /// decision cache) over this runtime.
    pub fn engine(&self) -> Result<PolicyEngine> {
        PolicyEngine::new(self.shared.clone())
    }

    /// How the component was loaded.
    pub fn load_report(&self) -> LoadReport {
        self.report
    }

    /// The TTL policy handles made from this runtime apply.
    pub fn ttl_policy(&self) -> TtlPolicy {
        self.shared.ttl
    }

    /// The evaluation options new engines start with.
    pub fn eval_options(&self) -> EvalOptions {
        self.shared.eval_options
    }

    /// The decision log's status (`None` when decisions are not logged);
    /// also in every engine's [`Metrics::decision_log`](crate::Metrics::decision_log).
    pub fn decision_log_status(&self) -> Option<DecisionLogStatus> {
        self.shared
            .decision_log
            .as_ref()
            .map(|l| l.inner().status())
    }

    /// Sends every event logged before this call: true once the sink has
    /// accepted them all, false when `timeout` passed first (a failing
    /// sink keeps them and goes on retrying). True at once when decisions
    /// are not logged. Dropping the runtime and its engines flushes too,
    /// for at most [`DecisionLogConfig::shutdown_timeout`].
    pub fn flush_decision_log(&self, timeout: Duration) -> bool {
        self.shared
            .decision_log
            .as_ref()
            .is_none_or(|l| l.inner().flush(timeout))
    }
}

enum Source {
    Embedded,
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// Configures a [`Runtime`].
pub struct RuntimeBuilder {
    source: Source,
    artifact_dir: Option<PathBuf>,
    deadline: Duration,
    load_deadline: Duration,
    memory_limit: usize,
    eval_options: EvalOptions,
    rego_version: RegoVersion,
    ttl: TtlPolicy,
    shards: usize,
    cache_capacity: u32,
    clock: Arc<dyn Clock>,
    decision_log: Option<DecisionLogConfig>,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            source: Source::Embedded,
            artifact_dir: artifact::default_dir(),
            deadline: Duration::from_secs(1),
            load_deadline: Duration::from_secs(30),
            memory_limit: 256 << 20,
            eval_options: EvalOptions::default(),
            rego_version: RegoVersion::V1,
            ttl: TtlPolicy::default(),
            shards: 1,
            cache_capacity: 10_000,
            clock: Arc::new(MonotonicClock::default()),
            decision_log: None,
        }
    }
}

impl RuntimeBuilder {
    /// Load the component from a file instead of the built-in one.
    pub fn component_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Source::Path(path.into());
        self
    }

    /// Load the component from bytes instead of the built-in one.
    pub fn component_bytes(mut self, bytes: Vec<u8>) -> Self {
        self.source = Source::Bytes(bytes);
        self
    }

    /// Where the compiled artifact is kept (default `$SARK_POLICY_CACHE_DIR`,
    /// else `$XDG_CACHE_HOME/sark-policy`, else `~/.cache/sark-policy`);
    /// `None` compiles on every start. The directory must be trusted: its
    /// files are loaded as native code.
    pub fn artifact_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.artifact_dir = dir;
        self
    }

    /// Per-call deadline, enforced by epoch interruption (default 1 s).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Deadline of one policy, data or bundle change in one instance
    /// (default 30 s, as the Python host's `load_deadline_ms`): compiling a
    /// large policy set or activating a bundle of megabytes takes longer
    /// than an evaluation may.
    pub fn load_deadline(mut self, deadline: Duration) -> Self {
        self.load_deadline = deadline;
        self
    }

    /// Linear memory cap per instance, in bytes (default 256 MiB).
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Evaluate every rule with regorus's interpreter instead of its RVM
    /// (default off). For comparing the two paths; answers are the same.
    /// [`PolicyEngine::set_eval_options`] changes it at run time.
    pub fn interpreter_only(mut self, on: bool) -> Self {
        self.eval_options.interpreter_only = on;
        self
    }

    /// Most RVM instructions one rule evaluation may dispatch (default
    /// 50,000,000); past it the call fails with
    /// [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded) and the
    /// instance, with its cache, stays. The deadline still bounds the
    /// interpreter and everything else, by recycling the instance.
    pub fn max_instructions(mut self, n: u64) -> Self {
        self.eval_options.max_instructions = n;
        self
    }

    /// The Rego version policies are written in (default
    /// [`RegoVersion::V1`]); [`RegoVersion::V0`] loads modules written for
    /// OPA before 1.0, as `opa --v0-compatible` does. Every module of the
    /// runtime's engines is read as this version.
    pub fn rego_version(mut self, version: RegoVersion) -> Self {
        self.rego_version = version;
        self
    }

    /// The TTL policy (default: [`TtlPolicy::default`]).
    pub fn ttl_policy(mut self, ttl: TtlPolicy) -> Self {
        self.ttl = ttl;
        self
    }

    /// Instances per engine; decisions are sharded over them by
    /// (user, action, resource), so one key always meets one cache
    /// (default 1).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// Cache entries per instance (default 10,000).
    pub fn cache_capacity(mut self, entries: u32) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// The clock the TTL policy reads (default: monotonic).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Logs every decision of the runtime's [`Authorizer`]s as an OPA
    /// decision-log event and ships the events to `config.sink` from a
    /// thread of the runtime's own (default: no logging). Each decision
    /// then carries its event's id ([`Decision::decision_id`]).
    ///
    /// [`Authorizer`]: crate::Authorizer
    /// [`Decision::decision_id`]: crate::Decision::decision_id
    pub fn decision_log(mut self, config: DecisionLogConfig) -> Self {
        self.decision_log = Some(config);
        self
    }

    /// Compiles (or loads the compiled artifact of) the component and checks
    /// that it implements `sark:policy@0.1.0`.
    pub fn build(self) -> Result<Runtime> {
        let bytes: std::borrow::Cow<'_, [u8]> = match &self.source {
            Source::Embedded => EMBEDDED_COMPONENT.into(),
            Source::Bytes(b) => b.as_slice().into(),
            Source::Path(p) => std::fs::read(p)
                .map_err(|source| Error::Read {
                    path: p.clone(),
                    source,
                })?
                .into(),
        };
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        // The component exports only synchronous functions and is only
        // called synchronously. With concurrency support on (wasmtime's
        // default), every call allocates and frees a task record; off, a
        // call is a plain enter/exit.
        config.concurrency_support(false);
        let engine =
            wasmtime::Engine::new(&config).map_err(|e| Error::Runtime(format!("{e:#}")))?;
        let started = Instant::now();
        let (component, provenance): (Component, Provenance) =
            artifact::load(&engine, &bytes, self.artifact_dir.as_deref())?;
        let report = LoadReport {
            provenance,
            load_time: started.elapsed(),
        };

        let decide = crate::decide_call::export_index(&component).ok_or_else(|| {
            Error::Incompatible("not a sark:policy@0.1.0 component: no authorizer.decide".into())
        })?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| Error::Runtime(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(PolicyComponentPre::new)
            .map_err(|e| {
                Error::Incompatible(format!("not a sark:policy@0.1.0 component: {e:#}"))
            })?;
        let decide_logged_export = match &self.decision_log {
            Some(_) => Some(
                crate::decide_call::logged_export_index(&component).ok_or_else(|| {
                    Error::Incompatible(
                        "not a sark:policy@0.1.0 component: no authorizer.decide-logged".into(),
                    )
                })?,
            ),
            None => None,
        };
        let decision_log = self.decision_log.map(Logger::start).transpose()?;
        let shared = Shared {
            pre,
            decide_export: decide,
            deadline: self.deadline,
            deadline_ticks: deadline_ticks(self.deadline),
            load_deadline_ticks: deadline_ticks(self.load_deadline),
            memory_limit: self.memory_limit,
            eval_options: self.eval_options,
            rego_version: self.rego_version,
            ttl: self.ttl,
            shards: self.shards,
            cache_capacity: self.cache_capacity,
            clock: self.clock,
            decision_log,
            decide_logged_export,
            _ticker: Ticker::start(engine, TICK),
        };
        Ok(Runtime {
            shared: Arc::new(shared),
            report,
        })
    }
}
