//! The `sark-policy` command.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sark-policy"))
}

fn examples() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn tmp(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn eval_prints_the_value() {
    let input = tmp(
        "alice.json",
        r#"{"user":"alice","action":"execute","resource":"tool:deploy","context":{"mfa":true}}"#,
    );
    let out = bin()
        .args(["eval", "-p"])
        .arg(examples().join("authz.rego"))
        .arg("-d")
        .arg(examples().join("data.json"))
        .arg("-i")
        .arg(&input)
        .arg("data.authz.allow")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "true");
}

#[test]
fn decide_streams_decisions_and_metrics() {
    let requests = std::fs::read_to_string(examples().join("requests.jsonl")).unwrap();
    let out = run_with_stdin(
        bin()
            .args(["decide", "-p"])
            .arg(examples().join("authz.rego"))
            .arg("-d")
            .arg(examples().join("data.json")),
        &requests,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), requests.lines().count());
    let hits = lines.iter().filter(|l| l["cached"] == true).count();
    assert!(hits > 0 && hits < lines.len());
    let alice = lines.iter().find(|l| l["user"] == "alice").unwrap();
    assert_eq!(alice["decision"], true);
    let mallory = lines.iter().find(|l| l["user"] == "mallory").unwrap();
    assert_eq!(mallory["decision"], false);
    assert!(
        text(&out.stderr).contains(&format!("hits {hits} ")),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn decide_names_the_bad_line_and_fails() {
    let out = run_with_stdin(
        bin()
            .args(["decide", "-p"])
            .arg(examples().join("authz.rego")),
        "{\"user\":\"a\",\"action\":\"b\",\"resource\":\"c\"}\n{oops\n{\"user\":\"a\",\"action\":\"b\",\"resource\":\"c\",\"sensitivity\":\"secret\"}\n",
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("stdin:2:"), "{err}");
    assert!(err.contains("stdin:3:") && err.contains("secret"), "{err}");
    assert_eq!(text(&out.stdout).lines().count(), 1);
}

#[test]
fn bad_files_are_named_with_their_line() {
    let bad = tmp("bad.rego", "package bad\n\nallow if {\n");
    let out = bin()
        .args(["eval", "-p"])
        .arg(&bad)
        .arg("bad/allow")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.rego:4:") || err.contains("bad.rego:3:"),
        "{err}"
    );

    let data = tmp("bad.json", "{\n  \"a\": 1,\n  oops\n}");
    let out = bin()
        .args(["eval", "-p"])
        .arg(examples().join("authz.rego"))
        .arg("-d")
        .arg(&data)
        .arg("authz/allow")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.json") && err.contains("line 3"), "{err}");

    let out = bin()
        .args(["eval", "-p", "/nonexistent.rego", "x/y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent.rego"));

    let out = bin()
        .args(["eval", "--component", "/nonexistent.wasm", "-p"])
        .arg(examples().join("authz.rego"))
        .arg("authz/allow")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/nonexistent.wasm"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_everywhere() {
    for sub in [
        &["--help"][..],
        &["eval", "--help"],
        &["decide", "--help"],
        &["query", "--help"],
    ] {
        let out = bin().args(sub).output().unwrap();
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("Usage"));
    }
}

#[test]
fn interpreter_and_instruction_budget_flags() {
    let input = tmp(
        "alice-rvm.json",
        r#"{"user":"alice","action":"execute","resource":"tool:deploy","context":{"mfa":true}}"#,
    );
    let eval = |extra: &[&str]| {
        bin()
            .args(["eval", "-p"])
            .arg(examples().join("authz.rego"))
            .arg("-d")
            .arg(examples().join("data.json"))
            .arg("-i")
            .arg(&input)
            .args(extra)
            .arg("data.authz.allow")
            .output()
            .unwrap()
    };
    let out = eval(&["--interpreter"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "true");
    let out = eval(&["--max-instructions", "10"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("LimitExceeded"),
        "{}",
        text(&out.stderr)
    );

    let requests = "{\"user\":\"alice\",\"action\":\"read\",\"resource\":\"doc\"}\n\
                    {\"user\":\"alice\",\"action\":\"read\",\"resource\":\"doc\"}\n\
                    {\"user\":\"bob\",\"action\":\"read\",\"resource\":\"doc\"}\n";
    let out = run_with_stdin(
        bin()
            .args(["decide", "--interpreter", "-p"])
            .arg(examples().join("authz.rego")),
        requests,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("evaluations: rvm 0, interpreter 2 (forced 2)"),
        "{err}"
    );

    let with = tmp(
        "with.rego",
        "package w\nadmin if input.user == \"alice\"\nallow if admin with input as {\"user\": \"alice\"}\n",
    );
    let out = run_with_stdin(
        bin()
            .args(["decide", "--rule", "data.w.allow", "-p"])
            .arg(&with),
        requests,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("evaluations: rvm 0, interpreter 2 (with-keyword 2)"),
        "{err}"
    );
    assert!(
        err.contains("interpreter fallback: data.w.allow (with-keyword): "),
        "{err}"
    );
}

#[test]
fn threaded_decide_matches_one_thread_line_for_line() {
    let one = std::fs::read_to_string(examples().join("requests.jsonl")).unwrap();
    // The example three times, with a blank line and a bad line in it.
    let requests = format!("{one}\n{one}{{oops\n{one}");
    let decide = |threads: &str| {
        run_with_stdin(
            bin()
                .args(["decide", "--shards", "2", "--threads", threads, "-p"])
                .arg(examples().join("authz.rego"))
                .arg("-d")
                .arg(examples().join("data.json")),
            &requests,
        )
    };
    let fields = |out: &Output| -> Vec<String> {
        text(&out.stdout)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("latency_us");
                v.to_string()
            })
            .collect()
    };
    let (seq, par) = (decide("1"), decide("2"));
    assert!(!seq.status.success() && !par.status.success());
    let bad_line = one.lines().count() * 2 + 2;
    for out in [&seq, &par] {
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("stdin:{bad_line}: bad request")),
            "{err}"
        );
        assert!(err.contains("1 request(s) failed"), "{err}");
    }
    assert_eq!(fields(&seq), fields(&par));
    assert_eq!(fields(&par).len(), one.lines().count() * 3);
    assert!(fields(&par).iter().any(|l| l.contains(r#""cached":true"#)));
}
