//! Operation sequences on the decision cache against a model: a map with
//! expiry and recency. The cache must answer what the model answers, hold at
//! most its capacity, and count every hit, miss and drop.

use arbitrary::Arbitrary;
use sark_policy_core::DecisionCache;

#[derive(Arbitrary, Debug)]
pub enum Op {
    Get(u8, u8),
    Insert(u8, u8, u8, u8),
    Remove(u8),
    Cleanup(u8),
    Clear,
}

#[derive(Arbitrary, Debug)]
pub struct Case {
    pub capacity: u8,
    pub ops: Vec<Op>,
}

/// The model: (key, value, expires_at), most recently used last.
struct Model {
    entries: Vec<(String, String, u64)>,
    capacity: usize,
}

impl Model {
    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _, _)| k == key)
    }
}

/// One input: panics when a check fails.
pub fn run(case: Case) {
    let capacity = u32::from(case.capacity % 8) + 1;
    let mut cache = DecisionCache::new(capacity).expect("capacity 1..=8");
    let mut model = Model {
        entries: Vec::new(),
        capacity: capacity as usize,
    };
    let mut now = 0u64;
    for op in case.ops.iter().take(256) {
        match *op {
            Op::Get(k, dt) => {
                now += u64::from(dt % 4);
                let key = format!("k{}", k % 12);
                let expected = match model.position(&key) {
                    Some(i) if now >= model.entries[i].2 => {
                        model.entries.remove(i);
                        None
                    }
                    Some(i) => {
                        let e = model.entries.remove(i);
                        let v = e.1.clone();
                        model.entries.push(e);
                        Some(v)
                    }
                    None => None,
                };
                assert_eq!(
                    cache.get(&key, now),
                    expected.as_deref(),
                    "get {key} at {now}"
                );
            }
            Op::Insert(k, v, dt, ttl) => {
                now += u64::from(dt % 4);
                let key = format!("k{}", k % 12);
                let value = format!("v{v}");
                let expires = now + u64::from(ttl % 16);
                cache.insert(&key, &value, now, expires);
                match model.position(&key) {
                    Some(i) => {
                        model.entries.remove(i);
                    }
                    None if model.entries.len() == model.capacity => {
                        model.entries.remove(0);
                    }
                    None => {}
                }
                model.entries.push((key, value, expires));
            }
            Op::Remove(k) => {
                let key = format!("k{}", k % 12);
                let expected = model.position(&key).map(|i| model.entries.remove(i));
                assert_eq!(cache.remove(&key), expected.is_some());
            }
            Op::Cleanup(dt) => {
                now += u64::from(dt % 8);
                let before = model.entries.len();
                model.entries.retain(|e| now < e.2);
                let dropped = (before - model.entries.len()) as u64;
                assert_eq!(cache.cleanup_expired(now), dropped);
            }
            Op::Clear => {
                cache.clear();
                model.entries.clear();
            }
        }
        assert_eq!(cache.len(), model.entries.len());
        assert!(cache.len() <= capacity as usize);
        let by_recency: Vec<&str> = model.entries.iter().rev().map(|e| e.0.as_str()).collect();
        assert_eq!(cache.keys_by_recency(), by_recency);
    }
}
