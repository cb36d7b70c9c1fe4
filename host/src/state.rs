//! What an instance must hold: the policies, data and settings that calls
//! changed successfully. A replacement instance replays it.
//!
//! The journal stays bounded. Policies are held by name, so they are what
//! the engine holds. Data changes are held since the last replace or clear;
//! a service that merges data in a loop would make that list grow without
//! end, so once it holds more than [`COMPACT_ADDS`] merges, or its merges
//! hold more bytes than the document they were merged into, the pool
//! compacts it into the merged document as the component prints it
//! (`engine.data`). The first rule bounds the calls a replay makes; the
//! second bounds the journal's bytes to about twice the document's and
//! keeps the cost of compacting in proportion to the bytes merged. The
//! Python host's journal follows the same rules.

use crate::bindings::exports::sark::policy::evaluator::BundleInfo as WitBundleInfo;
use crate::bundles::{BundleSource, Verification};
use crate::options::{EvalOptions, RegoVersion};
use crate::sandbox::{Failure, Sandbox};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Merges (`add-data`) held before the journal is compacted.
pub(crate) const COMPACT_ADDS: usize = 16;

/// The policy set of a pool, in the order it was built.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyState {
    /// (name, source) in insertion order; a replaced module keeps its place.
    policies: Vec<(String, String)>,
    /// Data documents since the last replace, clear or compaction; a
    /// replay merges each in turn into an empty document.
    data: Vec<String>,
    /// Merges in `data` since its head, and their bytes.
    adds: usize,
    add_bytes: usize,
    /// Bytes of the documents at the head of `data`.
    base_bytes: usize,
    strict: bool,
    /// Part of the state, not of the runtime, so an instance created after
    /// a trap evaluates the way its predecessor was told to.
    options: EvalOptions,
    /// The version every module is read as; fixed for a runtime.
    rego_version: RegoVersion,
    /// Active bundles by name: the snapshot, then the deltas applied since,
    /// replayed after the data (activating a snapshot clears its roots, so
    /// data compacted while it was active replays correctly before it).
    bundles: Vec<(String, Vec<HeldBundle>)>,
}

/// A bundle as the journal holds it (shared, not copied, between states).
#[derive(Debug, Clone)]
pub(crate) struct HeldBundle {
    pub source: Arc<BundleSource>,
    pub verification: Option<Arc<Verification>>,
}

