//! The `evaluator` interface: a `RefCell` around the core engine.

use crate::Component;
use crate::exports::sark::policy::evaluator::{
    BuildOptions, BundleFile, BundleInfo, BundleSource, Error, EvalOptions, EvalStats, Guest,
    GuestEngine, Limits, RegoVersion, TestOutcome, TestResult, Verification,
};
use core::cell::RefCell;
use sark_policy_core as sark;

/// The `engine` resource.
pub struct EngineResource(pub RefCell<sark::Engine>);

impl Guest for Component {
    type Engine = EngineResource;

    fn build_bundle(files: Vec<BundleFile>, options: BuildOptions) -> Result<Vec<u8>, Error> {
        let files = files
            .into_iter()
            .map(|f| sark::BundleFile {
                path: f.path,
                bytes: f.bytes,
            })
            .collect();
        let options = sark::BuildOptions {
            revision: options.revision,
            roots: options.roots,
            signing: options.signing.map(|s| sark::SigningConfig {
                algorithm: s.algorithm,
                key: s.key,
                key_id: s.key_id,
                scope: s.scope,
                exclude_files: s.exclude_files,
            }),
        };
        Ok(sark::build_bundle(
            files,
            &options,
            &sark::BundleLimits::DEFAULT,
            &sark::Limits::DEFAULT,
        )?)
    }
}

impl GuestEngine for EngineResource {
    fn new() -> Self {
        EngineResource(RefCell::new(sark::Engine::new()))
    }

    fn add_policy(&self, name: String, source: String) -> Result<String, Error> {
        Ok(self.0.borrow_mut().add_policy(&name, &source)?)
    }

    fn remove_policy(&self, name: String) -> Result<(), Error> {
        Ok(self.0.borrow_mut().remove_policy(&name)?)
    }

    fn policies(&self) -> Vec<String> {
        self.0.borrow().policies()
    }

    fn packages(&self) -> Vec<String> {
        self.0.borrow().packages()
    }

    fn add_data(&self, json: String) -> Result<(), Error> {
        Ok(self.0.borrow_mut().add_data(&json)?)
    }

    fn replace_data(&self, json: String) -> Result<(), Error> {
        Ok(self.0.borrow_mut().replace_data(&json)?)
    }

    fn clear_data(&self) {
        self.0.borrow_mut().clear_data();
    }

    fn data(&self) -> Result<String, Error> {
        Ok(self.0.borrow().data_json()?)
    }

    fn eval_rule(&self, rule: String, input: String) -> Result<Option<String>, Error> {
        Ok(self.0.borrow_mut().eval_rule(&rule, &input)?)
    }

    fn eval_query(&self, query: String, input: String) -> Result<String, Error> {
        Ok(self.0.borrow_mut().eval_query(&query, &input)?)
    }

    fn set_strict_builtin_errors(&self, on: bool) {
        self.0.borrow_mut().set_strict_builtin_errors(on);
    }

    fn set_rego_version(&self, version: RegoVersion) {
        self.0.borrow_mut().set_rego_version(match version {
            RegoVersion::V1 => sark::RegoVersion::V1,
            RegoVersion::V0 => sark::RegoVersion::V0,
        });
    }

    fn rego_version(&self) -> RegoVersion {
        match self.0.borrow().rego_version() {
            sark::RegoVersion::V1 => RegoVersion::V1,
            sark::RegoVersion::V0 => RegoVersion::V0,
        }
    }

    fn revision(&self) -> u64 {
        self.0.borrow().revision()
    }

    fn set_eval_options(&self, options: EvalOptions) {
        self.0.borrow_mut().set_eval_options(options.into());
    }

    fn eval_options(&self) -> EvalOptions {
        self.0.borrow().eval_options().into()
    }

    fn eval_stats(&self) -> EvalStats {
        self.0.borrow().eval_stats().into()
    }

    fn limits(&self) -> Limits {
        self.0.borrow().limits().into()
    }

    fn run_tests(&self, filter: String) -> Result<Vec<TestResult>, Error> {
        let results = self.0.borrow_mut().run_tests(&filter)?;
        Ok(results.into_iter().map(test_result).collect())
    }

    fn activate_bundle(
        &self,
        name: String,
        source: BundleSource,
        verification: Option<Verification>,
    ) -> Result<BundleInfo, Error> {
        let verification = verification.map(|v| sark::VerificationConfig {
            keys: v
                .keys
                .into_iter()
                .map(|k| sark::VerificationKey {
                    id: k.id,
                    algorithm: k.algorithm,
                    key: k.key,
                    scope: k.scope,
                })
                .collect(),
            key_id: v.key_id,
            scope: v.scope,
            exclude_files: v.exclude_files,
        });
        let mut engine = self.0.borrow_mut();
        // Moved, not copied: a bundle may be megabytes.
        let (tarball, files): (Vec<u8>, Vec<sark::BundleFile>);
        let source = match source {
            BundleSource::Tarball(bytes) => {
                tarball = bytes;
                sark::BundleSource::TarGz(&tarball)
            }
            BundleSource::Files(list) => {
                files = list
                    .into_iter()
                    .map(|f| sark::BundleFile {
                        path: f.path,
                        bytes: f.bytes,
                    })
                    .collect();
                sark::BundleSource::Files(&files)
            }
        };
        let bundle = sark::Bundle::read(
            source,
            verification.as_ref(),
            engine.rego_version(),
            &sark::BundleLimits::DEFAULT,
            &engine.limits(),
        )?;
        Ok(bundle_info(engine.activate_bundle(&name, bundle)?))
    }

    fn remove_bundle(&self, name: String) -> Result<(), Error> {
        Ok(self.0.borrow_mut().remove_bundle(&name)?)
    }

    fn bundles(&self) -> Vec<BundleInfo> {
        self.0
            .borrow()
            .bundles()
            .into_iter()
            .map(bundle_info)
            .collect()
    }
}

fn bundle_info(b: sark::BundleInfo) -> BundleInfo {
    BundleInfo {
        name: b.name,
        revision: b.revision,
        roots: b.roots,
        metadata: b.metadata,
        modules: b.modules,
        deltas: b.deltas,
    }
}

fn test_result(r: sark::TestResult) -> TestResult {
    TestResult {
        package: r.package,
        name: r.name,
        file: r.file,
        row: r.row,
        col: r.col,
        outcome: match r.outcome {
            sark::TestOutcome::Pass => TestOutcome::Pass,
            sark::TestOutcome::Fail => TestOutcome::Fail,
            sark::TestOutcome::Error => TestOutcome::Error,
            sark::TestOutcome::Skip => TestOutcome::Skip,
        },
        message: r.message,
        nanos: r.nanos,
    }
}
