//! The `decision-cache` interface: a `RefCell` around the core cache.

use crate::Component;
use crate::exports::sark::policy::decision_cache::{Cache, CacheStats, Error, Guest, GuestCache};
use core::cell::RefCell;
use sark_policy_core as sark;

/// The `cache` resource.
pub struct CacheResource(pub RefCell<sark::DecisionCache>);

impl Guest for Component {
    type Cache = CacheResource;
}

impl GuestCache for CacheResource {
    fn create(capacity: u32) -> Result<Cache, Error> {
        let cache = sark::DecisionCache::new(capacity)?;
        Ok(Cache::new(CacheResource(RefCell::new(cache))))
    }

    fn get(&self, key: String, now_ms: u64) -> Option<String> {
        self.0.borrow_mut().get(&key, now_ms).map(str::to_owned)
    }

    fn set(
        &self,
        key: String,
        value: String,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<(), Error> {
        sark::Limits::DEFAULT.validate("value", &value)?;
        self.0
            .borrow_mut()
            .insert(&key, &value, now_ms, expires_at_ms);
        Ok(())
    }

    fn delete(&self, key: String) -> bool {
        self.0.borrow_mut().remove(&key)
    }

    fn clear(&self) {
        self.0.borrow_mut().clear();
    }

    fn size(&self) -> u64 {
        self.0.borrow().len() as u64
    }

    fn cleanup_expired(&self, now_ms: u64) -> u64 {
        self.0.borrow_mut().cleanup_expired(now_ms)
    }

    fn stats(&self) -> CacheStats {
        self.0.borrow().stats().into()
    }

    fn reset_stats(&self) {
        self.0.borrow_mut().reset_stats();
    }
}
