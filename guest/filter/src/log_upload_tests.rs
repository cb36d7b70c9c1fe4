use super::*;
use crate::config::Config;
use sark_policy_core::decision_log::LogStats;

fn config(extra: &str) -> DecisionLogConfig {
    Config::parse(
        format!(
            r#"{{"policies": {{"p.rego": "package p"}}, "decision_log": {{"cluster": "logs",
                "upload_interval_ms": 1000, "max_backoff_ms": 4000, "timeout_ms": 300,
                "upload_size_limit_bytes": 1000{extra}}}}}"#
        )
        .as_bytes(),
    )
    .unwrap()
    .decision_log
    .unwrap()
}

fn batch(n: u8) -> Batch {
    Batch {
        body: vec![n; 10],
        events: u32::from(n),
        json_bytes: 100 * usize::from(n),
    }
}

fn status(s: &str) -> Vec<(String, String)> {
    vec![(":status".to_owned(), s.to_owned())]
}

/// Ticks at `now` with a buffer of `buffered` bytes and `next` to take.
fn tick(u: &mut Uploader, now: u64, buffered: u64, next: u8) -> (Step, Option<usize>) {
    let mut asked = None;
    let step = u.tick(now, buffered, |max| {
        asked = Some(max);
        Some(batch(next))
    });
    (step, asked)
}

