//! Where start-up from the compiled artifact goes: each phase of
//! `Runtime::builder().build()` plus the first instance, timed separately
//! with plain wasmtime (same engine settings as the host), median of runs.
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)]

use sark_policy_host::{EMBEDDED_COMPONENT, Runtime};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let runs = if std::env::var_os("SARK_BENCH_QUICK").is_some() {
        3
    } else {
        15
    };
    let dir = tempfile::tempdir()?;
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let compiled = Component::new(&engine, EMBEDDED_COMPONENT)?.serialize()?;
    let path = dir.path().join("c.cwasm");
    std::fs::write(&path, &compiled)?;
    println!(
        "component {} bytes, compiled artifact {} bytes",
        EMBEDDED_COMPONENT.len(),
        compiled.len()
    );
    let mut phases: Vec<(&str, Vec<Duration>)> = [
        "sha256 of the component",
        "read artifact",
        "deserialize (from bytes)",
        "deserialize_file (mmap)",
        "linker + WASI p2",
        "instantiate_pre",
        "first instance",
        "host Runtime::build (artifact)",
        "host Runtime::build + engine()",
    ]
    .iter()
    .map(|n| (*n, Vec::new()))
    .collect();
    // The host's own artifact directory, warmed once.
    let host_dir = tempfile::tempdir()?;
    let host = || {
        Runtime::builder()
            .artifact_dir(Some(host_dir.path().to_path_buf()))
            .build()
            .unwrap()
    };
    drop(host());
    for _ in 0..runs {
        let mut t = Instant::now();
        let mut lap = |i: usize, phases: &mut Vec<(&str, Vec<Duration>)>| {
            phases[i].1.push(t.elapsed());
            t = Instant::now();
        };
        use sha2::Digest;
        std::hint::black_box(sha2::Sha256::digest(EMBEDDED_COMPONENT));
        lap(0, &mut phases);
        let bytes = std::fs::read(&path)?;
        lap(1, &mut phases);
        // SAFETY: bytes we serialized above with this engine.
        let component = unsafe { Component::deserialize(&engine, &bytes)? };
        lap(2, &mut phases);
        // SAFETY: as above.
        let _mapped = unsafe { Component::deserialize_file(&engine, &path)? };
        lap(3, &mut phases);
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        lap(4, &mut phases);
        let pre = linker.instantiate_pre(&component)?;
        lap(5, &mut phases);
        let mut store = Store::new(
            &engine,
            State {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(1 << 40);
        std::hint::black_box(pre.instantiate(&mut store)?);
        lap(6, &mut phases);
        let rt = host();
        lap(7, &mut phases);
        let rt2 = host();
        std::hint::black_box(rt2.engine()?);
        lap(8, &mut phases);
        drop(rt);
    }
    println!("\n| phase | median |\n| --- | ---: |");
    for (name, v) in phases {
        println!("| {name} | {:.2} ms |", median(v).as_secs_f64() * 1e3);
    }
    Ok(())
}
