//! Many threads over one pool; every decision checked against a direct
//! evaluation by the native core (no wasm).

use crate::{AUTHZ, builder, engine_with};
use sark_policy_host::Request;
use std::sync::Arc;

const THREADS: usize = 8;
const PER_THREAD: usize = 10_000;

#[test]
fn eight_threads_ten_thousand_decisions_each() {
    let e = engine_with(builder().shards(4).cache_capacity(512));
    let data = r#"{"admins":{"u3":true,"u17":true,"u42":true}}"#;
    e.add_data(data).unwrap();
    let authz = Arc::new(e.authorizer("authz/allow"));

    // The oracle: the core crate compiled natively.
    let mut oracle = sark_policy_core::Engine::new();
    oracle.add_policy("authz.rego", AUTHZ).unwrap();
    oracle.add_data(data).unwrap();
    let expected = |user: &str, mfa: bool| {
        let input = format!(
            r#"{{"user":"{user}","action":"read","resource":"doc","context":{{"mfa":{mfa}}}}}"#
        );
        oracle.clone().eval_rule("authz/allow", &input).unwrap()
    };
    let table: Arc<Vec<Vec<Option<String>>>> = Arc::new(
        (0..64)
            .map(|u| {
                vec![
                    expected(&format!("u{u}"), false),
                    expected(&format!("u{u}"), true),
                ]
            })
            .collect(),
    );
    assert_eq!(table[3][0].as_deref(), Some("true"));
    assert_eq!(table[4][0].as_deref(), Some("false"));
    assert_eq!(table[4][1].as_deref(), Some("true"));

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (authz, table) = (authz.clone(), table.clone());
            std::thread::spawn(move || {
                let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ t as u64;
                for _ in 0..PER_THREAD {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let (u, mfa) = ((state % 64) as usize, state & 64 != 0);
                    let user = format!("u{u}");
                    let context = format!(r#"{{"mfa":{mfa}}}"#);
                    let req = Request {
                        user: &user,
                        action: "read",
                        resource: "doc",
                        context: &context,
                        ..Request::default()
                    };
                    let d = authz.decide(&req).unwrap();
                    assert_eq!(d.value, table[u][usize::from(mfa)], "{user} mfa={mfa}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let m = e.metrics();
    assert_eq!(m.total_requests, (THREADS * PER_THREAD) as u64);
    // 128 distinct keys, each evaluated once per shard cache it lives in.
    assert_eq!(m.misses, 128, "{m:?}");
    assert_eq!(m.entries, 128);
}
