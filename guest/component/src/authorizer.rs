//! The `authorizer` interface: one crossing per decision.

use crate::Component;
use crate::cache::CacheResource;
use crate::decision_log::LogResource;
use crate::evaluator::EngineResource;
use crate::exports::sark::policy::authorizer::{
    CacheBorrow, Decision, EngineBorrow, Error, Guest, LogBorrow, LoggedDecision, Request,
};
use sark_policy_core as sark;

fn request(r: &Request) -> sark::Request<'_> {
    sark::Request {
        user: &r.user,
        action: &r.action,
        resource: &r.resource,
        context: &r.context,
    }
}

impl Guest for Component {
    fn decide(
        engine: EngineBorrow<'_>,
        cache: CacheBorrow<'_>,
        rule: String,
        req: Request,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<Decision, Error> {
        let engine = engine.get::<EngineResource>();
        let cache = cache.get::<CacheResource>();
        let d = sark::authorizer::decide(
            &mut engine.0.borrow_mut(),
            &mut cache.0.borrow_mut(),
            &rule,
            &request(&req),
            now_ms,
            expires_at_ms,
        )?;
        Ok(Decision {
            value: d.value,
            cached: d.cached,
            key: d.key,
        })
    }

    fn decide_logged(
        engine: EngineBorrow<'_>,
        cache: CacheBorrow<'_>,
        log: LogBorrow<'_>,
        rule: String,
        req: Request,
        now_ms: u64,
        expires_at_ms: u64,
        timestamp_ns: u64,
    ) -> Result<LoggedDecision, Error> {
        let engine = engine.get::<EngineResource>();
        let cache = cache.get::<CacheResource>();
        let log = log.get::<LogResource>();
        let d = sark::authorizer::decide_logged(
            &mut engine.0.borrow_mut(),
            &mut cache.0.borrow_mut(),
            &mut log.0.borrow_mut(),
            &rule,
            &request(&req),
            now_ms,
            expires_at_ms,
            timestamp_ns,
        )?;
        Ok(LoggedDecision {
            decision: Decision {
                value: d.decision.value,
                cached: d.decision.cached,
                key: d.decision.key,
            },
            decision_id: d.decision_id,
        })
    }

    fn cache_key(req: Request) -> Result<String, Error> {
        Ok(sark::authorizer::cache_key(
            &sark::Limits::DEFAULT,
            &request(&req),
        )?)
    }
}
