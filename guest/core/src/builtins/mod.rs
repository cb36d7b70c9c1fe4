//! Rego builtins regorus 0.14 lacks, added to every engine as regorus
//! extensions: `io.jwt.*` decoding, verification and signing, `crypto.*`
//! digests, HMACs and X.509/key parsing, the `net.cidr_*` functions beyond
//! `net.cidr_contains`, `net.cidr_expand` and `net.cidr_is_valid` (which
//! regorus has), `array.flatten`, `strings.split_n`,
//! `strings.render_template` and `regex.globs_match`.
//!
//! Semantics follow OPA's `v1/topdown` (`tokens.go`, `crypto.go`, `cidr.go`,
//! ...), including its error messages, prefixed with the builtin's name as
//! OPA reports them. Which of OPA's builtins this engine has, and why the
//! others are missing, is checked against OPA's capabilities file by
//! `opa_builtins_tests.rs` (see `OPA-BUILTINS.md`).
//!
//! `io.jwt.encode_sign*` signs with HS*, RS*, PS*, ES256/384/512 and EdDSA
//! keys (`jwt_sign`), and `crypto.x509.parse_certificates` returns Go's JSON
//! form of the certificates (`x509`).
//!
//! regorus's extension mechanism lacks two things OPA builtins have, which
//! the engine supplies: the out-parameter form (`io.jwt.decode(t, [h, p, s])`,
//! rewritten by `crate::outparams` before parsing), and non-strict errors
//! ([`register`] turns an error into undefined unless strict mode is on).

use anyhow::{Result, anyhow};
use regorus::Value;

mod array;
mod base64;
mod crypto;
mod globs;
pub(crate) mod jws;
mod jwt;
mod jwt_decode_verify;
#[cfg(test)]
mod jwt_fixtures;
mod jwt_keys;
mod jwt_rsa;
mod jwt_sign;
mod jwt_verify;
mod netcidr;
mod netcidr_merge;
mod pem;
mod private_keys;
mod strings;
mod template;
mod uri;
mod x509;
mod x509_csr;

/// A builtin: its arguments, already counted by regorus, to its value. Its
/// errors do not name it; [`register`] prefixes them with its Rego name.
type Builtin = fn(Vec<Value>) -> Result<Value>;

/// Every builtin added: its Rego name, its number of arguments and its code.
/// The names are distinct and none is a builtin regorus already has (both
/// checked by the tests), which is what makes [`register`] infallible.
const BUILTINS: &[(&str, u8, Builtin)] = &[
    ("array.flatten", 1, array::flatten),
    ("crypto.md5", 1, crypto::md5),
    ("crypto.sha1", 1, crypto::sha1),
    ("crypto.sha256", 1, crypto::sha256),
    ("crypto.hmac.md5", 2, crypto::hmac_md5),
    ("crypto.hmac.sha1", 2, crypto::hmac_sha1),
    ("crypto.hmac.sha256", 2, crypto::hmac_sha256),
    ("crypto.hmac.sha512", 2, crypto::hmac_sha512),
    ("crypto.hmac.equal", 2, crypto::hmac_equal),
    (
        "crypto.parse_private_keys",
        1,
        private_keys::parse_private_keys,
    ),
    (
        "crypto.x509.parse_certificates",
        1,
        x509::parse_certificates,
    ),
    (
        "crypto.x509.parse_certificate_request",
        1,
        x509_csr::parse_certificate_request,
    ),
    ("crypto.x509.parse_keypair", 2, private_keys::parse_keypair),
    (
        "crypto.x509.parse_rsa_private_key",
        1,
        private_keys::parse_rsa_private_key,
    ),
    ("io.jwt.decode", 1, jwt::decode),
    ("io.jwt.decode_verify", 2, jwt_decode_verify::decode_verify),
    ("io.jwt.encode_sign", 3, jwt_sign::encode_sign),
    ("io.jwt.encode_sign_raw", 3, jwt_sign::encode_sign_raw),
    ("io.jwt.verify_hs256", 2, jwt_verify::verify_hs256),
    ("io.jwt.verify_hs384", 2, jwt_verify::verify_hs384),
    ("io.jwt.verify_hs512", 2, jwt_verify::verify_hs512),
    ("io.jwt.verify_rs256", 2, jwt_verify::verify_rs256),
    ("io.jwt.verify_rs384", 2, jwt_verify::verify_rs384),
    ("io.jwt.verify_rs512", 2, jwt_verify::verify_rs512),
    ("io.jwt.verify_ps256", 2, jwt_verify::verify_ps256),
    ("io.jwt.verify_ps384", 2, jwt_verify::verify_ps384),
    ("io.jwt.verify_ps512", 2, jwt_verify::verify_ps512),
    ("io.jwt.verify_es256", 2, jwt_verify::verify_es256),
    ("io.jwt.verify_es384", 2, jwt_verify::verify_es384),
    ("io.jwt.verify_es512", 2, jwt_verify::verify_es512),
    ("io.jwt.verify_eddsa", 2, jwt_verify::verify_eddsa),
    ("net.cidr_contains_matches", 2, netcidr::contains_matches),
    ("net.cidr_intersects", 2, netcidr::intersects),
    ("net.cidr_overlap", 2, netcidr::overlap),
    ("net.cidr_merge", 1, netcidr_merge::merge),
    ("regex.globs_match", 2, globs::globs_match),
    ("strings.render_template", 2, template::render),
    ("strings.split_n", 3, strings::split_n),
    ("uri.is_valid", 1, uri::is_valid),
    ("uri.parse", 1, uri::parse_uri),
];

