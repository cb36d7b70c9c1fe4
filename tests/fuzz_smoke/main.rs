//! The fuzz targets' checks (fuzz/src) over seeded random inputs: a smoke
//! run in `make test` that compiles with the rest of the workspace. It is
//! not coverage-guided; `make fuzz` runs the same checks under libFuzzer.
//! Each target's inputs come from a fixed seed, so a failure reproduces;
//! `SARK_FUZZ_SMOKE_SEED` picks another seed.
#![allow(missing_docs)]

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, clippy::all)]
mod fuzz;

use arbitrary::{Arbitrary, Unstructured};

/// SplitMix64: a tiny, well-known generator; no dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next() % (max_len as u64 + 1)) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn seed(target: &str) -> u64 {
    let base = std::env::var("SARK_FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    target
        .bytes()
        .fold(base, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// Runs `check` on `runs` inputs built by `Arbitrary` from random bytes;
/// returns how many were built (too-short byte strings are skipped).
fn drive<T: for<'a> Arbitrary<'a>>(target: &str, runs: usize, max_len: usize, check: impl Fn(T)) {
    let mut rng = Rng(seed(target));
    let mut built = 0;
    for _ in 0..runs {
        let bytes = rng.bytes(max_len);
        if let Ok(input) = T::arbitrary_take_rest(Unstructured::new(&bytes)) {
            check(input);
            built += 1;
        }
    }
    assert!(
        built > runs / 2,
        "{target}: only {built} of {runs} inputs built"
    );
    eprintln!("{target}: {built} inputs checked");
}

/// JSON-ish text: random picks from JSON's alphabet, so most inputs reach
/// the parser's interesting paths rather than failing on the first byte.
#[test]
fn json_limits() {
    const ALPHABET: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "0",
        "1",
        "9",
        "-",
        ".",
        "e",
        "E",
        "+",
        "true",
        "false",
        "null",
        "\\",
        "\\u",
        "d8",
        "DD",
        "a",
        "ü",
        " ",
        "1e400",
        "123456789012345678901234567890",
    ];
    let mut rng = Rng(seed("json_limits"));
    for _ in 0..100_000 {
        let n = rng.next() % 40;
        let text: String = (0..n)
            .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
            .collect();
        fuzz::json_limits::run(&text);
    }
    // And arbitrary bytes, as text.
    let mut rng = Rng(seed("json_limits_bytes"));
    for _ in 0..50_000 {
        fuzz::json_limits::run(&String::from_utf8_lossy(&rng.bytes(64)));
    }
}

#[test]
fn cache_ops() {
    drive("cache_ops", 50_000, 512, fuzz::cache_ops::run);
}

#[test]
fn decide_keys() {
    drive("decide_keys", 6_000, 256, fuzz::decide_keys::run);
}

#[test]
fn rego_paths() {
    drive("rego_paths", 5_000, 256, fuzz::rego_paths::run);
}
