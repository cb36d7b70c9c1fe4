//! Instance memory with 10k, 100k and 1M cached decisions.
//!
//! Two measurements:
//! - guest: the component's linear memory size in wasmtime, read from a
//!   `ResourceLimiter` that sees every `memory.grow` (the size a host pays
//!   for; wasm memory only grows, so this is the high-water mark, and it
//!   moves in 64 KiB pages plus whatever dlmalloc keeps around);
//! - native: the core crate's `DecisionCache` compiled natively with a
//!   counting global allocator (live heap bytes, exact).
//!
//! Keys are the authorizer's scoped keys for distinct resources, values
//! `true`, the shape a real decision cache holds.
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)]

use sark_policy_benches::counting::{Counting, live_bytes};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({ world: "policy-component", path: "../wit" });
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: usize,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for State {
    fn memory_growing(
        &mut self,
        _: usize,
        desired: usize,
        _: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.memory = self.memory.max(desired);
        Ok(true)
    }
    fn table_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

fn key(i: usize) -> String {
    let seed = sark_policy_core::keys::decision_key(
        "user-123",
        "read",
        &format!("doc:{i:07}"),
        "44136fa355b3678a",
    );
    sark_policy_core::keys::scoped_key(
        &seed,
        ["user-123", "read", "doc:0000000", "data.authz.allow"],
        1,
    )
}

const VALUE: &str = "true";

fn guest(engine: &Engine, component: &Component, n: usize) -> anyhow::Result<(usize, usize)> {
    let mut linker = Linker::<State>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let state = State {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        memory: 0,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| s);
    let api = bindings::PolicyComponent::instantiate(&mut store, component, &linker)?;
    let cache_api = api.sark_policy_decision_cache().cache();
    let cache = cache_api
        .call_create(&mut store, u32::try_from(n)?)?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // One entry first, so the baseline includes the cache's own start.
    cache_api
        .call_set(&mut store, cache, &key(n), VALUE, 0, u64::MAX)?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let empty = store.data().memory;
    for i in 0..n {
        cache_api
            .call_set(&mut store, cache, &key(i), VALUE, 0, u64::MAX)?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    anyhow::ensure!(cache_api.call_size(&mut store, cache)? == n as u64);
    Ok((empty, store.data().memory))
}

fn native(n: usize) -> usize {
    let keys: Vec<String> = (0..n).map(key).collect();
    let before = live_bytes();
    let mut cache = sark_policy_core::DecisionCache::new(u32::try_from(n).unwrap()).unwrap();
    for k in &keys {
        cache.insert(k, VALUE, 0, u64::MAX);
    }
    let used = live_bytes() - before;
    assert_eq!(cache.len(), n);
    drop(cache);
    used
}

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = match std::env::var("SARK_BENCH_QUICK") {
        Ok(_) => vec![10_000],
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("{}/../dist/sark_policy.wasm", env!("CARGO_MANIFEST_DIR")));
    let engine = Engine::new(&Config::new())?;
    let component = Component::from_file(&engine, &path)?;
    let key_len = key(0).len();
    println!(
        "key {key_len} bytes, value {} bytes: key+value = {} bytes per entry",
        VALUE.len(),
        key_len + VALUE.len()
    );
    println!();
    println!(
        "| entries | guest linear memory (empty -> full) | guest bytes/entry | guest overhead/entry | native heap | native bytes/entry | native overhead/entry |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in sizes {
        let (empty, full) = guest(&engine, &component, n)?;
        let g = (full - empty) as f64 / n as f64;
        let nat = native(n);
        let nb = nat as f64 / n as f64;
        let kv = (key_len + VALUE.len()) as f64;
        println!(
            "| {n} | {:.1} MiB -> {:.1} MiB | {g:.0} | {:.0} | {:.1} MiB | {nb:.0} | {:.0} |",
            empty as f64 / 1048576.0,
            full as f64 / 1048576.0,
            g - kv,
            nat as f64 / 1048576.0,
            nb - kv
        );
    }
    Ok(())
}
