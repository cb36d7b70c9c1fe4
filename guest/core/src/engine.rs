//! The Rego engine: named policy modules and a data document over regorus,
//! with atomic changes and a revision counter.

use crate::rvm::{EvalOptions, EvalStats, Outcome, Programs, Reason};
use crate::{Error, Limits, Result};
use regorus::Value;
use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};

#[path = "engine_bundles.rs"]
mod bundles;
pub use bundles::BundleInfo;

/// A Rego engine. Every change is all-or-nothing: a change that fails leaves
/// policies, data and revision as they were.
#[derive(Clone)]
pub struct Engine {
    rego: regorus::Engine,
    /// Module name to the module held.
    modules: BTreeMap<String, Module>,
    /// The Rego version of modules added from now on.
    rego_version: RegoVersion,
    revision: u64,
    limits: Limits,
    strict: bool,
    /// Rules compiled to the RVM at this revision.
    programs: Programs,
    options: EvalOptions,
    /// Which path served each evaluation (fallbacks filled in on read).
    paths: EvalStats,
    /// Active bundles by name (`engine_bundles.rs`).
    bundles: BTreeMap<String, bundles::Active>,
}

/// The Rego syntax a module is written in, as OPA 1.x names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegoVersion {
    /// OPA 1.0 syntax: `if` and `contains` required (the default).
    #[default]
    V1,
    /// Syntax before OPA 1.0 (`allow { ... }`), as OPA's `--v0-compatible`
    /// or a bundle's `rego_version: 0`. A v0 module may still
    /// `import rego.v1`.
    V0,
}

