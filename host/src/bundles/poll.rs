//! Polling a bundle server as OPA does: `GET` with `If-None-Match`, 304
//! changes nothing, a new bundle is activated atomically, errors back off
//! exponentially with jitter, an optional bearer token, and the last good
//! bundle optionally persisted so a restart serves it while the server is
//! down (OPA's `persist`).

use super::{BundleInfo, BundleSource, BundleStatus, Verification};
use crate::{Error, PolicyEngine, Result};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// Largest bundle downloaded, compressed (the component bounds what it
/// unpacks separately).
const MAX_DOWNLOAD: u64 = 64 << 20;

/// Where and how often to fetch one bundle.
#[derive(Debug, Clone)]
pub struct BundleConfig {
    /// The name the bundle is activated under.
    pub name: String,
    /// The bundle's URL (`http://`; `https://` with the `tls` feature).
    pub url: String,
    /// Shortest wait between polls after a success (default 60 s).
    pub min_delay: Duration,
    /// Longest wait between polls, and the cap of the backoff (default 120 s).
    pub max_delay: Duration,
    /// First retry delay after a failure; doubles per failure (default 0.5 s).
    pub backoff_base: Duration,
    /// Timeout of one request (default 10 s).
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Check `.signatures.json` with these keys; `None`: not checked.
    pub verification: Option<Verification>,
    /// Keep the last activated bundle under `<dir>/<name>/` and activate it
    /// at start.
    pub persist_dir: Option<PathBuf>,
}

impl BundleConfig {
    /// `name` from `url` with OPA's default delays (60 to 120 s).
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        BundleConfig {
            name: name.into(),
            url: url.into(),
            min_delay: Duration::from_secs(60),
            max_delay: Duration::from_secs(120),
            backoff_base: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            token: None,
            verification: None,
            persist_dir: None,
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Runtime(format!("bundle {:?}: {m}", self.name)));
        if matches!(self.name.as_str(), "" | "." | "..") {
            return bad("a bundle needs a name (not `.` or `..`: it names a directory)".into());
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return bad(format!("{:?} is not an http:// or https:// URL", self.url));
        }
        if self.min_delay > self.max_delay {
            return bad("min_delay is above max_delay".into());
        }
        Ok(())
    }
}

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// A new bundle was downloaded and activated.
    Activated(BundleInfo),
    /// The server answered 304: the active bundle is current.
    NotModified,
}

