//! `io.jwt.encode_sign` and `io.jwt.encode_sign_raw`: OPA's
//! `commonBuiltinJWTEncodeSign` (`v1/topdown/tokens.go`).
//!
//! The header and payload are signed as given (`_raw`) or as Go's
//! `json.Marshal` writes the Rego values (sorted keys, no spaces, `<`, `>`
//! and `&` escaped), so tokens match OPA's byte for byte. The key is the
//! first JWK of a key or key set.
//!
//! HS*, RS* and EdDSA signatures are deterministic, as in OPA. ES256 and
//! ES384 use RFC 6979 nonces: OPA's are random, so its ECDSA tokens differ
//! from these, but both verify. ES512 nonces (p521 has no RFC 6979) and
//! PS* salts (as long as the hash, as OPA's) come from the host's
//! randomness (WASI `random`).

use super::base64::{self, Alphabet};
use super::jwt_verify::{Alg, Hash};
use super::{arg, string_arg};
use anyhow::{Result, anyhow, bail};
use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use regorus::Value;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey};
use sha2::{Sha256, Sha384, Sha512};

/// A private (or, for `oct`, shared) key from a JWK.
enum SigningKey {
    Oct(Vec<u8>),
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// `io.jwt.encode_sign(headers, payload, key)`: objects, JSON-encoded here.
pub(super) fn encode_sign(args: Vec<Value>) -> Result<Value> {
    let headers = go_json(arg(&args, 0)?)
        .map_err(|e| anyhow!("failed to prepare JWT headers for marshalling: {e}"))?;
    let payload = go_json(arg(&args, 1)?)
        .map_err(|e| anyhow!("failed to prepare JWT payload for marshalling: {e}"))?;
    let key = go_json(arg(&args, 2)?)
        .map_err(|e| anyhow!("failed to prepare JWT signature for marshalling: {e}"))?;
    sign(&headers, &payload, &key)
}

/// `io.jwt.encode_sign_raw(headers, payload, key)`: JSON text, signed as is.
pub(super) fn encode_sign_raw(args: Vec<Value>) -> Result<Value> {
    // OPA checks the key operand first.
    let key = string_arg(&args, 2)?;
    sign(string_arg(&args, 0)?, string_arg(&args, 1)?, key)
}

fn sign(headers: &str, payload: &str, jwk: &str) -> Result<Value> {
    let key = first_key(jwk)?;
    let header = Value::from_json_str(headers).unwrap_or(Value::Undefined);
    let alg_name = match member(&header, "alg") {
        Some(Value::String(s)) => s.to_string(),
        _ => bail!("missing or invalid 'alg' header"),
    };
    let alg =
        Alg::from_name(&alg_name).ok_or_else(|| anyhow!("unknown JWS algorithm: {alg_name}"))?;
    let typ_is_jwt =
        !matches!(member(&header, "typ"), Some(Value::String(t)) if t.as_ref() != "JWT");
    if typ_is_jwt && serde_json::from_str::<serde::de::IgnoredAny>(payload).is_err() {
        bail!("type is JWT but payload is not JSON");
    }
    let input = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(headers.as_bytes()),
        BASE64URL_NOPAD.encode(payload.as_bytes())
    );
    let signature = signature(&key, alg, &alg_name, input.as_bytes())?;
    Ok(Value::from(format!(
        "{input}.{}",
        BASE64URL_NOPAD.encode(&signature)
    )))
}

/// A compact JWS of `payload` (JSON text) signed with `alg_name` and `key`:
/// the HMAC secret for `HS*`, otherwise a PEM private key. The header is
/// `{"alg", "kid"?, "typ": "JWT"}`.
pub(super) fn sign_compact(
    alg_name: &str,
    key: &str,
    key_id: &str,
    payload: &str,
) -> Result<String> {
    let alg =
        Alg::from_name(alg_name).ok_or_else(|| anyhow!("unknown JWS algorithm: {alg_name}"))?;
    let key = match alg {
        Alg::Hs(_) => SigningKey::Oct(key.as_bytes().to_vec()),
        _ => first_key(&super::private_keys::first_key_jwk(key)?)?,
    };
    let mut header = serde_json::Map::new();
    header.insert("alg".into(), alg_name.into());
    header.insert("typ".into(), "JWT".into());
    if !key_id.is_empty() {
        header.insert("kid".into(), key_id.into());
    }
    let header = serde_json::Value::Object(header);
    let input = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(header.to_string().as_bytes()),
        BASE64URL_NOPAD.encode(payload.as_bytes())
    );
    let signature = signature(&key, alg, alg_name, input.as_bytes())?;
    Ok(format!("{input}.{}", BASE64URL_NOPAD.encode(&signature)))
}

