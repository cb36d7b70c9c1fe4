//! The TTL policy (how long a decision stays cached) and the clock it reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How sensitive the resource behind a decision is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sensitivity {
    /// Public: the longest TTL.
    Public,
    /// Internal.
    Internal,
    /// Confidential.
    Confidential,
    /// Critical: the shortest TTL.
    Critical,
}

impl std::str::FromStr for Sensitivity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "public" | "low" => Ok(Sensitivity::Public),
            "internal" | "medium" => Ok(Sensitivity::Internal),
            "confidential" | "high" => Ok(Sensitivity::Confidential),
            "critical" => Ok(Sensitivity::Critical),
            other => Err(format!(
                "unknown sensitivity {other:?} (public, internal, confidential, critical)"
            )),
        }
    }
}

/// Sensitivity to TTL, with the seed's defaults: critical 60 s, confidential
/// 120 s, public 300 s, and internal 180 s (between confidential and public).
/// Without a sensitivity, or with `use_sensitivity` off, `default` applies;
/// an explicit TTL always wins. A TTL of zero means "do not cache".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    /// TTL for [`Sensitivity::Critical`].
    pub critical: Duration,
    /// TTL for [`Sensitivity::Confidential`].
    pub confidential: Duration,
    /// TTL for [`Sensitivity::Internal`].
    pub internal: Duration,
    /// TTL for [`Sensitivity::Public`].
    pub public: Duration,
    /// TTL without a sensitivity (the seed's `ttl_seconds`).
    pub default: Duration,
    /// The seed's `use_optimized_ttl`: off means `default` for everything.
    pub use_sensitivity: bool,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            critical: Duration::from_secs(60),
            confidential: Duration::from_secs(120),
            internal: Duration::from_secs(180),
            public: Duration::from_secs(300),
            default: Duration::from_secs(300),
            use_sensitivity: true,
        }
    }
}

impl TtlPolicy {
    /// The TTL for a decision.
    pub fn ttl(&self, sensitivity: Option<Sensitivity>, explicit: Option<Duration>) -> Duration {
        if let Some(ttl) = explicit {
            return ttl;
        }
        match sensitivity {
            Some(s) if self.use_sensitivity => match s {
                Sensitivity::Critical => self.critical,
                Sensitivity::Confidential => self.confidential,
                Sensitivity::Internal => self.internal,
                Sensitivity::Public => self.public,
            },
            _ => self.default,
        }
    }

    /// `now_ms + ttl` in milliseconds, saturating.
    pub fn expires_at_ms(
        &self,
        now_ms: u64,
        sensitivity: Option<Sensitivity>,
        explicit: Option<Duration>,
    ) -> u64 {
        let ttl = self.ttl(sensitivity, explicit).as_millis();
        now_ms.saturating_add(u64::try_from(ttl).unwrap_or(u64::MAX))
    }
}

/// Where cache time comes from. The component never reads a clock for
/// expiry; the host passes `now` on every call.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds on a clock that never goes back.
    fn now_ms(&self) -> u64;

    /// The same reading for the moment `at`, which the caller has just
    /// taken with `Instant::now()`: a clock built on `Instant` answers from
    /// it instead of reading the time again (a cached decision is short
    /// enough for one more reading to show). The default ignores `at`.
    fn now_ms_at(&self, at: Instant) -> u64 {
        let _ = at;
        self.now_ms()
    }
}

/// A monotonic clock counting from its creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        self.now_ms_at(Instant::now())
    }

    fn now_ms_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.0).as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: u64) -> Self {
        ManualClock(AtomicU64::new(ms))
    }

    /// Sets the time.
    pub fn set_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }

    fn now_ms_at(&self, at: Instant) -> u64 {
        (**self).now_ms_at(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_defaults_and_overrides() {
        let p = TtlPolicy::default();
        let s = |x| p.ttl(Some(x), None).as_secs();
        assert_eq!(
            (s(Sensitivity::Critical), s(Sensitivity::Confidential)),
            (60, 120)
        );
        assert_eq!(
            (s(Sensitivity::Internal), s(Sensitivity::Public)),
            (180, 300)
        );
        assert_eq!(p.ttl(None, None).as_secs(), 300);
        let five = Some(Duration::from_secs(5));
        assert_eq!(p.ttl(Some(Sensitivity::Critical), five).as_secs(), 5);
        let off = TtlPolicy {
            use_sensitivity: false,
            default: Duration::from_secs(42),
            ..p
        };
        assert_eq!(off.ttl(Some(Sensitivity::Critical), None).as_secs(), 42);
        assert_eq!(p.expires_at_ms(u64::MAX - 1, None, None), u64::MAX);
    }

    #[test]
    fn sensitivity_parses_seed_names() {
        assert_eq!("CRITICAL".parse::<Sensitivity>(), Ok(Sensitivity::Critical));
        assert_eq!("high".parse::<Sensitivity>(), Ok(Sensitivity::Confidential));
        assert!("secret".parse::<Sensitivity>().is_err());
    }
}
