//! Core types to WIT types.

use crate::exports::sark::policy::types::{CacheStats, Error, Limits};
use sark_policy_core as sark;

impl From<sark::Error> for Error {
    fn from(e: sark::Error) -> Self {
        match e {
            sark::Error::InvalidPolicy(m) => Error::InvalidPolicy(m),
            sark::Error::InvalidJson(m) => Error::InvalidJson(m),
            sark::Error::Evaluation(m) => Error::Evaluation(m),
            sark::Error::LimitExceeded(m) => Error::LimitExceeded(m),
            sark::Error::NotFound(m) => Error::NotFound(m),
            sark::Error::Other(m) => Error::Other(m),
        }
    }
}

impl From<sark::CacheStats> for CacheStats {
    fn from(s: sark::CacheStats) -> Self {
        CacheStats {
            hits: s.hits,
            misses: s.misses,
            evictions: s.evictions,
            expirations: s.expirations,
            entries: s.entries,
            capacity: s.capacity,
        }
    }
}

impl From<sark::Limits> for Limits {
    fn from(l: sark::Limits) -> Self {
        Limits {
            max_depth: l.max_depth,
            max_bytes: l.max_bytes as u64,
        }
    }
}