/// One successful change, applied to the state after the guest accepted it.
pub(crate) enum Change<'a> {
    AddPolicy(&'a str, &'a str),
    RemovePolicy(&'a str),
    AddData(&'a str),
    ReplaceData(&'a str),
    ClearData,
    Strict(bool),
    Options(EvalOptions),
    RegoVersion(RegoVersion),
    ActivateBundle(&'a str, &'a HeldBundle),
    RemoveBundle(&'a str),
}

/// What a change returned.
pub(crate) enum Applied {
    Nothing,
    /// `AddPolicy`: the module's package.
    Package(String),
    /// `ActivateBundle`: the bundle as now active.
    Bundle(WitBundleInfo),
}

impl PolicyState {
    /// No policies, no data, `options`, modules read as `rego_version`.
    pub fn new(options: EvalOptions, rego_version: RegoVersion) -> Self {
        PolicyState {
            options,
            rego_version,
            ..PolicyState::default()
        }
    }

    /// The evaluation options every instance holds.
    pub fn options(&self) -> EvalOptions {
        self.options
    }

    /// This state after `change` succeeded with `applied`.
    pub fn apply(&mut self, change: &Change<'_>, applied: &Applied) {
        match *change {
            Change::AddPolicy(name, source) => {
                match self.policies.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = source.to_owned(),
                    None => self.policies.push((name.to_owned(), source.to_owned())),
                }
            }
            Change::RemovePolicy(name) => self.policies.retain(|(n, _)| n != name),
            Change::AddData(json) => {
                self.data.push(json.to_owned());
                self.adds += 1;
                self.add_bytes += json.len();
            }
            Change::ReplaceData(json) => self.set_data(vec![json.to_owned()]),
            Change::ClearData => self.set_data(Vec::new()),
            Change::Strict(on) => self.strict = on,
            Change::Options(options) => self.options = options,
            Change::RegoVersion(v) => self.rego_version = v,
            Change::ActivateBundle(name, held) => {
                let delta = matches!(applied, Applied::Bundle(info) if info.deltas > 0);
                match self.bundles.iter_mut().find(|(n, _)| n == name) {
                    Some((_, list)) if delta => list.push(held.clone()),
                    Some((_, list)) => *list = vec![held.clone()],
                    None => self.bundles.push((name.to_owned(), vec![held.clone()])),
                }
            }
            Change::RemoveBundle(name) => self.bundles.retain(|(n, _)| n != name),
        }
    }

    /// Bundles held and the deltas held over all of them (a test hook).
    pub fn bundles_held(&self) -> (usize, usize) {
        let deltas = self.bundles.iter().map(|(_, l)| l.len() - 1).sum();
        (self.bundles.len(), deltas)
    }

    fn set_data(&mut self, data: Vec<String>) {
        self.base_bytes = data.iter().map(String::len).sum();
        self.data = data;
        self.adds = 0;
        self.add_bytes = 0;
    }

    /// Whether the merges held call for [`compacted`](Self::compacted).
    pub fn wants_compaction(&self) -> bool {
        self.adds > COMPACT_ADDS || self.add_bytes > self.base_bytes
    }

    /// This state with its data changes replaced by `document`, the merged
    /// data document, cut into pieces of at most `max_bytes` (the
    /// component's document limit). `None` when it cannot be cut so.
    pub fn compacted(&self, document: &str, max_bytes: usize) -> Option<PolicyState> {
        let mut state = self.clone();
        state.set_data(pieces(document, max_bytes)?);
        Some(state)
    }

    /// This state with its merge counters restarted, so a compaction that
    /// failed is tried again only after as many merges again.
    pub fn compaction_deferred(&self) -> PolicyState {
        let mut state = self.clone();
        state.base_bytes += state.add_bytes;
        state.adds = 0;
        state.add_bytes = 0;
        state
    }

    /// Data changes a replacement instance replays.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Sends this state's changes to `sandbox` (a fresh instance).
    pub fn replay(&self, sandbox: &mut Sandbox) -> Result<(), Failure> {
        // Always sent: the runtime's defaults may differ from the guest's.
        Change::Options(self.options).send(sandbox, u64::MAX / 2)?;
        if self.rego_version != RegoVersion::V1 {
            Change::RegoVersion(self.rego_version).send(sandbox, u64::MAX / 2)?;
        }
        for (name, source) in &self.policies {
            Change::AddPolicy(name, source).send(sandbox, u64::MAX / 2)?;
        }
        for json in &self.data {
            Change::AddData(json).send(sandbox, u64::MAX / 2)?;
        }
        for (name, held) in &self.bundles {
            for bundle in held {
                Change::ActivateBundle(name, bundle).send(sandbox, u64::MAX / 2)?;
            }
        }
        if self.strict {
            Change::Strict(true).send(sandbox, u64::MAX / 2)?;
        }
        Ok(())
    }
}

impl Change<'_> {
    /// Makes this change in one instance.
    pub fn send(&self, sandbox: &mut Sandbox, deadline_ticks: u64) -> Result<Applied, Failure> {
        use Applied::Nothing;
        sandbox.call(deadline_ticks, |g, store| {
            let e = g.api.sark_policy_evaluator().engine();
            Ok(match *self {
                Change::AddPolicy(name, source) => e
                    .call_add_policy(store, g.engine, name, source)?
                    .map(Applied::Package),
                Change::RemovePolicy(name) => e
                    .call_remove_policy(store, g.engine, name)?
                    .map(|()| Nothing),
                Change::AddData(json) => e.call_add_data(store, g.engine, json)?.map(|()| Nothing),
                Change::ReplaceData(json) => e
                    .call_replace_data(store, g.engine, json)?
                    .map(|()| Nothing),
                Change::ClearData => e.call_clear_data(store, g.engine).map(|()| Ok(Nothing))?,
                Change::Strict(on) => e
                    .call_set_strict_builtin_errors(store, g.engine, on)
                    .map(|()| Ok(Nothing))?,
                Change::Options(options) => e
                    .call_set_eval_options(store, g.engine, options.into())
                    .map(|()| Ok(Nothing))?,
                Change::RegoVersion(v) => e
                    .call_set_rego_version(store, g.engine, v.into())
                    .map(|()| Ok(Nothing))?,
                Change::ActivateBundle(name, held) => {
                    let source = held.source.to_wit();
                    let verification = held.verification.as_ref().map(|v| v.to_wit());
                    e.call_activate_bundle(store, g.engine, name, &source, verification.as_ref())?
                        .map(Applied::Bundle)
                }
                Change::RemoveBundle(name) => e
                    .call_remove_bundle(store, g.engine, name)?
                    .map(|()| Nothing),
            })
        })
    }
}

/// `document` without the values under `roots` (`a/b` paths; `""` is the
/// whole document). `None` when it is not a JSON object.
pub(crate) fn without_roots(document: &str, roots: &[&str]) -> Option<String> {
    if roots.is_empty() {
        return Some(document.to_owned());
    }
    let mut doc: Value = serde_json::from_str(document).ok()?;
    'roots: for root in roots {
        let segs: Vec<&str> = root.split('/').filter(|s| !s.is_empty()).collect();
        let Some((last, parents)) = segs.split_last() else {
            return Some("{}".into());
        };
        let mut node = &mut doc;
        for seg in parents {
            match node.get_mut(*seg) {
                Some(next) => node = next,
                None => continue 'roots,
            }
        }
        if let Value::Object(map) = node {
            map.remove(*last);
        }
    }
    doc.is_object().then(|| doc.to_string())
}

