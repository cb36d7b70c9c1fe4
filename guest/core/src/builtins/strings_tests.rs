//! `strings.split_n`: OPA's conformance cases (strings/test-splitn.yaml).

use crate::builtins::tests::{error, value};

#[test]
fn takes_the_first_or_last_pieces() {
    let cases = [
        (r#""a.b.c.d", ".", 2"#, r#"["a","b"]"#),
        (r#""a.b.c.d", ".", 1"#, r#"["a"]"#),
        (r#""a.b.c.d", ".", 4"#, r#"["a","b","c","d"]"#),
        (r#""a.b.c.d", ".", 10"#, r#"["a","b","c","d"]"#),
        (r#""a.b.c.d", ".", 0"#, "[]"),
        (r#""a.b.c.d", ".", -2"#, r#"["c","d"]"#),
        (r#""a.b.c.d", ".", -1"#, r#"["d"]"#),
        (r#""a.b.c.d", ".", -4"#, r#"["a","b","c","d"]"#),
        (r#""a.b.c.d", ".", -10"#, r#"["a","b","c","d"]"#),
        (r#""abc", ".", 2"#, r#"["abc"]"#),
        (r#""abc", ".", -2"#, r#"["abc"]"#),
        (r#""", ".", 2"#, r#"[""]"#),
        (r#""abc", "", 2"#, r#"["a","b"]"#),
        (r#""abc", "", -2"#, r#"["b","c"]"#),
        (r#""", "", 2"#, "[]"),
        (r#""héllo", "", -2"#, r#"["l","o"]"#),
        (r#""a.b", ".", 9223372036854775807"#, r#"["a","b"]"#),
        (r#""a.b", ".", -9223372036854775808"#, r#"["a","b"]"#),
    ];
    for (args, want) in cases {
        assert_eq!(value(&format!("strings.split_n({args})")), want, "{args}");
    }
}

#[test]
fn n_must_be_an_integer() {
    let err = error(r#"strings.split_n("a.b.c", ".", 1.5)"#);
    assert!(
        err.contains(
            "strings.split_n: operand 3 must be integer number but got floating-point number"
        ),
        "{err}"
    );
    let err = error(r#"strings.split_n("a.b.c", ".", "1")"#);
    assert!(
        err.contains("operand 3 must be number but got string"),
        "{err}"
    );
}
