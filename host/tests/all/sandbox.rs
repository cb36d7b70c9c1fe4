//! Deadline, memory cap and recovery: a trap never takes the host down.

use crate::{AUTHZ, builder};
use sark_policy_host::{Error, Request};
use std::time::{Duration, Instant};

/// 10^10 iterations over two small ranges: slow, but allocates nothing.
const SLOW: &str = "package slow\nn if {\n some i in numbers.range(1, 100000)\n some j in numbers.range(1, 100000)\n i * j == -1\n}";
const HUGE: &str = "package huge\nn := count([[x, x, x] | some x in numbers.range(1, 50000000)])";

#[test]
fn timeout_recycles_the_instance_and_keeps_policies() {
    let e = builder()
        .deadline(Duration::from_millis(100))
        .build()
        .unwrap()
        .engine()
        .unwrap();
    e.add_policy("authz.rego", AUTHZ).unwrap();
    e.add_data(r#"{"admins":{"bob":true}}"#).unwrap();
    e.add_policy("slow.rego", SLOW).unwrap();
    let authz = e.authorizer("authz/allow");
    let bob = Request {
        user: "bob",
        action: "a",
        resource: "r",
        ..Request::default()
    };
    assert!(!authz.decide(&bob).unwrap().cached);
    let started = Instant::now();
    let err = e.eval_rule("slow/n", "{}").unwrap_err();
    assert!(
        matches!(err, Error::Timeout(d) if d == Duration::from_millis(100)),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let m = e.metrics();
    assert_eq!((m.timeouts, m.recycles), (1, 1));
    // The replacement holds the same policies and data; the cache is new.
    assert_eq!(e.policies().unwrap(), ["authz.rego", "slow.rego"]);
    let d = authz.decide(&bob).unwrap();
    assert_eq!((d.value.as_deref(), d.cached), (Some("true"), false));
}

#[test]
fn memory_cap_recycles_the_instance() {
    let e = builder()
        .memory_limit(64 << 20)
        .deadline(Duration::from_secs(30))
        .build()
        .unwrap()
        .engine()
        .unwrap();
    e.add_policy("authz.rego", AUTHZ).unwrap();
    e.add_policy("huge.rego", HUGE).unwrap();
    let err = e.eval_rule("huge/n", "{}").unwrap_err();
    assert!(
        matches!(err, Error::MemoryLimit(n) if n == 64 << 20),
        "{err}"
    );
    let m = e.metrics();
    assert_eq!((m.memory_limits, m.recycles, m.timeouts), (1, 1, 0));
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
}

#[test]
fn a_guest_trap_is_a_trap_and_the_next_call_succeeds() {
    let e = builder().build().unwrap().engine().unwrap();
    e.add_policy("authz.rego", AUTHZ).unwrap();
    let err = e.eval_query(&crate::trap_query(), "").unwrap_err();
    assert!(
        matches!(err, Error::Trap(ref m) if m.contains("call stack exhausted")),
        "{err}"
    );
    assert_eq!(e.metrics().recycles, 1);
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
}
