//! Criterion benches: the component (through the Rust host) against native
//! regorus and the core crate compiled natively; decide on a hit and a miss;
//! cache get, set and set with eviction; start-up cold and from the
//! compiled artifact.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sark_policy_benches::{
    AUTHZ_RULE, BENCH_RULE, authz_example, core_interpreter, native_regorus, native_regorus_eval,
    native_regorus_rvm, native_regorus_rvm_eval, regorus_cases,
};
use sark_policy_core as core_;
use sark_policy_host::{Request, Runtime};
use std::hint::black_box;
use std::time::Duration;

fn runtime(capacity: u32) -> Runtime {
    Runtime::builder().cache_capacity(capacity).build().unwrap()
}

/// Each regorus policy: component, core natively, plain regorus; one input
/// per iteration, cycling through the three, contenders interleaved per
/// policy.
fn evaluation(c: &mut Criterion) {
    let rt = runtime(1024);
    for case in regorus_cases() {
        let mut g = c.benchmark_group(format!("eval/{}", case.name));
        let comp = rt.engine().unwrap();
        comp.add_policy("policy.rego", &case.policy).unwrap();
        let mut core_engine = core_::Engine::new();
        core_engine.add_policy("policy.rego", &case.policy).unwrap();
        let mut core_interp = core_interpreter(&case.policy);
        let mut plain = native_regorus(&case.policy);
        let mut plain_rvm = native_regorus_rvm(&case.policy);
        // All agree before anything is timed, and the core ran on the RVM.
        for input in &case.inputs {
            let a = comp.eval_rule(BENCH_RULE, input).unwrap();
            let b = core_engine.eval_rule(BENCH_RULE, input).unwrap();
            assert_eq!(a, b, "{}", case.name);
            assert_eq!(a, core_interp.eval_rule(BENCH_RULE, input).unwrap());
            assert_eq!(
                a.as_deref(),
                Some(native_regorus_eval(&mut plain, input).as_str())
            );
            assert_eq!(
                a.as_deref(),
                Some(native_regorus_rvm_eval(&mut plain_rvm, input).as_str())
            );
        }
        let stats = core_engine.eval_stats();
        assert!(
            stats.fallbacks.is_empty() && stats.rvm > 0,
            "{}: {stats:?}",
            case.name
        );
        let n = case.inputs.len();
        let mut i = 0;
        g.bench_function("component", |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(comp.eval_rule(BENCH_RULE, &case.inputs[i]).unwrap())
            })
        });
        g.bench_function("core-native", |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(core_engine.eval_rule(BENCH_RULE, &case.inputs[i]).unwrap())
            })
        });
        g.bench_function("core-native-interpreter", |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(core_interp.eval_rule(BENCH_RULE, &case.inputs[i]).unwrap())
            })
        });
        g.bench_function("regorus-native", |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(native_regorus_eval(&mut plain, &case.inputs[i]))
            })
        });
        g.bench_function("regorus-native-rvm", |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(native_regorus_rvm_eval(&mut plain_rvm, &case.inputs[i]))
            })
        });
        g.finish();
    }
}

const AUTHZ_INPUT: &str =
    r#"{"user":"carol","action":"execute","resource":"tool:deploy","context":{"mfa":true}}"#;

/// The bundled example: evaluation, and decide on a hit and on a miss.
fn authz(c: &mut Criterion) {
    let (policy, data) = authz_example();
    let rt = runtime(10_000);
    let comp = rt.engine().unwrap();
    comp.add_policy("authz.rego", &policy).unwrap();
    comp.add_data(&data).unwrap();
    let mut native = core_::Engine::new();
    native.add_policy("authz.rego", &policy).unwrap();
    native.add_data(&data).unwrap();
    let mut plain = regorus::Engine::new();
    plain
        .add_policy("authz.rego".into(), policy.clone())
        .unwrap();
    plain
        .add_data(regorus::Value::from_json_str(&data).unwrap())
        .unwrap();

    let mut g = c.benchmark_group("authz/eval");
    g.bench_function("component", |b| {
        b.iter(|| black_box(comp.eval_rule(AUTHZ_RULE, AUTHZ_INPUT).unwrap()))
    });
    g.bench_function("core-native", |b| {
        b.iter(|| black_box(native.eval_rule(AUTHZ_RULE, AUTHZ_INPUT).unwrap()))
    });
    g.bench_function("regorus-native", |b| {
        b.iter(|| {
            plain.set_input(regorus::Value::from_json_str(AUTHZ_INPUT).unwrap());
            black_box(serde_json::to_string(&plain.eval_rule(AUTHZ_RULE.into()).unwrap()).unwrap())
        })
    });
    g.finish();

    let authz = comp.authorizer(AUTHZ_RULE);
    let hit = Request {
        user: "carol",
        action: "execute",
        resource: "tool:deploy",
        context: r#"{"mfa":true}"#,
        ..Request::default()
    };
    let hit_empty = Request {
        user: "bob",
        action: "read",
        resource: "dataset:sales",
        ..Request::default()
    };
    // Never stored (zero TTL): every call builds the key, misses, evaluates.
    const MISS_CONTEXT: &str = r#"{"mfa":true,"n":1}"#;
    let miss = Request {
        context: MISS_CONTEXT,
        ttl: Some(Duration::ZERO),
        ..hit
    };
    assert!(authz.decide(&hit).unwrap().value.is_some());
    assert!(authz.decide(&hit).unwrap().cached);
    assert!(!authz.decide(&miss).unwrap().cached);
    let mut cache = core_::DecisionCache::new(10_000).unwrap();
    let core_req = core_::Request {
        user: hit.user,
        action: hit.action,
        resource: hit.resource,
        context: hit.context,
    };
    let core_miss = core_::Request {
        context: MISS_CONTEXT,
        ..core_req
    };
    let core_empty = core_::Request {
        user: "bob",
        action: "read",
        resource: "dataset:sales",
        context: "",
    };
    let decide =
        |e: &mut core_::Engine, c: &mut core_::DecisionCache, r: &core_::Request<'_>, exp: u64| {
            core_::authorizer::decide(e, c, AUTHZ_RULE, r, 1, exp).unwrap()
        };

    let mut g = c.benchmark_group("authz/decide-hit");
    g.bench_function("component", |b| {
        b.iter(|| black_box(authz.decide(black_box(&hit)).unwrap()))
    });
    g.bench_function("component-empty-context", |b| {
        b.iter(|| black_box(authz.decide(black_box(&hit_empty)).unwrap()))
    });
    g.bench_function("core-native", |b| {
        b.iter(|| black_box(decide(&mut native, &mut cache, &core_req, u64::MAX)))
    });
    g.bench_function("core-native-empty-context", |b| {
        b.iter(|| black_box(decide(&mut native, &mut cache, &core_empty, u64::MAX)))
    });
    g.finish();

    let mut g = c.benchmark_group("authz/decide-miss");
    g.bench_function("component", |b| {
        b.iter(|| black_box(authz.decide(black_box(&miss)).unwrap()))
    });
    g.bench_function("core-native", |b| {
        b.iter(|| black_box(decide(&mut native, &mut cache, &core_miss, 0)))
    });
    g.finish();
}

