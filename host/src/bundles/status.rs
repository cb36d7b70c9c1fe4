//! The status of each bundle of an engine: what is active, when it was last
//! requested, downloaded and activated, and the last error, as OPA's
//! bundle status reports it; kept per engine and shown in the metrics.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// One bundle's status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleStatus {
    /// The bundle's name.
    pub name: String,
    /// The URL polled, when a [`BundlePoller`](super::BundlePoller) serves it.
    pub url: Option<String>,
    /// The revision active now (`None` before the first activation).
    pub active_revision: Option<String>,
    /// The ETag of the bundle active now, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// When the bundle server was last asked.
    pub last_request: Option<SystemTime>,
    /// When a bundle was last downloaded (a 200).
    pub last_successful_download: Option<SystemTime>,
    /// When a bundle was last activated.
    pub last_successful_activation: Option<SystemTime>,
    /// Why the last attempt failed; `None` once one succeeds.
    pub last_error: Option<String>,
    /// Bundles downloaded (200 responses).
    pub downloads: u64,
    /// Polls answered 304 Not Modified.
    pub not_modified: u64,
    /// Bundles activated.
    pub activations: u64,
    /// Failed polls or activations.
    pub failures: u64,
    /// Failures since the last success (drives the backoff).
    pub consecutive_failures: u64,
}

/// The statuses of one engine's bundles.
#[derive(Debug, Default)]
pub(crate) struct Registry(Mutex<BTreeMap<String, BundleStatus>>);

impl Registry {
    /// Runs `f` on the status of `name` (created when absent); returns its result.
    pub fn update<R>(&self, name: &str, f: impl FnOnce(&mut BundleStatus) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let status = map.entry(name.to_owned()).or_insert_with(|| BundleStatus {
            name: name.to_owned(),
            ..BundleStatus::default()
        });
        f(status)
    }

    /// Records an activation made now.
    pub fn activated(&self, name: &str, revision: &str) {
        self.update(name, |s| {
            s.active_revision = Some(revision.to_owned());
            s.last_successful_activation = Some(SystemTime::now());
            s.activations += 1;
            s.last_error = None;
            s.consecutive_failures = 0;
        });
    }

    /// Records a failed activation or poll.
    pub fn failed(&self, name: &str, error: String) {
        self.update(name, |s| {
            s.last_error = Some(error);
            s.failures += 1;
            s.consecutive_failures += 1;
        });
    }

    /// Forgets `name` (its bundle was removed).
    pub fn remove(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// Every status, by name.
    pub fn snapshot(&self) -> Vec<BundleStatus> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().cloned().collect()
    }
}

/// A label value escaped for the Prometheus text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn seconds(t: Option<SystemTime>) -> Option<f64> {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

/// The bundle lines of the Prometheus text (names shared with the Python host).
pub(crate) fn prometheus(statuses: &[BundleStatus], out: &mut String) {
    if statuses.is_empty() {
        return;
    }
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "# HELP sark_policy_bundle_{name} {help}\n# TYPE sark_policy_bundle_{name} {kind}"
        );
        for (labels, value) in rows {
            let _ = writeln!(out, "sark_policy_bundle_{name}{{{labels}}} {value}");
        }
    };
    let b = |s: &BundleStatus| format!("bundle=\"{}\"", label(&s.name));
    family(
        "info",
        "gauge",
        "The active revision of each bundle.",
        statuses
            .iter()
            .filter_map(|s| {
                let rev = s.active_revision.as_ref()?;
                Some((format!("{},revision=\"{}\"", b(s), label(rev)), "1".into()))
            })
            .collect(),
    );
    for (name, help, get) in [
        (
            "last_request_timestamp_seconds",
            "When the bundle server was last asked (Unix time).",
            (|s: &BundleStatus| s.last_request) as fn(&BundleStatus) -> Option<SystemTime>,
        ),
        (
            "last_download_timestamp_seconds",
            "When a bundle was last downloaded (Unix time).",
            |s| s.last_successful_download,
        ),
        (
            "last_activation_timestamp_seconds",
            "When a bundle was last activated (Unix time).",
            |s| s.last_successful_activation,
        ),
    ] {
        family(
            name,
            "gauge",
            help,
            statuses
                .iter()
                .filter_map(|s| Some((b(s), seconds(get(s))?.to_string())))
                .collect(),
        );
    }
    for (name, help, get) in [
        (
            "downloads_total",
            "Bundles downloaded.",
            (|s: &BundleStatus| s.downloads) as fn(&BundleStatus) -> u64,
        ),
        (
            "not_modified_total",
            "Polls answered 304 Not Modified.",
            |s| s.not_modified,
        ),
        ("activations_total", "Bundles activated.", |s| s.activations),
        ("failures_total", "Failed polls or activations.", |s| {
            s.failures
        }),
    ] {
        family(
            name,
            "counter",
            help,
            statuses
                .iter()
                .map(|s| (b(s), get(s).to_string()))
                .collect(),
        );
    }
    family(
        "last_error_info",
        "gauge",
        "The last attempt's error, while it stands.",
        statuses
            .iter()
            .filter_map(|s| {
                let e = s.last_error.as_ref()?;
                Some((format!("{},error=\"{}\"", b(s), label(e)), "1".into()))
            })
            .collect(),
    );
}
