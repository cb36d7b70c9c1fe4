//! Profiling aid: evaluates regorus's `rbac` policy in the component in a
//! loop with plain wasmtime, under a few engine settings, and prints the
//! time per evaluation of each; `--perfmap` names the JIT code for `perf`.
//!
//!     perf record -g target/release/sark-bench-evalprof --perfmap
#![allow(clippy::unwrap_used, missing_docs)]

use sark_policy_benches::{BENCH_RULE, regorus_cases};
use std::time::Instant;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({ world: "policy-component", path: "../wit" });
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn run(name: &str, config: &Config, bytes: &[u8], iters: u32) -> anyhow::Result<()> {
    let engine = Engine::new(config)?;
    let component = Component::new(&engine, bytes)?;
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let mut store = Store::new(
        &engine,
        State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    store.set_epoch_deadline(u64::MAX / 2);
    let api = bindings::PolicyComponent::instantiate(&mut store, &component, &linker)?;
    let ev = api.sark_policy_evaluator().engine();
    let e = ev.call_constructor(&mut store)?;
    let cases = regorus_cases();
    let mut line = format!("| {name} |");
    for case in &cases {
        ev.call_add_policy(&mut store, e, case.name, &case.policy)?
            .map_err(|x| anyhow::anyhow!("{x:?}"))?;
        // Each policy has package `bench`: keep one at a time.
        for input in &case.inputs {
            ev.call_eval_rule(&mut store, e, BENCH_RULE, input)?
                .map_err(|x| anyhow::anyhow!("{x:?}"))?;
        }
        let t = Instant::now();
        for i in 0..iters {
            let input = &case.inputs[i as usize % case.inputs.len()];
            std::hint::black_box(
                ev.call_eval_rule(&mut store, e, BENCH_RULE, input)?
                    .map_err(|x| anyhow::anyhow!("{x:?}"))?,
            );
        }
        line += &format!(
            " {:.2} |",
            t.elapsed().as_secs_f64() * 1e6 / f64::from(iters)
        );
        ev.call_remove_policy(&mut store, e, case.name)?
            .map_err(|x| anyhow::anyhow!("{x:?}"))?;
    }
    println!("{line}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let perfmap = std::env::args().any(|a| a == "--perfmap");
    let iters = if std::env::var_os("SARK_BENCH_QUICK").is_some() {
        50
    } else {
        3000
    };
    let bytes = std::fs::read(format!(
        "{}/../dist/sark_policy.wasm",
        env!("CARGO_MANIFEST_DIR")
    ))?;
    println!(
        "| settings (us per eval) | {} |",
        sark_policy_benches::POLICIES.join(" | ")
    );
    println!("| --- |{}", " ---: |".repeat(9));
    let mut host = Config::new();
    host.epoch_interruption(true);
    if perfmap {
        host.profiler(wasmtime::ProfilingStrategy::PerfMap);
        return run("host settings, perfmap", &host, &bytes, iters * 3);
    }
    run("host settings (epoch interruption)", &host, &bytes, iters)?;
    let plain = Config::new();
    run("no epoch interruption", &plain, &bytes, iters)?;
    let mut speed = Config::new();
    speed
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::SpeedAndSize);
    run("epoch + opt SpeedAndSize", &speed, &bytes, iters)?;
    let mut nocheck = Config::new();
    nocheck
        .epoch_interruption(true)
        .cranelift_nan_canonicalization(false)
        .wasm_backtrace_max_frames(None);
    run("epoch + no wasm backtrace", &nocheck, &bytes, iters)?;
    run("host settings (again)", &host, &bytes, iters)?;
    Ok(())
}
