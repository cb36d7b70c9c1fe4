//! Hostile policies and inputs: each ends in a typed error within the
//! deadline, the host stays up, the cache keeps or drops whole entries (never
//! a wrong one), and the next call is served.
//!
//! Invalid UTF-8 cannot reach the component from this host: every string in
//! its API is a `&str`, so Rust's type system refuses it before a call.

use crate::{AUTHZ, builder};
use sark_policy_host::{Error, ErrorKind, PolicyEngine, Request};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_millis(500);

fn engine() -> PolicyEngine {
    let e = builder()
        .deadline(DEADLINE)
        .memory_limit(256 << 20)
        .build()
        .unwrap()
        .engine()
        .unwrap();
    e.add_policy("authz.rego", AUTHZ).unwrap();
    e
}

const ALICE: Request<'static> = Request {
    user: "alice",
    action: "read",
    resource: "doc",
    context: "",
    sensitivity: None,
    ttl: None,
};

/// Runs `setup`, caches a decision, then runs `hostile`: it must
/// fail as `expect` says, within the deadline (plus the time to build a
/// replacement instance), and the engine must answer correctly afterwards.
/// A refusal changes nothing, so the cached decision must still be a hit; a
/// sandbox event replaces the instance, and its cache with it (never a wrong
/// entry).
fn survives(
    setup: impl FnOnce(&PolicyEngine),
    hostile: impl FnOnce(&PolicyEngine) -> Result<(), Error>,
    expect: fn(&Error) -> bool,
) {
    let e = engine();
    setup(&e);
    let authz = e.authorizer("authz/allow");
    assert!(!authz.decide(&ALICE).unwrap().cached);
    let started = Instant::now();
    let err = hostile(&e).expect_err("a hostile call must fail");
    let took = started.elapsed();
    assert!(expect(&err), "unexpected error: {err}");
    assert!(
        took < DEADLINE + Duration::from_secs(5),
        "took {took:?}: {err}"
    );
    let d = authz.decide(&ALICE).unwrap();
    assert_eq!(d.value.as_deref(), Some("true"));
    let refused = matches!(err, Error::Policy(_));
    assert_eq!(d.cached, refused, "{err}");
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"bob"}"#)
            .unwrap()
            .as_deref(),
        Some("false")
    );
}

fn load(e: &PolicyEngine, name: &str, src: &str) {
    e.add_policy(name, src).unwrap();
}

fn eval(e: &PolicyEngine, rule: &str) -> Result<(), Error> {
    e.eval_rule(rule, "{}").map(|_| ())
}

fn is_kind(err: &Error, kinds: &[ErrorKind]) -> bool {
    matches!(err, Error::Policy(p) if kinds.contains(&p.kind))
}

fn sandbox_event(err: &Error) -> bool {
    matches!(
        err,
        Error::Timeout(_) | Error::MemoryLimit(_) | Error::Trap(_)
    )
}

#[test]
fn a_function_that_recurses_without_end() {
    // Refused when loaded (OPA: rego_recursion_error), or stopped running.
    let src = "package rec\nf(x) := f(x + 1)\nr := f(1)";
    survives(
        |_| {},
        |e| e.add_policy("rec.rego", src).and_then(|_| eval(e, "rec/r")),
        |err| {
            is_kind(err, &[ErrorKind::InvalidPolicy, ErrorKind::Evaluation]) || sandbox_event(err)
        },
    );
}

#[test]
fn a_huge_numbers_range() {
    // An array no target can hold: a builtin error, raised in strict mode
    // (otherwise undefined, as in OPA).
    let src = "package big\nn := count(numbers.range(1, 100000000000))";
    survives(
        |e| {
            load(e, "big.rego", src);
            e.set_strict_builtin_errors(true).unwrap();
        },
        |e| eval(e, "big/n"),
        |err| {
            sandbox_event(err) || is_kind(err, &[ErrorKind::Evaluation, ErrorKind::LimitExceeded])
        },
    );
}

#[test]
fn string_building_towards_gigabytes() {
    let src = "package s\nn := count(concat(\"\", [y | some i in numbers.range(1, 100000000); y := sprintf(\"%d-padding-padding-padding\", [i])]))";
    survives(
        |e| load(e, "s.rego", src),
        |e| eval(e, "s/n"),
        sandbox_event,
    );
}

#[test]
fn a_regex_with_enormous_repetition_counts() {
    // Strict, so the builtin's error is the answer (not undefined).
    let src = "package re\nm if regex.match(\"(a{1000}){1000}{1000}\", input.s)";
    survives(
        |e| {
            e.set_strict_builtin_errors(true).unwrap();
            load(e, "re.rego", src);
        },
        |e| e.eval_rule("re/m", r#"{"s": "aaaa"}"#).map(|_| ()),
        |err| is_kind(err, &[ErrorKind::Evaluation]) || sandbox_event(err),
    );
}

#[test]
fn http_send_has_no_network() {
    let src = "package h\nr := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1/\"})";
    survives(
        |e| {
            e.set_strict_builtin_errors(true).unwrap();
            load(e, "h.rego", src);
        },
        |e| eval(e, "h/r"),
        |err| {
            is_kind(err, &[ErrorKind::InvalidPolicy, ErrorKind::Evaluation])
                && err.to_string().contains("http.send")
        },
    );
}

#[test]
fn a_one_megabyte_rule_body() {
    let mut src = String::from("package mb\nallow if {\n");
    while src.len() < 1 << 20 {
        src.push_str("  input.n == 1\n");
    }
    src.push_str("}\n");
    let e = engine();
    let started = Instant::now();
    // Under the 16 MiB policy limit: it loads and evaluates, or is refused
    // with a typed error; either way within the deadline and the host lives.
    match e
        .add_policy("mb.rego", &src)
        .and_then(|_| eval(&e, "mb/allow"))
    {
        Ok(()) => {}
        Err(err) => assert!(
            is_kind(&err, &[ErrorKind::InvalidPolicy, ErrorKind::LimitExceeded])
                || sandbox_event(&err),
            "{err}"
        ),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        e.eval_rule("authz/allow", r#"{"user":"alice"}"#)
            .unwrap()
            .as_deref(),
        Some("true")
    );
}

#[test]
fn input_nested_ten_thousand_deep() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let ctx = format!(r#"{{"x": {deep}}}"#);
    survives(
        |_| {},
        |e| e.eval_rule("authz/allow", &deep).map(|_| ()),
        |err| is_kind(err, &[ErrorKind::LimitExceeded]),
    );
    survives(
        |_| {},
        |e| {
            let req = Request {
                context: &ctx,
                ..ALICE
            };
            e.authorizer("authz/allow").decide(&req).map(|_| ())
        },
        |err| is_kind(err, &[ErrorKind::LimitExceeded]),
    );
}