/// The decision cache: get (hit), set (overwrite), set with eviction.
fn cache(c: &mut Criterion) {
    const CAP: u32 = 1024;
    let rt = runtime(CAP);
    let cache = rt.engine().unwrap().cache();
    let resources: Vec<String> = (0..4 * CAP).map(|i| format!("doc:{i}")).collect();
    let req = |i: usize| Request {
        user: "alice",
        action: "read",
        resource: &resources[i % resources.len()],
        ttl: Some(Duration::from_secs(3600)),
        ..Request::default()
    };
    cache.set(&req(0), "true").unwrap();
    assert_eq!(cache.get(&req(0)).unwrap().as_deref(), Some("true"));
    let mut native = core_::DecisionCache::new(CAP).unwrap();
    let keys: Vec<String> = resources
        .iter()
        .map(|r| core_::keys::decision_key("alice", "read", r, "44136fa355b3678a"))
        .collect();
    native.insert(&keys[0], "true", 0, u64::MAX);

    let mut g = c.benchmark_group("cache/get");
    g.bench_function("component", |b| {
        b.iter(|| black_box(cache.get(black_box(&req(0))).unwrap()))
    });
    g.bench_function("core-native", |b| {
        b.iter(|| black_box(native.get(black_box(&keys[0]), 1).map(str::len)))
    });
    g.finish();

    let mut g = c.benchmark_group("cache/set");
    g.bench_function("component", |b| {
        b.iter(|| cache.set(black_box(&req(0)), "true").unwrap())
    });
    g.bench_function("core-native", |b| {
        b.iter(|| native.insert(black_box(&keys[0]), "true", 1, u64::MAX))
    });
    g.finish();

    // Cycling 4x capacity distinct keys: every set evicts the LRU entry.
    let mut g = c.benchmark_group("cache/set-evict");
    let mut i = 0;
    g.bench_function("component", |b| {
        b.iter(|| {
            i += 1;
            cache.set(&req(i), "true").unwrap()
        })
    });
    g.bench_function("core-native", |b| {
        b.iter(|| {
            i += 1;
            native.insert(&keys[i % keys.len()], "true", 1, u64::MAX)
        })
    });
    g.finish();
    assert!(cache.stats().unwrap().evictions > 0 || i < 4 * CAP as usize);
}

/// Start-up: compile the component (cold) or load the compiled artifact,
/// then make the first instance.
fn start(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let warm = || {
        Runtime::builder()
            .artifact_dir(Some(dir.path().to_path_buf()))
            .build()
            .unwrap()
    };
    drop(warm()); // writes the artifact
    let mut g = c.benchmark_group("start");
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("artifact", "runtime+instance"), |b| {
        b.iter(|| {
            let rt = warm();
            black_box(rt.engine().unwrap())
        })
    });
    let rt = warm();
    g.bench_function(BenchmarkId::new("artifact", "instance"), |b| {
        b.iter(|| black_box(rt.engine().unwrap()))
    });
    g.finish();
    cold_start();
}

/// Compiling the component takes seconds, too long for criterion's ten
/// samples in a smoke run: timed by hand, three starts (one with --quick).
fn cold_start() {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut times: Vec<Duration> = (0..if quick { 1 } else { 3 })
        .map(|_| {
            let t = std::time::Instant::now();
            let rt = Runtime::builder().artifact_dir(None).build().unwrap();
            black_box(rt.engine().unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "start/cold/runtime+instance (compile, no artifact): median {:?} of {:?}",
        times[times.len() / 2],
        times
    );
}

fn config() -> Criterion {
    // Short windows, many contenders: the whole run takes a few minutes.
    // Command-line flags (--quick, --measurement-time) still override.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = evaluation, authz, cache, start
}
criterion_main!(benches);
