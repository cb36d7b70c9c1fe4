//! The `bundle` object of the plugin configuration: where the filter polls
//! an OPA bundle from, how often, and how its signature is checked (OPA's
//! `services`, `bundles.<name>.polling` and `signing` / `keys` settings,
//! folded into one object since Envoy owns the connection).

use sark_policy_core::{VerificationConfig, VerificationKey};
use serde::Deserialize;

/// Signing algorithms the core verifies (OPA's list for bundle keys).
const ALGORITHMS: [&str; 13] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "EdDSA",
];

/// Where and how often to poll one bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// The name the bundle is activated under.
    #[serde(default = "default_name")]
    pub name: String,
    /// The Envoy cluster of the bundle server.
    pub cluster: String,
    /// The bundle's path on the server, e.g. `/bundles/main.tar.gz`.
    pub path: String,
    /// The `Host` of the request (`:authority`); the cluster name when absent.
    #[serde(default)]
    pub authority: Option<String>,
    /// Least delay between two polls that succeeded, in seconds (OPA's
    /// `polling.min_delay_seconds`).
    #[serde(default = "default_min_delay")]
    pub min_delay_seconds: f64,
    /// Most delay between polls, and the cap of the backoff after failures.
    #[serde(default = "default_max_delay")]
    pub max_delay_seconds: f64,
    /// How long one download may take before it counts as failed.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub token: Option<String>,
    /// Check the bundle's signature before activating it.
    #[serde(default)]
    pub verification: Option<VerificationSpec>,
}

/// OPA's `signing` settings of a bundle with the `keys` it may use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationSpec {
    /// The keys a signature may be made with.
    pub keys: Vec<KeySpec>,
    /// Use this key whatever the signature names (empty: the JWT's `kid`).
    #[serde(default)]
    pub key_id: String,
    /// The scope a signature must carry (empty: the key's).
    #[serde(default)]
    pub scope: String,
    /// Glob patterns of files left out of the signature.
    #[serde(default)]
    pub exclude_files: Vec<String>,
}

/// One verification key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// The key's id (the JWT's `kid`).
    pub id: String,
    /// `HS256`..`HS512`, `RS*`, `PS*`, `ES256`..`ES512` or `EdDSA`.
    pub algorithm: String,
    /// The HMAC secret for `HS*`; otherwise a PEM public key or certificate.
    pub key: String,
    /// The scope a signature by this key must carry.
    #[serde(default)]
    pub scope: String,
}

impl BundleConfig {
    /// Checks the values serde cannot; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        let text = |field: &str, value: &str| {
            if value.is_empty() {
                Err(format!("bundle.{field} must not be empty"))
            } else if value.chars().any(char::is_control) {
                Err(format!("bundle.{field} must not hold control characters"))
            } else {
                Ok(())
            }
        };
        text("name", &self.name)?;
        text("cluster", &self.cluster)?;
        text("path", &self.path)?;
        if !self.path.starts_with('/') {
            return Err(format!("bundle.path {:?} must start with '/'", self.path));
        }
        if let Some(authority) = &self.authority {
            text("authority", authority)?;
        }
        if let Some(token) = &self.token {
            text("token", token)?;
        }
        let (min, max) = (self.min_delay_seconds, self.max_delay_seconds);
        if !(min.is_finite() && min >= 0.001) {
            return Err(format!(
                "bundle.min_delay_seconds must be at least 0.001, got {min}"
            ));
        }
        if !(max.is_finite() && max >= min && max <= MAX_DELAY_SECONDS) {
            return Err(format!(
                "bundle.max_delay_seconds must be from min_delay_seconds ({min}) to \
                 {MAX_DELAY_SECONDS}, got {max}"
            ));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(format!(
                "bundle.timeout_ms must be from 1 to {MAX_TIMEOUT_MS}, got {}",
                self.timeout_ms
            ));
        }
        if let Some(v) = &self.verification {
            v.check()?;
        }
        Ok(())
    }

    /// The `:authority` of the request.
    pub fn authority(&self) -> &str {
        self.authority.as_deref().unwrap_or(&self.cluster)
    }

    /// `min_delay_seconds` in milliseconds.
    pub fn min_delay_ms(&self) -> u64 {
        seconds_to_ms(self.min_delay_seconds)
    }

    /// `max_delay_seconds` in milliseconds.
    pub fn max_delay_ms(&self) -> u64 {
        seconds_to_ms(self.max_delay_seconds)
    }

    /// The core's verification settings, when signatures are checked.
    pub fn verification(&self) -> Option<VerificationConfig> {
        self.verification.as_ref().map(|v| VerificationConfig {
            keys: v
                .keys
                .iter()
                .map(|k| VerificationKey {
                    id: k.id.clone(),
                    algorithm: k.algorithm.clone(),
                    key: k.key.clone(),
                    scope: k.scope.clone(),
                })
                .collect(),
            key_id: v.key_id.clone(),
            scope: v.scope.clone(),
            exclude_files: v.exclude_files.clone(),
        })
    }
}

impl VerificationSpec {
    fn check(&self) -> Result<(), String> {
        if self.keys.is_empty() {
            return Err("bundle.verification.keys must name at least one key".into());
        }
        for (i, k) in self.keys.iter().enumerate() {
            if k.id.is_empty() {
                return Err(format!(
                    "bundle.verification.keys[{i}].id must not be empty"
                ));
            }
            if !ALGORITHMS.contains(&k.algorithm.as_str()) {
                return Err(format!(
                    "bundle.verification.keys[{i}].algorithm {:?} is not one of {}",
                    k.algorithm,
                    ALGORITHMS.join(", ")
                ));
            }
            if k.key.is_empty() {
                return Err(format!(
                    "bundle.verification.keys[{i}].key must not be empty"
                ));
            }
            if self.keys.iter().take(i).any(|o| o.id == k.id) {
                return Err(format!(
                    "bundle.verification.keys: id {:?} appears twice",
                    k.id
                ));
            }
        }
        if !self.key_id.is_empty() && !self.keys.iter().any(|k| k.id == self.key_id) {
            return Err(format!(
                "bundle.verification.key_id {:?} names none of the keys",
                self.key_id
            ));
        }
        Ok(())
    }
}

/// A day: a longer delay is a unit mistake.
const MAX_DELAY_SECONDS: f64 = 86_400.0;
/// An hour (Envoy takes the timeout as 32-bit milliseconds).
const MAX_TIMEOUT_MS: u64 = 3_600_000;

fn seconds_to_ms(seconds: f64) -> u64 {
    // `check` keeps seconds within 0.001..=86400, so this neither
    // truncates nor loses a sign.
    (seconds * 1000.0).round() as u64
}

fn default_name() -> String {
    "main".into()
}

fn default_min_delay() -> f64 {
    60.0
}

fn default_max_delay() -> f64 {
    120.0
}

fn default_timeout_ms() -> u64 {
    5_000
}

#[cfg(test)]
#[path = "bundle_config_tests.rs"]
mod tests;
