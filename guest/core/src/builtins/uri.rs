//! `uri.parse` and `uri.is_valid` (OPA `topdown/uri.go`): Go's
//! `net/url.Parse`, whose rules (relative references, opaque URIs, what a
//! host may hold, `RawPath`) differ from the WHATWG parser of the `url`
//! crate, so it is ported here.

use super::{arg, string_arg};
use anyhow::{Result, bail};
use regorus::Value;
use std::collections::BTreeMap;

/// Go's `url.URL`, the fields `uri.parse` reports.
#[derive(Debug, Default, PartialEq)]
struct GoUrl {
    scheme: String,
    opaque: String,
    host: String,
    path: String,
    raw_path: String,
    raw_query: String,
    fragment: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape` for the modes parsing uses.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => false,
            Mode::Host | Mode::Zone => true,
        },
        b'!' | b'(' | b')' | b'*' if mode == Mode::Fragment => false,
        _ => true,
    }
}

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Go's `unescape` (never in query mode: `+` stays).
fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        match c {
            b'%' => {
                let digits = (
                    s.get(i + 1).copied().and_then(unhex),
                    s.get(i + 2).copied().and_then(unhex),
                );
                let (Some(hi), Some(lo)) = digits else {
                    let bad = s.get(i..(i + 3).min(s.len())).unwrap_or_default();
                    bail!("invalid URL escape {:?}", String::from_utf8_lossy(bad));
                };
                let escape = s.get(i..i + 3).unwrap_or_default();
                if mode == Mode::Host && hi < 8 && escape != b"%25" {
                    bail!("invalid URL escape {:?}", String::from_utf8_lossy(escape));
                }
                let v = hi << 4 | lo;
                if mode == Mode::Zone
                    && escape != b"%25"
                    && v != b' '
                    && should_escape(v, Mode::Host)
                {
                    bail!("invalid URL escape {:?}", String::from_utf8_lossy(escape));
                }
                out.push(v);
                i += 3;
            }
            _ => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    bail!(
                        "invalid character {:?} in host name",
                        (c as char).to_string()
                    );
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `escape` for the path and fragment modes.
fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if should_escape(c, mode) {
            out.push(b'%');
            out.extend(HEX.get(usize::from(c >> 4)));
            out.extend(HEX.get(usize::from(c & 15)));
        } else {
            out.push(c);
        }
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Go's `getScheme`: `[a-zA-Z][a-zA-Z0-9+-.]*` before a colon.
fn get_scheme(raw: &str) -> Result<(&str, &str)> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => bail!("missing protocol scheme"),
            b':' => {
                return Ok((
                    raw.get(..i).unwrap_or_default(),
                    raw.get(i + 1..).unwrap_or_default(),
                ));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `validOptionalPort`: empty, or `:` and digits.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `parseHost`: `host[:port]`, an IP literal in brackets with an
/// optional `%25` zone.
fn parse_host(host: &str) -> Result<String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            bail!("missing ']' in host");
        };
        let colon_port = host.get(i + 1..).unwrap_or_default();
        if !valid_optional_port(colon_port) {
            bail!("invalid port {colon_port:?} after host");
        }
        if let Some(zone) = host.get(..i).and_then(|h| h.find("%25")) {
            let part = |range: std::ops::Range<usize>, mode| {
                unescape(host.get(range).unwrap_or_default().as_bytes(), mode)
            };
            let mut out = part(0..zone, Mode::Host)?;
            out.extend(part(zone..i, Mode::Zone)?);
            out.extend(part(i..host.len(), Mode::Host)?);
            return Ok(text(&out));
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = host.get(i..).unwrap_or_default();
        if !valid_optional_port(colon_port) {
            bail!("invalid port {colon_port:?} after host");
        }
    }
    Ok(text(&unescape(host.as_bytes(), Mode::Host)?))
}

/// Go's `validUserinfo`.
fn valid_userinfo(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    })
}

/// Go's `parseAuthority`, keeping only the host (`uri.parse` reports no
/// user information) but checking the user information as Go does.
fn parse_authority(authority: &str) -> Result<String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (
            Some(authority.get(..i).unwrap_or_default()),
            authority.get(i + 1..).unwrap_or_default(),
        ),
        None => (None, authority),
    };
    let host = parse_host(host)?;
    if let Some(userinfo) = userinfo {
        if !valid_userinfo(userinfo) {
            bail!("net/url: invalid userinfo");
        }
        for part in userinfo.splitn(2, ':') {
            unescape(part.as_bytes(), Mode::UserPassword)?;
        }
    }
    Ok(host)
}

/// Go's `url.Parse`.
fn parse(raw: &str) -> Result<GoUrl> {
    let (before, fragment) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let mut url = parse_no_fragment(before)?;
    if let Some(f) = fragment {
        url.fragment = text(&unescape(f.as_bytes(), Mode::Fragment)?);
    }
    Ok(url)
}

fn parse_no_fragment(raw: &str) -> Result<GoUrl> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        bail!("net/url: invalid control character in URL");
    }
    let mut url = GoUrl::default();
    if raw == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    let (scheme, rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest.get(..rest.len() - 1).unwrap_or_default()
    } else {
        match rest.split_once('?') {
            Some((r, q)) => {
                url.raw_query = q.to_owned();
                r
            }
            None => rest,
        }
    };
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_owned();
            return Ok(url);
        }
        if rest.split('/').next().is_some_and(|s| s.contains(':')) {
            bail!("first path segment in URL cannot contain colon");
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = rest.get(2..).unwrap_or_default();
        let (authority, path) = match authority.find('/') {
            Some(i) => (
                authority.get(..i).unwrap_or_default(),
                authority.get(i..).unwrap_or_default(),
            ),
            None => (authority, ""),
        };
        url.host = parse_authority(authority)?;
        rest = path;
    }
    let path = unescape(rest.as_bytes(), Mode::Path)?;
    if escape(&path, Mode::Path) != rest.as_bytes() {
        url.raw_path = rest.to_owned();
    }
    url.path = text(&path);
    Ok(url)
}

/// Go's `splitHostPort`, as `Hostname` and `Port` use it.
fn split_host_port(host_port: &str) -> (&str, &str) {
    let (mut host, mut port) = (host_port, "");
    if let Some(colon) = host_port.rfind(':')
        && valid_optional_port(host_port.get(colon..).unwrap_or_default())
    {
        host = host_port.get(..colon).unwrap_or_default();
        port = host_port.get(colon + 1..).unwrap_or_default();
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        host = inner;
    }
    (host, port)
}

/// `uri.parse(uri)`: the non-empty ones of `scheme`, `hostname`, `port`,
/// `path` with `raw_path` (its escaped form when that is not the default
/// one, else the path), `raw_query` and `fragment`.
pub(super) fn parse_uri(args: Vec<Value>) -> Result<Value> {
    let raw = string_arg(&args, 0)?;
    let url = parse(raw).map_err(|e| anyhow::anyhow!("parse {raw:?}: {e}"))?;
    let (hostname, port) = split_host_port(&url.host);
    let mut o = BTreeMap::new();
    let mut set = |k: &str, v: &str| {
        if !v.is_empty() {
            o.insert(Value::from(k), Value::from(v));
        }
    };
    set("scheme", &url.scheme);
    set("hostname", hostname);
    set("port", port);
    set("path", &url.path);
    if !url.path.is_empty() {
        set(
            "raw_path",
            if url.raw_path.is_empty() {
                &url.path
            } else {
                &url.raw_path
            },
        );
    }
    set("raw_query", &url.raw_query);
    set("fragment", &url.fragment);
    Ok(Value::from(o))
}

/// `uri.is_valid(uri)`: whether Go parses it; false for an empty string
/// and for anything but a string.
pub(super) fn is_valid(args: Vec<Value>) -> Result<Value> {
    Ok(Value::from(match arg(&args, 0)? {
        Value::String(s) => !s.is_empty() && parse(s).is_ok(),
        _ => false,
    }))
}

#[cfg(test)]
#[path = "uri_tests.rs"]
mod tests;
