//! Bundles in an engine: activating a bundle atomically, patching it with a
//! delta, removing it, and keeping other changes out of its roots.

use super::{Engine, Module, add_module, compile, fresh_rego};
use crate::bundle::{self, Bundle, BundleKind, Root};
use crate::{Error, Result};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// A bundle active in an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// The name it was activated under.
    pub name: String,
    /// The manifest's revision (the last delta's, once one is applied).
    pub revision: String,
    /// The roots it owns under `data`.
    pub roots: Vec<String>,
    /// The manifest's metadata as compact JSON.
    pub metadata: String,
    /// Its modules' names in the engine: `{name}/{path in the bundle}`.
    pub modules: Vec<String>,
    /// Deltas applied since the snapshot was activated.
    pub deltas: u64,
}

/// What the engine keeps per active bundle.
#[derive(Clone)]
pub(super) struct Active {
    info: BundleInfo,
    roots: Vec<Root>,
}

fn in_bundle(msg: &str, name: &str, e: Error) -> Error {
    match e {
        Error::InvalidPolicy(m) => Error::InvalidPolicy(format!("bundle {name:?}: {msg}{m}")),
        Error::InvalidJson(m) => Error::InvalidJson(format!("bundle {name:?}: {msg}{m}")),
        Error::InvalidBundle(m) => Error::InvalidBundle(format!("bundle {name:?}: {msg}{m}")),
        other => other,
    }
}

impl Engine {
    /// Activates `bundle` under `name`, replacing the bundle of that name:
    /// its modules and the data under its roots. All or nothing: the whole
    /// policy set compiles and the data loads before anything changes, and
    /// the revision moves on, so nothing cached under the previous bundle is
    /// served. A delta bundle patches the active bundle's data instead.
    ///
    /// Refused (`InvalidBundle`): roots overlapping another bundle's, a
    /// policy added outside bundles whose package lies under the roots.
    pub fn activate_bundle(&mut self, name: &str, bundle: Bundle) -> Result<BundleInfo> {
        if name.is_empty() {
            return Err(Error::InvalidBundle("a bundle needs a name".into()));
        }
        if bundle.manifest.kind == BundleKind::Delta {
            return self
                .apply_delta(name, bundle)
                .map_err(|e| in_bundle("", name, e));
        }
        self.activate_snapshot(name, bundle)
            .map_err(|e| in_bundle("", name, e))
    }

    fn activate_snapshot(&mut self, name: &str, bundle: Bundle) -> Result<BundleInfo> {
        let roots: Vec<Root> = bundle
            .manifest
            .roots
            .iter()
            .map(|r| Root::parse(r))
            .collect();
        for (other, active) in &self.bundles {
            if other == name {
                continue;
            }
            for a in &roots {
                if let Some(b) = active.roots.iter().find(|b| bundle::overlap(a, b)) {
                    return Err(Error::InvalidBundle(format!(
                        "root {:?} overlaps root {:?} of bundle {other:?}",
                        a.segments().join("/"),
                        b.segments().join("/")
                    )));
                }
            }
        }
        let old = self.bundles.get(name);
        let owned = |m: &str| old.is_some_and(|a| a.info.modules.iter().any(|o| o == m));
        let mut modules: BTreeMap<String, Module> = BTreeMap::new();
        for (mname, m) in &self.modules {
            if owned(mname) {
                continue;
            }
            if bundle::within(&roots, &bundle::package_segments(&m.package)) {
                return Err(Error::InvalidBundle(format!(
                    "policy {mname:?} (package {}) lies under the bundle's roots; remove it first",
                    m.package
                )));
            }
            modules.insert(mname.clone(), m.clone());
        }
        let mut rego = fresh_rego(self.strict, &self.limits);
        for (mname, m) in &modules {
            add_module(&mut rego, mname, &m.source, m.version)?;
        }
        let mut names = Vec::new();
        for bm in &bundle.modules {
            let mname = format!("{name}/{}", bm.path);
            if modules.contains_key(&mname) {
                return Err(Error::InvalidBundle(format!(
                    "a policy named {mname:?} exists outside the bundle"
                )));
            }
            self.limits.check_size(&bm.path, &bm.source)?;
            let package = add_module(&mut rego, &mname, &bm.source, bm.version)?;
            bundle::check_package(&roots, &package, &bm.path)?;
            names.push(mname.clone());
            modules.insert(
                mname,
                Module {
                    source: bm.source.clone(),
                    package,
                    version: bm.version,
                },
            );
        }
        let mut data = self.data_value()?;
        for r in old.iter().flat_map(|a| a.roots.iter()).chain(&roots) {
            bundle::remove_path(&mut data, r.segments());
        }
        bundle::merge_into(&mut data, &[] as &[&str], bundle.data).map_err(Error::InvalidBundle)?;
        load_data(&mut rego, data)?;
        compile(&mut rego)?;
        let info = BundleInfo {
            name: name.to_owned(),
            revision: bundle.manifest.revision.clone(),
            roots: bundle.manifest.roots.clone(),
            metadata: bundle.manifest.metadata.to_string(),
            modules: names,
            deltas: 0,
        };
        self.modules = modules;
        self.commit(rego);
        self.bundles.insert(
            name.to_owned(),
            Active {
                info: info.clone(),
                roots,
            },
        );
        Ok(info)
    }

