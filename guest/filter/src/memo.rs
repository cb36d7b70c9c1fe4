//! A bounded memo from text to what was computed from it, for the work a
//! cache hit would otherwise redo on every request (parsing the cached
//! decision, hashing the key's context).

use core::convert::Infallible;
use hashbrown::HashMap;

/// Results by the text they were computed from. When an insert would pass
/// either bound the memo starts over, so memory stays bounded without
/// per-entry bookkeeping.
pub struct Memo<V> {
    map: HashMap<Box<str>, V>,
    /// Bytes of text held.
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<V: Clone> Memo<V> {
    /// A memo of at most `max_entries` texts and `max_bytes` bytes of text.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            map: HashMap::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// The value computed from `text`, computing it with `f` the first
    /// time; errors are not kept.
    pub fn get_or_try<E>(&mut self, text: &str, f: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(v) = self.map.get(text) {
            return Ok(v.clone());
        }
        let v = f()?;
        if text.len() > self.max_bytes {
            return Ok(v);
        }
        if self.map.len() >= self.max_entries
            || self.bytes.saturating_add(text.len()) > self.max_bytes
        {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += text.len();
        self.map.insert(text.into(), v.clone());
        Ok(v)
    }

    /// The value computed from `text`, computing it with `f` the first time.
    pub fn get_or_insert_with(&mut self, text: &str, f: impl FnOnce() -> V) -> V {
        match self.get_or_try(text, || Ok::<V, Infallible>(f())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Texts held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_and_stays_bounded() {
        let calls = std::cell::Cell::new(0);
        let len = |m: &mut Memo<usize>, t: &str| {
            m.get_or_try(t, || {
                calls.set(calls.get() + 1);
                Ok::<_, ()>(t.len())
            })
        };
        let mut m: Memo<usize> = Memo::new(2, 10);
        assert_eq!(len(&mut m, "abc"), Ok(3));
        assert_eq!(len(&mut m, "abc"), Ok(3));
        assert_eq!(len(&mut m, "de"), Ok(2));
        assert_eq!((m.len(), calls.get()), (2, 2));
        assert_eq!(len(&mut m, "f"), Ok(1), "over max_entries: starts over");
        assert_eq!(m.len(), 1);
        assert_eq!(
            len(&mut m, "0123456789x"),
            Ok(11),
            "over max_bytes: not kept"
        );
        assert_eq!(m.len(), 1);
        assert_eq!(calls.get(), 4);
        assert!(m.get_or_try("e", || Err::<usize, _>("no")).is_err());
        assert_eq!(m.get_or_insert_with("e", || 7), 7);
        assert_eq!(m.get_or_insert_with("e", || 8), 7);
        assert!(!m.is_empty());
    }
}
