//! `PolicyEngine`: policies, data and evaluation over a pool of instances.

use crate::authorizer::Authorizer;
use crate::bindings::exports::sark::policy::evaluator::{
    TestOutcome as WitTestOutcome, TestResult as WitTestResult,
};
use crate::bundles::{BundleInfo, BundleSource, Verification};
use crate::cache::DecisionCache;
use crate::metrics::Metrics;
use crate::options::EvalOptions;
use crate::pool::Pool;
use crate::runtime::Shared;
use crate::state::{Applied, Change, HeldBundle};
use crate::{Error, Result};
use std::sync::Arc;

/// A Rego engine in the sandbox. Cheap to clone, `Send + Sync`; every clone,
/// and the [`Authorizer`] and [`DecisionCache`] made from it, share one pool
/// of instances.
#[derive(Clone)]
pub struct PolicyEngine {
    pub(crate) pool: Arc<Pool>,
}

impl PolicyEngine {
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Self> {
        Ok(PolicyEngine {
            pool: Arc::new(Pool::new(shared)?),
        })
    }

    /// Adds or replaces the module `name`; returns its package (`data.x`).
    /// A module that does not parse or compile is refused with
    /// [`ErrorKind::InvalidPolicy`](crate::ErrorKind::InvalidPolicy) and
    /// changes nothing.
    pub fn add_policy(&self, name: &str, source: &str) -> Result<String> {
        match self.pool.change(Change::AddPolicy(name, source))? {
            Applied::Package(package) => Ok(package),
            _ => Err(Error::Runtime("add-policy returned no package".into())),
        }
    }

    /// Activates an OPA bundle under `name` in every instance, replacing
    /// the bundle of that name: its modules and the data under its roots.
    /// With `verification`, its `.signatures.json` must sign every file. All
    /// or nothing: a bundle that fails ([`ErrorKind::InvalidBundle`],
    /// `InvalidPolicy`, `InvalidJson`, `LimitExceeded`) changes nothing and
    /// the bundle active before keeps serving. The revision changes, so no
    /// decision cached under the previous bundle is served. A bundle with a
    /// `patch.json` is a delta: it patches the active bundle's data.
    /// Instances that replace one after a trap activate it again. Runs
    /// under the runtime's load deadline (30 s by default), not the
    /// per-call one. The outcome is recorded in the bundle's status
    /// ([`Metrics::bundles`]).
    ///
    /// [`ErrorKind::InvalidBundle`]: crate::ErrorKind::InvalidBundle
    pub fn activate_bundle(
        &self,
        name: &str,
        source: BundleSource,
        verification: Option<&Verification>,
    ) -> Result<BundleInfo> {
        let held = HeldBundle {
            source: Arc::new(source),
            verification: verification.cloned().map(Arc::new),
        };
        match self.pool.change(Change::ActivateBundle(name, &held)) {
            Ok(Applied::Bundle(info)) => {
                self.pool.bundles.activated(name, &info.revision);
                Ok(info.into())
            }
            Ok(_) => Err(Error::Runtime("activate-bundle returned no bundle".into())),
            Err(e) => {
                self.pool.bundles.failed(name, e.to_string());
                Err(e)
            }
        }
    }

    /// Deactivates the bundle `name`: its modules and the data under its
    /// roots go (`NotFound` when none is active).
    pub fn remove_bundle(&self, name: &str) -> Result<()> {
        self.pool.change(Change::RemoveBundle(name))?;
        self.pool.bundles.remove(name);
        Ok(())
    }

    /// The active bundles, by name.
    pub fn bundles(&self) -> Result<Vec<BundleInfo>> {
        self.pool.run_any(|g, store| {
            g.api
                .sark_policy_evaluator()
                .engine()
                .call_bundles(store, g.engine)
                .map(|b| Ok(b.into_iter().map(BundleInfo::from).collect()))
        })
    }

    pub(crate) fn bundle_registry(&self) -> &crate::bundles::Registry {
        &self.pool.bundles
    }

    /// Bundles and deltas a replacement instance would replay. For tests.
    #[doc(hidden)]
    pub fn bundles_held(&self) -> (usize, usize) {
        self.pool.bundles_held()
    }

    /// Removes the module `name` (`NotFound` when absent).
    pub fn remove_policy(&self, name: &str) -> Result<()> {
        self.pool.change(Change::RemovePolicy(name)).map(drop)
    }

    /// Deep-merges a JSON object into the data document.
    pub fn add_data(&self, json: &str) -> Result<()> {
        self.pool.change(Change::AddData(json)).map(drop)
    }

    /// Replaces the data document with a JSON object.
    pub fn replace_data(&self, json: &str) -> Result<()> {
        self.pool.change(Change::ReplaceData(json)).map(drop)
    }

    /// Empties the data document.
    pub fn clear_data(&self) -> Result<()> {
        self.pool.change(Change::ClearData).map(drop)
    }

    /// OPA's strict builtin errors (off by default).
    pub fn set_strict_builtin_errors(&self, on: bool) -> Result<()> {
        self.pool.change(Change::Strict(on)).map(drop)
    }

    /// Sets how every instance evaluates rules (RVM or interpreter only) and
    /// the RVM instruction budget; instances that replace one after a trap
    /// get the same. Answers and cached decisions stay valid, so the revision
    /// does not change.
    pub fn set_eval_options(&self, options: EvalOptions) -> Result<()> {
        self.pool.change(Change::Options(options)).map(drop)
    }

