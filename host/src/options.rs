//! How instances evaluate rules: on regorus's RVM (the default) or on the
//! interpreter only, and the RVM's instruction budget.

use crate::bindings::{WitEvalOptions, WitRegoVersion};

/// The Rego syntax policies are written in, as OPA 1.x names them. An
/// engine reads every module it is given in one version, set when its
/// runtime is built ([`RuntimeBuilder::rego_version`](crate::RuntimeBuilder::rego_version)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegoVersion {
    /// OPA 1.0 syntax: `if` and `contains` required. The default.
    #[default]
    V1,
    /// Syntax before OPA 1.0 (`allow { ... }`), as OPA's `--v0-compatible`.
    /// A v0 module may still `import rego.v1`.
    V0,
}

impl From<RegoVersion> for WitRegoVersion {
    fn from(v: RegoVersion) -> Self {
        match v {
            RegoVersion::V1 => WitRegoVersion::V1,
            RegoVersion::V0 => WitRegoVersion::V0,
        }
    }
}

/// Evaluation options, applied to every instance of an engine and replayed
/// into every instance that replaces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// Evaluate every rule with the interpreter, never the RVM (to compare
    /// the two, or to rule the RVM out). Answers are the same either way.
    pub interpreter_only: bool,
    /// Most RVM instructions one rule evaluation may dispatch; past it the
    /// call fails with [`ErrorKind::LimitExceeded`](crate::ErrorKind) and
    /// the instance stays usable. A budget stops runaway rules before the
    /// deadline has to trap the instance (and drop its cache).
    pub max_instructions: u64,
}

impl EvalOptions {
    /// The component's default budget.
    pub const DEFAULT_MAX_INSTRUCTIONS: u64 = 50_000_000;
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            interpreter_only: false,
            max_instructions: Self::DEFAULT_MAX_INSTRUCTIONS,
        }
    }
}

impl From<EvalOptions> for WitEvalOptions {
    fn from(o: EvalOptions) -> Self {
        WitEvalOptions {
            interpreter_only: o.interpreter_only,
            max_instructions: o.max_instructions,
        }
    }
}

impl From<WitEvalOptions> for EvalOptions {
    fn from(o: WitEvalOptions) -> Self {
        EvalOptions {
            interpreter_only: o.interpreter_only,
            max_instructions: o.max_instructions,
        }
    }
}
