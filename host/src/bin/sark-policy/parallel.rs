//! `decide --threads N`: shard-affine threads fed batches of stdin.
//!
//! Each of the N threads owns the shards `s` with `s % N` equal to its
//! index and decides only requests routed to them, in input order. No two
//! threads ever want the same shard, so none waits for another (threads
//! that each take any request meet on one shard half of the time with two
//! shards, and the waiting and waking cost more than the second thread
//! gains), and each shard sees its requests in the order of the input, so
//! every decision, cached or not, is the one a single thread would make.
//!
//! The main thread reads stdin in batches, parses each line and routes it
//! to its shard's thread, hands every batch to every thread, and prints the decisions of a batch in input order once
//! all threads are done with it. Threads never wait for each other between
//! batches: up to `IN_FLIGHT` batches are under way, so a thread with less
//! work in one batch goes on with the next.
//!
//! Batches and decision buffers are reused, and a thread keeps nothing per
//! line: small allocations kept by a thread other than the main one grow
//! glibc's per-thread arena a page at a time, an `mprotect` per page,
//! which takes the process's memory map lock that the other threads' page
//! faults need.

use crate::line::{Stored, decide_into, decide_request};
use sark_policy_host::Authorizer;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

/// Lines per batch.
const BATCH: usize = 1024;
/// Batches read and not yet printed, at most: bounds memory.
const IN_FLIGHT: usize = 8;

/// A blank line: nothing to decide, nothing printed.
const BLANK: u32 = u32::MAX;
/// A line that does not parse: decided (to its error) by thread `i % N`.
const BAD: u32 = u32::MAX - 1;

/// Lines of stdin, in one buffer, parsed, and the shard of each.
#[derive(Default)]
struct Batch {
    text: String,
    lines: Vec<Range<usize>>,
    /// Each line's request, `None` for a blank or bad line.
    requests: Vec<Option<Stored>>,
    /// The requests' strings.
    strings: String,
    /// Each line's shard, or `BLANK` or `BAD`.
    routes: Vec<u32>,
    /// The line number of the first line.
    first: usize,
}

impl Batch {
    /// Reads up to `BATCH` lines and routes them; false at the end of input.
    fn read(
        &mut self,
        input: &mut impl BufRead,
        first: usize,
        authz: &Authorizer,
    ) -> Result<bool, String> {
        self.text.clear();
        self.lines.clear();
        self.routes.clear();
        self.requests.clear();
        self.strings.clear();
        self.first = first;
        while self.lines.len() < BATCH {
            let start = self.text.len();
            let n = input
                .read_line(&mut self.text)
                .map_err(|e| format!("stdin:{}: {e}", first + self.lines.len()))?;
            if n == 0 {
                break;
            }
            let line = self.text[start..].trim_end_matches(['\n', '\r']);
            let blank = line.trim().is_empty();
            // A line that does not parse is parsed again by the thread that
            // decides it, to report why.
            let request = (!blank)
                .then(|| Stored::parse(line, &mut self.strings).ok())
                .flatten();
            self.routes.push(match &request {
                _ if blank => BLANK,
                Some(r) => authz.shard(&r.request(&self.strings)) as u32,
                None => BAD,
            });
            self.requests.push(request);
            self.lines.push(start..start + line.len());
        }
        Ok(!self.lines.is_empty())
    }

