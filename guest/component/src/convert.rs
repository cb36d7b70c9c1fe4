//! Core types to WIT types.

use crate::exports::sark::policy::types::{
    CacheStats, Error, EvalOptions, EvalStats, Fallback, FallbackReason, Interpreted, Limits,
};
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
            sark::Error::InvalidBundle(m) => Error::InvalidBundle(m),
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

impl From<EvalOptions> for sark::EvalOptions {
    fn from(o: EvalOptions) -> Self {
        sark::EvalOptions {
            interpreter_only: o.interpreter_only,
            max_instructions: o.max_instructions,
        }
    }
}

impl From<sark::EvalOptions> for EvalOptions {
    fn from(o: sark::EvalOptions) -> Self {
        EvalOptions {
            interpreter_only: o.interpreter_only,
            max_instructions: o.max_instructions,
        }
    }
}

impl From<sark::Reason> for FallbackReason {
    fn from(r: sark::Reason) -> Self {
        match r {
            sark::Reason::Forced => FallbackReason::Forced,
            sark::Reason::Query => FallbackReason::Query,
            sark::Reason::With => FallbackReason::WithKeyword,
            sark::Reason::UnknownFunction => FallbackReason::UnknownFunction,
            sark::Reason::Unsupported => FallbackReason::Unsupported,
            sark::Reason::Strict => FallbackReason::Strict,
            sark::Reason::Conflict => FallbackReason::Conflict,
        }
    }
}

impl From<sark::EvalStats> for EvalStats {
    fn from(s: sark::EvalStats) -> Self {
        let interpreted = sark::Reason::ALL
            .iter()
            .map(|&r| (r, s.interpreter(r)))
            .filter(|&(_, count)| count > 0)
            .map(|(r, count)| Interpreted {
                reason: r.into(),
                count,
            })
            .collect();
        EvalStats {
            rvm: s.rvm,
            interpreted,
            compiled: s.compiled,
            fallbacks: s
                .fallbacks
                .into_iter()
                .map(|f| Fallback {
                    rule: f.rule,
                    reason: f.reason.into(),
                    message: f.message,
                })
                .collect(),
        }
    }
}