/// Builtins OPA has that cannot work in the sandbox. regorus's own
/// `http.send` answers undefined without a word; this engine answers an
/// error that says why instead, strict or not (OPA raises `http.send`'s
/// errors in both modes too). Extensions come before builtins in regorus's
/// lookup, and the RVM calls them as host-awaits like the others.
const REFUSED: &[(&str, u8, &str)] = &[
    (
        "http.send",
        1,
        "the policy sandbox has no network, so no request can be sent",
    ),
    (
        "net.lookup_ip_addr",
        1,
        "the policy sandbox has no network, so no name can be resolved",
    ),
    // regorus answers its own build features here, not OPA's runtime
    // (config, environment, version), which this engine does not have.
    (
        "opa.runtime",
        0,
        "the policy sandbox has no OPA runtime (configuration, environment)",
    ),
];

/// The error a [`REFUSED`] builtin answers.
fn refused(name: &str) -> Option<anyhow::Error> {
    REFUSED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(n, _, why)| anyhow!("{n}: {why}"))
}

/// Adds every builtin of this module to a regorus engine.
///
/// `add_extension` refuses only a name it already holds. `fresh_rego` calls
/// this once on a new engine and the names in [`BUILTINS`] are distinct, so
/// no call is refused; the debug assertion makes a broken table fail every
/// test instead of silently keeping the first entry of a duplicated name.
pub(crate) fn register(rego: &mut regorus::Engine, strict: bool) {
    for &(name, nargs, f) in BUILTINS {
        let call = move |args| invoke(name, f, args, strict);
        let added = rego.add_extension(name.to_owned(), nargs, Box::new(call));
        debug_assert!(added.is_ok(), "registering {name}: {added:?}");
    }
    for &(name, nargs, why) in REFUSED {
        let call = move |_: Vec<Value>| -> Result<Value> { Err(anyhow!("{name}: {why}")) };
        let added = rego.add_extension(name.to_owned(), nargs, Box::new(call));
        debug_assert!(added.is_ok(), "registering {name}: {added:?}");
    }
}

/// Calls `f`. As in OPA, a builtin error makes the expression undefined
/// unless strict builtin errors are on.
fn invoke(name: &str, f: Builtin, args: Vec<Value>, strict: bool) -> Result<Value> {
    match f(args) {
        Ok(v) => Ok(v),
        Err(_) if !strict => Ok(Value::Undefined),
        Err(e) => Err(anyhow!("{name}: {e}")),
    }
}

/// Every builtin of this module with its number of arguments, as the RVM
/// compiler takes host-await builtins.
pub(crate) fn host_awaits() -> Vec<(&'static str, usize)> {
    BUILTINS
        .iter()
        .map(|&(name, nargs, _)| (name, usize::from(nargs)))
        .chain(
            REFUSED
                .iter()
                .map(|&(name, nargs, _)| (name, usize::from(nargs))),
        )
        .collect()
}

/// Answers an RVM host-await of a builtin of this module: `name` is the
/// builtin's name and `args` the array of its arguments.
pub(crate) fn call_host_await(name: &Value, args: &Value, strict: bool) -> Result<Value> {
    let name = match name {
        Value::String(s) => s.as_ref(),
        other => {
            return Err(anyhow!(
                "host-await identifier {other} is not a builtin name"
            ));
        }
    };
    if let Some(e) = refused(name) {
        return Err(e);
    }
    let &(name, _, f) = BUILTINS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| anyhow!("{name}: not a builtin of this engine"))?;
    let args = match args {
        Value::Array(a) => a.to_vec(),
        other => return Err(anyhow!("{name}: arguments {other} are not an array")),
    };
    invoke(name, f, args, strict)
}

/// The number of arguments of the builtin `name`, if this module adds it.
pub(crate) fn arity(name: &str) -> Option<u8> {
    BUILTINS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, nargs, _)| nargs)
}

/// OPA's name for the type of a value, as its type errors print it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Set(_) => "set",
        Value::Object(_) => "object",
        Value::Undefined => "undefined",
    }
}

/// Argument `pos` (0-based) of a call.
fn arg(args: &[Value], pos: usize) -> Result<&Value> {
    args.get(pos)
        .ok_or_else(|| anyhow!("missing operand {}", pos + 1))
}

/// Argument `pos` (0-based) as a string, or OPA's operand type error.
fn string_arg(args: &[Value], pos: usize) -> Result<&str> {
    match arg(args, pos)? {
        Value::String(s) => Ok(s),
        other => Err(operand_error(pos, "string", other)),
    }
}

/// OPA's `operand N must be T but got U`.
fn operand_error(pos: usize, want: &str, got: &Value) -> anyhow::Error {
    anyhow!(
        "operand {} must be {want} but got {}",
        pos + 1,
        type_name(got)
    )
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "hostile_tests.rs"]
mod hostile_tests;

#[cfg(test)]
#[path = "regorus_tests.rs"]
mod regorus_tests;

#[cfg(test)]
#[path = "opa_builtins_tests.rs"]
mod opa_builtins_tests;
