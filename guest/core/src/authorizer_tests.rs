use super::*;
use crate::Error;

fn setup() -> (Engine, DecisionCache) {
    let mut e = Engine::new();
    e.add_policy(
        "authz.rego",
        "package authz\nallow if input.user == \"alice\"\nreason := input.context.why",
    )
    .unwrap();
    (e, DecisionCache::new(16).unwrap())
}

fn req<'a>(user: &'a str, context: &'a str) -> Request<'a> {
    Request {
        user,
        action: "read",
        resource: "doc:1",
        context,
    }
}

#[test]
fn miss_then_hit_then_expiry() {
    let (mut e, mut c) = setup();
    let r = req("alice", "{}");
    let d = decide(&mut e, &mut c, "authz/allow", &r, 0, 100).unwrap();
    assert_eq!((d.value.as_deref(), d.cached), (Some("true"), false));
    let d = decide(&mut e, &mut c, "authz/allow", &r, 99, 200).unwrap();
    assert_eq!((d.value.as_deref(), d.cached), (Some("true"), true));
    let d = decide(&mut e, &mut c, "authz/allow", &r, 100, 200).unwrap();
    assert!(!d.cached);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.expirations), (1, 2, 1));
}

#[test]
fn undefined_is_cached_as_undefined() {
    let (mut e, mut c) = setup();
    let r = req("bob", "");
    let first = decide(&mut e, &mut c, "authz/allow", &r, 0, 100).unwrap();
    let second = decide(&mut e, &mut c, "authz/allow", &r, 1, 100).unwrap();
    assert_eq!((first.value, first.cached), (None, false));
    assert_eq!((second.value, second.cached), (None, true));
}

#[test]
fn context_key_order_shares_an_entry_and_feeds_input() {
    let (mut e, mut c) = setup();
    let a = req("alice", r#"{"why": "audit", "n": 1}"#);
    let b = req("alice", r#"{"n":1,"why":"audit"}"#);
    let d = decide(&mut e, &mut c, "authz/reason", &a, 0, 100).unwrap();
    assert_eq!(d.value.as_deref(), Some("\"audit\""));
    let d2 = decide(&mut e, &mut c, "authz/reason", &b, 0, 100).unwrap();
    assert!(d2.cached);
    assert_eq!(d.key, d2.key);
    assert!(d.key.starts_with(&cache_key(&e.limits(), &a).unwrap()));
}

#[test]
fn a_policy_change_never_serves_a_stale_decision() {
    let (mut e, mut c) = setup();
    let r = req("alice", "{}");
    decide(&mut e, &mut c, "authz/allow", &r, 0, 1000).unwrap();
    e.add_policy("authz.rego", "package authz\nallow := false")
        .unwrap();
    let d = decide(&mut e, &mut c, "authz/allow", &r, 1, 1000).unwrap();
    assert_eq!((d.value.as_deref(), d.cached), (Some("false"), false));
    e.add_data(r#"{"x": 1}"#).unwrap();
    assert!(
        !decide(&mut e, &mut c, "authz/allow", &r, 2, 1000)
            .unwrap()
            .cached
    );
}

#[test]
fn rules_and_ambiguous_fields_get_their_own_entries() {
    let (mut e, mut c) = setup();
    let r = req("alice", "{}");
    decide(&mut e, &mut c, "authz/allow", &r, 0, 1000).unwrap();
    assert!(
        !decide(&mut e, &mut c, "authz/reason", &r, 0, 1000)
            .unwrap()
            .cached
    );
    let x = Request {
        user: "alice:read",
        action: "x",
        resource: "doc:1",
        context: "{}",
    };
    let y = Request {
        user: "alice",
        action: "read:x",
        resource: "doc:1",
        context: "{}",
    };
    assert_eq!(
        cache_key(&e.limits(), &x).unwrap(),
        cache_key(&e.limits(), &y).unwrap()
    );
    decide(&mut e, &mut c, "authz/allow", &x, 0, 1000).unwrap();
    assert!(
        !decide(&mut e, &mut c, "authz/allow", &y, 0, 1000)
            .unwrap()
            .cached
    );
}

#[test]
fn errors_are_never_cached_and_change_nothing() {
    let (mut e, mut c) = setup();
    e.add_policy(
        "c.rego",
        "package c\nx := input.context.a\nx := input.context.b",
    )
    .unwrap();
    let r = req("alice", r#"{"a": 1, "b": 2}"#);
    assert!(matches!(
        decide(&mut e, &mut c, "c/x", &r, 0, 100),
        Err(Error::Evaluation(_))
    ));
    assert!(matches!(
        decide(&mut e, &mut c, "c/x", &req("a", "{bad"), 0, 100),
        Err(Error::InvalidJson(_))
    ));
    assert!(matches!(
        decide(&mut e, &mut c, "nope/x", &req("a", "{}"), 0, 100),
        Err(Error::NotFound(_))
    ));
    assert_eq!(c.len(), 0);
    assert_eq!(c.stats().hits, 0);
}

#[test]
fn zero_ttl_is_not_stored() {
    let (mut e, mut c) = setup();
    let r = req("alice", "{}");
    decide(&mut e, &mut c, "authz/allow", &r, 5, 5).unwrap();
    assert_eq!(c.len(), 0);
}

#[test]
fn a_forced_short_hash_collision_never_shares_an_entry() {
    // Display hashes of one hex digit: among 17 contexts two share it.
    keys::truncate_display_hash_for_tests(1);
    let (mut e, mut c) = setup();
    let limits = e.limits();
    let contexts: Vec<String> = (0..17).map(|i| format!(r#"{{"why": "w{i}"}}"#)).collect();
    let mut by_seed = std::collections::HashMap::new();
    let (a, b) = contexts
        .iter()
        .find_map(|ctx| {
            let seed = cache_key(&limits, &req("alice", ctx)).unwrap();
            by_seed.insert(seed, ctx).map(|earlier| (earlier, ctx))
        })
        .expect("17 contexts over 16 one-digit hashes collide");
    let (ra, rb) = (req("alice", a), req("alice", b));
    assert_eq!(
        cache_key(&limits, &ra).unwrap(),
        cache_key(&limits, &rb).unwrap()
    );
    let da = decide(&mut e, &mut c, "authz/reason", &ra, 0, 100).unwrap();
    let db = decide(&mut e, &mut c, "authz/reason", &rb, 0, 100).unwrap();
    keys::truncate_display_hash_for_tests(16);
    assert!(!db.cached, "a colliding seed key must not be a hit");
    assert_ne!(da.key, db.key);
    assert_eq!(da.value, Some(format!("\"{}\"", &a[9..a.len() - 2])));
    assert_eq!(db.value, Some(format!("\"{}\"", &b[9..b.len() - 2])));
    assert_eq!(c.len(), 2);
}
