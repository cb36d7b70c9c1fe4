//! A bounded key/value cache with O(1) least-recently-used eviction and
//! per-entry expiry against a clock the caller passes in.
//!
//! Entries live in a dense slab (`Vec<Slot>`) threaded by a doubly linked
//! recency list of `u32` indices; a `hashbrown::HashTable<u32>` maps a key's
//! hash to its slot, so a key is stored once. Removal swaps the last slot
//! into the hole, keeping the slab dense without a free list.

use crate::{Error, Result};
use core::hash::BuildHasher;
use hashbrown::{DefaultHashBuilder, HashTable};

const NIL: u32 = u32::MAX;

/// Counters of a [`DecisionCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that found nothing or only an expired entry.
    pub misses: u64,
    /// Live entries dropped to make room.
    pub evictions: u64,
    /// Entries dropped because they had expired.
    pub expirations: u64,
    /// Entries held now.
    pub entries: u64,
    /// Most entries held.
    pub capacity: u64,
}

struct Slot {
    key: Box<str>,
    value: Box<str>,
    expires_at_ms: u64,
    prev: u32,
    next: u32,
}

/// The decision cache. Not thread-safe by itself: each instance (or shard)
/// owns one.
pub struct DecisionCache {
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    slots: Vec<Slot>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to go.
    tail: u32,
    capacity: u32,
    stats: CacheStats,
}

impl DecisionCache {
    /// A cache holding at most `capacity` entries; `LimitExceeded` when 0.
    pub fn new(capacity: u32) -> Result<Self> {
        if capacity == 0 || capacity == NIL {
            return Err(Error::LimitExceeded(format!(
                "cache capacity must be between 1 and {}, got {capacity}",
                NIL - 1
            )));
        }
        Ok(Self {
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity,
            stats: CacheStats::default(),
        })
    }

    /// The value under `key` if live at `now_ms`; counts a hit or a miss and
    /// drops an expired entry.
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<&str> {
        let Some(i) = self.find(key) else {
            self.stats.misses += 1;
            return None;
        };
        if self.slot(i).is_some_and(|s| now_ms >= s.expires_at_ms) {
            self.remove_at(i);
            self.stats.expirations += 1;
            self.stats.misses += 1;
            return None;
        }
        self.stats.hits += 1;
        self.touch(i);
        self.slot(i).map(|s| &*s.value)
    }

    /// Stores `value` under `key` until `expires_at_ms`, evicting the least
    /// recently used entry when full (counted as an expiration when it had
    /// expired at `now_ms`, else as an eviction).
    pub fn insert(&mut self, key: &str, value: &str, now_ms: u64, expires_at_ms: u64) {
        if let Some(i) = self.find(key) {
            if let Some(s) = self.slot_mut(i) {
                s.value = value.into();
                s.expires_at_ms = expires_at_ms;
            }
            self.touch(i);
            return;
        }
        if self.slots.len() >= self.capacity as usize {
            self.evict_lru(now_ms);
        }
        let i = self.slots.len() as u32;
        self.slots.push(Slot {
            key: key.into(),
            value: value.into(),
            expires_at_ms,
            prev: NIL,
            next: NIL,
        });
        let hash = self.hasher.hash_one(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table
            .insert_unique(hash, i, |&j| rehash(hasher, slots, j));
        self.push_front(i);
    }

    /// Removes `key`; true when an entry was there.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.find(key) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    /// Removes every entry; counters other than `entries` are kept.
    pub fn clear(&mut self) {
        self.table.clear();
        self.slots.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    /// Entries held, live or not yet cleaned up.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Most entries held.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Removes every entry expired at `now_ms`; returns how many.
    pub fn cleanup_expired(&mut self, now_ms: u64) -> u64 {
        let mut removed = 0;
        let mut i = 0;
        // Removal swaps the last slot into `i`, so only advance on a keep.
        while let Some(s) = self.slots.get(i) {
            if now_ms >= s.expires_at_ms {
                self.remove_at(i as u32);
                removed += 1;
            } else {
                i += 1;
            }
        }
        self.stats.expirations += removed;
        removed
    }

    /// Counters since creation or the last [`reset_stats`](Self::reset_stats).
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.slots.len() as u64,
            capacity: u64::from(self.capacity),
            ..self.stats
        }
    }

    /// Zeroes hits, misses, evictions and expirations.
    pub fn reset_stats(&mut self) {
        self.stats = CacheStats::default();
    }

    /// Keys from most to least recently used (for tests and debugging).
    pub fn keys_by_recency(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.slots.len());
        let mut i = self.head;
        while let Some(s) = self.slot(i) {
            out.push(&*s.key);
            i = s.next;
        }
        out
    }

    fn evict_lru(&mut self, now_ms: u64) {
        let lru = self.tail;
        let Some(expires_at_ms) = self.slot(lru).map(|s| s.expires_at_ms) else {
            return;
        };
        if now_ms >= expires_at_ms {
            self.stats.expirations += 1;
        } else {
            self.stats.evictions += 1;
        }
        self.remove_at(lru);
    }

    fn find(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&j| self.slot(j).is_some_and(|s| &*s.key == key))
            .copied()
    }

    fn slot(&self, i: u32) -> Option<&Slot> {
        self.slots.get(i as usize)
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Slot> {
        self.slots.get_mut(i as usize)
    }

    fn set_next(&mut self, i: u32, next: u32) {
        match self.slot_mut(i) {
            Some(s) => s.next = next,
            None => self.head = next,
        }
    }

    fn set_prev(&mut self, i: u32, prev: u32) {
        match self.slot_mut(i) {
            Some(s) => s.prev = prev,
            None => self.tail = prev,
        }
    }

    fn unlink(&mut self, i: u32) {
        let Some((prev, next)) = self.slot(i).map(|s| (s.prev, s.next)) else {
            return;
        };
        self.set_next(prev, next);
        self.set_prev(next, prev);
    }

    fn push_front(&mut self, i: u32) {
        let old_head = self.head;
        if let Some(s) = self.slot_mut(i) {
            s.prev = NIL;
            s.next = old_head;
        }
        self.set_prev(old_head, i);
        self.head = i;
    }

    fn touch(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Unlinks and drops slot `i`, moving the last slot into its place.
    fn remove_at(&mut self, i: u32) {
        let Some(hash) = self.slot(i).map(|s| self.hasher.hash_one(&*s.key)) else {
            return;
        };
        self.unlink(i);
        if let Ok(entry) = self.table.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        let last = (self.slots.len() - 1) as u32;
        self.slots.swap_remove(i as usize);
        if last == i {
            return;
        }
        // The former last slot now sits at `i`: repoint its neighbours and
        // its table entry.
        let Some((prev, next, moved_hash)) = self
            .slot(i)
            .map(|s| (s.prev, s.next, self.hasher.hash_one(&*s.key)))
        else {
            return;
        };
        self.set_next(prev, i);
        self.set_prev(next, i);
        if let Some(j) = self.table.find_mut(moved_hash, |&j| j == last) {
            *j = i;
        }
    }
}

fn rehash(hasher: &DefaultHashBuilder, slots: &[Slot], j: u32) -> u64 {
    slots
        .get(j as usize)
        .map_or(0, |s| hasher.hash_one(&*s.key))
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