#[test]
fn uploads_a_gzipped_json_post_when_events_wait() {
    let mut u = Uploader::new(config(r#", "token": "t""#), 1);
    assert_eq!(tick(&mut u, 10, 0, 1), (Step::Wait, None));
    assert_eq!(tick(&mut u, 10, 50, 1), (Step::Upload, Some(1000)));
    assert_eq!(u.body(), Some(&[1u8; 10][..]));
    let headers = u.request_headers();
    for (name, value) in [
        (":method", "POST"),
        (":path", "/logs"),
        (":authority", "logs"),
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("content-length", "10"),
        ("authorization", "Bearer t"),
    ] {
        assert!(
            headers.contains(&(name, value.to_owned())),
            "{name}: {headers:?}"
        );
    }
    u.started(7, 10);
    assert!(u.awaits(7) && !u.awaits(8));
    assert_eq!(
        tick(&mut u, 20, 5000, 2),
        (Step::Wait, None),
        "one upload at a time"
    );
    assert_eq!(u.on_response(8, 30, &status("200")), None);
    let r = u.on_response(7, 30, &status("204")).unwrap();
    assert_eq!(
        r,
        Report {
            upload: Upload::Sent {
                events: 1,
                json_bytes: 100,
                body_bytes: 10
            },
            failures: 0,
            next_ms: 1000
        }
    );
    assert_eq!((u.body(), u.held_bytes()), (None, 0));
}

#[test]
fn batches_by_time_and_by_size() {
    let mut u = Uploader::new(config(""), 1);
    assert_eq!(tick(&mut u, 0, 10, 1).0, Step::Upload);
    u.started(1, 0);
    u.on_response(1, 5, &status("200")).unwrap();
    // Within the interval a small buffer waits...
    assert_eq!(tick(&mut u, 500, 10, 2), (Step::Wait, None));
    // ...a full one goes at once...
    assert_eq!(tick(&mut u, 600, 1000, 2).0, Step::Upload);
    u.started(2, 600);
    u.on_response(2, 610, &status("200")).unwrap();
    // ...and after the interval any events go.
    assert_eq!(tick(&mut u, 1500, 10, 3).0, Step::Wait);
    assert_eq!(tick(&mut u, 1610, 10, 3).0, Step::Upload);
}

#[test]
fn a_failed_batch_is_retried_first_with_backoff() {
    let mut u = Uploader::new(config(""), 1);
    assert_eq!(tick(&mut u, 0, 10, 1).0, Step::Upload);
    u.started(1, 0);
    let mut now = 10;
    let mut delays = Vec::new();
    for (i, answer) in [status("503"), status("400"), Vec::new()]
        .iter()
        .enumerate()
    {
        let r = u
            .on_response(u32::try_from(i + 1).unwrap(), now, answer)
            .unwrap();
        assert!(matches!(r.upload, Upload::Failed(_)), "{r:?}");
        assert_eq!(r.failures, u32::try_from(i + 1).unwrap());
        delays.push(r.next_ms);
        // The batch is kept, out of the buffer, and nothing newer is taken.
        assert_eq!((u.held_events(), u.held_bytes()), (1, 100));
        assert_eq!(
            tick(&mut u, now + r.next_ms - 1, 5000, 9),
            (Step::Wait, None)
        );
        now += r.next_ms;
        assert_eq!(tick(&mut u, now, 5000, 9), (Step::Upload, None));
        assert_eq!(u.body(), Some(&[1u8; 10][..]), "the same batch again");
        u.started(u32::try_from(i + 2).unwrap(), now);
    }
    // 500, 1000, 2000 ms, each within 20%.
    for (d, base) in delays.iter().zip([500u64, 1000, 2000]) {
        assert!(*d >= base * 8 / 10 && *d <= base * 12 / 10, "{delays:?}");
    }
    let r = u.on_response(4, now, &status("200")).unwrap();
    assert_eq!((r.failures, u.held_events()), (0, 0));
    assert!(matches!(r.upload, Upload::Sent { events: 1, .. }));
}

#[test]
fn the_backoff_is_capped() {
    let mut u = Uploader::new(config(""), 3);
    let _ = tick(&mut u, 0, 10, 1);
    for i in 0..12 {
        let r = u.dispatch_failed(0, "refused".into());
        assert_eq!(r.failures, i + 1);
        assert!(r.next_ms <= 4000, "{r:?}");
    }
}

#[test]
fn an_unanswered_upload_is_abandoned_and_kept() {
    let mut u = Uploader::new(config(""), 1);
    let _ = tick(&mut u, 0, 10, 1);
    u.started(1, 0);
    assert_eq!(tick(&mut u, 5_299, 10, 2).0, Step::Wait);
    let Step::Abandoned(r) = tick(&mut u, 5_300, 10, 2).0 else {
        panic!("not abandoned");
    };
    assert_eq!(r.failures, 1);
    assert!(!u.awaits(1) && u.held_events() == 1);
    assert_eq!(
        u.on_response(1, 5_400, &status("200")),
        None,
        "a late answer"
    );
}

#[test]
fn a_clock_stepped_back_does_not_stall_uploads() {
    let mut u = Uploader::new(config(""), 1);
    let _ = tick(&mut u, 1_000_000, 10, 1);
    u.started(1, 1_000_000);
    u.on_response(1, 1_000_000, &status("200")).unwrap();
    assert_eq!(tick(&mut u, 10, 10, 2).0, Step::Upload);
}

#[test]
fn wakes_within_a_tenth_of_the_interval() {
    let mut u = Uploader::new(config(""), 1);
    assert_eq!(u.wake_ms(0), 100, "nothing due: a tenth of the interval");
    let _ = tick(&mut u, 0, 10, 1);
    u.started(1, 0);
    assert_eq!(u.wake_ms(0), 100);
    u.on_response(1, 0, &status("200")).unwrap();
    assert_eq!(u.wake_ms(0), 100);
    assert_eq!(u.wake_ms(950), 50);
    assert_eq!(u.wake_ms(995), 10);
    assert_eq!(u.wake_ms(5000), 100);
}

#[test]
fn the_meter_reports_changes() {
    let mut m = Meter::default();
    let stats = |logged, full, mask, bytes| LogStats {
        logged,
        dropped_buffer_full: full,
        dropped_mask_error: mask,
        buffered_bytes: bytes,
        ..LogStats::default()
    };
    let c = m.change(stats(5, 1, 1, 500), 0);
    assert_eq!(
        c,
        Change {
            events: 5,
            dropped: 2,
            buffered: 500
        }
    );
    let c = m.change(stats(6, 1, 1, 100), 300);
    assert_eq!(
        c,
        Change {
            events: 1,
            dropped: 0,
            buffered: -100
        }
    );
}
