//! Generated bindings for the `sark:policy` world. Private: the public API is
//! the hand-written types of this crate.

wasmtime::component::bindgen!({
    world: "policy-component",
    path: "../wit",
});

pub(crate) use exports::sark::policy::authorizer::{
    Decision as WitDecision, Request as WitRequest,
};
pub(crate) use exports::sark::policy::types::{
    CacheStats as WitCacheStats, Error as WitError, EvalOptions as WitEvalOptions,
    EvalStats as WitEvalStats, FallbackReason as WitFallbackReason, RegoVersion as WitRegoVersion,
};
