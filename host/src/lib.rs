//! # sark-policy-host
//!
//! Loads the `sark:policy` component in wasmtime and applies the host's side
//! of the contract: the TTL policy, the metrics policy and the sandbox (a
//! deadline per call, a memory cap per instance, no WASI capabilities, and an
//! instance replaced after any trap).
//!
//! ```
//! use sark_policy_host::{Request, Runtime, Sensitivity};
//!
//! let runtime = Runtime::builder().shards(2).build()?;
//! let engine = runtime.engine()?;
//! engine.add_policy("authz.rego", "package authz\nallow if input.user == \"alice\"")?;
//! let authz = engine.authorizer("data.authz.allow");
//! let req = Request {
//!     user: "alice", action: "read", resource: "doc:1",
//!     sensitivity: Some(Sensitivity::Critical), ..Request::default()
//! };
//! assert!(!authz.decide(&req)?.cached);
//! let again = authz.decide(&req)?;
//! assert!(again.cached && again.allowed());
//! assert_eq!(engine.metrics().hits, 1);
//! # Ok::<(), sark_policy_host::Error>(())
//! ```

mod artifact;
mod authorizer;
mod bindings;
mod bundles;
mod cache;
mod decide_call;
mod decision_log;
mod engine;
mod error;
mod metrics;
mod options;
mod paths;
mod pool;
mod runtime;
mod sandbox;
mod state;
mod ticker;
mod ttl;

pub use artifact::{Provenance, default_dir as default_artifact_dir};
pub use authorizer::{Authorizer, Decision, Request};
pub use bundles::{
    BuildOptions, BundleConfig, BundleInfo, BundlePoller, BundleSource, BundleStatus, PollOutcome,
    Signing, Verification, VerificationKey,
};
pub use cache::{CacheStats, DecisionCache};
pub use decision_log::{DecisionLogConfig, DecisionLogSink, DecisionLogStatus};
pub use engine::{PolicyEngine, TestOutcome, TestResult};
pub use error::{Error, ErrorKind, PolicyError, Result};
pub use metrics::Metrics;
pub use options::{EvalOptions, RegoVersion};
pub use runtime::{EMBEDDED_COMPONENT, LoadReport, Runtime, RuntimeBuilder};
pub use ttl::{Clock, ManualClock, MonotonicClock, Sensitivity, TtlPolicy};
