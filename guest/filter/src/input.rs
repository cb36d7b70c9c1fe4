//! The input document, in opa-envoy-plugin's shape (the ext_authz v3
//! `CheckRequest` as protojson plus `parsed_path` and `parsed_query`), so
//! policies written for opa-envoy-plugin run unchanged.

use serde_json::{Map, Value, json};

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
}

impl RequestParts {
    /// The value of header `name` (lowercase); repeated headers joined by
    /// `,` as Envoy's ext_authz joins them.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next()?;
        Some(values.fold(first.to_owned(), |mut acc, v| {
            acc.push(',');
            acc.push_str(v);
            acc
        }))
    }

    /// The method (`:method`).
    pub fn method(&self) -> String {
        self.header(":method").unwrap_or_default()
    }

    /// The path with its query (`:path`).
    pub fn path(&self) -> String {
        self.header(":path").unwrap_or_default()
    }
}

/// Builds the input document.
pub fn build(parts: &RequestParts) -> Value {
    let mut headers = Map::new();
    for (name, _) in &parts.headers {
        if !headers.contains_key(name) {
            let value = parts.header(name).unwrap_or_default();
            headers.insert(name.clone(), Value::String(value));
        }
    }
    let path = parts.path();
    let (path_only, query) = match path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path.as_str(), ""),
    };
    let path_only = path_only.split_once('#').map_or(path_only, |(p, _)| p);
    let mut http = json!({
        "method": parts.method(),
        "path": path,
        "host": parts.header(":authority").unwrap_or_default(),
        "scheme": parts.header(":scheme").unwrap_or_default(),
        "headers": headers,
    });
    if let Some(http) = http.as_object_mut() {
        if let Some(id) = parts.header("x-request-id") {
            http.insert("id".into(), Value::String(id));
        }
        if let Some(protocol) = &parts.protocol {
            http.insert("protocol".into(), Value::String(protocol.clone()));
        }
        if !query.is_empty() {
            http.insert("query".into(), Value::String(query.to_owned()));
        }
    }
    let mut attributes = json!({ "request": { "http": http } });
    if let Some(attributes) = attributes.as_object_mut() {
        if let Some(addr) = parts.source.as_deref().and_then(socket_address) {
            attributes.insert("source".into(), addr);
        }
        if let Some(addr) = parts.destination.as_deref().and_then(socket_address) {
            attributes.insert("destination".into(), addr);
        }
    }
    json!({
        "attributes": attributes,
        "parsed_path": parsed_path(path_only),
        "parsed_query": parsed_query(query),
        "parsed_body": null,
        "truncated_body": false,
        "version": { "encoding": "protojson", "ext_authz": "v3" },
    })
}

/// `{"address": {"socketAddress": {"address": ip, "portValue": port}}}`
/// from Envoy's `ip:port` (`[v6]:port` for IPv6).
fn socket_address(text: &str) -> Option<Value> {
    let (ip, port) = text.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let port: u64 = port.parse().ok()?;
    Some(json!({ "address": { "socketAddress": { "address": ip, "portValue": port } } }))
}

/// The path split at `/` after the leading slashes, each segment
/// percent-decoded: `/a/b%20c` is `["a", "b c"]`, `/` is `[""]` (as Go's
/// `strings.Split` gives opa-envoy-plugin).
pub fn parsed_path(path: &str) -> Value {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| Value::String(percent_decode(s, false)))
        .collect()
}

/// The query as a map from name to the list of its values, decoded as Go's
/// `url.ParseQuery` does (`+` is a space).
pub fn parsed_query(query: &str) -> Value {
    let mut out: Map<String, Value> = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let entry = out
            .entry(percent_decode(k, true))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(percent_decode(v, true)));
        }
    }
    Value::Object(out)
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

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