    fn line(&self, i: usize) -> &str {
        &self.text[self.lines[i].clone()]
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

/// What one thread decided in one batch.
#[derive(Default)]
struct Decided {
    /// Decision lines, back to back.
    out: Vec<u8>,
    /// Per line decided, in input order: its index in the batch and the end
    /// of its decision in `out`, or its error.
    lines: Vec<(usize, Result<usize, String>)>,
}

/// Thread `me` of `threads`: decides its lines of every batch it is given
/// into the buffer that comes with it and sends that back.
fn work(
    authz: &Authorizer,
    (me, threads): (usize, usize),
    jobs: Receiver<(Arc<Batch>, Decided)>,
    done: Sender<(usize, Decided)>,
) {
    for (batch, mut d) in jobs {
        d.out.clear();
        d.lines.clear();
        for (i, &route) in batch.routes.iter().enumerate() {
            if owner(route, i, threads) == Some(me) {
                // A panic (a bug) fails its line; a thread that died would
                // leave the main thread waiting for its answer.
                let len = d.out.len();
                let r = catch_unwind(AssertUnwindSafe(|| match &batch.requests[i] {
                    Some(r) => decide_request(authz, &r.request(&batch.strings), &mut d.out),
                    None => decide_into(authz, batch.line(i), &mut d.out),
                }))
                .unwrap_or_else(|_| {
                    d.out.truncate(len);
                    Err("panicked deciding this line".into())
                })
                .map(|()| d.out.len());
                d.lines.push((i, r));
            }
        }
        // Dropped before answering, so the main thread can reuse the batch.
        drop(batch);
        if done.send((me, d)).is_err() {
            return;
        }
    }
}

/// A batch under way: what each thread has sent back of it so far.
struct Pending {
    batch: Arc<Batch>,
    decided: Vec<Option<Decided>>,
}

/// Prints `batch`'s decisions in input order and its errors to stderr;
/// returns how many lines failed.
fn print(batch: &Batch, decided: &[Decided], out: &mut impl Write) -> Result<u64, String> {
    let threads = decided.len();
    // Per thread: the next entry of `lines` and where its decision starts.
    let mut next = vec![(0usize, 0usize); threads];
    let mut failed = 0;
    for (i, &route) in batch.routes.iter().enumerate() {
        let Some(t) = owner(route, i, threads) else {
            continue;
        };
        let (entry, start) = &mut next[t];
        let Some((line, result)) = decided[t].lines.get(*entry) else {
            return Err(format!("stdin:{}: no decision", batch.first + i));
        };
        debug_assert_eq!(*line, i);
        *entry += 1;
        match result {
            Ok(end) => {
                out.write_all(&decided[t].out[*start..*end])
                    .map_err(|e| format!("stdout: {e}"))?;
                *start = *end;
            }
            Err(msg) => {
                failed += 1;
                let _ = out.flush();
                eprintln!("stdin:{}: {msg}", batch.first + i);
            }
        }
    }
    Ok(failed)
}

/// The main thread's side: reads, routes and hands out batches, prints
/// them as they complete.
struct Feeder<'a> {
    authz: &'a Authorizer,
    jobs: Vec<Sender<(Arc<Batch>, Decided)>>,
    done: Receiver<(usize, Decided)>,
    pending: VecDeque<Pending>,
    /// Batches and buffers printed, for reuse.
    spare_batches: Vec<Batch>,
    spare: Vec<Vec<Decided>>,
    failed: u64,
}

impl Feeder<'_> {
    fn run(&mut self, out: &mut impl Write) -> Result<u64, String> {
        let mut input = std::io::stdin().lock();
        let mut first = 1;
        loop {
            while self.pending.len() >= IN_FLIGHT {
                self.receive(out)?;
            }
            let mut batch = self.spare_batches.pop().unwrap_or_default();
            if !batch.read(&mut input, first, self.authz)? {
                break;
            }
            first += batch.lines.len();
            let batch = Arc::new(batch);
            for (t, jobs) in self.jobs.iter().enumerate() {
                let buffer = self.spare[t].pop().unwrap_or_default();
                jobs.send((batch.clone(), buffer))
                    .map_err(|_| "a deciding thread stopped".to_string())?;
            }
            self.pending.push_back(Pending {
                batch,
                decided: (0..self.jobs.len()).map(|_| None).collect(),
            });
        }
        while !self.pending.is_empty() {
            self.receive(out)?;
        }
        Ok(self.failed)
    }

    /// Waits for one thread's part of a batch, then prints every batch at
    /// the front that is complete.
    fn receive(&mut self, out: &mut impl Write) -> Result<(), String> {
        let (t, d) = self
            .done
            .recv()
            .map_err(|_| "a deciding thread stopped".to_string())?;
        // Threads answer their batches in order: this is the oldest one
        // this thread has not answered.
        let slot = self
            .pending
            .iter_mut()
            .find_map(|p| p.decided.get_mut(t).filter(|d| d.is_none()))
            .ok_or_else(|| "an answer for no batch".to_string())?;
        *slot = Some(d);
        while self
            .pending
            .front()
            .is_some_and(|p| p.decided.iter().all(Option::is_some))
        {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            let decided: Vec<Decided> = p.decided.into_iter().flatten().collect();
            self.failed += print(&p.batch, &decided, out)?;
            for (t, d) in decided.into_iter().enumerate() {
                self.spare[t].push(d);
            }
            if let Ok(batch) = Arc::try_unwrap(p.batch) {
                self.spare_batches.push(batch);
            }
        }
        Ok(())
    }
}

/// All of stdin, decided by `threads` shard-affine threads; returns how
/// many lines failed.
pub fn run(authz: &Authorizer, threads: usize) -> Result<u64, String> {
    let threads = threads.max(1);
    let shards = authz.shards();
    if threads > shards {
        eprintln!(
            "decide: {threads} threads over {shards} shard(s): one thread decides each shard, \
             so at most {shards} decide at once"
        );
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (done_tx, done) = channel();
    let failed = std::thread::scope(|scope| {
        let jobs = (0..threads)
            .map(|t| {
                let (tx, rx) = channel();
                let done = done_tx.clone();
                scope.spawn(move || work(authz, (t, threads), rx, done));
                tx
            })
            .collect();
        // Only the threads answer: if they all stop, `recv` says so.
        drop(done_tx);
        let mut feeder = Feeder {
            authz,
            jobs,
            done,
            pending: VecDeque::new(),
            spare_batches: Vec::new(),
            spare: (0..threads).map(|_| Vec::new()).collect(),
            failed: 0,
        };
        // Dropping the feeder (its senders) lets the threads finish.
        feeder.run(&mut out)
    })?;
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(failed)
}