/// `document` (a JSON object) as JSON texts of at most `max_bytes` bytes
/// each whose merge is `document`: itself when it fits, else objects
/// holding groups of its entries, an entry too large for a piece of its
/// own cut the same way one level down (as `{"key": piece}`). `None` when
/// a value that is not an object is too large on its own: it came from one
/// document, so only if the component prints it longer than it was read.
///
/// Pieces are printed by `serde_json`, which reads numbers as `u64`, `i64`
/// or `f64`: an integer beyond 64 bits in a document over the limit loses
/// precision.
pub(crate) fn pieces(document: &str, max_bytes: usize) -> Option<Vec<String>> {
    if document.len() <= max_bytes {
        return Some(vec![document.to_owned()]);
    }
    let Ok(Value::Object(map)) = serde_json::from_str(document) else {
        return None;
    };
    let mut out = Vec::new();
    cut(&map, max_bytes, &mut |piece| out.push(piece))?;
    Some(out)
}

/// Emits `map` as objects of at most `max_bytes` bytes whose merge is `map`.
fn cut(map: &Map<String, Value>, max_bytes: usize, emit: &mut dyn FnMut(String)) -> Option<()> {
    let mut group = Map::new();
    // `{}`, then each entry and a comma (one comma too many, for the braces).
    let mut size = 2;
    let mut flush = |group: &mut Map<String, Value>, size: &mut usize| {
        if !group.is_empty() {
            emit(Value::Object(std::mem::take(group)).to_string());
        }
        *size = 2;
    };
    let mut large = Vec::new();
    for (key, value) in map {
        let key_json = Value::String(key.clone()).to_string();
        let value_json = value.to_string();
        let entry = key_json.len() + 1 + value_json.len();
        if entry + 2 > max_bytes {
            large.push((key_json, value));
            continue;
        }
        if size + entry + 1 > max_bytes + 1 {
            flush(&mut group, &mut size);
        }
        group.insert(key.clone(), value.clone());
        size += entry + 1;
    }
    flush(&mut group, &mut size);
    for (key_json, value) in large {
        let Value::Object(inner) = value else {
            return None;
        };
        // `{"key":` and `}` around each piece of the inner object.
        let wrap = key_json.len() + 3;
        let room = max_bytes.checked_sub(wrap).filter(|&r| r > 2)?;
        cut(inner, room, &mut |piece| {
            emit(format!("{{{key_json}:{piece}}}"))
        })?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deep-merges `piece` into `into` the way `add-data` does (objects
    /// merge, anything else must not collide).
    fn merge(into: &mut Value, piece: Value) {
        match (into, piece) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    match a.get_mut(&k) {
                        Some(existing) => merge(existing, v),
                        None => {
                            a.insert(k, v);
                        }
                    }
                }
            }
            (a, b) => assert_eq!(*a, b, "pieces collide"),
        }
    }

    fn check(doc: &Value, max: usize) -> usize {
        let text = doc.to_string();
        let pieces = pieces(&text, max).unwrap();
        let mut merged = Value::Object(Map::new());
        for p in &pieces {
            assert!(p.len() <= max, "{} > {max}: {p}", p.len());
            merge(&mut merged, serde_json::from_str(p).unwrap());
        }
        assert_eq!(&merged, doc);
        pieces.len()
    }

    #[test]
    fn bundle_roots_are_cut_out_of_the_document() {
        let doc = r#"{"a":{"b":1,"c":2},"d":3}"#;
        assert_eq!(without_roots(doc, &[]).unwrap(), doc);
        assert_eq!(
            without_roots(doc, &["a/b", "x/y"]).unwrap(),
            r#"{"a":{"c":2},"d":3}"#
        );
        assert_eq!(
            without_roots(doc, &["d", "b/c"]).unwrap(),
            r#"{"a":{"b":1,"c":2}}"#
        );
        assert_eq!(without_roots(doc, &[""]).unwrap(), "{}");
    }

    #[test]
    fn a_small_document_is_one_piece() {
        let doc = serde_json::json!({"a": 1, "b": {"c": [1, 2]}});
        assert_eq!(check(&doc, 1000), 1);
    }

    #[test]
    fn a_large_document_is_cut_by_entries_and_within_entries() {
        let users: Map<String, Value> = (0..200)
            .map(|i| {
                (
                    format!("u{i}"),
                    serde_json::json!({"roles": ["analyst"], "n": i}),
                )
            })
            .collect();
        let doc = serde_json::json!({
            "users": users,
            "critical": {"tool:deploy": true},
            "deny_list": ["mallory"],
            "weird \"key\"": {"x": "\u{e9}\n"},
        });
        for max in [64, 100, 300, 1000, 4000] {
            let n = check(&doc, max);
            assert!(n > 1, "max {max}");
        }
    }

    #[test]
    fn a_leaf_over_the_limit_cannot_be_cut() {
        let doc = serde_json::json!({"a": "x".repeat(100), "b": 1});
        assert!(pieces(&doc.to_string(), 50).is_none());
    }

    #[test]
    fn merges_are_counted_and_compaction_resets_them() {
        let mut s = PolicyState::default();
        let doc = format!(r#"{{"a":"{}"}}"#, "x".repeat(64));
        s.apply(&Change::ReplaceData(&doc), &Applied::Nothing);
        for i in 0..COMPACT_ADDS {
            assert!(!s.wants_compaction(), "after {i}");
            s.apply(&Change::AddData("{}"), &Applied::Nothing);
        }
        s.apply(&Change::AddData("{}"), &Applied::Nothing);
        assert!(s.wants_compaction());
        let c = s.compacted(&doc, 1 << 20).unwrap();
        assert_eq!(c.data_len(), 1);
        assert!(!c.wants_compaction());
        let mut d = s.compaction_deferred();
        assert_eq!(d.data_len(), s.data_len());
        assert!(!d.wants_compaction());
        // Bytes: merges larger than the document they merge into.
        d.apply(
            &Change::AddData(&format!(r#"{{"x":"{}"}}"#, "y".repeat(128))),
            &Applied::Nothing,
        );
        assert!(d.wants_compaction());
    }
}