    /// The evaluation options every instance holds.
    pub fn eval_options(&self) -> EvalOptions {
        self.pool.eval_options()
    }

    /// Names of the modules held, sorted.
    pub fn policies(&self) -> Result<Vec<String>> {
        self.pool.run_any(|g, store| {
            g.api
                .sark_policy_evaluator()
                .engine()
                .call_policies(store, g.engine)
                .map(Ok)
        })
    }

    /// Packages of the modules held, sorted.
    pub fn packages(&self) -> Result<Vec<String>> {
        self.pool.run_any(|g, store| {
            g.api
                .sark_policy_evaluator()
                .engine()
                .call_packages(store, g.engine)
                .map(Ok)
        })
    }

    /// The revision of the policy set; changes on every policy or data change.
    pub fn revision(&self) -> Result<u64> {
        self.pool.run(0, |g, store| {
            g.api
                .sark_policy_evaluator()
                .engine()
                .call_revision(store, g.engine)
                .map(Ok)
        })
    }

    /// Evaluates `rule` (`data.authz.allow` or `authz/allow`) against a JSON
    /// input (empty: no input) and returns its value as JSON, `None` when the
    /// rule is undefined.
    pub fn eval_rule(&self, rule: &str, input: &str) -> Result<Option<String>> {
        self.pool.run_any(|g, store| {
            g.api
                .sark_policy_evaluator()
                .engine()
                .call_eval_rule(store, g.engine, rule, input)
        })
    }

    /// Evaluates a Rego query; returns OPA's result set as JSON (`[]` when
    /// undefined).
    pub fn eval_query(&self, query: &str, input: &str) -> Result<String> {
        self.pool.run_any(|g, store| {
            g.api
                .sark_policy_evaluator()
                .engine()
                .call_eval_query(store, g.engine, query, input)
        })
    }

    /// The one-crossing decision path for `rule`, with the runtime's TTL policy.
    pub fn authorizer(&self, rule: &str) -> Authorizer {
        Authorizer::new(self.pool.clone(), rule)
    }

    /// The decision caches of this engine's instances.
    pub fn cache(&self) -> DecisionCache {
        DecisionCache::new(self.pool.clone())
    }

    /// Metrics of every decision made through this engine's pool.
    pub fn metrics(&self) -> Metrics {
        self.pool.metrics()
    }

    /// The data changes an instance that replaces one after a trap would
    /// replay: bounded however often data is merged. For tests.
    #[doc(hidden)]
    pub fn journal_len(&self) -> usize {
        self.pool.journal_len()
    }

    /// Zeroes the metrics.
    pub fn reset_metrics(&self) -> Result<()> {
        self.pool.reset_metrics()
    }

    /// Runs the Rego unit tests of the policies held, as `opa test` does:
    /// every `test_*` rule (`todo_test_*` ones are skipped), once each with
    /// no input, in file order, timed inside the component. `filter`, a
    /// regular expression (empty: every test), keeps the tests whose full
    /// name (`data.pkg.test_x`) it matches, as `opa test --run`. One call
    /// under the runtime's load deadline (a batch, as in the Python host);
    /// changes nothing. A bad `filter` is
    /// [`ErrorKind::Other`](crate::ErrorKind::Other).
    pub fn run_tests(&self, filter: &str) -> Result<Vec<TestResult>> {
        let ticks = self.pool.shared.load_deadline_ticks;
        let results = self.pool.run_any_within(ticks, |g, store| {
            g.api
                .sark_policy_evaluator()
                .engine()
                .call_run_tests(store, g.engine, filter)
        })?;
        Ok(results.into_iter().map(TestResult::from).collect())
    }
}

/// How one test rule ended ([`PolicyEngine::run_tests`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    /// The rule is `true` (with cases, every case is).
    Pass,
    /// The rule is `false`, another value, or undefined.
    Fail,
    /// Evaluating the rule failed; the message says why.
    Error,
    /// A `todo_test_*` rule: reported, not evaluated.
    Skip,
}

/// The result of one test rule ([`PolicyEngine::run_tests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The rule's package, e.g. `data.authz_test`.
    pub package: String,
    /// The rule's name in its package, e.g. `test_allow`.
    pub name: String,
    /// The module (file name) the rule is in.
    pub file: String,
    /// Line of the rule, from 1.
    pub row: u32,
    /// Column of the rule, from 1.
    pub col: u32,
    /// How it ended.
    pub outcome: TestOutcome,
    /// For `Error`, the error; for a `Fail` of a rule with cases, one line
    /// `<case>: FAIL` per failing case; else empty.
    pub message: String,
    /// Time the component spent evaluating the rule.
    pub duration: std::time::Duration,
}

impl From<WitTestResult> for TestResult {
    fn from(r: WitTestResult) -> Self {
        TestResult {
            package: r.package,
            name: r.name,
            file: r.file,
            row: r.row,
            col: r.col,
            outcome: match r.outcome {
                WitTestOutcome::Pass => TestOutcome::Pass,
                WitTestOutcome::Fail => TestOutcome::Fail,
                WitTestOutcome::Error => TestOutcome::Error,
                WitTestOutcome::Skip => TestOutcome::Skip,
            },
            message: r.message,
            duration: std::time::Duration::from_nanos(r.nanos),
        }
    }
}
