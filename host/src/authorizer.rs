//! `Authorizer`: one guest call per decision, TTL chosen by the host.

use crate::Result;
use crate::bindings::{WitError, WitRequest};
use crate::decision_log::Logger;
use crate::pool::Pool;
use crate::ttl::Sensitivity;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Logged decisions between two reads of an instance's log counters: the
/// read tells whether the uploader should come early, and bounds what a
/// trap can lose uncounted.
const READ_LOG_EVERY: u32 = 64;

/// One authorization question.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Who asks.
    pub user: &'a str,
    /// What they want to do.
    pub action: &'a str,
    /// What they act on.
    pub resource: &'a str,
    /// Extra facts as a JSON object; empty means `{}`.
    pub context: &'a str,
    /// Picks the TTL from the runtime's [`TtlPolicy`](crate::TtlPolicy).
    pub sensitivity: Option<Sensitivity>,
    /// Overrides the TTL; zero means "do not cache".
    pub ttl: Option<Duration>,
}

impl Request<'_> {
    pub(crate) fn wit(&self) -> WitRequest {
        WitRequest {
            user: self.user.to_owned(),
            action: self.action.to_owned(),
            resource: self.resource.to_owned(),
            context: self.context.to_owned(),
        }
    }
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The rule's value as JSON; `None` when undefined.
    pub value: Option<String>,
    /// Served from the cache.
    pub cached: bool,
    /// The cache key.
    pub key: String,
    /// Time from the call to the answer, including waiting for the shard.
    pub latency: Duration,
    /// The decision-log event's `decision_id` (a UUID; the seed's
    /// `audit_id`) when the runtime logs decisions
    /// ([`RuntimeBuilder::decision_log`](crate::RuntimeBuilder::decision_log));
    /// given even for a cached decision the log does not sample.
    pub decision_id: Option<String>,
}

impl Decision {
    /// True when the value is JSON `true` or an object whose `allowed` or
    /// `allow` is `true` (opa-envoy-plugin's result object).
    pub fn allowed(&self) -> bool {
        let Some(v) = &self.value else { return false };
        match serde_json::from_str::<serde_json::Value>(v) {
            Ok(serde_json::Value::Bool(b)) => b,
            Ok(serde_json::Value::Object(o)) => {
                o.get("allowed").or_else(|| o.get("allow")) == Some(&serde_json::Value::Bool(true))
            }
            _ => false,
        }
    }
}

/// Decides requests against one rule, caching decisions per shard.
/// `Send + Sync`: share it across threads.
#[derive(Clone)]
pub struct Authorizer {
    pool: Arc<Pool>,
    rule: String,
}

impl Authorizer {
    pub(crate) fn new(pool: Arc<Pool>, rule: &str) -> Self {
        pool.register_log();
        Authorizer {
            pool,
            rule: rule.to_owned(),
        }
    }

    /// The rule decided.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// How many shards (instances, each with its own cache) decide.
    pub fn shards(&self) -> usize {
        self.pool.shards().len()
    }

    /// The shard that decides `req`, in `0..shards()`: fixed by its user,
    /// action and resource for the life of the engine, so one key always
    /// meets one cache.
    ///
    /// Decisions on different shards never wait for each other; decisions
    /// on one shard take turns. Threads that each own a set of shards and
    /// are fed only requests for those never wait at all (the CLI's
    /// `decide --threads` works this way).
    pub fn shard(&self, req: &Request<'_>) -> usize {
        self.pool.shard_for((req.user, req.action, req.resource))
    }

    /// The cached decision for `req`, or a fresh evaluation cached with the
    /// TTL the runtime's policy gives `req`. Errors are never cached.
    ///
    /// A cached decision costs about one component call, so this path
    /// allocates nothing before the call and reads the time twice: at
    /// arrival (the TTL's `now` and the latency's start) and at the answer.
    ///
    /// With decision logging on, the decision's event is recorded (and
    /// masked) in the instance on the same call; the upload happens on the
    /// runtime's uploader thread, never here.
    pub fn decide(&self, req: &Request<'_>) -> Result<Decision> {
        if let Some(logger) = &self.pool.shared.decision_log {
            return self.decide_logged(req, logger);
        }
        let started = Instant::now();
        let shared = &self.pool.shared;
        let now = shared.clock.now_ms_at(started);
        let expires = shared.ttl.expires_at_ms(now, req.sensitivity, req.ttl);
        self.pool.with_shard(self.shard(req), |sandbox, rec| {
            let d = sandbox.call(shared.deadline_ticks, |g, store| {
                g.decide
                    .call(store, g.engine, g.cache, &self.rule, req, now, expires)
            })?;
            let latency = started.elapsed();
            rec.decision(d.cached, latency);
            Ok(Decision {
                value: d.value,
                cached: d.cached,
                key: d.key,
                latency,
                decision_id: None,
            })
        })
    }

    /// `decide` through `authorizer.decide-logged`.
    fn decide_logged(&self, req: &Request<'_>, logger: &Logger) -> Result<Decision> {
        let started = Instant::now();
        let shared = &self.pool.shared;
        let now = shared.clock.now_ms_at(started);
        let expires = shared.ttl.expires_at_ms(now, req.sensitivity, req.ttl);
        let timestamp_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.pool.with_shard(self.shard(req), |sandbox, rec| {
            let d = sandbox.call(shared.deadline_ticks, |g, store| match g.log {
                Some(l) => l.call(
                    store,
                    g.engine,
                    g.cache,
                    &self.rule,
                    req,
                    now,
                    expires,
                    timestamp_ns,
                ),
                None => Ok(Err(WitError::Other("no decision log".into()))),
            })?;
            let latency = started.elapsed();
            rec.decision(d.decision.cached, latency);
            sandbox.log_unread += 1;
            if sandbox.log_unread >= READ_LOG_EVERY {
                if let Some(stats) = crate::pool::read_log_stats(sandbox, shared.deadline_ticks)? {
                    sandbox.log_seen = stats;
                    if stats.buffered_bytes >= logger.inner().config.upload_size_limit {
                        logger.inner().wake();
                    }
                }
                sandbox.log_unread = 0;
            }
            Ok(Decision {
                value: d.decision.value,
                cached: d.decision.cached,
                key: d.decision.key,
                latency,
                decision_id: Some(d.decision_id),
            })
        })
    }
}