/// `alg`'s signature of `input` under `key`; a key of the wrong kind for
/// `alg` is an error.
fn signature(key: &SigningKey, alg: Alg, name: &str, input: &[u8]) -> Result<Vec<u8>> {
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    let wrong_key = || anyhow!("failed to sign payload: key is not usable with {name}");
    match (alg, key) {
        (Alg::Hs(hash), SigningKey::Oct(secret)) => hmac(hash, secret, input),
        (Alg::Rs(hash), SigningKey::Rsa(key)) => {
            let scheme = match hash {
                Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
            };
            key.sign(scheme, &hash.digest(input))
                .map_err(|e| anyhow!("failed to sign payload: {e}"))
        }
        (Alg::Es(Hash::Sha256), SigningKey::P256(key)) => {
            let sig: p256::ecdsa::Signature = key
                .sign_prehash(&Hash::Sha256.digest(input))
                .map_err(|e| anyhow!("failed to sign payload: {e}"))?;
            Ok(sig.to_bytes().to_vec())
        }
        (Alg::Es(Hash::Sha384), SigningKey::P384(key)) => {
            let sig: p384::ecdsa::Signature = key
                .sign_prehash(&Hash::Sha384.digest(input))
                .map_err(|e| anyhow!("failed to sign payload: {e}"))?;
            Ok(sig.to_bytes().to_vec())
        }
        (Alg::EdDsa, SigningKey::Ed25519(key)) => {
            use ed25519_dalek::Signer as _;
            Ok(key.sign(input).to_bytes().to_vec())
        }
        (Alg::Ps(hash), SigningKey::Rsa(key)) => {
            let scheme = match hash {
                Hash::Sha256 => Pss::new::<Sha256>(),
                Hash::Sha384 => Pss::new::<Sha384>(),
                Hash::Sha512 => Pss::new::<Sha512>(),
            };
            let mut rng = HostRng::default();
            let sig = key.sign_with_rng(&mut rng, scheme, &hash.digest(input));
            if rng.failed {
                bail!("failed to sign payload: no randomness from the host");
            }
            sig.map_err(|e| anyhow!("failed to sign payload: {e}"))
        }
        // p521 0.13 has no RFC 6979 nonces: a random one, as OPA's.
        (Alg::Es(Hash::Sha512), SigningKey::P521(key)) => {
            use p521::ecdsa::signature::hazmat::RandomizedPrehashSigner as _;
            let mut rng = HostRng::default();
            let sig: Result<p521::ecdsa::Signature, _> =
                key.sign_prehash_with_rng(&mut rng, &Hash::Sha512.digest(input));
            if rng.failed {
                bail!("failed to sign payload: no randomness from the host");
            }
            let sig = sig.map_err(|e| anyhow!("failed to sign payload: {e}"))?;
            Ok(sig.to_bytes().to_vec())
        }
        _ => Err(wrong_key()),
    }
}

/// The host's randomness (`getrandom`: WASI `random` in the guest). The
/// `rand_core` 0.6 interface `rsa` takes cannot fail, so a failure is
/// recorded here and the signature made with it thrown away.
#[derive(Default)]
struct HostRng {
    failed: bool,
}

impl rsa::rand_core::RngCore for HostRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if getrandom::fill(dest).is_err() {
            self.failed = true;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for HostRng {}

fn hmac(hash: Hash, key: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        let m = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .map_err(|e| anyhow!("failed to sign payload: {e}"))?;
        Ok(m.chain_update(data).finalize().into_bytes().to_vec())
    }
    match hash {
        Hash::Sha256 => mac::<Hmac<Sha256>>(key, input),
        Hash::Sha384 => mac::<Hmac<Sha384>>(key, input),
        Hash::Sha512 => mac::<Hmac<Sha512>>(key, input),
    }
}

/// The first key of a JWK or JWK set (jwx's `jwk.Parse`, then `Key(0)`).
fn first_key(text: &str) -> Result<SigningKey> {
    let json = Value::from_json_str(text).map_err(|e| anyhow!("failed to parse JWK: {e}"))?;
    let jwk = match member(&json, "keys") {
        Some(Value::Array(keys)) => keys
            .first()
            .ok_or_else(|| anyhow!("no keys found in JWK set"))?,
        Some(_) => bail!("failed to parse JWK: \"keys\" must be an array"),
        None => &json,
    };
    signing_key(jwk).map_err(|e| anyhow!("failed to parse JWK: {e}"))
}

