//! Generated bindings for the `sark:policy` world. Private: the public API is
//! the hand-written types of this crate.

wasmtime::component::bindgen!({
    world: "policy-component",
    path: "../wit",
});

pub(crate) use exports::sark::policy::authorizer::{
    Decision as WitDecision, LoggedDecision as WitLoggedDecision, Request as WitRequest,
};
pub(crate) use exports::sark::policy::decision_log::{
    Batch as WitBatch, Encoding as WitEncoding, LogConfig as WitLogConfig, LogStats as WitLogStats,
};
pub(crate) use exports::sark::policy::types::{
    CacheStats as WitCacheStats, Error as WitError, EvalOptions as WitEvalOptions,
    EvalStats as WitEvalStats, FallbackReason as WitFallbackReason, RegoVersion as WitRegoVersion,
};
