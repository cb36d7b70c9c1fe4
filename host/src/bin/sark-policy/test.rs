//! `test`: Rego unit tests, as `opa test`. The files are read here and the
//! report printed here; discovery, evaluation and timing happen in the
//! component (`PolicyEngine::run_tests`).

use crate::test_files;
use crate::test_report::{self, Format};
use clap::Args;
use sark_policy_host::{BundleSource, RegoVersion, Runtime, TestOutcome};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct TestArgs {
    /// Policy files and directories. Directories are walked recursively:
    /// `*.rego` files are modules; `*.json`, `*.yaml` and `*.yml` files are
    /// data, loaded under the path of their directory relative to the
    /// directory given (as `opa test` loads them).
    #[arg(required_unless_present = "bundles", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// OPA bundles (`.tar.gz` or directories) whose modules and data are
    /// tested, as `opa test -b`; each is named after its file name.
    #[arg(short = 'b', long = "bundle", value_name = "PATH")]
    bundles: Vec<PathBuf>,
    /// Run only the tests whose full name (`data.pkg.test_x`) this regular
    /// expression matches.
    #[arg(short = 'r', long = "run", value_name = "REGEX", default_value = "")]
    run: String,
    /// Output format: `pretty` (OPA's text report) or `json` (OPA's list
    /// of results).
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Pretty)]
    format: Format,
    /// Print every test, not only those that did not pass.
    #[arg(short, long)]
    verbose: bool,
    /// Skipped tests (`todo_test_*`) leave the exit status 0.
    #[arg(short = 'z', long)]
    exit_zero_on_skipped: bool,
    /// Read the policies as Rego v0 (written for OPA before 1.0), as
    /// `opa test --v0-compatible` does.
    #[arg(long)]
    v0_compatible: bool,
    /// Load this component instead of the built-in one.
    #[arg(long, value_name = "FILE.wasm")]
    component: Option<PathBuf>,
    /// Deadline in milliseconds for loading each file and for the whole
    /// test run.
    #[arg(long, default_value_t = 30_000)]
    deadline_ms: u64,
    /// Memory cap of the instance in MiB.
    #[arg(long, default_value_t = 256)]
    memory_mib: usize,
    /// Compile the component instead of using the compiled artifact on disk.
    #[arg(long)]
    no_artifact_cache: bool,
}

/// Loads the files, runs the tests and prints the report. Exit status as
/// `opa test`: 0 when every test passed, 2 when one failed, erred or was
/// skipped (without `-z`); a file that cannot be loaded is an `Err` (1).
pub fn run(a: TestArgs) -> Result<ExitCode, String> {
    let mut b = Runtime::builder()
        .deadline(Duration::from_millis(a.deadline_ms))
        .load_deadline(Duration::from_millis(a.deadline_ms))
        .memory_limit(a.memory_mib << 20)
        .rego_version(if a.v0_compatible {
            RegoVersion::V0
        } else {
            RegoVersion::V1
        });
    if let Some(path) = &a.component {
        b = b.component_path(path);
    }
    if a.no_artifact_cache {
        b = b.artifact_dir(None);
    }
    let runtime = b.build().map_err(|e| e.to_string())?;
    let engine = runtime.engine().map_err(|e| e.to_string())?;
    for path in &a.bundles {
        let name = crate::bundle_args::name_of(path);
        let source =
            BundleSource::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
        engine
            .activate_bundle(&name, source, None)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let files = test_files::collect(&a.paths)?;
    test_files::load(&engine, &files)?;
    let results = engine.run_tests(&a.run).map_err(|e| e.to_string())?;
    let report = match a.format {
        Format::Pretty => test_report::pretty(&results, a.verbose),
        Format::Json => test_report::json(&results)?,
    };
    print!("{report}");
    let bad = results.iter().any(|r| match r.outcome {
        TestOutcome::Pass => false,
        TestOutcome::Skip => !a.exit_zero_on_skipped,
        TestOutcome::Fail | TestOutcome::Error => true,
    });
    Ok(if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
