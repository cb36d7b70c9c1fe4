use super::*;
use serde_json::{Value as Json, json};

fn body(bytes: &[u8], truncated: bool) -> Body {
    Body {
        bytes: bytes.to_vec(),
        truncated,
    }
}

/// `parse` over a body with these headers, as JSON to compare.
fn parsed(headers: &[(&str, &str)], bytes: &[u8], truncated: bool) -> Result<(Json, bool), String> {
    let b = body(bytes, truncated);
    let text = b.text();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| Cow::Owned((*v).to_owned()))
    };
    let (value, truncated) = parse(Some((&b, &text)), header, &Limits::DEFAULT)?;
    Ok((serde_json::to_value(value).unwrap(), truncated))
}

const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[test]
fn text_replaces_invalid_utf8_bytewise_as_envoy_does() {
    assert_eq!(body(b"plain \xc3\xa9", false).text(), "plain é");
    let cut = body(b"a\xe2\x82", false).text();
    assert_eq!((cut.as_str(), cut.len()), ("a!!", 3));
    assert_eq!(body(b"\xff{}\xc0", false).text(), "!{}!");
}

#[test]
fn base64_as_protojson_writes_bytes() {
    for (raw, b64) in [
        (&b""[..], ""),
        (b"f", "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg=="),
        (b"fooba", "Zm9vYmE="),
        (b"foobar", "Zm9vYmFy"),
        (b"\xff\xfe\x00", "//4A"),
    ] {
        assert_eq!(body(raw, false).base64(), b64);
    }
}

#[test]
fn json_bodies() {
    let got = parsed(&[JSON], br#"{"firstname": "Bob", "n": [1, 2.5]}"#, false);
    assert_eq!(got, Ok((json!({"firstname": "Bob", "n": [1, 2.5]}), false)));
    // What a content length says was sent but was not read: truncated.
    let got = parsed(&[JSON, ("content-length", "40")], br#"{"a": 1}"#, false);
    assert_eq!(got, Ok((json!(null), true)));
    let got = parsed(&[JSON, ("content-length", "8")], br#"{"a": 1}"#, false);
    assert_eq!(got, Ok((json!({"a": 1}), false)));
    // Cut by the filter: not parsed.
    assert_eq!(parsed(&[JSON], br#"{"a""#, true), Ok((json!(null), true)));
    // opa-envoy-plugin's content-type test is a case-sensitive substring.
    let other = ("content-type", "Application/JSON");
    assert_eq!(
        parsed(&[other], br#"{"a": 1}"#, false),
        Ok((json!(null), false))
    );
}

/// opa-envoy-plugin answers these with 400 `request_parse_error`.
#[test]
fn bad_json_bodies_are_errors() {
    let e = parsed(&[JSON], b"{firstname: Bob}", false).unwrap_err();
    assert!(e.starts_with("invalid JSON: body"), "{e}");
    assert!(parsed(&[JSON], br#"{"a": 1} trailing"#, false).is_err());
    let deep = "[".repeat(65) + &"]".repeat(65);
    let e = parsed(&[JSON], deep.as_bytes(), false).unwrap_err();
    assert!(
        e.starts_with("limit exceeded"),
        "the core's depth limit: {e}"
    );
    let e = parsed(&[JSON, ("content-length", "ten")], b"{}", false).unwrap_err();
    assert!(e.contains("content-length"), "{e}");
}

#[test]
fn form_bodies() {
    let got = parsed(&[FORM], b"a=1&b=x+y%21&a=2&flag&&=v", false);
    assert_eq!(
        got,
        Ok((
            json!({"a": ["1", "2"], "b": ["x y!"], "flag": [""], "": ["v"]}),
            false
        ))
    );
    let e = parsed(&[FORM], b"a=1&b=%zz", false).unwrap_err();
    assert_eq!(e, r#"invalid URL escape "%zz""#);
    assert_eq!(
        parse_form("a=%4").unwrap_err(),
        r#"invalid URL escape "%4""#
    );
    let e = parsed(&[FORM], b"a=1;b=2", false).unwrap_err();
    assert_eq!(e, "invalid semicolon separator in query");
}

#[test]
fn other_bodies_are_not_parsed() {
    let text = ("content-type", "text/plain");
    assert_eq!(
        parsed(&[text], b"{not json", false),
        Ok((json!(null), false))
    );
    assert_eq!(parsed(&[], b"{}", false), Ok((json!(null), false)));
    let multipart = ("content-type", "multipart/form-data; boundary=x");
    assert_eq!(
        parsed(&[multipart], b"--x--", false),
        Ok((json!(null), false))
    );
    assert_eq!(parsed(&[JSON], b"", false), Ok((json!(null), false)));
    let none = parse(None, |_| None, &Limits::DEFAULT).unwrap();
    assert_eq!(none, (Value::Null, false));
}
