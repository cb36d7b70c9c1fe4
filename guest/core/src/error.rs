//! The one error type of the core; it maps one to one onto the WIT `error`.

/// Why a call failed. A call that fails leaves the engine and cache unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A Rego module or query failed to parse or compile (message has the position).
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// A JSON document is not valid JSON (message has line and column).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// Evaluation failed at run time.
    #[error("evaluation error: {0}")]
    Evaluation(String),
    /// A document or argument is over a documented limit.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A bundle is malformed, outside its roots, overlaps another bundle's
    /// roots, or fails signature verification.
    #[error("invalid bundle: {0}")]
    InvalidBundle(String),
    /// The named policy, package or key does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// `Result` with the core [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
