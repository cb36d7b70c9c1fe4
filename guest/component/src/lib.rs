//! # sark-policy-component
//!
//! The `sark:policy` world exported with wit-bindgen: thin glue from the
//! WIT resources to [`sark_policy_core`]. Every piece of logic lives in the
//! core; this crate only converts types.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo
)]
// wit-bindgen's generated exports are `unsafe extern "C"` functions; no
// hand-written code here uses `unsafe`.
#![allow(unsafe_code)]
// The generated bindings carry the WIT docs as attributes only on some items.
#![allow(missing_docs)]

mod authorizer;
mod cache;
mod convert;
mod decision_log;
mod evaluator;

wit_bindgen::generate!({
    world: "policy-component",
    path: "../../wit",
});

/// The component: one type implementing every exported interface.
struct Component;

export!(Component);
