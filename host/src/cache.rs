//! `DecisionCache`: the seed's cache API over the instances' guest caches.

use crate::Result;
use crate::authorizer::Request;
use crate::bindings::WitError;
use crate::pool::Pool;
use crate::sandbox::{Guest, HostState};
use std::sync::Arc;
use wasmtime::Store;

/// Counters summed over every instance's cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Live entries evicted.
    pub evictions: u64,
    /// Expired entries dropped.
    pub expirations: u64,
    /// Entries held.
    pub entries: u64,
    /// Capacity over all instances.
    pub capacity: u64,
}

/// Decisions stored by (user, action, resource, context) with the TTL
/// policy of the runtime. It shares shards and keys with [`Authorizer`]'s
/// placement, so a request always meets the same instance's cache.
///
/// [`Authorizer`]: crate::Authorizer
#[derive(Clone)]
pub struct DecisionCache {
    pool: Arc<Pool>,
}

impl DecisionCache {
    pub(crate) fn new(pool: Arc<Pool>) -> Self {
        DecisionCache { pool }
    }

    fn shard(&self, req: &Request<'_>) -> usize {
        self.pool.shard_for((req.user, req.action, req.resource))
    }

    /// The seed-format key of `req`.
    pub fn key(&self, req: &Request<'_>) -> Result<String> {
        let wit = req.wit();
        self.pool.run(self.shard(req), |g, store| {
            g.api.sark_policy_authorizer().call_cache_key(store, &wit)
        })
    }

    /// Runs `f` with `req`'s key on `req`'s shard: the key is built by the
    /// guest (`cache-key`) in the same shard lock as the cache call.
    fn with_key<R>(
        &self,
        req: &Request<'_>,
        f: impl FnOnce(&Guest<'_>, &mut Store<HostState>, &str) -> wasmtime::Result<Result<R, WitError>>,
    ) -> Result<R> {
        let wit = req.wit();
        self.pool.run(self.shard(req), |g, store| {
            match g
                .api
                .sark_policy_authorizer()
                .call_cache_key(&mut *store, &wit)?
            {
                Ok(key) => f(g, store, &key),
                Err(e) => Ok(Err(e)),
            }
        })
    }

    /// The decision stored for `req`, if live.
    pub fn get(&self, req: &Request<'_>) -> Result<Option<String>> {
        let now = self.pool.shared.clock.now_ms();
        self.with_key(req, |g, store, key| {
            let cache = g.api.sark_policy_decision_cache().cache();
            cache.call_get(store, g.cache, key, now).map(Ok)
        })
    }

    /// Stores a JSON decision for `req` with the TTL the runtime's policy
    /// gives it (`req.ttl` overrides, `req.sensitivity` selects).
    pub fn set(&self, req: &Request<'_>, decision_json: &str) -> Result<()> {
        let shared = &self.pool.shared;
        let now = shared.clock.now_ms();
        let expires = shared.ttl.expires_at_ms(now, req.sensitivity, req.ttl);
        self.with_key(req, |g, store, key| {
            let cache = g.api.sark_policy_decision_cache().cache();
            cache.call_set(store, g.cache, key, decision_json, now, expires)
        })
    }

    /// Removes the decision for `req`; true when there was one.
    pub fn delete(&self, req: &Request<'_>) -> Result<bool> {
        self.with_key(req, |g, store, key| {
            let cache = g.api.sark_policy_decision_cache().cache();
            cache.call_delete(store, g.cache, key).map(Ok)
        })
    }

    /// Empties every instance's cache.
    pub fn clear(&self) -> Result<()> {
        for i in self.pool.shards() {
            self.pool.run(i, |g, store| {
                g.api
                    .sark_policy_decision_cache()
                    .cache()
                    .call_clear(store, g.cache)
                    .map(Ok)
            })?;
        }
        Ok(())
    }

    /// Removes expired entries everywhere; returns how many.
    pub fn cleanup_expired(&self) -> Result<u64> {
        let now = self.pool.shared.clock.now_ms();
        let mut removed = 0;
        for i in self.pool.shards() {
            removed += self.pool.run(i, |g, store| {
                g.api
                    .sark_policy_decision_cache()
                    .cache()
                    .call_cleanup_expired(store, g.cache, now)
                    .map(Ok)
            })?;
        }
        Ok(removed)
    }

    /// Entries held over all instances.
    pub fn size(&self) -> Result<u64> {
        Ok(self.stats()?.entries)
    }

    /// Guest cache counters summed over all instances.
    pub fn stats(&self) -> Result<CacheStats> {
        let mut t = CacheStats::default();
        for i in self.pool.shards() {
            let s = self.pool.cache_stats(i)?;
            t.hits += s.hits;
            t.misses += s.misses;
            t.evictions += s.evictions;
            t.expirations += s.expirations;
            t.entries += s.entries;
            t.capacity += s.capacity;
        }
        Ok(t)
    }
}
