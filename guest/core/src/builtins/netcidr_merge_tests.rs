//! `net.cidr_merge`, against OPA's behaviour, and the block decomposition.

use super::blocks;
use crate::builtins::tests::{error_with, value};
use serde_json::json;

fn merge(args: &str) -> serde_json::Value {
    serde_json::from_str(&value(&format!("net.cidr_merge({args})"))).unwrap()
}

#[test]
fn merges_like_opa() {
    let cases = [
        // OPA conformance netcidrmerge/*.
        (
            r#"["2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128"]"#,
            json!(["2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128"]),
        ),
        (
            r#"["2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128", "2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128"]"#,
            json!(["2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128"]),
        ),
        (
            r#"["2601:600:8a80:207e:a57d:7567:e2c9:e7b3/64", "2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128"]"#,
            json!(["2601:600:8a80:207e::/64"]),
        ),
        // OPA's documentation and its other test suites.
        (
            r#"["192.0.128.0/24", "192.0.129.0/24"]"#,
            json!(["192.0.128.0/23"]),
        ),
        (
            r#"["2001:0db8::/32", "2001:0db9::/32"]"#,
            json!(["2001:db8::/31"]),
        ),
        (r#"["1900::1/96", "1900::20/64"]"#, json!(["1900::/64"])),
        // Contained, duplicated and adjacent networks.
        (
            r#"["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"]"#,
            json!(["10.0.0.0/8"]),
        ),
        (
            r#"{"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"}"#,
            json!(["10.0.0.0/23", "10.0.2.0/24"]),
        ),
        (
            r#"["10.0.0.0/25", "10.0.0.128/26", "10.0.0.192/26", "10.0.1.0/24"]"#,
            json!(["10.0.0.0/23"]),
        ),
        // Unmerged networks print as given, host bits cleared.
        (
            r#"["10.1.2.3/8", "192.168.0.1/24"]"#,
            json!(["10.0.0.0/8", "192.168.0.0/24"]),
        ),
        // A bare IPv4 address takes its classful default mask (Go's
        // DefaultMask), printed unmasked until merged.
        (r#"["10.1.2.3"]"#, json!(["10.1.2.3/8"])),
        (
            r#"["192.168.1.254", "192.168.1.254"]"#,
            json!(["192.168.1.0/24"]),
        ),
        (r#"["172.16.5.4"]"#, json!(["172.16.5.4/16"])),
        (r#"[]"#, json!([])),
        // IPv4 and IPv6 side by side stay apart.
        (
            r#"["10.0.0.0/8", "::1/128"]"#,
            json!(["10.0.0.0/8", "::1/128"]),
        ),
        // A merged range that is no single CIDR.
        (
            r#"["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]"#,
            json!(["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]),
        ),
        (r#"["0.0.0.0/1", "128.0.0.0/1"]"#, json!(["0.0.0.0/0"])),
        (r#"["8000::/2", "c000::/2"]"#, json!(["8000::/1"])),
        // IPv4 lives at ::ffff:0:0/96, so an IPv6 network over it absorbs
        // IPv4 networks, as in OPA.
        (r#"["10.0.0.0/8", "::/0"]"#, json!(["::/0"])),
    ];
    for (args, want) in cases {
        assert_eq!(merge(args), want, "{args}");
    }
}

#[test]
fn errors_like_opa() {
    for (args, want) in [
        (
            r#"["2601:600:8a80:207e:a57d:7567:e2c9:e7b3"]"#,
            "net.cidr_merge: IPv6 invalid: needs prefix length",
        ),
        (
            r#"["10.0.0.0/33"]"#,
            "net.cidr_merge: invalid CIDR address: 10.0.0.0/33",
        ),
        (r#"[1]"#, "net.cidr_merge: element must be string"),
        (
            r#""10.0.0.0/8""#,
            "net.cidr_merge: operand must be an array",
        ),
    ] {
        let err = error_with(&format!("net.cidr_merge({args})"), &json!({}));
        assert!(err.contains(want), "{args}: {err}");
    }
}

#[test]
fn blocks_cover_a_range_exactly_and_minimally() {
    assert_eq!(blocks(0, u128::MAX, 128), vec![(0, 0)]);
    assert_eq!(blocks(0, u128::from(u32::MAX), 32), vec![(0, 0)]);
    assert_eq!(blocks(5, 5, 32), vec![(5, 32)]);
    assert_eq!(blocks(1, 6, 32), vec![(1, 32), (2, 31), (4, 31), (6, 32)]);
    assert_eq!(
        blocks(u128::MAX - 2, u128::MAX, 128),
        vec![(u128::MAX - 2, 128), (u128::MAX - 1, 127)]
    );
    // Exhaustive over a small space: blocks tile the range, each aligned.
    for lo in 0u128..64 {
        for hi in lo..64 {
            let mut next = lo;
            for (start, prefix) in blocks(lo, hi, 8) {
                let size = 1u128 << (8 - prefix);
                assert_eq!(start, next);
                assert_eq!(start % size, 0);
                next = start + size;
            }
            assert_eq!(next, hi + 1);
        }
    }
}
