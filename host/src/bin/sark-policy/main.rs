//! # sark-policy
//!
//! Evaluate Rego policies in the sandboxed component from the command line:
//! `eval` one rule, `query` a Rego query, `decide` a JSONL stream of
//! requests through the decision cache, `test` Rego unit tests, or `build`
//! an OPA bundle.

mod build;
mod bundle_args;
mod decide;
mod line;
mod load;
mod log_args;
mod parallel;
mod test;
mod test_files;
mod test_report;

use clap::{Args, Parser, Subcommand};
use sark_policy_host::{BundlePoller, EvalOptions, PolicyEngine, RegoVersion, Runtime};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Rego policy decisions in a WebAssembly sandbox, with a decision cache.
#[derive(Parser)]
#[command(name = "sark-policy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one rule against an input document and print its JSON value.
    Eval(EvalArgs),
    /// Evaluate a Rego query and print OPA's result set as JSON.
    Query(QueryArgs),
    /// Decide JSONL requests from stdin, write JSONL decisions to stdout and
    /// a metrics summary to stderr.
    Decide(decide::DecideArgs),
    /// Run Rego unit tests (`test_*` rules) as `opa test` does.
    Test(test::TestArgs),
    /// Build an OPA bundle (a gzipped tarball) from a directory, checked
    /// and optionally signed, as `opa build -b` does.
    Build(build::BuildArgs),
}

/// Options shared by every command: what to load and the sandbox.
#[derive(Args, Clone)]
struct Common {
    /// Rego policy files (repeat for several); optional with bundles.
    #[arg(
        short = 'p',
        long = "policy",
        value_name = "FILE.rego",
        required_unless_present_any = ["bundles", "bundle_url"]
    )]
    policies: Vec<PathBuf>,
    /// JSON data documents, merged in order.
    #[arg(short = 'd', long = "data", value_name = "FILE.json")]
    data: Vec<PathBuf>,
    /// Load this component instead of the built-in one.
    #[arg(long, value_name = "FILE.wasm")]
    component: Option<PathBuf>,
    /// Per-call deadline in milliseconds.
    #[arg(long, default_value_t = 1000)]
    deadline_ms: u64,
    /// Memory cap per instance in MiB.
    #[arg(long, default_value_t = 256)]
    memory_mib: usize,
    /// Compile the component instead of using the compiled artifact on disk.
    #[arg(long)]
    no_artifact_cache: bool,
    /// Evaluate every rule with regorus's interpreter instead of its RVM.
    #[arg(long)]
    interpreter: bool,
    /// Most RVM instructions one rule evaluation may run before it fails
    /// with limit-exceeded.
    #[arg(long, value_name = "N", default_value_t = EvalOptions::DEFAULT_MAX_INSTRUCTIONS)]
    max_instructions: u64,
    /// Read the policies as Rego v0 (written for OPA before 1.0, `allow {
    /// ... }`), as `opa --v0-compatible` does.
    #[arg(long)]
    v0_compatible: bool,
    #[command(flatten)]
    bundles: bundle_args::BundleArgs,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    common: Common,
    /// The input document (JSON file); none when omitted.
    #[arg(short = 'i', long = "input", value_name = "FILE.json")]
    input: Option<PathBuf>,
    /// The rule, e.g. `data.authz.allow` or `authz/allow`.
    #[arg(required_unless_present = "rule_flag", conflicts_with = "rule_flag")]
    rule: Option<String>,
    /// The rule, as `decide --rule` takes it (the same as the argument).
    #[arg(long = "rule", id = "rule_flag", value_name = "RULE")]
    rule_flag: Option<String>,
}

#[derive(Args)]
struct QueryArgs {
    #[command(flatten)]
    common: Common,
    /// The input document (JSON file); none when omitted.
    #[arg(short = 'i', long = "input", value_name = "FILE.json")]
    input: Option<PathBuf>,
    /// The Rego query, e.g. `x := data.authz.allow`.
    query: String,
}

impl Common {
    fn runtime(&self, shards: usize, capacity: u32) -> Result<Runtime, String> {
        self.builder(shards, capacity)
            .build()
            .map_err(|e| e.to_string())
    }

    fn builder(&self, shards: usize, capacity: u32) -> sark_policy_host::RuntimeBuilder {
        let mut b = Runtime::builder()
            .deadline(Duration::from_millis(self.deadline_ms))
            .memory_limit(self.memory_mib << 20)
            .shards(shards)
            .cache_capacity(capacity)
            .interpreter_only(self.interpreter)
            .max_instructions(self.max_instructions)
            .rego_version(if self.v0_compatible {
                RegoVersion::V0
            } else {
                RegoVersion::V1
            });
        if let Some(path) = &self.component {
            b = b.component_path(path);
        }
        if self.no_artifact_cache {
            b = b.artifact_dir(None);
        }
        b
    }

    /// The engine with the policies, data and bundles loaded, and the
    /// bundle poller when `poll` and a `--bundle-url` ask for one.
    fn engine(
        &self,
        runtime: &Runtime,
        poll: bool,
    ) -> Result<(PolicyEngine, Option<BundlePoller>), String> {
        let engine = runtime.engine().map_err(|e| e.to_string())?;
        load::policies_and_data(&engine, &self.policies, &self.data)?;
        let poller = self.bundles.load(&engine, poll)?;
        Ok((engine, poller))
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Eval(a) => {
            let (engine, _) = a.common.engine(&a.common.runtime(1, 1)?, false)?;
            let input = load::optional_text(a.input.as_deref())?;
            let rule = a.rule.or(a.rule_flag).unwrap_or_default();
            match engine.eval_rule(&rule, &input) {
                Ok(Some(v)) => println!("{v}"),
                Ok(None) => eprintln!("{rule}: undefined"),
                Err(e) => return Err(load::located(a.input.as_deref(), &e)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query(a) => {
            let (engine, _) = a.common.engine(&a.common.runtime(1, 1)?, false)?;
            let input = load::optional_text(a.input.as_deref())?;
            let out = engine
                .eval_query(&a.query, &input)
                .map_err(|e| load::located(a.input.as_deref(), &e))?;
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Decide(a) => decide::run(a),
        Command::Test(a) => test::run(a),
        Command::Build(a) => build::run(a),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("sark-policy: {msg}");
            ExitCode::FAILURE
        }
    }
}
