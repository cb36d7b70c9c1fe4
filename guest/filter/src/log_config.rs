//! The `decision_log` object of the plugin configuration: where each worker
//! uploads its decision-log events (an Envoy cluster, OPA's `services` and
//! `decision_logs` settings folded into one object as for `bundle`), what
//! is erased from them, and how much is buffered.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Labels the filter sets itself on every event.
const OWN_LABELS: [&str; 2] = ["id", "version"];

/// Where and how a worker ships its decision-log events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionLogConfig {
    /// The Envoy cluster of the collector.
    pub cluster: String,
    /// Where events are POSTed (OPA's `/logs`).
    #[serde(default = "default_path")]
    pub path: String,
    /// The `Host` of the upload (`:authority`); the cluster name when absent.
    #[serde(default)]
    pub authority: Option<String>,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub token: Option<String>,
    /// Labels on every event, beside the `id` and `version` the filter sets.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// JSON pointers under `/input` or `/result` erased from every event,
    /// before the policies' `system.log.mask` rule.
    #[serde(default)]
    pub erase: Vec<String>,
    /// Bytes of JSON events a worker holds at most; past it the oldest are
    /// dropped (counted in `decision_log_dropped`).
    #[serde(default = "default_max_buffer_bytes")]
    pub max_buffer_bytes: usize,
    /// Bytes of JSON one event may take; a larger one loses its input, then
    /// its result.
    #[serde(default = "default_max_event_bytes")]
    pub max_event_bytes: usize,
    /// Bytes of JSON per upload at most (OPA's `upload_size_limit_bytes`);
    /// a buffer holding this much is uploaded without waiting for the
    /// interval.
    #[serde(default = "default_upload_size_limit")]
    pub upload_size_limit_bytes: usize,
    /// Most time between a decision and its upload, in ms.
    #[serde(default = "default_upload_interval_ms")]
    pub upload_interval_ms: u64,
    /// The cap of the backoff between retries of a failed upload, in ms.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// How long one upload may take before it counts as failed.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Log one cached decision in this many: 1 every one, 0 none.
    #[serde(default = "default_cached_sample")]
    pub cached_sample: u32,
    /// The header carrying a logged decision's id on the response (and on
    /// the request to the upstream); empty: none.
    #[serde(default = "default_decision_id_header")]
    pub decision_id_header: String,
}

impl DecisionLogConfig {
    /// Checks the values serde cannot; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        let text = |field: &str, value: &str| {
            if value.is_empty() {
                Err(format!("decision_log.{field} must not be empty"))
            } else if value.chars().any(char::is_control) {
                Err(format!(
                    "decision_log.{field} must not hold control characters"
                ))
            } else {
                Ok(())
            }
        };
        text("cluster", &self.cluster)?;
        text("path", &self.path)?;
        if !self.path.starts_with('/') {
            return Err(format!(
                "decision_log.path {:?} must start with '/'",
                self.path
            ));
        }
        if let Some(authority) = &self.authority {
            text("authority", authority)?;
        }
        if let Some(token) = &self.token {
            text("token", token)?;
        }
        for (name, value) in &self.labels {
            if OWN_LABELS.contains(&name.as_str()) {
                return Err(format!(
                    "decision_log.labels.{name} is set by the filter (the VM's id and the version)"
                ));
            }
            text(&format!("labels.{name}"), value)?;
        }
        for (field, n, min) in [
            ("max_buffer_bytes", self.max_buffer_bytes, 1024),
            ("max_event_bytes", self.max_event_bytes, 256),
            ("upload_size_limit_bytes", self.upload_size_limit_bytes, 256),
        ] {
            if !(min..=MAX_BYTES).contains(&n) {
                return Err(format!(
                    "decision_log.{field} must be from {min} to {MAX_BYTES}, got {n}"
                ));
            }
        }
        if self.max_event_bytes > self.max_buffer_bytes {
            return Err(format!(
                "decision_log.max_event_bytes ({}) must not exceed max_buffer_bytes ({})",
                self.max_event_bytes, self.max_buffer_bytes
            ));
        }
        for (field, ms) in [
            ("upload_interval_ms", self.upload_interval_ms),
            ("max_backoff_ms", self.max_backoff_ms),
            ("timeout_ms", self.timeout_ms),
        ] {
            if !(10..=MAX_MS).contains(&ms) {
                return Err(format!(
                    "decision_log.{field} must be from 10 to {MAX_MS}, got {ms}"
                ));
            }
        }
        let header = &self.decision_id_header;
        if !header.is_empty() && !header.bytes().all(is_header_byte) {
            return Err(format!(
                "decision_log.decision_id_header {header:?} is not a lowercase header name"
            ));
        }
        Ok(())
    }

    /// The `:authority` of an upload.
    pub fn authority(&self) -> &str {
        self.authority.as_deref().unwrap_or(&self.cluster)
    }

    /// The decision-id header, when one is set.
    pub fn decision_id_header(&self) -> Option<&str> {
        Some(self.decision_id_header.as_str()).filter(|h| !h.is_empty())
    }

    /// The core's log configuration: the labels (configured ones, then the
    /// VM's `id` and the `version`), the erase list, sizes and sampling.
    pub fn core(
        &self,
        instance_id: &str,
        id_seed: [u64; 2],
    ) -> sark_policy_core::decision_log::LogConfig {
        let mut labels: Vec<(String, String)> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.push(("id".into(), instance_id.into()));
        labels.push(("version".into(), env!("CARGO_PKG_VERSION").into()));
        sark_policy_core::decision_log::LogConfig {
            labels,
            erase: self.erase.clone(),
            max_buffer_bytes: self.max_buffer_bytes,
            max_event_bytes: self.max_event_bytes,
            cached_sample: self.cached_sample,
            id_seed,
        }
    }
}

/// A token character of a header name (RFC 9110), lowercase as HTTP/2 and
/// Envoy want it.
fn is_header_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// 1 GiB: a larger buffer is a unit mistake (and more than a VM holds).
const MAX_BYTES: usize = 1 << 30;
/// A day.
const MAX_MS: u64 = 86_400_000;

fn default_path() -> String {
    "/logs".into()
}

/// Per worker: 4 MiB rather than the core's 16, since every worker keeps
/// its own buffer.
fn default_max_buffer_bytes() -> usize {
    4 << 20
}

fn default_max_event_bytes() -> usize {
    256 << 10
}

/// OPA's `upload_size_limit_bytes`.
fn default_upload_size_limit() -> usize {
    32_768
}

fn default_upload_interval_ms() -> u64 {
    5_000
}

fn default_max_backoff_ms() -> u64 {
    60_000
}

fn default_timeout_ms() -> u64 {
    5_000
}

fn default_cached_sample() -> u32 {
    1
}

fn default_decision_id_header() -> String {
    "x-sark-decision-id".into()
}

#[cfg(test)]
#[path = "log_config_tests.rs"]
mod tests;
