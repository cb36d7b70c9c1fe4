//! OPA bundles through the Rust host: activation in every instance, replay
//! after a trap, signatures, status and metrics, and polling a real bundle
//! server (nginx on loopback).

use crate::bundle_server::{BundleServer, publish, targz};
use crate::{builder, trap_query};
use sark_policy_host::{
    BundleConfig, BundlePoller, BundleSource, ErrorKind, PolicyEngine, PollOutcome, Request,
    Verification, VerificationKey,
};
use std::time::Duration;

const MANIFEST: &str = r#"{"revision": "REV", "roots": ["authz"]}"#;

fn policy(admin: &str) -> String {
    format!(
        "package authz\ndefault allow := false\nallow if input.user == \"{admin}\"\nallow if data.authz.extra[input.user]"
    )
}

fn bundle(rev: &str, admin: &str) -> Vec<u8> {
    targz(&[
        (".manifest", &MANIFEST.replace("REV", rev)),
        ("authz/policy.rego", &policy(admin)),
        ("authz/data.json", r#"{"extra": {"carol": true}}"#),
    ])
}

fn new_engine(shards: usize) -> PolicyEngine {
    builder().shards(shards).build().unwrap().engine().unwrap()
}

fn allowed(engine: &PolicyEngine, user: &str) -> bool {
    engine
        .eval_rule("data.authz.allow", &format!(r#"{{"user":"{user}"}}"#))
        .unwrap()
        .as_deref()
        == Some("true")
}

#[test]
fn a_bundle_activates_in_every_instance_and_a_new_revision_is_never_served_stale() {
    let engine = new_engine(3);
    let info = engine
        .activate_bundle("main", BundleSource::Tarball(bundle("r1", "alice")), None)
        .unwrap();
    assert_eq!(
        (info.revision.as_str(), info.roots.as_slice()),
        ("r1", &["authz".to_owned()][..])
    );
    let authz = engine.authorizer("data.authz.allow");
    let req = |user| Request {
        user,
        action: "read",
        resource: "doc",
        ..Request::default()
    };
    for user in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        let d = authz.decide(&req(user)).unwrap();
        assert_eq!(d.allowed(), user == "alice" || user == "carol", "{user}");
        assert!(authz.decide(&req(user)).unwrap().cached);
    }
    engine
        .activate_bundle("main", BundleSource::Tarball(bundle("r2", "bob")), None)
        .unwrap();
    let d = authz.decide(&req("alice")).unwrap();
    assert!(
        !d.cached && !d.allowed(),
        "a decision of r1 was served after r2"
    );
    assert!(authz.decide(&req("bob")).unwrap().allowed());
    assert_eq!(engine.bundles().unwrap()[0].revision, "r2");
    let m = engine.metrics();
    assert_eq!(m.bundles[0].activations, 2);
    assert_eq!(m.bundles[0].active_revision.as_deref(), Some("r2"));
    let text = m.prometheus();
    assert!(
        text.contains("sark_policy_bundle_info{bundle=\"main\",revision=\"r2\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sark_policy_bundle_activations_total{bundle=\"main\"} 2"),
        "{text}"
    );
}

#[test]
fn a_bad_bundle_changes_nothing_and_is_reported() {
    let engine = new_engine(2);
    engine
        .activate_bundle("main", BundleSource::Tarball(bundle("r1", "alice")), None)
        .unwrap();
    let rev = engine.revision().unwrap();
    let bad = [
        targz(&[
            (".manifest", &MANIFEST.replace("REV", "bad")),
            ("authz/p.rego", "package authz\nallow if {"),
        ]),
        targz(&[
            (".manifest", &MANIFEST.replace("REV", "bad")),
            ("other/p.rego", "package other\nx := 1"),
        ]),
        b"not a tarball".to_vec(),
    ];
    let kinds: Vec<_> = bad
        .into_iter()
        .map(|b| {
            engine
                .activate_bundle("main", BundleSource::Tarball(b), None)
                .unwrap_err()
                .kind()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            Some(ErrorKind::InvalidPolicy),
            Some(ErrorKind::InvalidBundle),
            Some(ErrorKind::InvalidBundle)
        ]
    );
    assert_eq!(engine.revision().unwrap(), rev);
    assert!(allowed(&engine, "alice"));
    let status = &engine.metrics().bundles[0];
    assert_eq!((status.failures, status.activations), (3, 1));
    let last = status.last_error.as_deref().unwrap();
    assert!(
        last.contains("InvalidBundle") && last.contains("gzip"),
        "{last}"
    );
    // Bundles own their roots.
    let err = engine
        .add_policy("x.rego", "package authz.more\nx := 1")
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidPolicy));
}

