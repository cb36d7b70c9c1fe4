//! What a bundle swap costs: activation of a bundle with 1,000 rules and
//! 10 MB of data, natively (the core crate) and in the component (Rust
//! host), the swap to a new revision with the old one serving until the
//! new one is ready, resident memory around the swap, and the time from
//! publishing a new revision on a real bundle server (nginx, when
//! installed) to the first decision by it. `SARK_BENCH_QUICK=1`: 100 rules
//! and 1 MB, one run.
#![allow(clippy::unwrap_used, missing_docs)]

use sark_policy_core::{Bundle, BundleLimits, BundleSource, Engine, Limits, RegoVersion};
use sark_policy_host::{BundleConfig, BundlePoller, Runtime};
use std::io::Write;
use std::time::{Duration, Instant};

/// A bundle of `rules` rules over `modules` modules and `data_bytes` of data.
fn bundle(revision: &str, rules: usize, data_bytes: usize) -> Vec<u8> {
    let modules = 10;
    let mut files: Vec<(String, String)> = vec![(
        ".manifest".into(),
        format!(r#"{{"revision": "{revision}", "roots": ["bench"]}}"#),
    )];
    for m in 0..modules {
        let mut src = format!("package bench.m{m}\n");
        for r in 0..rules / modules {
            src.push_str(&format!(
                "allow_{r} if {{\n  input.n == {r}\n  data.bench.users[input.user].level >= {}\n}}\n",
                r % 5
            ));
        }
        files.push((format!("bench/m{m}/policy.rego"), src));
    }
    files.push((
        "bench/main.rego".into(),
        format!("package bench\nallow if data.bench.users[input.user].team == \"{revision}\"\n"),
    ));
    let mut users = String::from("{\"users\": {");
    let mut i = 0;
    while users.len() < data_bytes {
        if i > 0 {
            users.push(',');
        }
        users.push_str(&format!(
            "\"user{i:07}\": {{\"level\": {}, \"team\": \"{revision}\", \"email\": \"user{i:07}@example.com\", \"tags\": [\"a\", \"b\"]}}",
            i % 7
        ));
        i += 1;
    }
    users.push_str("}}");
    files.push(("bench/data.json".into(), users));
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, body) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

const INPUT: &str = r#"{"user": "user0000003", "n": 3}"#;

fn main() {
    let quick = std::env::var_os("SARK_BENCH_QUICK").is_some();
    let (rules, data, runs) = if quick {
        (100, 1 << 20, 1)
    } else {
        (1000, 10 << 20, 3)
    };
    let v1 = bundle("v1", rules, data);
    let v2 = bundle("v2", rules, data);
    println!(
        "bundle: {rules} rules in 10 modules, {:.1} MB of data.json, {:.1} MB gzipped",
        data as f64 / 1e6,
        v1.len() as f64 / 1e6
    );
    let limits = BundleLimits::DEFAULT;
    let doc = Limits::DEFAULT;
    let read = |b: &[u8]| {
        Bundle::read(BundleSource::TarGz(b), None, RegoVersion::V1, &limits, &doc).unwrap()
    };

    // Natively.
    let rss0 = rss_kib("VmRSS:");
    let mut native = Vec::new();
    let mut engine = Engine::new();
    for i in 0..runs {
        let t = Instant::now();
        engine
            .activate_bundle("main", read(if i % 2 == 0 { &v1 } else { &v2 }))
            .unwrap();
        native.push(t.elapsed());
    }
    let team = engine.eval_rule("data.bench.allow", INPUT).unwrap();
    let t = Instant::now();
    engine.activate_bundle("main", read(&v2)).unwrap();
    let native_swap = t.elapsed();
    assert!(team.is_some());
    println!(
        "native (core): activation median {} over {runs}, swap to a new revision {}; RSS {} before, {} after, peak {}",
        ms(median(native)),
        ms(native_swap),
        mib(rss0),
        mib(rss_kib("VmRSS:")),
        mib(rss_kib("VmHWM:"))
    );
    drop(engine);

    // In the component.
    // Default settings: changes run under the 30 s load deadline.
    let runtime = Runtime::builder().build().unwrap();
    let engine = runtime.engine().unwrap();
    let rss1 = rss_kib("VmRSS:");
    let mut component = Vec::new();
    for i in 0..runs {
        let bytes = if i % 2 == 0 { v1.clone() } else { v2.clone() };
        let t = Instant::now();
        engine
            .activate_bundle("main", sark_policy_host::BundleSource::Tarball(bytes), None)
            .unwrap();
        component.push(t.elapsed());
    }
    let before_swap = rss_kib("VmRSS:");
    let t = Instant::now();
    let target = if runs % 2 == 0 { &v1 } else { &v2 };
    engine
        .activate_bundle(
            "main",
            sark_policy_host::BundleSource::Tarball(target.clone()),
            None,
        )
        .unwrap();
    let swap = t.elapsed();
    let t = Instant::now();
    let first = engine.eval_rule("data.bench.allow", INPUT).unwrap();
    let first_eval = t.elapsed();
    println!(
        "component (Rust host, 1 instance): activation median {} over {runs}, swap {} then first evaluation {:.1} us ({}); process RSS {} before the engine, {} before the swap, {} after, peak {}",
        ms(median(component)),
        ms(swap),
        first_eval.as_secs_f64() * 1e6,
        first.unwrap_or_default(),
        mib(rss1),
        mib(before_swap),
        mib(rss_kib("VmRSS:")),
        mib(rss_kib("VmHWM:"))
    );

    // Publish to first decision, through nginx.
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        println!("publish to first decision: nginx not installed (`make nginx`), not measured");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.path().display();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, format!("daemon off; master_process off; pid {d}/pid; error_log {d}/err warn;
events {{}} http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
server {{ listen 127.0.0.1:{port}; root {d}; }} }}")).unwrap();
    let mut server = std::process::Command::new(nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir.path())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let publish = |bytes: &[u8], second: u64| {
        let path = dir.path().join("main.tar.gz");
        let tmp = dir.path().join("main.tmp");
        let mut f = std::fs::File::create(&tmp).unwrap();
        f.write_all(bytes).unwrap();
        f.set_modified(
            std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + second),
        )
        .unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    };
    let engine = runtime.engine().unwrap();
    publish(&v1, 0);
    let config = BundleConfig {
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(200),
        ..BundleConfig::new("main", format!("http://127.0.0.1:{port}/main.tar.gz"))
    };
    let poller = BundlePoller::start(&engine, config).unwrap();
    let wait_team = |team: &str| {
        let started = Instant::now();
        loop {
            let user = engine.eval_rule("data.bench.allow", INPUT);
            if let Ok(Some(v)) = &user
                && v == "true"
                && poller.status().active_revision.as_deref() == Some(team)
            {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_team("v1");
    publish(&v2, 1);
    let took = wait_team("v2");
    println!(
        "publish to first decision by the new revision: {} (polling every 100-200 ms: about half a polling interval, then download and activation)",
        ms(took)
    );
    poller.stop();
    let _ = server.kill();
    let _ = server.wait();
}
