//! Digests and HMACs against the vectors of FIPS 180 / RFC 1321, RFC 2202
//! (HMAC-MD5, HMAC-SHA-1) and RFC 4231 (HMAC-SHA-256/512), restricted to
//! keys and messages a Rego string can hold.

use crate::builtins::tests::{error_with, value_with};
use serde_json::json;

fn call(expr: &str, x: &str, key: &str) -> String {
    let v = value_with(expr, &json!({ "x": x, "k": key }));
    v.as_str().unwrap().to_owned()
}

#[test]
fn digests() {
    let cases = [
        ("crypto.md5", "abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("crypto.md5", "", "d41d8cd98f00b204e9800998ecf8427e"),
        (
            "crypto.sha1",
            "abc",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (
            "crypto.sha1",
            "",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (
            "crypto.sha256",
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "crypto.sha256",
            "héllo ✓",
            "5657cdef8a85a584e0e961e6f8247cf5d3f8ed21496ed6fdbcfd43a761e94245",
        ),
    ];
    for (f, x, want) in cases {
        assert_eq!(call(&format!("{f}(input.x)"), x, ""), want, "{f}({x:?})");
    }
}

#[test]
fn hmacs() {
    let key_0b20 = "\u{b}".repeat(20);
    let key_0b16 = "\u{b}".repeat(16);
    let jefe = ("what do ya want for nothing?", "Jefe");
    let cases = [
        (
            "md5",
            ("Hi There", key_0b16.as_str()),
            "9294727a3638bb1c13f48ef8158bfc9d",
        ),
        ("md5", jefe, "750c783e6ab0b503eaa86e310a5db738"),
        (
            "sha1",
            ("Hi There", key_0b20.as_str()),
            "b617318655057264e28bc0b6fb378c8ef146be00",
        ),
        ("sha1", jefe, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        (
            "sha256",
            ("Hi There", key_0b20.as_str()),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            "sha256",
            jefe,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "sha512",
            ("Hi There", key_0b20.as_str()),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
             daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
        (
            "sha512",
            jefe,
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for (hash, (x, key), want) in cases {
        let expr = format!("crypto.hmac.{hash}(input.x, input.k)");
        assert_eq!(call(&expr, x, key), want, "{hash}({x:?})");
    }
}

#[test]
fn hmac_equal() {
    // OPA's conformance cases cryptohmacequal/*, and a few more.
    let cases = [
        (
            "31b6db9e5eb4addb42f1a6ca07367adc",
            "31b6db9e5eb4addb42f1a6ca07367adc",
            true,
        ),
        (
            "85d155c55ed286a300bd1cf124de08d87e914f3a",
            "85d155c55ed286a300bd1cf124de08d87e914f3a",
            true,
        ),
        (
            "147933218aaabc0b8b10a2b3a5c34684c8d94341bcf10a4736dc7270f7741851",
            "147933218aaabc0b8b10a2b3a5c34684c8d94341bcf10a4736dc7270f7741851",
            true,
        ),
        (
            "31b6db9e5eb4addb42f1a6ca07367adc",
            "31b6db9e5eb4addb",
            false,
        ),
        ("abc", "abd", false),
        ("", "", true),
        ("ABC", "abc", false),
    ];
    for (a, b, want) in cases {
        let got = value_with(
            "crypto.hmac.equal(input.a, input.b)",
            &json!({ "a": a, "b": b }),
        );
        assert_eq!(got, json!(want), "{a} vs {b}");
    }
}

#[test]
fn non_string_operands_are_type_errors() {
    let err = error_with("crypto.hmac.sha256(input.x, 1)", &json!({ "x": "a" }));
    assert!(
        err.contains("crypto.hmac.sha256: operand 2 must be string but got number"),
        "{err}"
    );
    let err = error_with("crypto.sha1([1])", &json!({}));
    assert!(
        err.contains("operand 1 must be string but got array"),
        "{err}"
    );
}
