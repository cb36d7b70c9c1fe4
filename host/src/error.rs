//! The host's error type. Guest errors (`PolicyError`) are kept apart from
//! sandbox events (timeout, memory cap, trap) and from loading errors.

use std::time::Duration;

/// What kind of guest error a [`PolicyError`] is; one per WIT `error` case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A Rego module failed to parse or compile.
    InvalidPolicy,
    /// A JSON document is not valid JSON.
    InvalidJson,
    /// Evaluation failed at run time.
    Evaluation,
    /// A document is over the component's limits.
    LimitExceeded,
    /// No such policy, package or rule.
    NotFound,
    /// Anything else the component reported.
    Other,
    /// An OPA bundle is malformed, outside its roots, overlapping another
    /// bundle's roots, or not signed as configured.
    InvalidBundle,
}

/// An error the component returned; the engine and cache are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct PolicyError {
    /// The WIT error case.
    pub kind: ErrorKind,
    /// The component's message (with file, line and column where it has them).
    pub message: String,
}

/// Everything a host call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component refused the call; nothing changed.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The call ran past its deadline; the instance was replaced.
    #[error("evaluation ran past the {0:?} deadline; the instance was recycled")]
    Timeout(Duration),
    /// The instance hit its memory cap; the instance was replaced.
    #[error("evaluation hit the instance memory cap of {0} bytes; the instance was recycled")]
    MemoryLimit(usize),
    /// The component trapped; the instance was replaced.
    #[error("the component trapped ({0}); the instance was recycled")]
    Trap(String),
    /// The component file could not be read.
    #[error("cannot read the component {path}: {source}")]
    Read {
        /// The path given.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a component implementing `sark:policy@0.1.0`.
    #[error("incompatible component: {0}")]
    Incompatible(String),
    /// Setting up wasmtime failed.
    #[error("runtime error: {0}")]
    Runtime(String),
}

impl Error {
    /// The guest error kind, if this is a guest error.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Policy(p) => Some(p.kind),
            _ => None,
        }
    }

    /// True for the sandbox events that recycle an instance.
    pub fn is_sandbox_event(&self) -> bool {
        matches!(
            self,
            Error::Timeout(_) | Error::MemoryLimit(_) | Error::Trap(_)
        )
    }
}

impl From<crate::bindings::WitError> for PolicyError {
    fn from(e: crate::bindings::WitError) -> Self {
        use crate::bindings::WitError as W;
        let (kind, message) = match e {
            W::InvalidPolicy(m) => (ErrorKind::InvalidPolicy, m),
            W::InvalidJson(m) => (ErrorKind::InvalidJson, m),
            W::Evaluation(m) => (ErrorKind::Evaluation, m),
            W::LimitExceeded(m) => (ErrorKind::LimitExceeded, m),
            W::NotFound(m) => (ErrorKind::NotFound, m),
            W::Other(m) => (ErrorKind::Other, m),
            W::InvalidBundle(m) => (ErrorKind::InvalidBundle, m),
        };
        PolicyError { kind, message }
    }
}

/// `Result` with the host [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
