//! The plugin configuration: the JSON in Envoy's
//! `typed_config.config.configuration` for the filter.
//!
//! Unknown keys are refused, so a misspelt key stops the plugin at start
//! instead of silently running with a default.

use crate::bundle_config::BundleConfig;
use crate::log_config::DecisionLogConfig;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The whole plugin configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rego modules, inline; optional when a `bundle` brings the policies.
    #[serde(default)]
    pub policies: Policies,
    /// The data document (a JSON object), merged into `data`.
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    /// The rule whose value is the decision, as opa-envoy-plugin's `path`.
    #[serde(default = "default_rule")]
    pub rule: String,
    /// The per-worker decision cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Which parts of the request make the cache key.
    #[serde(default)]
    pub cache_key: KeyConfig,
    /// What a policy error does to the request.
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// The status of the local reply when a policy error closes the request.
    #[serde(default = "default_status")]
    pub failure_status: u32,
    /// The status of a denial whose result names none (`http_status`).
    #[serde(default = "default_status")]
    pub deny_status: u32,
    /// Read the request body before deciding, as Envoy's ext_authz filter
    /// does with its `with_request_body` (same name, same fields). Absent:
    /// the body is not read and the decision is made on the headers.
    #[serde(default)]
    pub with_request_body: Option<BodyConfig>,
    /// Decide, count and log, but never deny: opa-envoy-plugin's `dry-run`.
    #[serde(default)]
    pub dry_run: bool,
    /// Poll an OPA bundle from a bundle server (an Envoy cluster) and
    /// activate each new revision. Until the first activation requests are
    /// answered 503 (let through under `failure_mode: open`).
    #[serde(default)]
    pub bundle: Option<BundleConfig>,
    /// Leave `parsed_body` and `truncated_body` out of the input (the body
    /// is still in `attributes.request.http`): opa-envoy-plugin's
    /// `skip-request-body-parse`.
    #[serde(default)]
    pub skip_request_body_parse: bool,
    /// Record every decision as an OPA decision-log event and upload the
    /// events in batches to a collector (an Envoy cluster).
    #[serde(default)]
    pub decision_log: Option<DecisionLogConfig>,
}

/// How much of the body is read, and how it reaches the input: the fields
/// of Envoy ext_authz's `BufferSettings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyConfig {
    /// Bytes of body the filter buffers at most (required, above 0).
    pub max_request_bytes: u32,
    /// Over `max_request_bytes`: decide on the first `max_request_bytes`
    /// bytes with `truncated_body: true` instead of replying 413.
    #[serde(default)]
    pub allow_partial_message: bool,
    /// The body as bytes (`attributes.request.http.rawBody`, base64) rather
    /// than as text (`attributes.request.http.body`).
    #[serde(default)]
    pub pack_as_bytes: bool,
}

impl BodyConfig {
    /// `max_request_bytes` as a length.
    pub fn max_bytes(&self) -> usize {
        usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX)
    }
}

/// Policies as a list of `{name, source}` or a map from name to source.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Policies {
    /// `[{"name": "authz.rego", "source": "package ..."}]`
    List(Vec<Policy>),
    /// `{"authz.rego": "package ..."}`
    Map(BTreeMap<String, String>),
}

/// One inline Rego module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Module name (a file name by convention).
    pub name: String,
    /// Rego source.
    pub source: String,
}

/// The decision cache: `capacity` 0 turns it off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Entries per worker.
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    /// How long a decision is served from the cache.
    #[serde(default = "default_ttl_ms")]
    pub ttl_ms: u64,
}

/// The request parts a cache key is built from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The method.
    #[serde(default = "yes")]
    pub method: bool,
    /// The path, query included.
    #[serde(default = "yes")]
    pub path: bool,
    /// The host (`:authority`).
    #[serde(default)]
    pub host: bool,
    /// The downstream address (without port).
    #[serde(default)]
    pub source_address: bool,
    /// Header names whose values join the key (case-insensitive).
    #[serde(default)]
    pub headers: Vec<String>,
    /// The body read (`with_request_body`) joins the key: its SHA-256,
    /// whether it was truncated, and its `content-type` and
    /// `content-length`. Off: requests that carry a body are decided
    /// without the cache, since the key could not tell their bodies apart.
    #[serde(default)]
    pub body: bool,
}

/// Whether a policy error denies (`closed`) or lets the request through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Deny with `failure_status`.
    #[default]
    Closed,
    /// Let the request through (the error is still counted and logged).
    Open,
}

impl Default for Policies {
    fn default() -> Self {
        Policies::Map(BTreeMap::new())
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: default_capacity(),
            ttl_ms: default_ttl_ms(),
        }
    }
}

impl Default for KeyConfig {
    fn default() -> Self {
        Self {
            method: true,
            path: true,
            host: false,
            source_address: false,
            headers: Vec::new(),
            body: false,
        }
    }
}

impl Config {
    /// Parses and checks a configuration; the error names what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut config: Config = serde_json::from_slice(bytes)
            .map_err(|e| format!("configuration is not valid: {e}"))?;
        match &config.bundle {
            Some(bundle) => bundle.check()?,
            None if config.policies().is_empty() => {
                return Err("configuration has no policies (and no bundle)".into());
            }
            None => {}
        }
        if let Some(log) = &config.decision_log {
            log.check()?;
        }
        for status in [config.failure_status, config.deny_status] {
            if !(200..=599).contains(&status) {
                return Err(format!("status {status} is not an HTTP status (200-599)"));
            }
        }
        if config
            .with_request_body
            .is_some_and(|b| b.max_request_bytes == 0)
        {
            return Err("with_request_body.max_request_bytes must be above 0".into());
        }
        if config.cache_key.body && config.with_request_body.is_none() {
            return Err("cache_key.body needs with_request_body (the body is not read)".into());
        }
        for name in &mut config.cache_key.headers {
            *name = name.to_ascii_lowercase();
        }
        config.cache_key.headers.sort();
        config.cache_key.headers.dedup();
        Ok(config)
    }

    /// The policies as `(name, source)` pairs.
    pub fn policies(&self) -> Vec<(&str, &str)> {
        match &self.policies {
            Policies::List(list) => list
                .iter()
                .map(|p| (p.name.as_str(), p.source.as_str()))
                .collect(),
            Policies::Map(map) => map.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect(),
        }
    }
}

fn default_rule() -> String {
    "envoy/authz/allow".into()
}

fn default_status() -> u32 {
    403
}

fn default_capacity() -> u32 {
    10_000
}

fn default_ttl_ms() -> u64 {
    60_000
}

fn yes() -> bool {
    true
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
