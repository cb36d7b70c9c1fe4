use super::*;
use crate::config::Config;
use crate::input::RequestParts;

const V1: &str = "package envoy.authz\ndefault allow := false\nallow if input.attributes.request.http.method == \"GET\"";
const V2: &str = "package envoy.authz\ndefault allow := false\nallow if input.attributes.request.http.method == \"POST\"";

/// A gzipped tarball of `files`: ustar entries in a gzip of stored
/// (uncompressed) deflate blocks, which every gzip reader takes. Written
/// here so the filter needs no archive crates of its own.
fn targz(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (path, body) in files {
        let mut header = [0u8; 512];
        let mut put = |at: usize, field: &[u8]| header[at..at + field.len()].copy_from_slice(field);
        put(0, path.as_bytes());
        put(100, b"0000644\0");
        put(108, b"0000000\0");
        put(116, b"0000000\0");
        put(124, format!("{:011o}\0", body.len()).as_bytes());
        put(136, b"14524737000\0");
        put(148, b"        ");
        put(156, b"0");
        put(257, b"ustar\x0000");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        tar.extend_from_slice(&header);
        tar.extend_from_slice(body.as_bytes());
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = tar.chunks(65_535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        gz.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        gz.extend_from_slice(&len.to_le_bytes());
        gz.extend_from_slice(&(!len).to_le_bytes());
        gz.extend_from_slice(chunk);
    }
    let mut crc = !0u32;
    for &b in &tar {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    gz.extend_from_slice(&(!crc).to_le_bytes());
    gz.extend_from_slice(&(tar.len() as u32).to_le_bytes());
    gz
}

fn bundle(revision: &str, rego: &str) -> Vec<u8> {
    let manifest = format!(r#"{{"revision": "{revision}", "roots": ["envoy"]}}"#);
    targz(&[(".manifest", &manifest), ("envoy/authz.rego", rego)])
}

fn config(extra: &str) -> Config {
    Config::parse(
        format!(
            r#"{{"bundle": {{"cluster": "bundles", "path": "/b.tar.gz",
                "min_delay_seconds": 1, "max_delay_seconds": 2, "timeout_ms": 300{extra}}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
}

fn setup(extra: &str) -> (Poller, Authz) {
    let c = config(extra);
    let poller = Poller::new(c.bundle.clone().unwrap(), 42);
    (poller, Authz::new(c).unwrap())
}

fn headers(status: &str, etag: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![(":status".to_owned(), status.to_owned())];
    if let Some(etag) = etag {
        h.push(("ETag".to_owned(), etag.to_owned()));
    }
    h
}

fn allowed(a: &mut Authz, method: &str) -> bool {
    let parts = RequestParts {
        headers: vec![
            (":method".into(), method.into()),
            (":path".into(), "/".into()),
        ],
        ..RequestParts::default()
    };
    a.decide(&parts, 0).decision.unwrap().allowed
}

/// Runs one poll at `now`: due, sent as call `token`, answered.
fn poll(
    p: &mut Poller,
    a: &mut Authz,
    now: u64,
    token: u32,
    status: &str,
    etag: Option<&str>,
    body: Option<Vec<u8>>,
) -> Report {
    assert_eq!(p.tick(now), Step::Poll, "poll due at {now}");
    p.started(token, now);
    assert_eq!(p.tick(now + 1), Step::Wait, "one call at a time");
    let size = body.as_ref().map_or(0, Vec::len);
    p.on_response(token, now + 5, &headers(status, etag), size, || body, a)
        .unwrap()
}

#[test]
fn rng_is_seeded_and_bounded() {
    let (mut a, mut b) = (Rng::new(7), Rng::new(7));
    assert_eq!(a.next_u64(), b.next_u64());
    assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
    let mut seen = [false; 3];
    for _ in 0..200 {
        let n = a.between(10, 12);
        assert!((10..=12).contains(&n));
        seen[(n - 10) as usize] = true;
        let u = a.unit();
        assert!((0.0..1.0).contains(&u));
    }
    assert_eq!(seen, [true; 3], "every value of a small range comes up");
    assert_eq!(a.between(5, 5), 5);
    assert_eq!(a.between(6, 5), 6);
    let _ = a.between(0, u64::MAX);
}

#[test]
fn backoff_doubles_from_half_a_second_with_jitter_up_to_max() {
    let mut rng = Rng::new(1);
    for _ in 0..100 {
        let d1 = backoff_ms(1, 120_000, &mut rng);
        assert!((400..=600).contains(&d1), "{d1}");
        let d3 = backoff_ms(3, 120_000, &mut rng);
        assert!((1_600..=2_400).contains(&d3), "{d3}");
        let capped = backoff_ms(30, 120_000, &mut rng);
        assert!((96_000..=120_000).contains(&capped), "{capped}");
        assert!(backoff_ms(u32::MAX, 120_000, &mut rng) <= 120_000);
        assert!((1..=400).contains(&backoff_ms(1, 400, &mut rng)));
    }
    let spread: std::collections::BTreeSet<u64> =
        (0..50).map(|_| backoff_ms(2, 60_000, &mut rng)).collect();
    assert!(spread.len() > 10, "jittered: {spread:?}");
}

#[test]
fn answers_from_status_and_etag() {
    assert_eq!(
        answer(&headers("200", Some("\"abc\""))),
        Answer::Bundle {
            etag: Some("\"abc\"".into())
        }
    );
    assert_eq!(answer(&headers("200", None)), Answer::Bundle { etag: None });
    assert_eq!(answer(&headers("304", None)), Answer::NotModified);
    let Answer::Failed(why) = answer(&headers("404", None)) else {
        panic!()
    };
    assert!(why.contains("404"), "{why}");
    let Answer::Failed(why) = answer(&[]) else {
        panic!()
    };
    assert!(why.contains("no answer"), "{why}");
}

#[test]
fn request_carries_path_authority_etag_and_token() {
    let (mut p, mut a) = setup(r#", "token": "s3cret", "authority": "bundles.local""#);
    let want = |etag: Option<&str>| {
        let mut h = vec![
            (":method", "GET".to_owned()),
            (":path", "/b.tar.gz".to_owned()),
            (":authority", "bundles.local".to_owned()),
        ];
        if let Some(e) = etag {
            h.push(("if-none-match", e.to_owned()));
        }
        h.push(("authorization", "Bearer s3cret".to_owned()));
        h
    };
    assert_eq!(p.request_headers(), want(None));
    poll(
        &mut p,
        &mut a,
        1_000,
        1,
        "200",
        Some("\"e1\""),
        Some(bundle("1", V1)),
    );
    assert_eq!(p.request_headers(), want(Some("\"e1\"")));
    let (p, _) = setup("");
    assert_eq!(p.request_headers()[2], (":authority", "bundles".to_owned()));
    assert_eq!(p.request_headers().len(), 3);
}

#[test]
fn activates_skips_304_and_keeps_serving_through_failures() {
    let (mut p, mut a) = setup("");
    assert!(!a.ready(), "not ready before the first bundle");
    let mut now = 1_700_000_000_000;
    let r = poll(
        &mut p,
        &mut a,
        now,
        1,
        "200",
        Some("\"e1\""),
        Some(bundle("v1", V1)),
    );
    let Event::Activated(info) = &r.event else {
        panic!("{r:?}")
    };
    assert_eq!((info.name.as_str(), info.revision.as_str()), ("main", "v1"));
    assert!((1_000..=2_000).contains(&r.next_poll_ms) && r.failures == 0);
    assert!(a.ready() && a.has_rule());
    assert!(allowed(&mut a, "GET") && !allowed(&mut a, "POST"));
    assert_eq!(p.tick(now + 5 + r.next_poll_ms - 1), Step::Wait);

    now += 5 + r.next_poll_ms;
    let r = poll(&mut p, &mut a, now, 2, "304", None, None);
    assert_eq!(r.event, Event::NotModified);
    assert!((1_000..=2_000).contains(&r.next_poll_ms));
    assert_eq!(p.etag(), Some("\"e1\""));

    now += 5 + r.next_poll_ms;
    let r = poll(
        &mut p,
        &mut a,
        now,
        3,
        "200",
        Some("\"e2\""),
        Some(bundle("v2", "package envoy.authz\nallow if {")),
    );
    let Event::Refused(why) = &r.event else {
        panic!("{r:?}")
    };
    assert!(why.contains("main") && why.contains("authz.rego"), "{why}");
    assert!(!why.contains('\n'), "one log line: {why}");
    assert!((400..=600).contains(&r.next_poll_ms) && r.failures == 1);
    assert_eq!(
        p.etag(),
        Some("\"e1\""),
        "a refused bundle's ETag is not kept"
    );
    assert!(
        allowed(&mut a, "GET") && !allowed(&mut a, "POST"),
        "v1 still serves"
    );

    now += 5 + r.next_poll_ms;
    let r = poll(&mut p, &mut a, now, 4, "503", None, None);
    assert!(
        matches!(&r.event, Event::Failed(w) if w.contains("503")),
        "{r:?}"
    );
    assert!((800..=1_200).contains(&r.next_poll_ms) && r.failures == 2);
    assert!(!r.event.downloaded());

    now += 5 + r.next_poll_ms;
    let r = poll(
        &mut p,
        &mut a,
        now,
        5,
        "200",
        Some("\"e3\""),
        Some(bundle("v3", V2)),
    );
    assert!(
        matches!(&r.event, Event::Activated(i) if i.revision == "v3"),
        "{r:?}"
    );
    assert_eq!((r.failures, p.etag()), (0, Some("\"e3\"")));
    assert!(
        !allowed(&mut a, "GET") && allowed(&mut a, "POST"),
        "v3 decides"
    );
}

#[test]
fn activation_drops_decisions_cached_under_the_old_bundle() {
    let (mut p, mut a) = setup("");
    poll(
        &mut p,
        &mut a,
        1_000,
        1,
        "200",
        None,
        Some(bundle("v1", V1)),
    );
    assert!(allowed(&mut a, "GET"));
    poll(
        &mut p,
        &mut a,
        10_000,
        2,
        "200",
        None,
        Some(bundle("v2", V2)),
    );
    assert!(!allowed(&mut a, "GET"), "not the decision cached under v1");
}

#[test]
fn verification_refuses_an_unsigned_bundle() {
    let key = r#", "verification": {"keys": [{"id": "k", "algorithm": "HS256", "key": "s"}]}"#;
    let (mut p, mut a) = setup(key);
    let r = poll(
        &mut p,
        &mut a,
        1_000,
        1,
        "200",
        None,
        Some(bundle("v1", V1)),
    );
    assert!(
        matches!(&r.event, Event::Refused(w) if w.contains(".signatures.json")),
        "{r:?}"
    );
    assert!(!a.ready());
}

#[test]
fn a_200_without_a_body_or_with_garbage_is_refused() {
    let (mut p, mut a) = setup("");
    let r = poll(&mut p, &mut a, 1_000, 1, "200", None, None);
    assert!(
        matches!(&r.event, Event::Refused(_)) && r.event.downloaded(),
        "{r:?}"
    );
    let r = poll(
        &mut p,
        &mut a,
        10_000,
        2,
        "200",
        None,
        Some(b"not gzip".to_vec()),
    );
    assert!(
        matches!(&r.event, Event::Refused(_)) && r.failures == 2,
        "{r:?}"
    );
}

#[test]
fn other_calls_and_unanswered_calls() {
    let (mut p, mut a) = setup("");
    assert_eq!(p.tick(0), Step::Poll);
    p.started(7, 100);
    assert!(p.awaits(7) && !p.awaits(8));
    assert!(
        p.on_response(8, 150, &headers("200", None), 0, || None, &mut a)
            .is_none()
    );
    assert_eq!(
        p.tick(100 + 300 + 5_000),
        Step::Wait,
        "within timeout and grace"
    );
    let Step::Abandoned(r) = p.tick(100 + 300 + 5_001) else {
        panic!("abandoned")
    };
    assert!(matches!(r.event, Event::Failed(_)) && r.failures == 1);
    assert!(!p.awaits(7));
    assert!(
        p.on_response(7, 6_000, &headers("200", None), 0, || None, &mut a)
            .is_none(),
        "late"
    );
    let r = p.dispatch_failed(7_000, "no cluster".into());
    assert_eq!(r.failures, 2);
}

#[test]
fn clock_steps_and_tick_periods() {
    let (mut p, mut a) = setup("");
    assert_eq!(p.wake_ms(0), 10, "first poll at once");
    let r = poll(&mut p, &mut a, 1_000_000, 1, "304", None, None);
    let due = 1_000_005 + r.next_poll_ms;
    assert_eq!(p.wake_ms(1_000_005), 100, "a tenth of min_delay");
    assert_eq!(p.wake_ms(due - 30), 30, "until the poll");
    assert_eq!(p.wake_ms(due + 50), 10);
    assert_eq!(p.tick(due - 1), Step::Wait);
    assert_eq!(
        p.tick(due - 1 - 3_000),
        Step::Poll,
        "the clock stepped back"
    );
    let c = Config::parse(br#"{"bundle": {"cluster": "c", "path": "/b"}}"#).unwrap();
    let p = Poller::new(c.bundle.unwrap(), 1);
    assert_eq!(p.wake_ms(u64::MAX), 10);
    let mut p2 = p.clone();
    p2.started(1, 0);
    assert_eq!(p2.wake_ms(5), 1_000, "at most a second");
}

#[test]
fn errors_on_one_line() {
    assert_eq!(
        one_line("a:\n --> x.rego:2\n  |\n\nerror: e"),
        "a: --> x.rego:2 | error: e"
    );
    assert_eq!(one_line("plain"), "plain");
}

#[test]
fn inline_policies_live_beside_the_bundle_outside_its_roots() {
    let with = |policies: &str| {
        let c = Config::parse(
            format!(r#"{{"policies": {policies}, "bundle": {{"cluster": "c", "path": "/b"}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        (
            Poller::new(c.bundle.clone().unwrap(), 1),
            Authz::new(c).unwrap(),
        )
    };
    let (mut p, mut a) = with(r#"{"local.rego": "package local\nx := 1"}"#);
    let r = poll(
        &mut p,
        &mut a,
        1_000,
        1,
        "200",
        None,
        Some(bundle("v1", V1)),
    );
    assert!(matches!(r.event, Event::Activated(_)), "{r:?}");
    let (mut p, mut a) = with(r#"{"mine.rego": "package envoy.authz\nallow := true"}"#);
    let r = poll(
        &mut p,
        &mut a,
        1_000,
        1,
        "200",
        None,
        Some(bundle("v1", V1)),
    );
    assert!(
        matches!(&r.event, Event::Refused(w) if w.contains("roots")),
        "{r:?}"
    );
    assert!(!a.ready());
}
