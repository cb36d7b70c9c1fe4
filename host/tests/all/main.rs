//! Integration tests of the host library and the `sark-policy` command
//! against the real component.
#![allow(missing_docs)]

mod bundle_server;
mod bundles;
mod cli;
mod decision_logs;
mod fidelity;
mod handles;
mod hostile;
mod journal;
mod pool;
mod rvm;
mod sandbox;
mod shards;
mod testrun;
mod ttl;

use sark_policy_host::{PolicyEngine, Runtime, RuntimeBuilder};

pub const AUTHZ: &str = r#"package authz
default allow := false
allow if input.user == "alice"
allow if data.admins[input.user]
allow if input.context.mfa == true
"#;

/// A query that traps the guest: brackets nested 100,000 deep exhaust its
/// call stack in regorus's parser (which bounds parentheses, not brackets).
/// Every builtin that used to panic has been fixed (third_party/regorus/
/// PATCHES.md), so this is how the tests make a trap.
pub fn trap_query() -> String {
    format!("x := {}1{}", "[".repeat(100_000), "]".repeat(100_000))
}

/// A builder whose artifact cache lives in the target directory, so tests
/// never touch the user's cache.
pub fn builder() -> RuntimeBuilder {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    Runtime::builder().artifact_dir(Some(dir))
}

pub fn engine_with(b: RuntimeBuilder) -> PolicyEngine {
    let engine = b.build().unwrap().engine().unwrap();
    engine.add_policy("authz.rego", AUTHZ).unwrap();
    engine
}
