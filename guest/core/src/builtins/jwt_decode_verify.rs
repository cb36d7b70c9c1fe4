//! `io.jwt.decode_verify(jwt, constraints)`: OPA's `builtinJWTDecodeVerify`.
//!
//! A token that fails a check (signature, `alg`, `iss`, `aud`, `exp`,
//! `nbf`, an unusable header) gives `[false, {}, {}]`; malformed input
//! (constraints, encoding, JSON, a non-numeric `exp`) is an error.

use super::jwt::{Header, Token, json_object};
use super::jwt_keys::{VerificationKey, keys_from_cert_or_jwk};
use super::jwt_verify::{Alg, verify_hmac, verify_with_keys};
use super::{arg, operand_error, string_arg};
use anyhow::{Result, anyhow, bail};
use regorus::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// The constraints object, checked.
#[derive(Debug, Default)]
struct Constraints {
    secret: String,
    alg: String,
    iss: String,
    aud: String,
    /// From `cert`; `Some` even when the key set is empty.
    keys: Option<Vec<VerificationKey>>,
    /// Nanoseconds since the epoch.
    time: Option<f64>,
}

impl Constraints {
    fn parse(value: &Value) -> Result<Self> {
        let object = value
            .as_object()
            .map_err(|_| operand_error(1, "object", value))?;
        let mut c = Self::default();
        for (name, value) in object.iter() {
            let name = name.as_string()?.as_ref();
            let text = || {
                value
                    .as_string()
                    .map(|s| s.to_string())
                    .map_err(|_| anyhow!("{name} constraint: must be a string"))
            };
            match name {
                "cert" => c.keys = Some(keys_from_cert_or_jwk(&text()?)?),
                "secret" => c.secret = text()?,
                "alg" => c.alg = text()?,
                "iss" => c.iss = text()?,
                "aud" => c.aud = text()?,
                "time" => c.time = Some(time_from(value)?),
                other => bail!("unknown token validation constraint: {other}"),
            }
        }
        match (c.keys.is_some(), !c.secret.is_empty()) {
            (true, true) => bail!("duplicate key constraints"),
            (false, false) => bail!("no key constraint"),
            _ => Ok(c),
        }
    }

    /// Whether `sig` signs `input` under the constraint's key(s), with the
    /// header's algorithm.
    fn verify(&self, header: &Header, input: &[u8], sig: &[u8]) -> bool {
        let Some(alg) = Alg::from_name(&header.alg) else {
            return false;
        };
        let Some(keys) = &self.keys else {
            return match alg {
                Alg::Hs(hash) => verify_hmac(hash, self.secret.as_bytes(), input, sig),
                _ => false,
            };
        };
        verify_with_keys(keys, header, alg, input, sig)
    }

    fn valid_audience(&self, aud: &Value) -> bool {
        match aud {
            Value::String(s) => s.as_ref() == self.aud,
            Value::Array(list) => list
                .iter()
                .any(|a| matches!(a, Value::String(s) if s.as_ref() == self.aud)),
            _ => false,
        }
    }
}

fn time_from(value: &Value) -> Result<f64> {
    if !matches!(value, Value::Number(_)) {
        bail!("token time constraint: must be a number");
    }
    // Nanosecond times exceed 2^53, where regorus's `as_f64` stops; like
    // Go's `Float64`, take the nearest float.
    let t = value
        .as_f64()
        .or_else(|_| value.as_i128().map(|n| n as f64))
        .map_err(|_| anyhow!("token time constraint: unvalid float64"))?;
    if t < 0.0 {
        bail!("token time constraint: must not be negative");
    }
    Ok(t)
}

/// The wall clock in nanoseconds: OPA's default `time`. Reading it here is
/// policy semantics (is the token expired now?), unlike cache expiry, for
/// which the host passes the time in.
fn now_ns() -> Result<f64> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| anyhow!("reading the clock: {e}"))?;
    Ok(since.as_nanos() as f64)
}

pub(super) fn decode_verify(args: Vec<Value>) -> Result<Value> {
    let c = Constraints::parse(arg(&args, 1)?)?;
    let unverified = || {
        Value::from(vec![
            Value::from(false),
            Value::new_object(),
            Value::new_object(),
        ])
    };
    let mut jwt = string_arg(&args, 0)?.to_owned();
    let (header, payload) = loop {
        let token = Token::split(&jwt)?;
        let header_value = token.decode_header()?;
        let header = Header::parse(&header_value)?;
        if !header.valid() || (!c.alg.is_empty() && c.alg != header.alg) {
            return Ok(unverified());
        }
        let sig = token.signature()?;
        if !c.verify(&header, token.signing_input().as_bytes(), &sig) {
            return Ok(unverified());
        }
        let payload = token.payload()?;
        if !header.cty.eq_ignore_ascii_case("JWT") {
            break (header_value, payload);
        }
        // A nested JWT: verify the inner token with the same constraints.
        jwt = String::from_utf8_lossy(&payload).into_owned();
    };
    let payload = json_object(&payload)?;
    let claims = payload.as_object()?;
    let claim = |name: &str| claims.get(&Value::from(name));

    if !c.iss.is_empty()
        && !matches!(claim("iss"), Some(Value::String(iss)) if iss.as_ref() == c.iss)
    {
        return Ok(unverified());
    }
    let audience_ok = match claim("aud") {
        Some(aud) => c.valid_audience(aud),
        None => c.aud.is_empty(),
    };
    if !audience_ok {
        return Ok(unverified());
    }
    let now = || -> Result<Value> {
        let ns = match c.time {
            Some(t) => t,
            None => now_ns()?,
        };
        Ok(Value::from(ns / 1e9))
    };
    if let Some(exp) = claim("exp") {
        if !matches!(exp, Value::Number(_)) {
            bail!("exp value must be a number");
        }
        if now()? >= *exp {
            return Ok(unverified());
        }
    }
    if let Some(nbf) = claim("nbf") {
        if !matches!(nbf, Value::Number(_)) {
            bail!("nbf value must be a number");
        }
        if now()? < *nbf {
            return Ok(unverified());
        }
    }
    Ok(Value::from(vec![Value::from(true), header, payload]))
}

#[cfg(test)]
#[path = "jwt_decode_verify_tests.rs"]
mod tests;
