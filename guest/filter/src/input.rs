//! The input document, in opa-envoy-plugin's shape (the ext_authz v3
//! `CheckRequest` as protojson plus `parsed_path` and `parsed_query`), so
//! policies written for opa-envoy-plugin run unchanged.

use crate::body::{self, Body, PARTIAL_HEADER};
use regorus::Value;
use regorus::value::Object;
use sark_policy_core::Limits;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What the filter read from Envoy for one request.
#[derive(Debug, Default)]
pub struct RequestParts {
    /// Request headers, names lowercase, pseudo-headers (`:path`) included.
    pub headers: Vec<(String, String)>,
    /// `source.address` (`ip:port`), when Envoy exposes it.
    pub source: Option<String>,
    /// `destination.address` (`ip:port`), when Envoy exposes it.
    pub destination: Option<String>,
    /// `request.protocol` (`HTTP/1.1`).
    pub protocol: Option<String>,
    /// The body, when the filter read one (`with_request_body`) and it was
    /// not empty.
    pub body: Option<Body>,
}

impl RequestParts {
    /// The value of header `name` (lowercase); repeated headers joined by
    /// `,` as Envoy's ext_authz joins them. Borrowed unless joined, as this
    /// runs for every request.
    pub fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next()?;
        Some(values.fold(Cow::Borrowed(first), |mut acc, v| {
            let joined = acc.to_mut();
            joined.push(',');
            joined.push_str(v);
            acc
        }))
    }

    /// The method (`:method`).
    pub fn method(&self) -> Cow<'_, str> {
        self.header(":method").unwrap_or_default()
    }

    /// The path with its query (`:path`).
    pub fn path(&self) -> Cow<'_, str> {
        self.header(":path").unwrap_or_default()
    }

    /// `content-length`, when it is a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// A request whose stream becomes a tunnel (`CONNECT`, an HTTP/1.1
    /// `Upgrade`): what follows the headers is no body to wait for, as
    /// ext_authz also does not buffer it.
    pub fn is_upgrade(&self) -> bool {
        self.method() == "CONNECT"
            || (self.header("upgrade").is_some()
                && self.header("connection").is_some_and(|c| {
                    c.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
                }))
    }
}

/// Builds the input document as the engine's value, so a request is not
/// written as JSON text only for the engine to parse it back; Err when
/// the body is not what its content type says (see [`body::parse`]).
pub fn build(parts: &RequestParts) -> Result<Value, String> {
    Builder::default().build(parts, &Limits::DEFAULT)
}

/// The document's field names and constant parts, made once per worker:
/// a request then allocates only the strings and objects that are its own.
#[derive(Debug, Clone)]
pub struct Builder {
    attributes: Value,
    request: Value,
    http: Value,
    method: Value,
    path: Value,
    host: Value,
    scheme: Value,
    headers: Value,
    id: Value,
    protocol: Value,
    query: Value,
    source: Value,
    destination: Value,
    address: Value,
    socket_address: Value,
    port_value: Value,
    parsed_path: Value,
    parsed_query: Value,
    parsed_body: Value,
    truncated_body: Value,
    body: Value,
    raw_body: Value,
    version: Value,
    /// `{"encoding": "protojson", "ext_authz": "v3"}`
    version_value: Value,
    /// The body goes in `rawBody` (base64) rather than `body`.
    pack_as_bytes: bool,
    /// `parsed_body` and `truncated_body` are left out.
    skip_body_parse: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new(false, false)
    }
}

impl Builder {
    /// A builder putting the body in `rawBody` when `pack_as_bytes`, and
    /// leaving `parsed_body` and `truncated_body` out when `skip_body_parse`.
    pub fn new(pack_as_bytes: bool, skip_body_parse: bool) -> Self {
        let s = Value::from;
        let mut version = Object::new();
        version.insert(s("encoding"), s("protojson"));
        version.insert(s("ext_authz"), s("v3"));
        Self {
            attributes: s("attributes"),
            request: s("request"),
            http: s("http"),
            method: s("method"),
            path: s("path"),
            host: s("host"),
            scheme: s("scheme"),
            headers: s("headers"),
            id: s("id"),
            protocol: s("protocol"),
            query: s("query"),
            source: s("source"),
            destination: s("destination"),
            address: s("address"),
            socket_address: s("socketAddress"),
            port_value: s("portValue"),
            parsed_path: s("parsed_path"),
            parsed_query: s("parsed_query"),
            parsed_body: s("parsed_body"),
            truncated_body: s("truncated_body"),
            body: s("body"),
            raw_body: s("rawBody"),
            version: s("version"),
            version_value: version.into_value(),
            pack_as_bytes,
            skip_body_parse,
        }
    }

