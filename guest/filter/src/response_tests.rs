use super::*;

#[test]
fn boolean_decisions() {
    assert!(Decision::from_json("true").unwrap().allowed);
    assert!(!Decision::from_json("false").unwrap().allowed);
}

#[test]
fn object_decision() {
    let d = Decision::from_json(
        r#"{"allowed": false, "http_status": 401, "body": "no",
            "headers": {"x-a": "1", "x-b": ["2", "3"]},
            "response_headers_to_add": [{"x-c": "4"}],
            "request_headers_to_remove": ["x-d"]}"#,
    )
    .unwrap();
    assert!(!d.allowed);
    assert_eq!(d.http_status, Some(401));
    assert_eq!(d.body, "no");
    assert_eq!(d.headers.len(), 3);
    assert_eq!(d.response_headers_to_add, vec![("x-c".into(), "4".into())]);
    assert_eq!(d.request_headers_to_remove, vec!["x-d".to_owned()]);
}

#[test]
fn malformed_decisions_are_errors() {
    for bad in [
        r#""yes""#,
        r#"{}"#,
        r#"{"allowed": "true"}"#,
        r#"{"allowed": false, "http_status": 42}"#,
        r#"{"allowed": true, "headers": {"x": 1}}"#,
    ] {
        assert!(Decision::from_json(bad).is_err(), "{bad}");
    }
}
