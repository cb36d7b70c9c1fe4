//! Loads `dist/sark_policy.wasm` in wasmtime and calls every exported
//! function of the `sark:policy` world, including each error case, at the
//! WIT level (no host library in between).
#![allow(missing_docs)]

use exports::sark::policy::authorizer::Request;
use exports::sark::policy::types::Error;
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({ world: "policy-component", path: "../wit" });

struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Fixture {
    store: Store<Host>,
    api: PolicyComponent,
    engine: ResourceAny,
}

fn component_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/sark_policy.wasm")
}

fn fixture() -> Fixture {
    static COMPONENT: std::sync::OnceLock<(Engine, Component)> = std::sync::OnceLock::new();
    let (engine, component) = COMPONENT.get_or_init(|| {
        let engine = Engine::new(&Config::new()).unwrap();
        let path = component_path();
        let component = Component::from_file(&engine, &path)
            .unwrap_or_else(|e| panic!("{}: {e:#} (run `make component`)", path.display()));
        (engine, component)
    });
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let mut store = Store::new(
        engine,
        Host {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    let api = PolicyComponent::instantiate(&mut store, component, &linker).unwrap();
    let engine = api
        .sark_policy_evaluator()
        .engine()
        .call_constructor(&mut store)
        .unwrap();
    Fixture { store, api, engine }
}

const AUTHZ: &str = "package authz\ndefault allow := false\nallow if input.user == \"alice\"\nallow if data.admins[input.user]\n";

fn req(user: &str, context: &str) -> Request {
    Request {
        user: user.into(),
        action: "read".into(),
        resource: "doc:1".into(),
        context: context.into(),
    }
}

#[test]
fn evaluator_functions_and_errors() {
    let mut f = fixture();
    let (s, e, api) = (
        &mut f.store,
        f.engine,
        f.api.sark_policy_evaluator().engine(),
    );
    assert_eq!(api.call_revision(&mut *s, e).unwrap(), 0);
    assert_eq!(
        api.call_add_policy(&mut *s, e, "authz.rego", AUTHZ)
            .unwrap()
            .unwrap(),
        "data.authz"
    );
    assert_eq!(api.call_policies(&mut *s, e).unwrap(), ["authz.rego"]);
    assert_eq!(api.call_packages(&mut *s, e).unwrap(), ["data.authz"]);
    let rev = api.call_revision(&mut *s, e).unwrap();

    // Each error case leaves the revision where it was.
    let Err(Error::InvalidPolicy(m)) = api
        .call_add_policy(&mut *s, e, "bad.rego", "package bad\nallow if {")
        .unwrap()
    else {
        panic!("expected invalid-policy")
    };
    assert!(m.contains("bad.rego:2:"), "{m}");
    assert!(matches!(
        api.call_add_data(&mut *s, e, "{oops").unwrap(),
        Err(Error::InvalidJson(_))
    ));
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    assert!(matches!(
        api.call_eval_rule(&mut *s, e, "authz/allow", &deep)
            .unwrap(),
        Err(Error::LimitExceeded(_))
    ));
    assert!(matches!(
        api.call_remove_policy(&mut *s, e, "nope.rego").unwrap(),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        api.call_eval_rule(&mut *s, e, "nope/allow", "{}").unwrap(),
        Err(Error::NotFound(_))
    ));
    api.call_add_policy(
        &mut *s,
        e,
        "c.rego",
        "package c\nx := input.a\nx := input.b",
    )
    .unwrap()
    .unwrap();
    let rev_c = api.call_revision(&mut *s, e).unwrap();
    assert!(matches!(
        api.call_eval_rule(&mut *s, e, "c/x", r#"{"a":1,"b":2}"#)
            .unwrap(),
        Err(Error::Evaluation(_))
    ));
    assert!(matches!(
        api.call_eval_query(&mut *s, e, "x := ", "{}").unwrap(),
        Err(Error::Evaluation(_))
    ));
    assert_eq!(api.call_revision(&mut *s, e).unwrap(), rev_c);
    assert_ne!(rev_c, rev);
    api.call_remove_policy(&mut *s, e, "c.rego")
        .unwrap()
        .unwrap();
    assert_eq!(api.call_policies(&mut *s, e).unwrap(), ["authz.rego"]);

    // Values, undefined, data.
    let eval = |s: &mut Store<Host>, input: &str| {
        api.call_eval_rule(s, e, "data.authz.allow", input)
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        eval(&mut *s, r#"{"user":"alice"}"#).as_deref(),
        Some("true")
    );
    assert_eq!(
        eval(&mut *s, r#"{"user":"root"}"#).as_deref(),
        Some("false")
    );
    api.call_add_data(&mut *s, e, r#"{"admins":{"root":true}}"#)
        .unwrap()
        .unwrap();
    assert_eq!(eval(&mut *s, r#"{"user":"root"}"#).as_deref(), Some("true"));
    api.call_replace_data(&mut *s, e, r#"{"admins":{}}"#)
        .unwrap()
        .unwrap();
    assert_eq!(
        eval(&mut *s, r#"{"user":"root"}"#).as_deref(),
        Some("false")
    );
    api.call_add_data(&mut *s, e, r#"{"admins":{"root":true}}"#)
        .unwrap()
        .unwrap();
    api.call_clear_data(&mut *s, e).unwrap();
    assert_eq!(
        eval(&mut *s, r#"{"user":"root"}"#).as_deref(),
        Some("false")
    );
    api.call_add_policy(
        &mut *s,
        e,
        "u.rego",
        "package u\nx if input.n > 1\nn := to_number(input.s)",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        api.call_eval_rule(&mut *s, e, "u/x", r#"{"n":0}"#)
            .unwrap()
            .unwrap(),
        None
    );
    let q = api
        .call_eval_query(&mut *s, e, "y := input.n * 2", r#"{"n":21}"#)
        .unwrap()
        .unwrap();
    assert!(q.contains(r#""bindings":{"y":42}"#), "{q}");

    // Strict builtin errors.
    assert_eq!(
        api.call_eval_rule(&mut *s, e, "u/n", r#"{"s":"x"}"#)
            .unwrap()
            .unwrap(),
        None
    );
    api.call_set_strict_builtin_errors(&mut *s, e, true)
        .unwrap();
    assert!(matches!(
        api.call_eval_rule(&mut *s, e, "u/n", r#"{"s":"x"}"#)
            .unwrap(),
        Err(Error::Evaluation(_))
    ));

    let limits = api.call_limits(&mut *s, e).unwrap();
    assert_eq!((limits.max_depth, limits.max_bytes), (64, 16 << 20));
}

#[test]
fn cache_functions_and_errors() {
    let mut f = fixture();
    let s = &mut f.store;
    let api = f.api.sark_policy_decision_cache().cache();
    assert!(matches!(
        api.call_create(&mut *s, 0).unwrap(),
        Err(Error::LimitExceeded(_))
    ));
    let c = api.call_create(&mut *s, 2).unwrap().unwrap();
    api.call_set(&mut *s, c, "a", r#"{"allow":true}"#, 0, 100)
        .unwrap()
        .unwrap();
    assert!(matches!(
        api.call_set(&mut *s, c, "b", "{not json", 0, 100).unwrap(),
        Err(Error::InvalidJson(_))
    ));
    assert_eq!(api.call_size(&mut *s, c).unwrap(), 1);
    assert_eq!(
        api.call_get(&mut *s, c, "a", 99).unwrap().as_deref(),
        Some(r#"{"allow":true}"#)
    );
    assert_eq!(api.call_get(&mut *s, c, "a", 100).unwrap(), None);
    api.call_set(&mut *s, c, "a", "1", 0, 10).unwrap().unwrap();
    api.call_set(&mut *s, c, "b", "2", 0, 10).unwrap().unwrap();
    api.call_set(&mut *s, c, "c", "3", 0, 10).unwrap().unwrap();
    assert!(api.call_delete(&mut *s, c, "c").unwrap());
    assert!(!api.call_delete(&mut *s, c, "c").unwrap());
    api.call_set(&mut *s, c, "d", "4", 0, 5).unwrap().unwrap();
    assert_eq!(api.call_cleanup_expired(&mut *s, c, 5).unwrap(), 1);
    let st = api.call_stats(&mut *s, c).unwrap();
    assert_eq!(
        (
            st.hits,
            st.misses,
            st.evictions,
            st.expirations,
            st.entries,
            st.capacity
        ),
        (1, 1, 1, 2, 1, 2)
    );
    api.call_reset_stats(&mut *s, c).unwrap();
    api.call_clear(&mut *s, c).unwrap();
    let st = api.call_stats(&mut *s, c).unwrap();
    assert_eq!((st.hits, st.evictions, st.entries), (0, 0, 0));
    c.resource_drop(&mut *s).unwrap();
}

#[test]
fn authorizer_functions_and_errors() {
    let mut f = fixture();
    let (s, e) = (&mut f.store, f.engine);
    f.api
        .sark_policy_evaluator()
        .engine()
        .call_add_policy(&mut *s, e, "authz.rego", AUTHZ)
        .unwrap()
        .unwrap();
    let c = f
        .api
        .sark_policy_decision_cache()
        .cache()
        .call_create(&mut *s, 16)
        .unwrap()
        .unwrap();
    let az = f.api.sark_policy_authorizer();

    let key = az
        .call_cache_key(&mut *s, &req("alice", r#"{"b":1,"a":2}"#))
        .unwrap()
        .unwrap();
    assert_eq!(
        key,
        az.call_cache_key(&mut *s, &req("alice", r#"{"a":2,"b":1}"#))
            .unwrap()
            .unwrap()
    );
    assert!(
        key.starts_with("policy:decision:alice:read:doc:1:"),
        "{key}"
    );
    assert_eq!(key.len(), "policy:decision:alice:read:doc:1:".len() + 16);
    assert!(matches!(
        az.call_cache_key(&mut *s, &req("alice", "{")).unwrap(),
        Err(Error::InvalidJson(_))
    ));

    // One decide call: rule, context, now; expiry at 100 ms.
    let decide = |s: &mut Store<Host>, rule: &str, context: &str, now: u64| {
        az.call_decide(s, e, c, rule, &req("alice", context), now, 100)
            .unwrap()
    };
    let d = decide(&mut *s, "data.authz.allow", "{}", 0).unwrap();
    assert_eq!((d.value.as_deref(), d.cached), (Some("true"), false));
    let seed_key = az
        .call_cache_key(&mut *s, &req("alice", "{}"))
        .unwrap()
        .unwrap();
    assert!(d.key.starts_with(&seed_key));
    assert!(
        decide(&mut *s, "data.authz.allow", "{}", 50)
            .unwrap()
            .cached
    );
    let bad = decide(&mut *s, "data.authz.allow", "[[", 0);
    assert!(matches!(bad, Err(Error::InvalidJson(_))));
    let missing = decide(&mut *s, "data.none.allow", "{}", 0);
    assert!(matches!(missing, Err(Error::NotFound(_))));
    let st = f
        .api
        .sark_policy_decision_cache()
        .cache()
        .call_stats(&mut *s, c)
        .unwrap();
    assert_eq!((st.hits, st.entries), (1, 1));
}

#[test]
fn an_endless_evaluation_traps_at_the_epoch_deadline() {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::from_file(&engine, component_path()).unwrap();
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let mut store = Store::new(
        &engine,
        Host {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    store.set_epoch_deadline(1);
    let api2 = PolicyComponent::instantiate(&mut store, &component, &linker).unwrap();
    let en = api2.sark_policy_evaluator().engine();
    let r = en.call_constructor(&mut store).unwrap();
    en.call_add_policy(
        &mut store,
        r,
        "r.rego",
        "package r\nx := count([i | some i in numbers.range(1, 100000000)])",
    )
    .unwrap()
    .unwrap();
    let ticker = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                std::thread::sleep(std::time::Duration::from_millis(5));
                engine.increment_epoch();
            }
        })
    };
    let err = en.call_eval_rule(&mut store, r, "r/x", "{}").unwrap_err();
    assert_eq!(
        err.downcast_ref::<wasmtime::Trap>(),
        Some(&wasmtime::Trap::Interrupt),
        "{err:#}"
    );
    ticker.join().unwrap();
}

#[test]
fn rules_run_on_the_rvm_with_options_and_stats() {
    use exports::sark::policy::types::{EvalOptions, FallbackReason};
    let mut f = fixture();
    let (s, e, api) = (
        &mut f.store,
        f.engine,
        f.api.sark_policy_evaluator().engine(),
    );
    let defaults = api.call_eval_options(&mut *s, e).unwrap();
    assert!(!defaults.interpreter_only);
    assert_eq!(defaults.max_instructions, 50_000_000);
    api.call_add_policy(&mut *s, e, "authz.rego", AUTHZ)
        .unwrap()
        .unwrap();
    api.call_add_policy(
        &mut *s,
        e,
        "w.rego",
        "package w\nx := input.n\ny := v if { v := x with input.n as 7 }\nn := count([i | some i in numbers.range(1, 5000)])",
    )
    .unwrap()
    .unwrap();
    let rev = api.call_revision(&mut *s, e).unwrap();
    let alice = r#"{"user":"alice"}"#;
    let eval = |s: &mut Store<Host>, rule: &str, input: &str| {
        api.call_eval_rule(&mut *s, e, rule, input).unwrap()
    };
    assert_eq!(
        eval(s, "authz/allow", alice).unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(eval(s, "w/y", "{}").unwrap().as_deref(), Some("7"));
    let st = api.call_eval_stats(&mut *s, e).unwrap();
    assert_eq!((st.rvm, st.compiled), (1, 1));
    assert_eq!(st.interpreted.len(), 1);
    assert_eq!(st.interpreted[0].reason, FallbackReason::WithKeyword);
    assert_eq!(st.fallbacks.len(), 1);
    assert_eq!(st.fallbacks[0].rule, "data.w.y");

    // A budget stop is a typed error; the engine answers after it.
    let tight = EvalOptions {
        interpreter_only: false,
        max_instructions: 100,
    };
    api.call_set_eval_options(&mut *s, e, tight).unwrap();
    let Err(Error::LimitExceeded(m)) = eval(s, "w/n", "{}") else {
        panic!("expected limit-exceeded")
    };
    assert!(m.contains("100 RVM instructions"), "{m}");
    api.call_set_eval_options(&mut *s, e, defaults).unwrap();
    assert_eq!(eval(s, "w/n", "{}").unwrap().as_deref(), Some("5000"));

    // Forcing the interpreter gives the same answers and is counted.
    let forced = EvalOptions {
        interpreter_only: true,
        ..defaults
    };
    api.call_set_eval_options(&mut *s, e, forced).unwrap();
    assert_eq!(
        eval(s, "authz/allow", alice).unwrap().as_deref(),
        Some("true")
    );
    let st = api.call_eval_stats(&mut *s, e).unwrap();
    assert!(
        st.interpreted
            .iter()
            .any(|i| i.reason == FallbackReason::Forced && i.count == 1),
        "{:?}",
        st.interpreted
    );
    // Options change no answer, so the revision (and the cache) stays.
    assert_eq!(api.call_revision(&mut *s, e).unwrap(), rev);
}
