//! The TTL policy with a fake clock.

use crate::{builder, engine_with};
use sark_policy_host::{ManualClock, Request, Sensitivity, TtlPolicy};
use std::sync::Arc;
use std::time::Duration;

fn req(s: Option<Sensitivity>) -> Request<'static> {
    Request {
        user: "alice",
        action: "read",
        resource: "doc:1",
        sensitivity: s,
        ..Request::default()
    }
}

#[test]
fn sensitivity_ttls_expire_exactly_at_the_boundary() {
    let clock = Arc::new(ManualClock::new(1_000));
    let e = engine_with(builder().clock(clock.clone()));
    let authz = e.authorizer("authz/allow");
    for (s, secs) in [
        (Sensitivity::Critical, 60),
        (Sensitivity::Confidential, 120),
        (Sensitivity::Internal, 180),
        (Sensitivity::Public, 300),
    ] {
        e.cache().clear().unwrap();
        clock.set_ms(1_000);
        assert!(!authz.decide(&req(Some(s))).unwrap().cached);
        clock.set_ms(1_000 + secs * 1000 - 1);
        assert!(
            authz.decide(&req(Some(s))).unwrap().cached,
            "{s:?} live 1 ms before its TTL"
        );
        clock.set_ms(1_000 + secs * 1000);
        assert!(
            !authz.decide(&req(Some(s))).unwrap().cached,
            "{s:?} expired at its TTL"
        );
    }
}

#[test]
fn explicit_ttl_overrides_and_zero_does_not_cache() {
    let clock = Arc::new(ManualClock::new(0));
    let e = engine_with(builder().clock(clock.clone()));
    let authz = e.authorizer("authz/allow");
    let r = Request {
        ttl: Some(Duration::from_secs(5)),
        ..req(Some(Sensitivity::Public))
    };
    authz.decide(&r).unwrap();
    clock.set_ms(4_999);
    assert!(authz.decide(&r).unwrap().cached);
    clock.set_ms(5_000);
    assert!(!authz.decide(&r).unwrap().cached);
    let zero = Request {
        ttl: Some(Duration::ZERO),
        ..r
    };
    e.cache().clear().unwrap();
    authz.decide(&zero).unwrap();
    assert!(!authz.decide(&zero).unwrap().cached);
}

#[test]
fn sensitivity_ttls_can_be_turned_off() {
    let clock = Arc::new(ManualClock::new(0));
    let policy = TtlPolicy {
        use_sensitivity: false,
        default: Duration::from_secs(10),
        ..TtlPolicy::default()
    };
    let e = engine_with(builder().clock(clock.clone()).ttl_policy(policy));
    let authz = e.authorizer("authz/allow");
    authz.decide(&req(Some(Sensitivity::Public))).unwrap();
    clock.set_ms(9_999);
    assert!(
        authz
            .decide(&req(Some(Sensitivity::Public)))
            .unwrap()
            .cached
    );
    clock.set_ms(10_000);
    assert!(
        !authz
            .decide(&req(Some(Sensitivity::Public)))
            .unwrap()
            .cached
    );
}

#[test]
fn cleanup_expired_uses_the_clock() {
    let clock = Arc::new(ManualClock::new(0));
    let e = engine_with(builder().clock(clock.clone()).shards(2));
    let authz = e.authorizer("authz/allow");
    for user in ["a", "b", "c"] {
        authz
            .decide(&Request {
                user,
                sensitivity: Some(Sensitivity::Critical),
                ..req(None)
            })
            .unwrap();
    }
    authz.decide(&req(Some(Sensitivity::Public))).unwrap();
    clock.advance(Duration::from_secs(60));
    assert_eq!(e.cache().cleanup_expired().unwrap(), 3);
    assert_eq!(e.cache().size().unwrap(), 1);
}