    /// A delta bundle: `patch.json` applied to a copy of the data, within
    /// the active bundle's roots.
    fn apply_delta(&mut self, name: &str, bundle: Bundle) -> Result<BundleInfo> {
        let active = self.bundles.get(name).ok_or_else(|| {
            Error::InvalidBundle("a delta bundle needs an active snapshot of that name".into())
        })?;
        for op in &bundle.patch {
            let segs: Vec<&str> = op.path.split('/').filter(|s| !s.is_empty()).collect();
            if !bundle::within(&active.roots, &segs) {
                return Err(Error::InvalidBundle(format!(
                    "patch path {:?} is outside the active bundle's roots",
                    op.path
                )));
            }
        }
        let mut data = self.data_value()?;
        bundle::apply_patch(&mut data, &bundle.patch)?;
        let mut rego = self.rego.clone();
        rego.clear_data();
        load_data(&mut rego, data)?;
        let mut info = active.info.clone();
        info.revision = bundle.manifest.revision;
        info.deltas = info.deltas.saturating_add(1);
        self.commit(rego);
        if let Some(a) = self.bundles.get_mut(name) {
            a.info = info.clone();
        }
        Ok(info)
    }

    /// Deactivates the bundle `name`: its modules and the data under its
    /// roots go; `NotFound` when none is active.
    pub fn remove_bundle(&mut self, name: &str) -> Result<()> {
        let active = self
            .bundles
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("no active bundle named {name:?}")))?;
        let mut modules = self.modules.clone();
        for m in &active.info.modules {
            modules.remove(m);
        }
        let mut rego = fresh_rego(self.strict, &self.limits);
        for (mname, m) in &modules {
            add_module(&mut rego, mname, &m.source, m.version)?;
        }
        let mut data = self.data_value()?;
        for r in &active.roots {
            bundle::remove_path(&mut data, r.segments());
        }
        load_data(&mut rego, data)?;
        compile(&mut rego)?;
        self.modules = modules;
        self.commit(rego);
        self.bundles.remove(name);
        Ok(())
    }

    /// The active bundles, by name.
    pub fn bundles(&self) -> Vec<BundleInfo> {
        self.bundles.values().map(|a| a.info.clone()).collect()
    }

    /// The active bundles' names and revisions (what decision-log events
    /// name), without copying the rest of their state.
    pub fn bundle_revisions(&self) -> Vec<(String, String)> {
        self.bundles
            .values()
            .map(|a| (a.info.name.clone(), a.info.revision.clone()))
            .collect()
    }

    /// The bundle owning module `name`, if one does.
    pub(super) fn bundle_of_module(&self, name: &str) -> Option<&str> {
        self.bundles
            .values()
            .find(|a| a.info.modules.iter().any(|m| m == name))
            .map(|a| a.info.name.as_str())
    }

    /// `InvalidPolicy` when `package` lies under an active bundle's roots.
    pub(super) fn check_outside_bundles(&self, package: &str) -> Result<()> {
        let segs = bundle::package_segments(package);
        match self
            .bundles
            .values()
            .find(|a| bundle::within(&a.roots, &segs))
        {
            Some(a) => Err(Error::InvalidPolicy(format!(
                "package {package} lies under the roots of bundle {:?}, which owns them",
                a.info.name
            ))),
            None => Ok(()),
        }
    }

    /// `InvalidJson` when merging `value` into the data would write at or
    /// over a path an active bundle owns.
    pub(super) fn check_data_outside_bundles(&self, value: &Json) -> Result<()> {
        fn touches(roots: &[Root], path: &mut Vec<String>, node: &Json) -> bool {
            if bundle::within(roots, path) {
                return true;
            }
            match node {
                Json::Object(map) => map.iter().any(|(k, v)| {
                    path.push(k.clone());
                    let t = touches(roots, path, v);
                    path.pop();
                    t
                }),
                // A value here replaces everything below it.
                _ => roots.iter().any(|r| r.segments().starts_with(path)),
            }
        }
        for a in self.bundles.values() {
            if touches(&a.roots, &mut Vec::new(), value) {
                return Err(Error::InvalidJson(format!(
                    "data: writes under the roots of bundle {:?}, which owns them",
                    a.info.name
                )));
            }
        }
        Ok(())
    }

    /// The data under every active bundle's roots (kept when the rest of
    /// the data document is replaced or cleared).
    pub(super) fn bundle_data(&self) -> Result<Json> {
        let data = self.data_value()?;
        let mut kept = Json::Object(Default::default());
        for a in self.bundles.values() {
            for r in &a.roots {
                let mut node = Some(&data);
                for seg in r.segments() {
                    node = node.and_then(|n| n.get(seg));
                }
                if let Some(v) = node {
                    bundle::merge_into(&mut kept, r.segments(), v.clone()).map_err(Error::Other)?;
                }
            }
        }
        Ok(kept)
    }

    pub(super) fn has_bundles(&self) -> bool {
        !self.bundles.is_empty()
    }

    fn data_value(&self) -> Result<Json> {
        serde_json::to_value(self.rego.get_data())
            .map_err(|e| Error::Other(format!("copying data: {e}")))
    }
}

/// Loads a JSON data document into a regorus engine with no data.
pub(super) fn load_data(rego: &mut regorus::Engine, data: Json) -> Result<()> {
    let value: regorus::Value =
        serde_json::from_value(data).map_err(|e| Error::Other(format!("loading data: {e}")))?;
    rego.add_data(value)
        .map_err(|e| Error::Evaluation(format!("loading data: {e:#}")))
}