/// A module held: its source, package and the version it was parsed as.
#[derive(Clone)]
struct Module {
    source: String,
    package: String,
    version: RegoVersion,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine with no policies, empty data and the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::DEFAULT)
    }

    /// An engine enforcing `limits` on every document it parses.
    pub fn with_limits(limits: Limits) -> Self {
        Self {
            rego: fresh_rego(false, &limits),
            modules: BTreeMap::new(),
            rego_version: RegoVersion::V1,
            revision: 0,
            limits,
            strict: false,
            programs: Programs::default(),
            options: EvalOptions::default(),
            paths: EvalStats::default(),
            bundles: BTreeMap::new(),
        }
    }

    /// Adds or replaces the module `name`; returns its package (`data.x`).
    /// The whole policy set is compiled before the change is kept. A module
    /// of an active bundle, or a package under a bundle's roots, is refused
    /// (`InvalidPolicy`): bundles own their roots, as in OPA.
    pub fn add_policy(&mut self, name: &str, source: &str) -> Result<String> {
        self.limits.check_size("policy", source)?;
        self.check_not_bundled(name)?;
        let mut rego = if self.modules.contains_key(name) {
            self.rebuild(Some(name))?
        } else {
            self.rego.clone()
        };
        let version = self.rego_version;
        let package = add_module(&mut rego, name, source, version)?;
        self.check_outside_bundles(&package)?;
        compile(&mut rego)?;
        let module = Module {
            source: source.to_owned(),
            package: package.clone(),
            version,
        };
        self.modules.insert(name.to_owned(), module);
        self.commit(rego);
        Ok(package)
    }

    /// Removes the module `name`; `NotFound` when there is none. A bundle's
    /// module goes only with its bundle (`remove_bundle`).
    pub fn remove_policy(&mut self, name: &str) -> Result<()> {
        if !self.modules.contains_key(name) {
            return Err(Error::NotFound(format!("no policy named {name:?}")));
        }
        self.check_not_bundled(name)?;
        let mut rego = self.rebuild(Some(name))?;
        compile(&mut rego)?;
        self.modules.remove(name);
        self.commit(rego);
        Ok(())
    }

    /// Names of the modules held, sorted.
    pub fn policies(&self) -> Vec<String> {
        self.modules.keys().cloned().collect()
    }

    /// Packages of the modules held, sorted and deduplicated.
    pub fn packages(&self) -> Vec<String> {
        let mut p: Vec<String> = self.modules.values().map(|m| m.package.clone()).collect();
        p.sort();
        p.dedup();
        p
    }

    /// Sets the Rego version of the modules added from now on; modules held
    /// keep the version they were added with. Answers do not change, so
    /// neither does the revision.
    pub fn set_rego_version(&mut self, version: RegoVersion) {
        self.rego_version = version;
    }

    /// The Rego version modules are added with.
    pub fn rego_version(&self) -> RegoVersion {
        self.rego_version
    }

    /// Deep-merges a JSON object into the data document. Writing under an
    /// active bundle's roots is refused (`InvalidJson`).
    pub fn add_data(&mut self, json: &str) -> Result<()> {
        let value = self.limits.parse("data", json)?;
        self.check_value_outside_bundles(&value)?;
        let mut rego = self.rego.clone();
        rego.add_data(value)
            .map_err(|e| Error::Evaluation(format!("adding data: {e:#}")))?;
        self.commit(rego);
        Ok(())
    }

    /// The data document (base documents only) as compact JSON.
    pub fn data_json(&self) -> Result<String> {
        to_json(&self.rego.get_data())
    }

    /// Replaces the data document with a JSON object; the data of active
    /// bundles stays (writing under their roots is refused, `InvalidJson`).
    pub fn replace_data(&mut self, json: &str) -> Result<()> {
        let value = self.limits.parse("data", json)?;
        if value.as_object().is_err() {
            return Err(Error::InvalidJson(
                "data: the data document must be an object".into(),
            ));
        }
        self.check_value_outside_bundles(&value)?;
        let mut rego = self.rego.clone();
        rego.clear_data();
        rego.add_data(value)
            .map_err(|e| Error::Evaluation(format!("replacing data: {e:#}")))?;
        if self.has_bundles() {
            bundles::load_data(&mut rego, self.bundle_data()?)?;
        }
        self.commit(rego);
        Ok(())
    }

    /// Empties the data document, but for the data of active bundles.
    pub fn clear_data(&mut self) {
        let kept = if self.has_bundles() {
            self.bundle_data().ok()
        } else {
            None
        };
        self.rego.clear_data();
        if let Some(kept) = kept {
            // Data that was loaded a moment ago loads again.
            let _ = bundles::load_data(&mut self.rego, kept);
        }
        self.bump();
    }

    fn check_not_bundled(&self, name: &str) -> Result<()> {
        match self.bundle_of_module(name) {
            Some(bundle) => Err(Error::InvalidPolicy(format!(
                "policy {name:?} belongs to bundle {bundle:?}; it changes with its bundle"
            ))),
            None => Ok(()),
        }
    }

    fn check_value_outside_bundles(&self, value: &Value) -> Result<()> {
        if !self.has_bundles() {
            return Ok(());
        }
        let json =
            serde_json::to_value(value).map_err(|e| Error::Other(format!("reading data: {e}")))?;
        self.check_data_outside_bundles(&json)
    }

    /// Raise builtin errors (OPA's `strict-builtin-errors`) instead of making
    /// the expression undefined. Off by default, as in OPA.
    pub fn set_strict_builtin_errors(&mut self, strict: bool) {
        self.strict = strict;
        // The added builtins take the setting when registered, so the
        // engine is rebuilt; that only re-adds what was accepted before.
        match self.rebuild(None) {
            Ok(rego) => self.rego = rego,
            Err(_) => self.rego.set_strict_builtin_errors(strict),
        }
        self.bump();
    }

    /// The counter that changes on every successful policy or data change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// How rules are evaluated: on the RVM (the default) or always by the
    /// interpreter, and the RVM's instruction budget. Results do not depend
    /// on the path, so the revision does not change.
    pub fn set_eval_options(&mut self, options: EvalOptions) {
        self.options = options;
    }

    /// The evaluation options in force.
    pub fn eval_options(&self) -> EvalOptions {
        self.options
    }

    /// Which path served the evaluations so far, programs compiled, and the
    /// rules of this revision that fall back to the interpreter.
    pub fn eval_stats(&self) -> EvalStats {
        EvalStats {
            compiled: self.programs.compiled(),
            fallbacks: self.programs.fallbacks(),
            ..self.paths.clone()
        }
    }

    /// Rules held compiled (tests of the bound).
    #[cfg(test)]
    pub(crate) fn programs_held(&self) -> usize {
        self.programs.len()
    }

    /// The parsed modules held, for the test runner's walk of their rules
    /// (`testrun`).
    pub(crate) fn parsed_modules(
        &mut self,
    ) -> Vec<regorus::unstable::Ref<regorus::unstable::Module>> {
        self.rego.get_modules().clone()
    }

    /// Whether a loaded package holds `rule` (it may still be undefined).
    pub fn holds_rule(&self, rule: &str) -> bool {
        self.rule_path(rule).is_ok()
    }

    /// Rule evaluations the RVM has run since the engine was created.
    pub fn rvm_evaluations(&self) -> u64 {
        self.paths.rvm
    }

    /// The document limits enforced.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Evaluates `rule` against a JSON `input` (empty text: no input) and
    /// returns its value as compact JSON, `None` when undefined.
    pub fn eval_rule(&mut self, rule: &str, input: &str) -> Result<Option<String>> {
        let input = self.parse_input(input)?;
        match self.eval_rule_value(rule, input)? {
            Some(v) => Ok(Some(to_json(&v)?)),
            None => Ok(None),
        }
    }

    /// Evaluates `rule` against an already built input value: on the RVM
    /// unless the rule falls back or the options force the interpreter.
    pub fn eval_rule_value(&mut self, rule: &str, input: Value) -> Result<Option<Value>> {
        let path = self.rule_path(rule)?;
        let input = if self.options.interpreter_only {
            self.paths.count_interpreter(Reason::Forced);
            input
        } else {
            match self.programs.eval(
                &self.rego,
                &path,
                input.clone(),
                &self.options,
                self.strict,
            )? {
                Outcome::Value(value) => {
                    self.paths.rvm = self.paths.rvm.wrapping_add(1);
                    return Ok((value != Value::Undefined).then_some(value));
                }
                Outcome::Fallback(reason) => {
                    self.paths.count_interpreter(reason);
                    input
                }
            }
        };
        self.rego.set_input(input);
        let value = self
            .rego
            .eval_rule(path)
            .map_err(|e| Error::Evaluation(format!("{e:#}")))?;
        Ok((value != Value::Undefined).then_some(value))
    }

    /// Evaluates a query and returns OPA's result set as JSON: a list of
    /// `{"expressions": [...], "bindings": {...}}`, empty when undefined.
    pub fn eval_query(&mut self, query: &str, input: &str) -> Result<String> {
        self.limits.check_size("query", query)?;
        let input = self.parse_input(input)?;
        self.paths.count_interpreter(Reason::Query);
        self.rego.set_input(input);
        let results = self
            .rego
            .eval_query(query.to_owned(), false)
            .map_err(|e| Error::Evaluation(format!("{e:#}")))?;
        serde_json::to_string(&results.result)
            .map_err(|e| Error::Other(format!("serializing results: {e}")))
    }

    fn parse_input(&self, input: &str) -> Result<Value> {
        if input.trim().is_empty() {
            return Ok(Value::Undefined);
        }
        self.limits.parse("input", input)
    }

    /// `authz/allow`, `/authz/allow`, `authz.allow` and `data.authz.allow`
    /// all name the rule `data.authz.allow`; `NotFound` when no package
    /// holds it.
    fn rule_path(&self, rule: &str) -> Result<String> {
        let dotted = rule.trim_start_matches('/').replace('/', ".");
        let path = if dotted.starts_with("data.") {
            dotted
        } else {
            format!("data.{dotted}")
        };
        let held = self.modules.values().any(|m| {
            path.strip_prefix(m.package.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
        });
        if !held {
            return Err(Error::NotFound(format!(
                "no loaded package holds the rule {path}"
            )));
        }
        Ok(path)
    }

    /// A new regorus engine with every module except `skip` and the current
    /// data (the only way to drop a module from regorus).
    fn rebuild(&self, skip: Option<&str>) -> Result<regorus::Engine> {
        let mut rego = fresh_rego(self.strict, &self.limits);
        for (name, m) in &self.modules {
            if Some(name.as_str()) == skip {
                continue;
            }
            add_module(&mut rego, name, &m.source, m.version)?;
        }
        rego.add_data(self.rego.get_data())
            .map_err(|e| Error::Other(format!("copying data: {e:#}")))?;
        Ok(rego)
    }

    fn commit(&mut self, rego: regorus::Engine) {
        self.rego = rego;
        self.bump();
    }

    fn bump(&mut self) {
        self.programs.clear();
        self.revision = self.revision.wrapping_add(1);
    }
}