    /// The input document of one request; Err when the body is not what
    /// its content type says (see [`body::parse`]).
    pub fn build(&self, parts: &RequestParts, limits: &Limits) -> Result<Value, String> {
        let mut joined: BTreeMap<&str, Cow<'_, str>> = BTreeMap::new();
        // Envoy's ext_authz drops a client's partial-body header and sets
        // its own when it sends a body.
        if let Some(body) = &parts.body {
            let partial = if body.truncated { "true" } else { "false" };
            joined.insert(PARTIAL_HEADER, Cow::Borrowed(partial));
        }
        for (name, value) in &parts.headers {
            if name == PARTIAL_HEADER {
                continue;
            }
            joined
                .entry(name.as_str())
                .and_modify(|all| {
                    let all = all.to_mut();
                    all.push(',');
                    all.push_str(value);
                })
                .or_insert(Cow::Borrowed(value.as_str()));
        }
        let text = |name: &str| joined.get(name).map_or("", |v| v.as_ref());
        let path = text(":path");
        let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
        let path_only = path_only.split_once('#').map_or(path_only, |(p, _)| p);
        let k = |key: &Value| key.clone();
        let mut http = Object::new();
        http.insert(k(&self.method), Value::from(text(":method")));
        http.insert(k(&self.path), Value::from(path));
        http.insert(k(&self.host), Value::from(text(":authority")));
        http.insert(k(&self.scheme), Value::from(text(":scheme")));
        if let Some(id) = joined.get("x-request-id") {
            http.insert(k(&self.id), Value::from(id.as_ref()));
        }
        if let Some(protocol) = &parts.protocol {
            http.insert(k(&self.protocol), Value::from(protocol.as_str()));
        }
        if !query.is_empty() {
            http.insert(k(&self.query), Value::from(query));
        }
        let (parsed_path, parsed_query) = (parsed_path(path_only), parsed_query(query));
        // The body as ext_authz sends it, and the text opa-envoy-plugin
        // parses (`body`, else `rawBody` as a Go string).
        let text = parts.body.as_ref().map(|b| {
            if self.pack_as_bytes {
                http.insert(k(&self.raw_body), Value::from(b.base64()));
                String::from_utf8_lossy(&b.bytes).into_owned()
            } else {
                let text = b.text();
                http.insert(k(&self.body), Value::from(text.as_str()));
                text
            }
        });
        let parsed_body = if self.skip_body_parse {
            None
        } else {
            let header = |name: &str| joined.get(name).map(|v| Cow::Borrowed(v.as_ref()));
            let body = parts.body.as_ref().zip(text.as_deref());
            Some(body::parse(body, header, limits)?)
        };
        let mut headers = Object::new();
        for (name, value) in joined {
            headers.insert(Value::from(name), Value::from(value.as_ref()));
        }
        http.insert(k(&self.headers), headers.into_value());
        let mut request = Object::new();
        request.insert(k(&self.http), http.into_value());
        let mut attributes = Object::new();
        attributes.insert(k(&self.request), request.into_value());
        if let Some(addr) = parts.source.as_deref().and_then(|a| self.socket(a)) {
            attributes.insert(k(&self.source), addr);
        }
        if let Some(addr) = parts.destination.as_deref().and_then(|a| self.socket(a)) {
            attributes.insert(k(&self.destination), addr);
        }
        let mut doc = Object::new();
        doc.insert(k(&self.attributes), attributes.into_value());
        doc.insert(k(&self.parsed_path), parsed_path);
        doc.insert(k(&self.parsed_query), parsed_query);
        if let Some((parsed, truncated)) = parsed_body {
            doc.insert(k(&self.parsed_body), parsed);
            doc.insert(k(&self.truncated_body), Value::Bool(truncated));
        }
        doc.insert(k(&self.version), self.version_value.clone());
        Ok(doc.into_value())
    }

    /// `{"address": {"socketAddress": {"address": ip, "portValue": port}}}`
    /// from Envoy's `ip:port` (`[v6]:port` for IPv6).
    fn socket(&self, text: &str) -> Option<Value> {
        let (ip, port) = text.rsplit_once(':')?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let port: u64 = port.parse().ok()?;
        let mut socket = Object::new();
        socket.insert(self.address.clone(), Value::from(ip));
        socket.insert(self.port_value.clone(), Value::from(port));
        let mut address = Object::new();
        address.insert(self.socket_address.clone(), socket.into_value());
        let mut outer = Object::new();
        outer.insert(self.address.clone(), address.into_value());
        Some(outer.into_value())
    }
}

/// The path split at `/` after the leading slashes, each segment
/// percent-decoded: `/a/b%20c` is `["a", "b c"]`, `/` is `[""]` (as Go's
/// `strings.Split` gives opa-envoy-plugin).
pub fn parsed_path(path: &str) -> Value {
    Value::from(
        path.trim_start_matches('/')
            .split('/')
            .map(|s| Value::from(percent_decode(s, false)))
            .collect::<Vec<_>>(),
    )
}

/// The query as a map from name to the list of its values, decoded as Go's
/// `url.ParseQuery` does (`+` is a space).
pub fn parsed_query(query: &str) -> Value {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k, true))
            .or_default()
            .push(Value::from(percent_decode(v, true)));
    }
    let mut object = Object::new();
    for (k, v) in out {
        object.insert(Value::from(k), Value::from(v));
    }
    object.into_value()
}

/// Percent-decoding; malformed escapes are kept as they are.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match (b, escaped) {
            (_, Some((hi, lo))) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b'+', None) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of a hex digit.
pub(crate) fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
