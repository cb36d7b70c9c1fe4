//! `decide --threads N`: shard-affine threads over batches of stdin.
//!
//! Each thread owns the shards `s` with `s % N` equal to its index and
//! decides only requests routed to them, in input order. No two threads
//! ever want the same shard, so none waits for another (with threads that
//! each take any request, two threads meet on one shard half of the time
//! with two shards, and the waiting and waking cost more than the second
//! thread gains), and each shard sees its requests in the order of the
//! input, so every decision, cached or not, is the one a single thread
//! would make.
//!
//! Threads keep nothing per line past a batch: the decisions go into one
//! buffer per thread, reused from batch to batch. (Small allocations kept
//! by a thread other than the main one grow glibc's per-thread arena a page
//! at a time, an `mprotect` per page, and those take the process's memory
//! map lock that the other thread's page faults need.)

use crate::line::{decide_into, shard_of};
use sark_policy_host::Authorizer;
use std::io::{BufRead, Write};
use std::ops::Range;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU32, Ordering};

/// Lines read before deciding them: bounds memory, and decisions of one
/// batch are printed while the next is read.
const BATCH: usize = 16_384;

/// A blank line: nothing to decide, nothing printed.
const BLANK: u32 = u32::MAX;
/// A line that does not parse: decided (to its error) by thread `i % N`.
const BAD: u32 = u32::MAX - 1;

/// Lines of stdin, in one buffer.
#[derive(Default)]
struct Batch {
    text: String,
    lines: Vec<Range<usize>>,
    /// Each line's shard, or `BLANK` or `BAD`.
    routes: Vec<AtomicU32>,
}

impl Batch {
    /// Reads up to `BATCH` lines; false at the end of input.
    fn read(&mut self, input: &mut impl BufRead, first: usize) -> Result<bool, String> {
        self.text.clear();
        self.lines.clear();
        while self.lines.len() < BATCH {
            let start = self.text.len();
            let n = input
                .read_line(&mut self.text)
                .map_err(|e| format!("stdin:{}: {e}", first + self.lines.len()))?;
            if n == 0 {
                break;
            }
            let line = self.text[start..].trim_end_matches(['\n', '\r']);
            self.lines.push(start..start + line.len());
        }
        self.routes.clear();
        self.routes
            .resize_with(self.lines.len(), || AtomicU32::new(BLANK));
        Ok(!self.lines.is_empty())
    }

    fn line(&self, i: usize) -> &str {
        &self.text[self.lines[i].clone()]
    }

    fn route(&self, i: usize) -> u32 {
        self.routes[i].load(Ordering::Relaxed)
    }
}

/// The thread that decides line `i` routed to `route`, of `threads`.
fn owner(route: u32, i: usize, threads: usize) -> Option<usize> {
    match route {
        BLANK => None,
        BAD => Some(i % threads),
        shard => Some(shard as usize % threads),
    }
}

/// What one thread decided in a batch.
#[derive(Default)]
struct Worker {
    /// Decision lines, back to back.
    out: Vec<u8>,
    /// Per line decided, in input order: its index in the batch and the end
    /// of its decision in `out`, or its error.
    done: Vec<(usize, Result<usize, String>)>,
}

impl Worker {
    /// Routes `chunk` of `batch`, waits for every thread to have routed
    /// its chunk, then decides the lines thread `me` owns.
    fn run(
        &mut self,
        authz: &Authorizer,
        batch: &Batch,
        chunk: Range<usize>,
        barrier: &Barrier,
        (me, threads): (usize, usize),
    ) {
        for i in chunk {
            let line = batch.line(i);
            let route = if line.trim().is_empty() {
                BLANK
            } else {
                shard_of(authz, line).map_or(BAD, |s| s as u32)
            };
            batch.routes[i].store(route, Ordering::Relaxed);
        }
        // Also orders the stores above before every thread's loads below.
        barrier.wait();
        self.out.clear();
        self.done.clear();
        for i in 0..batch.lines.len() {
            if owner(batch.route(i), i, threads) != Some(me) {
                continue;
            }
            let r = decide_into(authz, batch.line(i), &mut self.out).map(|()| self.out.len());
            self.done.push((i, r));
        }
    }
}

/// Decides `batch` with one thread per worker (the calling thread is one).
fn decide(authz: &Authorizer, batch: &Batch, workers: &mut [Worker]) {
    let threads = workers.len();
    let chunk = batch.lines.len().div_ceil(threads);
    let chunk =
        |t: usize| (t * chunk).min(batch.lines.len())..((t + 1) * chunk).min(batch.lines.len());
    let barrier = Barrier::new(threads);
    let barrier = &barrier;
    let Some((mine, others)) = workers.split_first_mut() else {
        return;
    };
    std::thread::scope(|scope| {
        for (t, w) in others.iter_mut().enumerate() {
            let t = t + 1;
            scope.spawn(move || w.run(authz, batch, chunk(t), barrier, (t, threads)));
        }
        mine.run(authz, batch, chunk(0), barrier, (0, threads));
    });
}

/// Prints `batch`'s decisions in input order and its errors to stderr;
/// returns how many lines failed. `first` is the batch's first line number.
fn print(
    batch: &Batch,
    workers: &[Worker],
    first: usize,
    out: &mut impl Write,
) -> Result<u64, String> {
    let threads = workers.len();
    // Per worker: the next entry of `done` and where its decision starts.
    let mut next = vec![(0usize, 0usize); threads];
    let mut failed = 0;
    for i in 0..batch.lines.len() {
        let Some(w) = owner(batch.route(i), i, threads) else {
            continue;
        };
        let (entry, start) = &mut next[w];
        let Some((line, result)) = workers[w].done.get(*entry) else {
            return Err(format!("stdin:{}: no decision", first + i));
        };
        debug_assert_eq!(*line, i);
        *entry += 1;
        match result {
            Ok(end) => {
                out.write_all(&workers[w].out[*start..*end])
                    .map_err(|e| format!("stdout: {e}"))?;
                *start = *end;
            }
            Err(msg) => {
                failed += 1;
                let _ = out.flush();
                eprintln!("stdin:{}: {msg}", first + i);
            }
        }
    }
    Ok(failed)
}

/// All of stdin, batch by batch, decided by `threads` shard-affine threads.
pub fn run(authz: &Authorizer, threads: usize) -> Result<u64, String> {
    let shards = authz.shards();
    if threads > shards {
        eprintln!(
            "decide: {threads} threads over {shards} shard(s): one thread decides each shard, \
             so at most {shards} decide at once"
        );
    }
    let mut input = std::io::stdin().lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut workers: Vec<Worker> = (0..threads.max(1)).map(|_| Worker::default()).collect();
    let mut batch = Batch::default();
    let mut failed = 0;
    let mut first = 1;
    while batch.read(&mut input, first)? {
        decide(authz, &batch, &mut workers);
        failed += print(&batch, &workers, first, &mut out)?;
        first += batch.lines.len();
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(failed)
}