/// A regorus engine configured the one way every host uses.
fn fresh_rego(strict: bool, limits: &Limits) -> regorus::Engine {
    let mut rego = regorus::Engine::new();
    rego.set_strict_builtin_errors(strict);
    // Our `Limits` bound a policy's size; regorus's own defaults (1 MiB,
    // 20,000 lines, 1,024 columns) would refuse a PEM key on one line.
    let max = |n: usize| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
    rego.set_policy_length_config(regorus::PolicyLengthConfig {
        max_col: NonZeroU32::new(u32::try_from(limits.max_bytes).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN),
        max_file_bytes: max(limits.max_bytes),
        max_lines: max(limits.max_bytes),
    });
    crate::builtins::register(&mut rego, strict);
    rego
}

/// Adds one module, with OPA's out-parameter calls of the added builtins
/// rewritten (see [`crate::outparams`]); returns its package.
fn add_module(
    rego: &mut regorus::Engine,
    name: &str,
    source: &str,
    version: RegoVersion,
) -> Result<String> {
    let source = crate::outparams::rewrite(source, crate::builtins::arity)
        .unwrap_or_else(|| source.to_owned());
    // regorus reads the version when a module is parsed and keeps it with
    // the module, so modules of both versions live in one engine.
    rego.set_rego_v0(version == RegoVersion::V0);
    rego.add_policy(name.to_owned(), source)
        .map_err(|e| Error::InvalidPolicy(format!("{e:#}")))
}

/// Runs regorus's analysis of the whole module set (it happens lazily on the
/// first evaluation), so a policy that parses but does not compile is
/// refused when added rather than on the next request.
fn compile(rego: &mut regorus::Engine) -> Result<()> {
    rego.set_input(Value::Undefined);
    rego.eval_query("true".to_owned(), false)
        .map(|_| ())
        .map_err(|e| Error::InvalidPolicy(format!("{e:#}")))
}

/// Compact JSON of a value.
pub(crate) fn to_json(value: &Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Other(format!("serializing result: {e}")))
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
