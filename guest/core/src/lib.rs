//! # sark-policy-core
//!
//! The target-neutral heart of sark-policy: a Rego [`Engine`] over regorus, a
//! bounded [`DecisionCache`] with O(1) LRU eviction and host-supplied expiry,
//! the seed-format cache [`keys`], and the one-call [`authorizer`].
//!
//! It has no WebAssembly bindings in it, so it builds and is tested natively;
//! the component (`guest/component`) and the proxy-wasm filter wrap it.
//!
//! ```
//! use sark_policy_core::{DecisionCache, Engine, Request, authorizer};
//!
//! let mut engine = Engine::new();
//! engine.add_policy("authz.rego", "package authz\nallow if input.user == \"alice\"")?;
//! let mut cache = DecisionCache::new(1024)?;
//! let req = Request { user: "alice", action: "read", resource: "doc:1", context: "{}" };
//! let first = authorizer::decide(&mut engine, &mut cache, "data.authz.allow", &req, 0, 60_000)?;
//! let second = authorizer::decide(&mut engine, &mut cache, "data.authz.allow", &req, 1, 60_000)?;
//! assert_eq!(first.value.as_deref(), Some("true"));
//! assert!(!first.cached && second.cached);
//! # Ok::<(), sark_policy_core::Error>(())
//! ```
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

pub mod authorizer;
mod builtins;
pub mod bundle;
mod cache;
pub mod decision_log;
mod engine;
mod error;
pub mod keys;
mod limits;
mod outparams;
mod rvm;
mod rvm_checks;
mod testrun;

pub use authorizer::{Decision, Request};
pub use bundle::{
    BuildOptions, Bundle, BundleFile, BundleLimits, BundleSource, SigningConfig,
    VerificationConfig, VerificationKey, build as build_bundle,
};
pub use cache::{CacheStats, DecisionCache};
pub use engine::{BundleInfo, Engine, RegoVersion};
pub use error::{Error, Result};
pub use limits::Limits;
pub use rvm::{DEFAULT_MAX_INSTRUCTIONS, EvalOptions, EvalStats, Fallback, Reason};
pub use testrun::{TestOutcome, TestResult};

#[cfg(test)]
mod fidelity_tests;