struct Inner {
    engine: PolicyEngine,
    config: BundleConfig,
    agent: ureq::Agent,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Keeps one bundle of an engine current from a bundle server. Polling runs
/// on its own thread from [`start`](Self::start) until [`stop`](Self::stop)
/// or drop; decisions never wait for it (an activation is one change of the
/// engine, as `add_policy` is).
pub struct BundlePoller {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl BundlePoller {
    /// A poller for `config` on `engine`; activates the persisted bundle, if
    /// any (a failure there is recorded in the status, not returned). Polls
    /// nothing until [`start`](Self::start) or [`poll_now`](Self::poll_now).
    pub fn new(engine: &PolicyEngine, config: BundleConfig) -> Result<Self> {
        config.check()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let inner = Arc::new(Inner {
            engine: engine.clone(),
            config,
            agent,
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        inner.registry().update(&inner.config.name, |s| {
            s.url = Some(inner.config.url.clone());
        });
        inner.load_persisted();
        Ok(BundlePoller {
            inner,
            thread: None,
        })
    }

    /// [`new`](Self::new), then polls at once and keeps polling.
    pub fn start(engine: &PolicyEngine, config: BundleConfig) -> Result<Self> {
        Self::new(engine, config)?.spawn()
    }

    /// Keeps polling on a thread of its own: at once, or after one delay
    /// when this poller has polled already ([`poll_now`](Self::poll_now)).
    pub fn spawn(mut self) -> Result<Self> {
        if self.thread.is_some() {
            return Ok(self);
        }
        let inner = self.inner.clone();
        let polled = self.status().last_request.is_some();
        let thread = std::thread::Builder::new()
            .name(format!("sark-bundle-{}", inner.config.name))
            .spawn(move || inner.run(polled))
            .map_err(|e| Error::Runtime(format!("starting the bundle poller: {e}")))?;
        self.thread = Some(thread);
        Ok(self)
    }

    /// One poll now, on this thread.
    pub fn poll_now(&self) -> Result<PollOutcome> {
        self.inner.poll()
    }

    /// This bundle's status.
    pub fn status(&self) -> BundleStatus {
        let name = &self.inner.config.name;
        self.inner.registry().update(name, |s| s.clone())
    }

    /// Stops polling and waits for the thread; the active bundle stays.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        *self
            .inner
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.inner.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BundlePoller {
    fn drop(&mut self) {
        self.halt();
    }
}

impl Inner {
    fn registry(&self) -> &super::Registry {
        self.engine.bundle_registry()
    }

    fn run(&self, polled: bool) {
        let mut wait_first = polled;
        loop {
            let delay = if std::mem::take(&mut wait_first) {
                self.next_delay()
            } else {
                match self.poll() {
                    Ok(_) => self.next_delay(),
                    Err(_) => self.backoff(),
                }
            };
            let stop = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
            let (stop, _) = self
                .wake
                .wait_timeout_while(stop, delay, |stop| !*stop)
                .unwrap_or_else(PoisonError::into_inner);
            if *stop {
                return;
            }
        }
    }

    /// Uniform in `[min_delay, max_delay]`.
    fn next_delay(&self) -> Duration {
        let (min, max) = (self.config.min_delay, self.config.max_delay);
        min + (max - min).mul_f64(fastrand::f64())
    }

    /// `backoff_base * 2^(failures - 1)`, at most `max_delay`, +-20%.
    fn backoff(&self) -> Duration {
        let n = self
            .registry()
            .update(&self.config.name, |s| s.consecutive_failures);
        let exp = 2f64.powi(i32::try_from(n.saturating_sub(1).min(30)).unwrap_or(30));
        let base = self
            .config
            .backoff_base
            .mul_f64(exp)
            .min(self.config.max_delay);
        base.mul_f64(0.8 + 0.4 * fastrand::f64())
    }

    fn poll(&self) -> Result<PollOutcome> {
        let name = &self.config.name;
        let etag = self.registry().update(name, |s| {
            s.last_request = Some(SystemTime::now());
            s.etag.clone()
        });
        let fail = |msg: String| {
            self.registry().failed(name, msg.clone());
            Error::Runtime(format!("bundle {name:?}: {msg}"))
        };
        let mut req = self.agent.get(&self.config.url);
        if let Some(etag) = &etag {
            req = req.header("If-None-Match", etag);
        }
        if let Some(token) = &self.config.token {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let mut resp = req
            .call()
            .map_err(|e| fail(format!("GET {}: {e}", self.config.url)))?;
        match resp.status().as_u16() {
            304 => {
                self.registry().update(name, |s| {
                    s.not_modified += 1;
                    s.consecutive_failures = 0;
                    s.last_error = None;
                });
                Ok(PollOutcome::NotModified)
            }
            200 => {
                let new_etag = resp
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_DOWNLOAD)
                    .read_to_vec()
                    .map_err(|e| fail(format!("reading {}: {e}", self.config.url)))?;
                self.registry().update(name, |s| {
                    s.downloads += 1;
                    s.last_successful_download = Some(SystemTime::now());
                });
                // The engine records the activation or its failure.
                let info = self.engine.activate_bundle(
                    name,
                    BundleSource::Tarball(bytes.clone()),
                    self.config.verification.as_ref(),
                )?;
                self.registry().update(name, |s| s.etag = new_etag.clone());
                self.persist(&bytes, new_etag.as_deref());
                Ok(PollOutcome::Activated(info))
            }
            status => Err(fail(format!("GET {}: HTTP {status}", self.config.url))),
        }
    }

    fn persist_path(&self) -> Option<PathBuf> {
        let safe: String = self
            .config
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.config.persist_dir.as_ref().map(|d| d.join(safe))
    }

    /// Writes the bundle and its ETag, each replaced atomically; a failure
    /// to persist is recorded as the last error but keeps the activation.
    fn persist(&self, bytes: &[u8], etag: Option<&str>) {
        let Some(dir) = self.persist_path() else {
            return;
        };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            for (file, data) in [
                ("bundle.tar.gz", bytes),
                ("etag", etag.unwrap_or("").as_bytes()),
            ] {
                let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
                std::io::Write::write_all(&mut tmp, data)?;
                tmp.persist(dir.join(file)).map_err(|e| e.error)?;
            }
            Ok(())
        };
        if let Err(e) = write() {
            self.registry().update(&self.config.name, |s| {
                s.last_error = Some(format!("persisting to {}: {e}", dir.display()));
            });
        }
    }

    fn load_persisted(&self) {
        let Some(dir) = self.persist_path() else {
            return;
        };
        let Ok(bytes) = std::fs::read(dir.join("bundle.tar.gz")) else {
            return;
        };
        let etag = std::fs::read_to_string(dir.join("etag"))
            .ok()
            .filter(|e| !e.is_empty());
        let activated = self.engine.activate_bundle(
            &self.config.name,
            BundleSource::Tarball(bytes),
            self.config.verification.as_ref(),
        );
        if activated.is_ok() {
            self.registry().update(&self.config.name, |s| s.etag = etag);
        }
    }
}
