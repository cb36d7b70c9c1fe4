//! The bounded buffer of encoded events and the batches hosts upload.

use serde_json::Value as Json;
use std::collections::VecDeque;
use std::io::Write;

/// Counters of a decision log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Events accepted into the buffer.
    pub logged: u64,
    /// Events dropped, oldest first, because the buffer was full.
    pub dropped_buffer_full: u64,
    /// Events dropped because masking failed (never shipped unmasked).
    pub dropped_mask_error: u64,
    /// Events whose input (and, if needed, result) was cut to fit the
    /// per-event limit.
    pub truncated: u64,
    /// Events in the buffer now.
    pub buffered_events: u64,
    /// Bytes of the events in the buffer now (JSON, uncompressed).
    pub buffered_bytes: u64,
    /// Batches taken for upload.
    pub batches: u64,
    /// Events in the batches taken.
    pub batched_events: u64,
}

/// How a batch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A gzipped JSON array of events: the body OPA's decision-log plugin
    /// POSTs (`Content-Encoding: gzip`).
    Gzip,
    /// One event per line, uncompressed (a console sink).
    JsonLines,
    /// The JSON array uncompressed, for a host that compresses it itself
    /// outside the instance (natively, and without holding the instance).
    JsonArray,
}

/// A batch for upload or printing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The events, written as asked.
    pub body: Vec<u8>,
    /// Events in it.
    pub events: u32,
    /// Bytes of the events' JSON before compression.
    pub json_bytes: usize,
}

/// Encoded events, oldest first, at most `max_bytes` of them.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    events: VecDeque<String>,
    bytes: usize,
    max_bytes: usize,
    max_event_bytes: usize,
    stats: LogStats,
}

impl LogBuffer {
    /// A buffer of at most `max_bytes` of events, each at most
    /// `max_event_bytes` (larger ones lose their input, then their result).
    pub fn new(max_bytes: usize, max_event_bytes: usize) -> Self {
        LogBuffer {
            events: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_event_bytes: max_event_bytes.min(max_bytes),
            stats: LogStats::default(),
        }
    }

    /// Adds a masked event, dropping the oldest while the buffer is over
    /// its size (each drop counted). An event over the per-event limit
    /// loses its input, then its result.
    pub fn push(&mut self, mut event: Json) {
        let mut text = encode(&event);
        if text.len() > self.max_event_bytes {
            self.stats.truncated += 1;
            for field in ["input", "result"] {
                if text.len() <= self.max_event_bytes {
                    break;
                }
                if let Json::Object(e) = &mut event
                    && e.remove(field).is_some()
                {
                    let erased = e.entry("erased").or_insert_with(|| Json::Array(Vec::new()));
                    if let Json::Array(list) = erased {
                        list.push(Json::String(format!("/{field}")));
                    }
                    e.insert("truncated".into(), Json::Bool(true));
                }
                text = encode(&event);
            }
            if text.len() > self.max_event_bytes {
                // Labels and ids alone over the limit: nothing to ship.
                self.stats.dropped_buffer_full += 1;
                return;
            }
        }
        self.push_text(text);
    }

    /// Whether an event of `len` bytes of JSON is within the per-event
    /// limit (one that is not goes through [`push`](Self::push)).
    pub fn fits(&self, len: usize) -> bool {
        len <= self.max_event_bytes
    }

    /// Adds an event already written as one line of JSON and within the
    /// per-event limit, dropping the oldest while the buffer is over its
    /// size (each drop counted).
    pub fn push_text(&mut self, text: String) {
        self.bytes += text.len();
        self.events.push_back(text);
        self.stats.logged += 1;
        while self.bytes > self.max_bytes {
            match self.events.pop_front() {
                Some(old) => {
                    self.bytes -= old.len();
                    self.stats.dropped_buffer_full += 1;
                }
                None => break,
            }
        }
    }

    /// Counts an event dropped because masking failed.
    pub fn mask_error(&mut self) {
        self.stats.dropped_mask_error += 1;
    }

    /// The oldest events, up to `max_json_bytes` of JSON (at least one),
    /// written as `encoding`; `None` when the buffer is empty.
    pub fn take_batch(&mut self, max_json_bytes: usize, encoding: Encoding) -> Option<Batch> {
        let (open, sep, close) = match encoding {
            Encoding::Gzip | Encoding::JsonArray => ("[", ",", "]"),
            Encoding::JsonLines => ("", "\n", "\n"),
        };
        let first = self.events.pop_front()?;
        let mut json = String::with_capacity(first.len() + 2);
        json.push_str(open);
        json.push_str(&first);
        self.bytes -= first.len();
        let mut events = 1u32;
        while let Some(next) = self.events.front() {
            if json.len() + next.len() + 2 > max_json_bytes {
                break;
            }
            json.push_str(sep);
            json.push_str(next);
            self.bytes -= next.len();
            self.events.pop_front();
            events += 1;
        }
        json.push_str(close);
        let json_bytes = json.len();
        let body = match encoding {
            Encoding::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                // Writing to a Vec cannot fail.
                let _ = gz.write_all(json.as_bytes());
                gz.finish().unwrap_or_default()
            }
            Encoding::JsonLines | Encoding::JsonArray => json.into_bytes(),
        };
        self.stats.batches += 1;
        self.stats.batched_events += u64::from(events);
        Some(Batch {
            body,
            events,
            json_bytes,
        })
    }

    /// The counters, with the buffer's present size.
    pub fn stats(&self) -> LogStats {
        LogStats {
            buffered_events: self.events.len() as u64,
            buffered_bytes: self.bytes as u64,
            ..self.stats
        }
    }
}

/// An event as one line of compact JSON, written into a buffer sized for a
/// typical event (`Display` would grow it a few bytes at a time).
fn encode(event: &Json) -> String {
    let mut out = Vec::with_capacity(512);
    // Writing a `Value` to a `Vec` cannot fail, and its JSON is UTF-8.
    let _ = serde_json::to_writer(&mut out, event);
    String::from_utf8(out).unwrap_or_default()
}
