//! `regex.globs_match`: OPA's conformance cases (globsmatch/*.yaml) and
//! the test samples of yashtewari/glob-intersection, which OPA uses.

use crate::builtins::tests::{error, value};

fn globs_match(a: &str, b: &str) -> bool {
    let a = serde_json::to_string(a).unwrap();
    let b = serde_json::to_string(b).unwrap();
    match value(&format!("regex.globs_match({a}, {b})")).as_str() {
        "true" => true,
        "false" => false,
        other => panic!("{other}"),
    }
}

#[test]
fn opa_conformance_cases() {
    assert!(globs_match("a.a.[0-9]+z", ".b.b2359825792*594823z"));
    assert!(!globs_match("[a-z]+", "[0-9]*"));
}

#[test]
fn glob_intersection_samples() {
    let non_empty: &[(&str, &[&str])] = &[
        ("abcd", &["abcd", "....", "[a-d]*"]),
        ("pqrs", &[".qrs", "p.rs", "pq.s", "pqr."]),
        (".*", &["asdklfj", "jasdfh", "asdhfajfh", "asdflkasdfjl"]),
        ("d*", &["[abcd][abcd]", "d[a-z]+", ".....", "[d]*"]),
        ("[a-p]+", &["[p-z]+", "apapapaapapapap", ".*", "abcdefgh*"]),
        (
            "abcd[a-c]z+",
            &["abcd[b-d][yz]*", "abcdazzzz", "abcdbzzz", "abcdcz"],
        ),
        (".*\\\\", &[".*"]),
        (".a.a", &["b.b.", "c.c.", "d.d.", "e.e."]),
    ];
    let empty: &[(&str, &[&str])] = &[
        ("abcd", &["lsdfhda", "abcdla", "asdlfk", "ksdfj"]),
        ("[a-d]+", &["xyz", "p+", "[e-f]+"]),
        ("[0-9]*", &["[a-z]", "\\*"]),
        ("mamama.*", &["dadada.*", "nanana.*"]),
        (".*mamama", &[".*dadada", ".*nanana"]),
        (".xyz.", &["paaap", ".*pqr.*"]),
    ];
    for (lhs, rhss) in non_empty {
        for rhs in *rhss {
            assert!(globs_match(lhs, rhs), "{lhs} and {rhs} intersect");
            assert!(globs_match(rhs, lhs), "{rhs} and {lhs} intersect");
        }
    }
    for (lhs, rhss) in empty {
        for rhs in *rhss {
            assert!(!globs_match(lhs, rhs), "{lhs} and {rhs} are disjoint");
            assert!(!globs_match(rhs, lhs), "{rhs} and {lhs} are disjoint");
        }
    }
}

#[test]
fn only_non_empty_strings_count() {
    // Both match "", and nothing else in common.
    assert!(!globs_match("a*", "b*"));
    assert!(!globs_match("", ""));
    assert!(globs_match("a*", "a+"));
}

#[test]
fn ranges_are_not_expanded() {
    assert!(globs_match("[\u{0}-\u{10FFFF}]+", "[x-y]"));
    assert!(!globs_match("[\u{0}-a]", "[b-\u{10FFFF}]"));
    assert!(globs_match("[\u{0}-b]", "[b-\u{10FFFF}]"));
}

#[test]
fn malformed_patterns_are_errors() {
    for (pattern, message) in [
        ("[a-z", "found [ without matching ]"),
        ("a]", "set-close ']' with no preceding '['"),
        ("*a", "flag '*' must be preceded by a non-flag"),
        ("a**", "flag '*' must be preceded by a non-flag"),
        ("a\\", "input ends with a \\ (escape) character"),
        ("[-a]", "range character '-' must be preceded"),
        ("[z-a]", "range is out of order"),
    ] {
        let pattern = serde_json::to_string(pattern).unwrap();
        let err = error(&format!("regex.globs_match({pattern}, \"a\")"));
        assert!(
            err.contains("regex.globs_match: ") && err.contains(message),
            "{pattern}: {err}"
        );
    }
}