#[test]
fn a_trapped_instance_comes_back_with_the_bundle_and_its_deltas() {
    let engine = new_engine(1);
    engine
        .activate_bundle("main", BundleSource::Tarball(bundle("r1", "alice")), None)
        .unwrap();
    let patch = r#"{"data": [{"op": "upsert", "path": "/authz/extra/dave", "value": true}]}"#;
    let delta = targz(&[
        (".manifest", &MANIFEST.replace("REV", "r1-d1")),
        ("patch.json", patch),
    ]);
    let info = engine
        .activate_bundle("main", BundleSource::Tarball(delta), None)
        .unwrap();
    assert_eq!((info.revision.as_str(), info.deltas), ("r1-d1", 1));
    assert_eq!(engine.bundles_held(), (1, 1));
    assert!(allowed(&engine, "dave"));
    let trap = engine.eval_query(&trap_query(), "").unwrap_err();
    assert!(trap.is_sandbox_event(), "{trap}");
    assert_eq!(engine.metrics().recycles, 1);
    assert!(allowed(&engine, "alice") && allowed(&engine, "dave") && !allowed(&engine, "bob"));
    assert_eq!(engine.bundles().unwrap()[0].revision, "r1-d1");
    // A snapshot drops the deltas held.
    engine
        .activate_bundle("main", BundleSource::Tarball(bundle("r2", "bob")), None)
        .unwrap();
    assert_eq!(engine.bundles_held(), (1, 0));
    engine.remove_bundle("main").unwrap();
    assert_eq!(engine.bundles_held(), (0, 0));
    assert!(engine.bundles().unwrap().is_empty());
    assert!(engine.metrics().bundles.is_empty());
}

#[test]
fn bundles_load_from_a_directory_and_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bundle");
    std::fs::create_dir_all(root.join("authz")).unwrap();
    std::fs::write(root.join(".manifest"), MANIFEST.replace("REV", "dir")).unwrap();
    std::fs::write(root.join("authz/policy.rego"), policy("erin")).unwrap();
    let engine = new_engine(1);
    let source = BundleSource::from_path(&root).unwrap();
    assert!(matches!(&source, BundleSource::Files(f) if f.len() == 2));
    engine.activate_bundle("dir", source, None).unwrap();
    assert!(allowed(&engine, "erin"));
    let file = dir.path().join("b.tar.gz");
    std::fs::write(&file, bundle("file", "frank")).unwrap();
    engine
        .activate_bundle("dir", BundleSource::from_path(&file).unwrap(), None)
        .unwrap();
    assert!(allowed(&engine, "frank") && !allowed(&engine, "erin"));
}

/// OPA's own signed test bundle (`TestPluginOneShotSignedBundlePersistence`
/// in OPA's `v1/plugins/bundle/plugin_test.go`): HS256 with `secret`.
const OPA_SIGNED: &str =
    include_str!("../../../guest/core/src/bundle/testdata/opa_signed.jwt").trim_ascii_end();

