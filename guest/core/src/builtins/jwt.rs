//! JWT structure (OPA `topdown/tokens.go`): splitting a compact JWS,
//! decoding its parts, reading its JOSE header, and `io.jwt.decode`.

use super::base64::{self, Alphabet};
use super::string_arg;
use anyhow::{Result, anyhow, bail};
use data_encoding::HEXLOWER;
use regorus::Value;
use std::collections::BTreeSet;

/// The three dot-separated parts of a compact JWS, still encoded.
pub(super) struct Token<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'a str,
}

impl<'a> Token<'a> {
    /// OPA's `decodeJWT`.
    pub(super) fn split(jwt: &'a str) -> Result<Self> {
        if !jwt.contains('.') {
            bail!("encoded JWT had no period separators");
        }
        let parts: Vec<&str> = jwt.split('.').collect();
        let &[header, payload, signature] = parts.as_slice() else {
            bail!("encoded JWT must have 3 sections, found {}", parts.len());
        };
        let signing_input = jwt
            .get(..header.len() + 1 + payload.len())
            .unwrap_or_default();
        Ok(Self {
            header,
            payload,
            signature,
            signing_input,
        })
    }

    pub(super) fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// The JOSE header as an object; a JWE is refused.
    pub(super) fn decode_header(&self) -> Result<Value> {
        let bytes = base64url_decode(self.header)
            .map_err(|e| anyhow!("JWT header had invalid encoding: {e}"))?;
        let header = json_object(&bytes).map_err(|e| anyhow!("bad JWT header: {e}"))?;
        if header
            .as_object()
            .is_ok_and(|h| h.contains_key(&Value::from("enc")))
        {
            bail!("JWT is a JWE object, which is not supported");
        }
        Ok(header)
    }

    /// The payload's bytes.
    pub(super) fn payload(&self) -> Result<Vec<u8>> {
        base64url_decode(self.payload).map_err(|e| anyhow!("JWT payload had invalid encoding: {e}"))
    }

    /// The signature's bytes.
    pub(super) fn signature(&self) -> Result<Vec<u8>> {
        base64url_decode(self.signature)
    }
}

/// The JOSE header parameters OPA interprets (`parseTokenHeader`).
#[derive(Debug, Default)]
pub(super) struct Header {
    pub(super) alg: String,
    pub(super) kid: String,
    pub(super) cty: String,
    crit: BTreeSet<String>,
    unknown: Vec<String>,
}

impl Header {
    pub(super) fn parse(header: &Value) -> Result<Self> {
        let mut parsed = Self::default();
        for (name, value) in header.as_object()?.iter() {
            let name = name.as_string()?.as_ref();
            let slot = match name {
                "alg" => Some(&mut parsed.alg),
                "kid" => Some(&mut parsed.kid),
                "cty" => Some(&mut parsed.cty),
                "typ" => None,
                "crit" => {
                    // Like OPA, the list is read up to its first non-string.
                    let list = value
                        .as_array()
                        .map_err(|_| anyhow!("crit: must be a list"))?;
                    parsed.crit = list
                        .iter()
                        .map_while(|v| v.as_string().ok().map(|s| s.to_string()))
                        .collect();
                    if parsed.crit.is_empty() {
                        bail!("crit: must be a nonempty list");
                    }
                    continue;
                }
                other => {
                    parsed.unknown.push(other.to_owned());
                    continue;
                }
            };
            let text = value
                .as_string()
                .map_err(|_| anyhow!("{name}: must be a string"))?;
            if let Some(slot) = slot {
                *slot = text.to_string();
            }
        }
        Ok(parsed)
    }

    /// RFC 7515: `alg` is present and every critical parameter understood.
    pub(super) fn valid(&self) -> bool {
        !self.alg.is_empty() && !self.unknown.iter().any(|u| self.crit.contains(u))
    }
}

/// `io.jwt.decode(jwt)`: `[header, payload, signature_hex]`, unverified. A
/// payload that is itself a JWT (`cty: JWT`) is decoded in its place.
pub(super) fn decode(args: Vec<Value>) -> Result<Value> {
    decode_token(string_arg(&args, 0)?)
}

fn decode_token(jwt: &str) -> Result<Value> {
    let token = Token::split(jwt)?;
    let header = token.decode_header()?;
    let payload = token.payload()?;
    if let Some(cty) = header.as_object()?.get(&Value::from("cty")) {
        let cty = cty
            .as_string()
            .map_err(|_| anyhow!("cty: must be a string"))?;
        if cty.as_ref() == "JWT" {
            // A nested token may arrive quoted (jwt.io's habit), as OPA notes.
            let inner = String::from_utf8_lossy(&payload);
            return decode_token(inner.trim_matches(['"', '\'']));
        }
    }
    let payload = json_object(&payload)?;
    let signature = token
        .signature()
        .map_err(|e| anyhow!("JWT signature had invalid encoding: {e}"))?;
    Ok(Value::from(vec![
        header,
        payload,
        Value::from(HEXLOWER.encode(&signature)),
    ]))
}

/// JSON text that must hold an object (OPA's `extractJSONObject`).
pub(super) fn json_object(bytes: &[u8]) -> Result<Value> {
    let value = Value::from_json_str(&String::from_utf8_lossy(bytes))
        .map_err(|e| anyhow!("invalid JSON: {e}"))?;
    if value.as_object().is_err() {
        bail!("decoded JSON type was not an Object");
    }
    Ok(value)
}

/// OPA's `base64url.decode`: Go's decoder after padding unpadded input
/// (RFC 7515 appendix C).
pub(super) fn base64url_decode(text: &str) -> Result<Vec<u8>> {
    if !text.ends_with('=') && text.len() % 4 == 1 {
        bail!("illegal base64url string: {text}");
    }
    base64::decode(text, Alphabet::Url)
        .map_err(|at| anyhow!("illegal base64 data at input byte {at}"))
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