fn signing_key(jwk: &Value) -> Result<SigningKey> {
    if jwk.as_object().is_err() {
        bail!("a JWK must be an object");
    }
    let kty = text(jwk, "kty")?;
    match kty.as_str() {
        "oct" => Ok(SigningKey::Oct(bytes(jwk, "k")?)),
        "RSA" => rsa_key(jwk),
        "EC" => match text(jwk, "crv")?.as_str() {
            "P-256" => p256::ecdsa::SigningKey::from_slice(&bytes(jwk, "d")?)
                .map(SigningKey::P256)
                .map_err(|_| anyhow!("invalid P-256 private key")),
            "P-384" => p384::ecdsa::SigningKey::from_slice(&bytes(jwk, "d")?)
                .map(SigningKey::P384)
                .map_err(|_| anyhow!("invalid P-384 private key")),
            // A JWK's `d` for P-521 is 66 bytes; a shorter encoding drops
            // leading zeros, which `from_slice` would not take.
            "P-521" => {
                let d = bytes(jwk, "d")?;
                let mut padded = vec![0u8; 66usize.saturating_sub(d.len())];
                padded.extend_from_slice(&d);
                p521::ecdsa::SigningKey::from_slice(&padded)
                    .map(SigningKey::P521)
                    .map_err(|_| anyhow!("invalid P-521 private key"))
            }
            other => bail!("unsupported EC curve {other:?}"),
        },
        "OKP" => match text(jwk, "crv")?.as_str() {
            "Ed25519" => ed25519_key(jwk),
            other => bail!("unsupported OKP curve {other:?}"),
        },
        other => bail!("invalid key type {other:?}"),
    }
}

fn rsa_key(jwk: &Value) -> Result<SigningKey> {
    let int = |name| bytes(jwk, name).map(|b| BigUint::from_bytes_be(&b));
    // p and q are optional in a JWK; without them `rsa` recovers them.
    let primes = match (member(jwk, "p"), member(jwk, "q")) {
        (Some(_), Some(_)) => vec![int("p")?, int("q")?],
        _ => Vec::new(),
    };
    let key = RsaPrivateKey::from_components(int("n")?, int("e")?, int("d")?, primes)
        .map_err(|e| anyhow!("invalid RSA private key: {e}"))?;
    key.validate()
        .map_err(|e| anyhow!("invalid RSA private key: {e}"))?;
    Ok(SigningKey::Rsa(Box::new(key)))
}

fn ed25519_key(jwk: &Value) -> Result<SigningKey> {
    let d = bytes(jwk, "d")?;
    let seed: &[u8; 32] = d
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("an Ed25519 private key has 32 bytes, not {}", d.len()))?;
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    if member(jwk, "x").is_some() && bytes(jwk, "x")? != key.verifying_key().as_bytes() {
        bail!("Ed25519 public key does not match the private key");
    }
    Ok(SigningKey::Ed25519(Box::new(key)))
}

fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.as_object().ok()?.get(&Value::from(name))
}

/// A string JWK member; empty when absent.
fn text(jwk: &Value, name: &str) -> Result<String> {
    match member(jwk, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.to_string()),
        Some(_) => bail!("JWK member {name:?} must be a string"),
    }
}

/// A binary JWK member (base64url, padded or not, or standard base64).
fn bytes(jwk: &Value, name: &str) -> Result<Vec<u8>> {
    let Some(Value::String(s)) = member(jwk, name) else {
        bail!("a JWK of this type needs a string {name:?}");
    };
    base64::decode(s, Alphabet::Either)
        .map_err(|at| anyhow!("JWK member {name:?}: invalid base64 at byte {at}"))
}

/// `v` as Go's `json.Marshal(ast.JSON(v))` writes it.
fn go_json(v: &Value) -> Result<String> {
    let mut out = String::new();
    write_json(v, &mut out)?;
    Ok(out)
}

fn write_json(v: &Value, out: &mut String) -> Result<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(_) => out.push_str(&serde_json::to_string(v)?),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => write_list(items.iter(), out)?,
        Value::Set(items) => write_list(items.iter(), out)?,
        Value::Object(fields) => {
            // Go's encoder sorts an object's keys as strings; a non-string
            // key becomes its JSON text.
            let mut entries = fields
                .iter()
                .map(|(k, v)| match k {
                    Value::String(s) => Ok((s.to_string(), v)),
                    other => Ok((go_json(other)?, v)),
                })
                .collect::<Result<Vec<_>>>()?;
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(&k, out);
                out.push(':');
                write_json(v, out)?;
            }
            out.push('}');
        }
        Value::Undefined => bail!("undefined value"),
    }
    Ok(())
}

fn write_list<'a>(items: impl Iterator<Item = &'a Value>, out: &mut String) -> Result<()> {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json(item, out)?;
    }
    out.push(']');
    Ok(())
}

/// Go's string encoding with HTML escaping, its default.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[path = "jwt_sign_tests.rs"]
mod tests;
