//! What an instance must hold: the policies, data and settings that calls
//! changed successfully. A replacement instance replays it.

use crate::options::EvalOptions;
use crate::sandbox::{Failure, Sandbox};

/// The policy set of a pool, in the order it was built.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyState {
    /// (name, source) in insertion order; a replaced module keeps its place.
    policies: Vec<(String, String)>,
    /// Data documents merged since the last replace or clear.
    data: Vec<String>,
    strict: bool,
    /// Part of the state, not of the runtime, so an instance created after
    /// a trap evaluates the way its predecessor was told to.
    options: EvalOptions,
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
}

impl PolicyState {
    /// No policies, no data, and `options`.
    pub fn new(options: EvalOptions) -> Self {
        PolicyState {
            options,
            ..PolicyState::default()
        }
    }

    /// The evaluation options every instance holds.
    pub fn options(&self) -> EvalOptions {
        self.options
    }

    pub fn apply(&mut self, change: &Change<'_>) {
        match *change {
            Change::AddPolicy(name, source) => {
                match self.policies.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = source.to_owned(),
                    None => self.policies.push((name.to_owned(), source.to_owned())),
                }
            }
            Change::RemovePolicy(name) => self.policies.retain(|(n, _)| n != name),
            Change::AddData(json) => self.data.push(json.to_owned()),
            Change::ReplaceData(json) => self.data = vec![json.to_owned()],
            Change::ClearData => self.data.clear(),
            Change::Strict(on) => self.strict = on,
            Change::Options(options) => self.options = options,
        }
    }

    /// Sends this state's changes to `sandbox` (a fresh instance).
    pub fn replay(&self, sandbox: &mut Sandbox) -> Result<(), Failure> {
        // Always sent: the runtime's defaults may differ from the guest's.
        Change::Options(self.options).send(sandbox, u64::MAX / 2)?;
        for (name, source) in &self.policies {
            Change::AddPolicy(name, source).send(sandbox, u64::MAX / 2)?;
        }
        for json in &self.data {
            Change::AddData(json).send(sandbox, u64::MAX / 2)?;
        }
        if self.strict {
            Change::Strict(true).send(sandbox, u64::MAX / 2)?;
        }
        Ok(())
    }
}

impl Change<'_> {
    /// Makes this change in one instance; returns the package for `AddPolicy`.
    pub fn send(
        &self,
        sandbox: &mut Sandbox,
        deadline_ticks: u64,
    ) -> Result<Option<String>, Failure> {
        sandbox.call(deadline_ticks, |g, store| {
            let e = g.api.sark_policy_evaluator().engine();
            Ok(match *self {
                Change::AddPolicy(name, source) => {
                    e.call_add_policy(store, g.engine, name, source)?.map(Some)
                }
                Change::RemovePolicy(name) => {
                    e.call_remove_policy(store, g.engine, name)?.map(|()| None)
                }
                Change::AddData(json) => e.call_add_data(store, g.engine, json)?.map(|()| None),
                Change::ReplaceData(json) => {
                    e.call_replace_data(store, g.engine, json)?.map(|()| None)
                }
                Change::ClearData => e.call_clear_data(store, g.engine).map(|()| Ok(None))?,
                Change::Strict(on) => e
                    .call_set_strict_builtin_errors(store, g.engine, on)
                    .map(|()| Ok(None))?,
                Change::Options(options) => e
                    .call_set_eval_options(store, g.engine, options.into())
                    .map(|()| Ok(None))?,
            })
        })
    }
}
