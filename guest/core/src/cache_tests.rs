use super::*;

fn cache(cap: u32) -> DecisionCache {
    DecisionCache::new(cap).unwrap()
}

#[test]
fn zero_capacity_is_a_typed_error() {
    assert!(matches!(
        DecisionCache::new(0),
        Err(Error::LimitExceeded(_))
    ));
}

#[test]
fn lru_order_follows_use() {
    let mut c = cache(3);
    c.insert("a", "1", 0, 100);
    c.insert("b", "2", 0, 100);
    c.insert("c", "3", 0, 100);
    assert_eq!(c.keys_by_recency(), ["c", "b", "a"]);
    assert_eq!(c.get("a", 1), Some("1"));
    assert_eq!(c.keys_by_recency(), ["a", "c", "b"]);
    c.insert("b", "22", 1, 100);
    assert_eq!(c.keys_by_recency(), ["b", "a", "c"]);
    assert_eq!(c.get("b", 1), Some("22"));
}

#[test]
fn eviction_drops_least_recent_and_counts() {
    let mut c = cache(2);
    c.insert("a", "1", 0, 100);
    c.insert("b", "2", 0, 100);
    c.get("a", 0);
    c.insert("c", "3", 0, 100);
    assert_eq!(c.len(), 2);
    assert_eq!(c.get("b", 0), None);
    assert_eq!(c.get("a", 0), Some("1"));
    assert_eq!(c.get("c", 0), Some("3"));
    let s = c.stats();
    assert_eq!(
        (s.evictions, s.expirations, s.entries, s.capacity),
        (1, 0, 2, 2)
    );
    // Replacing a key never evicts.
    c.insert("a", "9", 0, 100);
    assert_eq!(c.stats().evictions, 1);
}

#[test]
fn full_cache_dropping_an_expired_lru_counts_an_expiration() {
    let mut c = cache(1);
    c.insert("a", "1", 0, 10);
    c.insert("b", "2", 10, 20);
    let s = c.stats();
    assert_eq!((s.evictions, s.expirations), (0, 1));
    c.insert("c", "3", 11, 20);
    assert_eq!(c.stats().evictions, 1);
}

#[test]
fn expiry_is_exact_at_the_boundary() {
    let mut c = cache(4);
    c.insert("k", "v", 0, 1000);
    assert_eq!(c.get("k", 999), Some("v"));
    assert_eq!(c.get("k", 1000), None);
    assert_eq!(c.len(), 0);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.expirations), (1, 1, 1));
}

#[test]
fn cleanup_expired_counts_and_keeps_live_entries_linked() {
    let mut c = cache(10);
    for i in 0..10u64 {
        c.insert(&format!("k{i}"), "v", 0, if i % 2 == 0 { 50 } else { 500 });
    }
    assert_eq!(c.cleanup_expired(49), 0);
    assert_eq!(c.cleanup_expired(50), 5);
    assert_eq!(c.len(), 5);
    assert_eq!(c.stats().expirations, 5);
    assert_eq!(c.keys_by_recency(), ["k9", "k7", "k5", "k3", "k1"]);
    for i in [1, 3, 5, 7, 9] {
        assert_eq!(c.get(&format!("k{i}"), 60), Some("v"));
    }
    assert_eq!(c.cleanup_expired(u64::MAX), 5);
    assert!(c.is_empty());
    assert!(c.keys_by_recency().is_empty());
}

#[test]
fn delete_and_clear() {
    let mut c = cache(3);
    c.insert("a", "1", 0, 100);
    c.insert("b", "2", 0, 100);
    c.insert("c", "3", 0, 100);
    assert!(c.remove("b"));
    assert!(!c.remove("b"));
    assert_eq!(c.keys_by_recency(), ["c", "a"]);
    assert_eq!(c.get("a", 0), Some("1"));
    assert_eq!(c.get("c", 0), Some("3"));
    c.clear();
    assert_eq!(c.len(), 0);
    assert_eq!(c.get("a", 0), None);
    assert_eq!(c.stats().hits, 2);
}

#[test]
fn stats_arithmetic_and_reset() {
    let mut c = cache(2);
    c.insert("a", "1", 0, 100);
    for _ in 0..3 {
        c.get("a", 0);
    }
    c.get("zz", 0);
    c.insert("b", "2", 0, 100);
    c.insert("c", "3", 0, 100);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.evictions, s.entries), (3, 1, 1, 2));
    c.reset_stats();
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.evictions, s.expirations), (0, 0, 0, 0));
    assert_eq!((s.entries, s.capacity), (2, 2));
}

/// Random operations checked against a simple model: a Vec in recency order.
#[test]
fn matches_a_reference_model_under_random_operations() {
    let mut c = cache(8);
    let mut model: Vec<(String, String, u64)> = Vec::new(); // front = most recent
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for step in 0..20_000u64 {
        let now = step / 4;
        let key = format!("k{}", next() % 20);
        match next() % 4 {
            0 | 1 => {
                let got = c.get(&key, now).map(str::to_owned);
                let pos = model.iter().position(|e| e.0 == key);
                let want = match pos {
                    Some(p) if now < model[p].2 => {
                        let e = model.remove(p);
                        let v = e.1.clone();
                        model.insert(0, e);
                        Some(v)
                    }
                    Some(p) => {
                        model.remove(p);
                        None
                    }
                    None => None,
                };
                assert_eq!(got, want, "step {step}");
            }
            2 => {
                let exp = now + next() % 10;
                c.insert(&key, &step.to_string(), now, exp);
                if let Some(p) = model.iter().position(|e| e.0 == key) {
                    model.remove(p);
                } else if model.len() == 8 {
                    model.pop();
                }
                model.insert(0, (key, step.to_string(), exp));
            }
            _ => {
                let removed = c.remove(&key);
                let pos = model.iter().position(|e| e.0 == key);
                assert_eq!(removed, pos.is_some());
                if let Some(p) = pos {
                    model.remove(p);
                }
            }
        }
        let keys: Vec<&str> = model.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(c.keys_by_recency(), keys, "step {step}");
    }
}
