//! Shards work in parallel: a call busy on one shard holds up no call on
//! another, and calls that may go to any shard go to a free one.

use crate::{AUTHZ, builder};
use sark_policy_host::{Error, Request};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `allow` for user "slow": 10^10 iterations, so it runs until the deadline.
const SLOW: &str = "package slow\nallow if {\n input.user == \"slow\"\n some i in numbers.range(1, 100000)\n some j in numbers.range(1, 100000)\n i * j == -1\n}";

fn req<'a>(user: &'a str, resource: &'a str) -> Request<'a> {
    Request {
        user,
        action: "read",
        resource,
        ..Request::default()
    }
}

#[test]
fn a_slow_evaluation_holds_up_no_other_shard() {
    let deadline = Duration::from_secs(2);
    let e = builder()
        .shards(2)
        .deadline(deadline)
        .max_instructions(u64::MAX)
        .build()
        .unwrap()
        .engine()
        .unwrap();
    e.add_policy("authz.rego", AUTHZ).unwrap();
    e.add_policy("slow.rego", SLOW).unwrap();
    let slow = e.authorizer("slow/allow");
    let authz = e.authorizer("authz/allow");
    assert_eq!((slow.shards(), authz.shards()), (2, 2));
    let busy = slow.shard(&req("slow", "doc"));
    // A request of the other shard (resources until one hashes there).
    let resources: Vec<String> = (0..64).map(|n| format!("doc:{n}")).collect();
    let other = resources
        .iter()
        .find(|r| authz.shard(&req("alice", r)) != busy)
        .expect("64 resources, all on one of two shards");
    let fast = req("alice", other);
    assert_eq!(authz.shard(&fast), 1 - busy);

    let started = Arc::new(AtomicBool::new(false));
    let slow_done = Arc::new(Mutex::new(None));
    let worker = {
        let (started, slow_done) = (started.clone(), slow_done.clone());
        std::thread::spawn(move || {
            started.store(true, Ordering::SeqCst);
            let r = slow.decide(&req("slow", "doc"));
            *slow_done.lock().unwrap() = Some(Instant::now());
            r
        })
    };
    while !started.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let the slow call take its shard (it holds it until the deadline).
    std::thread::sleep(Duration::from_millis(200));

    // Decisions on the other shard, a miss then hits, complete meanwhile.
    for i in 0..5 {
        let d = authz.decide(&fast).unwrap();
        assert_eq!((d.value.as_deref(), d.cached), (Some("true"), i > 0));
    }
    // Evaluations go to any free shard, whichever is next in round robin.
    for _ in 0..4 {
        let v = e.eval_rule("authz/allow", r#"{"user":"alice"}"#).unwrap();
        assert_eq!(v.as_deref(), Some("true"));
    }
    let fast_done = Instant::now();
    assert!(
        slow_done.lock().unwrap().is_none(),
        "the other shard's calls waited for the slow one"
    );

    let err = worker.join().unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout(d) if d == deadline), "{err}");
    assert!(slow_done.lock().unwrap().unwrap() > fast_done);
    let m = e.metrics();
    assert_eq!((m.timeouts, m.recycles, m.hits, m.misses), (1, 1, 4, 1));
}

#[test]
fn shard_affine_threads_decide_like_one_thread() {
    let e = crate::engine_with(builder().shards(3));
    e.add_data(r#"{"admins":{"u1":true,"u7":true}}"#).unwrap();
    let authz = e.authorizer("authz/allow");
    // 97 users, each four times or so.
    let users: Vec<String> = (0..400).map(|i| format!("u{}", i * 7 % 97)).collect();
    // Thread t decides, in order, the requests of the shards s with s % 2 == t.
    let decided: Vec<Vec<(usize, bool, Option<String>)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (authz, users) = (&authz, &users);
                s.spawn(move || {
                    let mut out = Vec::new();
                    for (i, u) in users.iter().enumerate() {
                        let r = req(u, "doc");
                        if authz.shard(&r) % 2 == t {
                            let d = authz.decide(&r).unwrap();
                            out.push((i, d.cached, d.value));
                        }
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(decided.iter().all(|d| !d.is_empty()));
    let mut all: Vec<_> = decided.into_iter().flatten().collect();
    all.sort_by_key(|d| d.0);
    assert_eq!(all.len(), users.len());
    let m = e.metrics();
    assert_eq!((m.misses, m.evictions), (97, 0));
    for (i, cached, value) in &all {
        let u = &users[*i];
        let first = users.iter().position(|x| x == u) == Some(*i);
        assert_eq!(*cached, !first, "{u} at {i}");
        let admin = u == "u1" || u == "u7";
        assert_eq!(value.as_deref(), Some(if admin { "true" } else { "false" }));
    }
}
