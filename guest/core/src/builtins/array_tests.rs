//! `array.flatten`: OPA's conformance cases (array/flatten.yaml).

use crate::builtins::tests::{error, value};

#[test]
fn flattens_one_level() {
    assert_eq!(value("array.flatten([])"), "[]");
    assert_eq!(value("array.flatten([[1, 2], [3, 4], [5]])"), "[1,2,3,4,5]");
    assert_eq!(
        value("array.flatten([[[1], [2, 3, []]], [[4, 5]]])"),
        "[[1],[2,3,[]],[4,5]]"
    );
    assert_eq!(
        value(r#"array.flatten([[1, 2], "string", [3, {"a": "b"}], 4.5, [6, [7, 8]]])"#),
        r#"[1,2,"string",3,{"a":"b"},4.5,6,[7,8]]"#
    );
}

#[test]
fn a_non_array_is_a_type_error() {
    let err = error("array.flatten(42)");
    assert!(
        err.contains("array.flatten: operand 1 must be array but got number"),
        "{err}"
    );
}
