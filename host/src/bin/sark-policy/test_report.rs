//! The report of a test run, in `opa test`'s two formats.

use sark_policy_host::{TestOutcome, TestResult};
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// How the results are printed.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// OPA's text report: the tests that did not pass (every test with
    /// `--verbose`), then the counts.
    Pretty,
    /// OPA's JSON report: a list of results.
    Json,
}

fn word(outcome: TestOutcome) -> &'static str {
    match outcome {
        TestOutcome::Pass => "PASS",
        TestOutcome::Fail => "FAIL",
        TestOutcome::Error => "ERROR",
        TestOutcome::Skip => "SKIPPED",
    }
}

/// OPA's pretty report: for each test that did not pass (each test when
/// `verbose`), its location, `data.pkg.test_x: FAIL (1.2ms)` and its error
/// or failing cases indented; then a rule and `PASS: 3/4`, `FAIL: 1/4`,
/// `SKIPPED: ...`, `ERROR: ...` for the counts that are not zero.
pub fn pretty(results: &[TestResult], verbose: bool) -> String {
    let mut out = String::new();
    let mut last_file: Option<&str> = None;
    let mut dirty = false;
    for r in results {
        if !verbose && r.outcome == TestOutcome::Pass {
            continue;
        }
        if last_file.is_some_and(|f| f != r.file) {
            out.push('\n');
        }
        last_file = Some(&r.file);
        dirty = true;
        let _ = writeln!(out, "{}:{}:", r.file, r.row);
        let name = format!("{}.{}", r.package, r.name);
        let _ = match r.outcome {
            TestOutcome::Skip => writeln!(out, "{name}: SKIPPED"),
            o => writeln!(out, "{name}: {} ({})", word(o), go_duration(r.duration)),
        };
        for line in r.message.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    if dirty {
        out.push_str(&"-".repeat(80));
        out.push('\n');
    }
    let total = results.len();
    for outcome in [
        TestOutcome::Pass,
        TestOutcome::Fail,
        TestOutcome::Skip,
        TestOutcome::Error,
    ] {
        let n = results.iter().filter(|r| r.outcome == outcome).count();
        if n > 0 {
            let _ = writeln!(out, "{}: {n}/{total}", word(outcome));
        }
    }
    out
}

/// One result as OPA's JSON reporter writes it (fields in its order).
#[derive(Serialize)]
struct JsonResult<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsonError<'a>>,
    location: Location<'a>,
    package: &'a str,
    name: &'a str,
    /// Nanoseconds, as Go's `time.Duration`.
    duration: u128,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    fail: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skip: bool,
}

#[derive(Serialize)]
struct Location<'a> {
    file: &'a str,
    row: u32,
    col: u32,
}

#[derive(Serialize)]
struct JsonError<'a> {
    code: &'static str,
    message: &'a str,
}

/// OPA's JSON report: a list of results, indented by two spaces.
pub fn json(results: &[TestResult]) -> Result<String, String> {
    let list: Vec<JsonResult<'_>> = results
        .iter()
        .map(|r| JsonResult {
            error: (r.outcome == TestOutcome::Error).then_some(JsonError {
                code: "eval_error",
                message: &r.message,
            }),
            location: Location {
                file: &r.file,
                row: r.row,
                col: r.col,
            },
            package: &r.package,
            name: &r.name,
            duration: r.duration.as_nanos(),
            fail: r.outcome == TestOutcome::Fail,
            skip: r.outcome == TestOutcome::Skip,
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// A duration as Go's `time.Duration.String` prints it: `0s`, `850ns`,
/// `12.5µs`, `1.234567ms`, `2.5s`, `1m30s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0 => "0s".to_owned(),
        1..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}µs", decimal(ns, 1_000, 3)),
        1_000_000..1_000_000_000 => format!("{}ms", decimal(ns, 1_000_000, 6)),
        _ => {
            let (h, m) = (ns / 3_600_000_000_000, ns / 60_000_000_000 % 60);
            let s = decimal(ns % 60_000_000_000, 1_000_000_000, 9);
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
    }
}

/// `n / unit` with its fraction (`digits` places, trailing zeros dropped).
fn decimal(n: u128, unit: u128, digits: usize) -> String {
    let (whole, frac) = (n / unit, n % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        let cases = [
            (0, "0s"),
            (850, "850ns"),
            (12_500, "12.5µs"),
            (1_234_567, "1.234567ms"),
            (2_500_000_000, "2.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_661_000_000_001, "1h1m1.000000001s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration(Duration::from_nanos(ns)), want, "{ns}");
        }
    }
}