fn opa_signed(example1: &str) -> Vec<u8> {
    let sigs = format!(r#"{{"signatures": ["{OPA_SIGNED}"]}}"#);
    targz(&[
        (".manifest", r#"{"revision": "quickbrownfaux"}"#),
        (".signatures.json", &sigs),
        ("example1/data.json", example1),
        ("example2/data.json", r#"{"x": true}"#),
    ])
}

fn hs256(secret: &str) -> Verification {
    Verification {
        keys: vec![VerificationKey {
            id: "foo".into(),
            algorithm: "HS256".into(),
            key: secret.into(),
            scope: String::new(),
        }],
        key_id: "foo".into(),
        ..Verification::default()
    }
}

#[test]
fn signed_bundles_verify_and_tampered_ones_are_refused() {
    let engine = new_engine(1);
    let ok = engine
        .activate_bundle(
            "signed",
            BundleSource::Tarball(opa_signed(r#"{"foo": "bar"}"#)),
            Some(&hs256("secret")),
        )
        .unwrap();
    assert_eq!(ok.revision, "quickbrownfaux");
    assert_eq!(
        engine.eval_query("x := data.example1.foo", "").unwrap(),
        r#"[{"expressions":[{"value":true,"text":"x := data.example1.foo","location":{"row":1,"col":1}}],"bindings":{"x":"bar"}}]"#
    );
    for (bytes, key) in [
        (opa_signed(r#"{"foo": "evil"}"#), "secret"),
        (opa_signed(r#"{"foo": "bar"}"#), "wrong"),
        (bundle("unsigned", "alice"), "secret"),
    ] {
        let err = engine
            .activate_bundle("signed", BundleSource::Tarball(bytes), Some(&hs256(key)))
            .unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::InvalidBundle), "{err}");
    }
    assert_eq!(engine.bundles().unwrap()[0].revision, "quickbrownfaux");
}

fn fast(name: &str, url: String) -> BundleConfig {
    BundleConfig {
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(100),
        backoff_base: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
        ..BundleConfig::new(name, url)
    }
}

#[test]
fn a_poller_follows_the_bundle_server_through_revisions_outages_and_restarts() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("bundles/main.tar.gz");
    publish(&file, &bundle("r1", "alice"));
    let mut server = BundleServer::start(root.path(), Some("s3cret"));
    let persist = tempfile::tempdir().unwrap();
    let engine = new_engine(2);
    let config = BundleConfig {
        token: Some("s3cret".into()),
        persist_dir: Some(persist.path().to_owned()),
        ..fast("main", server.url("bundles/main.tar.gz"))
    };
    let poller = BundlePoller::new(&engine, config.clone()).unwrap();
    assert!(matches!(poller.poll_now().unwrap(), PollOutcome::Activated(i) if i.revision == "r1"));
    assert!(allowed(&engine, "alice"));
    assert_eq!(poller.poll_now().unwrap(), PollOutcome::NotModified);
    publish(&file, &bundle("r2", "bob"));
    assert!(matches!(poller.poll_now().unwrap(), PollOutcome::Activated(i) if i.revision == "r2"));
    assert!(allowed(&engine, "bob") && !allowed(&engine, "alice"));
    let s = poller.status();
    assert_eq!(
        (s.downloads, s.not_modified, s.activations, s.failures),
        (2, 1, 2, 0)
    );
    assert!(s.etag.is_some() && s.last_successful_download.is_some());
    // A broken bundle: refused, r2 keeps serving, the ETag stays r2's.
    publish(&file, b"garbage");
    assert!(poller.poll_now().is_err());
    assert!(allowed(&engine, "bob"));
    publish(&file, &bundle("r3", "carol"));
    // Without the token the server refuses: counted as a failure.
    let anonymous = BundlePoller::new(
        &engine,
        BundleConfig {
            token: None,
            ..fast("other", config.url.clone())
        },
    )
    .unwrap();
    let err = anonymous.poll_now().unwrap_err().to_string();
    assert!(err.contains("HTTP 401"), "{err}");
    drop(anonymous);
    // An outage: failures counted, r2 still serving; back: r3.
    server.pause();
    assert!(poller.poll_now().is_err());
    let s = poller.status();
    assert!(
        s.consecutive_failures >= 2 && s.last_error.is_some(),
        "{s:?}"
    );
    assert!(allowed(&engine, "bob"));
    server.resume();
    assert!(matches!(poller.poll_now().unwrap(), PollOutcome::Activated(i) if i.revision == "r3"));
    assert_eq!(poller.status().consecutive_failures, 0);
    let text = engine.metrics().prometheus();
    assert!(
        text.contains("sark_policy_bundle_not_modified_total{bundle=\"main\"} 1"),
        "{text}"
    );
    drop(poller);
    // A restart while the server is down serves the persisted bundle.
    server.pause();
    let restarted = new_engine(1);
    let poller = BundlePoller::new(&restarted, config).unwrap();
    assert!(allowed(&restarted, "carol"));
    assert_eq!(poller.status().active_revision.as_deref(), Some("r3"));
    assert!(poller.poll_now().is_err());
    assert!(allowed(&restarted, "carol"));
}

#[test]
fn a_started_poller_picks_up_new_revisions_on_its_own() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("main.tar.gz");
    publish(&file, &bundle("r1", "alice"));
    let server = BundleServer::start(root.path(), None);
    let engine = new_engine(1);
    let poller = BundlePoller::start(&engine, fast("main", server.url("main.tar.gz"))).unwrap();
    let wait_for = |rev: &str| {
        let start = std::time::Instant::now();
        while poller.status().active_revision.as_deref() != Some(rev) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{rev} never became active: {:?}",
                poller.status()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("r1");
    publish(&file, &bundle("r2", "bob"));
    wait_for("r2");
    assert!(allowed(&engine, "bob"));
    poller.stop();
    let s = &engine.metrics().bundles[0];
    assert_eq!((s.downloads, s.activations, s.failures), (2, 2, 0), "{s:?}");
}

fn cli() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_sark-policy"))
}

#[test]
fn the_cli_takes_bundles_from_files_and_from_a_bundle_server() {
    use std::io::Write;
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("main.tar.gz");
    publish(&file, &bundle("r1", "alice"));
    let input = root.path().join("input.json");
    std::fs::write(&input, r#"{"user":"alice"}"#).unwrap();
    let out = cli()
        .args(["eval", "-b"])
        .arg(&file)
        .arg("-i")
        .arg(&input)
        .arg("data.authz.allow")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
    assert!(
        stderr.contains("bundle main: revision \"r1\" activated"),
        "{stderr}"
    );
    // Signed: OPA's bundle with its HS256 secret; tampered, refused.
    let secret = root.path().join("secret");
    std::fs::write(&secret, "secret").unwrap();
    for (data, ok) in [(r#"{"foo": "bar"}"#, true), (r#"{"foo": "evil"}"#, false)] {
        let signed = root.path().join("signed.tar.gz");
        std::fs::write(&signed, opa_signed(data)).unwrap();
        let out = cli()
            .args(["query", "-b"])
            .arg(&signed)
            .args(["--verification-key"])
            .arg(&secret)
            .args([
                "--verification-key-id",
                "foo",
                "--signing-alg",
                "HS256",
                "x := data.example1.foo",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{stderr}");
        if !ok {
            assert!(stderr.contains("digest mismatch"), "{stderr}");
        }
    }
    // decide, polling nginx.
    let server = BundleServer::start(root.path(), None);
    let mut child = cli()
        .args([
            "decide",
            "--rule",
            "data.authz.allow",
            "--bundle-name",
            "main",
            "--bundle-url",
        ])
        .arg(server.url("main.tar.gz"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let requests = "{\"user\":\"alice\",\"action\":\"read\",\"resource\":\"doc\"}\n{\"user\":\"bob\",\"action\":\"read\",\"resource\":\"doc\"}\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(requests.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let allowed: Vec<bool> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["allowed"] == true)
        .collect();
    assert_eq!(allowed, [true, false], "{stdout}");
    assert!(
        stderr.contains("bundles: main r1 (1 activations, 0 failures)"),
        "{stderr}"
    );
}

/// Data the journal holds under a bundle's roots must not come back in a
/// replacement instance once the bundle (or its roots) is gone.
#[test]
fn removed_bundle_data_does_not_come_back_after_a_trap() {
    let engine = new_engine(1);
    engine
        .add_data(r#"{"authz": {"stale": true}, "keep": 1}"#)
        .unwrap();
    engine
        .activate_bundle("main", BundleSource::Tarball(bundle("r1", "alice")), None)
        .unwrap();
    // Many merges: the journal is compacted while the bundle is active.
    for i in 0..40 {
        engine.add_data(&format!(r#"{{"n{i}": {i}}}"#)).unwrap();
    }
    engine.remove_bundle("main").unwrap();
    let before = engine.eval_query("x := data", "").unwrap();
    assert!(
        !before.contains("stale") && !before.contains("carol"),
        "{before}"
    );
    assert!(
        engine
            .eval_query(&trap_query(), "")
            .unwrap_err()
            .is_sandbox_event()
    );
    assert_eq!(engine.eval_query("x := data", "").unwrap(), before);
    assert!(engine.journal_len() <= 2, "{}", engine.journal_len());
}

#[test]
fn the_cli_tests_a_bundle_and_eval_takes_the_rule_either_way() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("prod.tar.gz");
    let test = "package authz_test\ntest_alice if data.authz.allow with input as {\"user\": \"alice\"}\ntest_bob if data.authz.allow with input as {\"user\": \"bob\"}\n";
    std::fs::write(
        &file,
        targz(&[
            (
                ".manifest",
                r#"{"revision": "t1", "roots": ["authz", "authz_test"]}"#,
            ),
            ("authz/policy.rego", &policy("alice")),
            ("authz_test/policy_test.rego", test),
        ]),
    )
    .unwrap();
    let out = cli()
        .args(["test", "-v", "-b"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("data.authz_test.test_alice: PASS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("data.authz_test.test_bob: FAIL"),
        "{stdout}"
    );
    let input = root.path().join("input.json");
    std::fs::write(&input, r#"{"user":"alice"}"#).unwrap();
    for rule in [
        &["data.authz.allow"][..],
        &["--rule", "data.authz.allow"][..],
    ] {
        let out = cli()
            .args(["eval", "-b"])
            .arg(&file)
            .arg("-i")
            .arg(&input)
            .args(rule)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
    }
}

/// `sark-policy build`: a directory to a checked, signed bundle that the
/// same CLI verifies and decides with; a module that does not compile
/// fails the build and writes nothing.
#[test]
fn the_cli_builds_signed_bundles_that_verify() {
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../guest/core/src/builtins/testdata/keys");
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("src");
    std::fs::create_dir_all(dir.join("authz")).unwrap();
    std::fs::write(dir.join("authz/policy.rego"), policy("alice")).unwrap();
    std::fs::write(dir.join("authz/data.json"), r#"{"team": ["alice"]}"#).unwrap();
    let out_file = root.path().join("built.tar.gz");
    let build = |extra: &[&str]| {
        cli()
            .arg("build")
            .arg(&dir)
            .arg("-o")
            .arg(&out_file)
            .args([
                "--revision",
                "b1",
                "--root",
                "authz",
                "--signing-alg",
                "ES256",
            ])
            .args(["--signing-key-id", "release", "--signing-key"])
            .arg(keys.join("p256_sec1.pem"))
            .args(extra)
            .output()
            .unwrap()
    };
    let out = build(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let eval = |key: &str| {
        cli()
            .args(["eval", "-b"])
            .arg(&out_file)
            .arg("--verification-key")
            .arg(keys.join(key))
            .args(["--verification-key-id", "release", "--signing-alg", "ES256"])
            .arg("-i")
            .arg(tmp_input(&root, r#"{"user":"alice"}"#))
            .arg("data.authz.allow")
            .output()
            .unwrap()
    };
    let out = eval("p256_cert.pem");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
    assert!(stderr.contains("revision \"b1\""), "{stderr}");
    // The bundle as read back: its manifest, and a signature over every file.
    let bundle = std::fs::read(&out_file).unwrap();
    let engine = new_engine(1);
    let info = engine
        .activate_bundle("b", BundleSource::Tarball(bundle), None)
        .unwrap();
    assert_eq!(
        (info.revision.as_str(), info.roots.clone()),
        ("b1", vec!["authz".to_owned()])
    );
    // Verified with another key: refused.
    let out = cli()
        .args(["eval", "-b"])
        .arg(&out_file)
        .arg("--verification-key")
        .arg(keys.join("../jwt/p256b_pub.pem"))
        .args([
            "--verification-key-id",
            "release",
            "--signing-alg",
            "ES256",
            "data.authz.allow",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("signature"),
        "{stderr}"
    );
    // A module that does not compile fails the build, naming it; the last
    // good bundle stays as it was.
    let before = std::fs::read(&out_file).unwrap();
    std::fs::write(dir.join("authz/broken.rego"), "package authz\nallow if {").unwrap();
    let out = build(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("broken.rego"), "{stderr}");
    assert_eq!(std::fs::read(&out_file).unwrap(), before);
}

fn tmp_input(root: &tempfile::TempDir, json: &str) -> std::path::PathBuf {
    let p = root.path().join("input.json");
    std::fs::write(&p, json).unwrap();
    p
}
