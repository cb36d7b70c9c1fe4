//! Rules compiled to regorus's RVM (the Regorus Virtual Machine), once per
//! engine revision, and evaluated there instead of by the tree-walking
//! interpreter (about 4x faster on regorus's own benchmark policies).
//!
//! A rule is compiled the first time it is evaluated at a revision:
//! `Engine::compile_with_entrypoint` scopes the policy to what the rule
//! depends on, then `Compiler::compile_from_policy_with_host_await` emits
//! the program. The builtins this crate adds (JWT, crypto, net.cidr) are not
//! known to the RVM compiler, so they are registered as host-await builtins:
//! a program that calls one runs in suspendable mode and every call
//! suspends the VM, which [`Programs::eval`] answers with the same Rust code
//! the interpreter calls. A rule the compiler refuses (`with`, an unknown
//! function, ...) is kept as a [`Fallback`] with the reason, and evaluated by
//! the interpreter.

use crate::{Error, Result};
use hashbrown::HashMap;
use regorus::Value;
use regorus::languages::rego::compiler::{Compiler, CompilerError};
use regorus::rvm::vm::{ExecutionMode, ExecutionState, RegoVM, SuspendReason, VmError};
use std::sync::Arc;

/// The default budget of RVM instructions per evaluation. regorus's own
/// default (25,000) stopped a real gateway policy; at tens of nanoseconds an
/// instruction this is about a second of work, where the hosts' deadline
/// stops an evaluation anyway.
pub const DEFAULT_MAX_INSTRUCTIONS: u64 = 50_000_000;

/// At most this many rules are held compiled per revision; a host that
/// evaluates more distinct rule paths starts over (bounded state).
const MAX_PROGRAMS: usize = 256;

/// How the engine evaluates rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// Evaluate every rule with the interpreter, never the RVM (to compare).
    pub interpreter_only: bool,
    /// Most RVM instructions one evaluation may dispatch; over it the
    /// evaluation fails with `LimitExceeded`.
    pub max_instructions: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            interpreter_only: false,
            max_instructions: DEFAULT_MAX_INSTRUCTIONS,
        }
    }
}

/// Why an evaluation was served by the interpreter rather than the RVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// `EvalOptions::interpreter_only` is on.
    Forced,
    /// A query (`eval_query`), which the RVM does not take.
    Query,
    /// The rule uses `with`, which the RVM compiler refuses.
    With,
    /// The rule calls a function the RVM compiler does not know.
    UnknownFunction,
    /// The RVM compiler or loader refused the rule for another reason.
    Unsupported,
    /// Strict builtin errors are on: the RVM turns an error inside a rule
    /// body into a failed body, where OPA fails the evaluation.
    Strict,
    /// A rule the entrypoint depends on could produce two values (a
    /// conflict, which OPA reports as an error); the RVM would silently make
    /// it undefined or keep the last value.
    Conflict,
}

impl Reason {
    /// A short, stable name (a Prometheus label value).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Forced => "forced",
            Reason::Query => "query",
            Reason::With => "with",
            Reason::UnknownFunction => "unknown-function",
            Reason::Unsupported => "unsupported",
            Reason::Strict => "strict",
            Reason::Conflict => "conflict",
        }
    }

    fn of_compile_error(e: &CompilerError) -> Self {
        match e {
            CompilerError::WithKeywordUnsupported => Reason::With,
            CompilerError::UnknownFunction { .. }
            | CompilerError::UnknownBuiltinFunction { .. }
            | CompilerError::NotBuiltinFunction { .. } => Reason::UnknownFunction,
            _ => Reason::Unsupported,
        }
    }
}

impl Reason {
    /// Every reason, in the order of [`EvalStats::interpreter`].
    pub const ALL: [Reason; 7] = [
        Reason::Forced,
        Reason::Query,
        Reason::With,
        Reason::UnknownFunction,
        Reason::Unsupported,
        Reason::Strict,
        Reason::Conflict,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// How an engine's evaluations were served since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalStats {
    /// Rule evaluations run on the RVM.
    pub rvm: u64,
    /// Evaluations run by the interpreter, per reason (in the order of
    /// [`Reason::ALL`]).
    pub interpreter: [u64; 7],
    /// RVM programs compiled (one per rule and revision evaluated).
    pub compiled: u64,
    /// The rules of the current revision that fall back, and why.
    pub fallbacks: Vec<Fallback>,
}

impl EvalStats {
    /// Evaluations the interpreter ran for `reason`.
    pub fn interpreter(&self, reason: Reason) -> u64 {
        self.interpreter.get(reason.index()).copied().unwrap_or(0)
    }

    pub(crate) fn count_interpreter(&mut self, reason: Reason) {
        if let Some(n) = self.interpreter.get_mut(reason.index()) {
            *n = n.wrapping_add(1);
        }
    }
}

/// A rule the RVM does not run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The rule path, e.g. `data.authz.allow`.
    pub rule: String,
    /// The kind of refusal.
    pub reason: Reason,
    /// What the compiler said.
    pub message: String,
}

/// A compiled rule: its VM, loaded with the program and the data document.
struct Compiled {
    vm: RegoVM,
    /// The program calls added builtins, so it runs in suspendable mode.
    host_await: bool,
}

enum Entry {
    Compiled(Box<Compiled>),
    Fallback(Fallback),
}

/// The rules compiled at one revision of an engine.
#[derive(Default)]
pub(crate) struct Programs {
    entries: HashMap<String, Entry>,
    /// Programs compiled since the engine was created.
    compiled: u64,
}

/// A clone starts with nothing compiled: programs are a cache of the
/// engine's policies, rebuilt on demand.
impl Clone for Programs {
    fn clone(&self) -> Self {
        Self {
            entries: HashMap::new(),
            compiled: self.compiled,
        }
    }
}

/// What [`Programs::eval`] did.
pub(crate) enum Outcome {
    /// The RVM evaluated the rule.
    Value(Value),
    /// The rule falls back to the interpreter.
    Fallback(Reason),
}

impl Programs {
    /// Forgets every program (the policies or data changed).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// Rules held, compiled or falling back.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Programs compiled since the engine was created.
    pub(crate) fn compiled(&self) -> u64 {
        self.compiled
    }

    /// The rules of the current revision that fall back, sorted by rule.
    pub(crate) fn fallbacks(&self) -> Vec<Fallback> {
        let mut out: Vec<Fallback> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Fallback(f) => Some(f.clone()),
                Entry::Compiled(_) => None,
            })
            .collect();
        out.sort_by(|a, b| a.rule.cmp(&b.rule));
        out
    }

    /// Evaluates `rule` on the RVM with `input`, compiling it from `rego`
    /// first if this revision has not yet.
    pub(crate) fn eval(
        &mut self,
        rego: &regorus::Engine,
        rule: &str,
        input: Value,
        options: &EvalOptions,
        strict: bool,
    ) -> Result<Outcome> {
        if !self.entries.contains_key(rule) {
            let entry = compile(rego, rule, strict);
            if matches!(entry, Entry::Compiled(_)) {
                self.compiled = self.compiled.wrapping_add(1);
            }
            if self.entries.len() >= MAX_PROGRAMS {
                self.entries.clear();
            }
            self.entries.insert(rule.to_owned(), entry);
        }
        match self.entries.get_mut(rule) {
            Some(Entry::Compiled(c)) => run(c, rule, input, options, strict).map(Outcome::Value),
            Some(Entry::Fallback(f)) => Ok(Outcome::Fallback(f.reason)),
            None => Err(Error::Other(format!("no program held for {rule}"))),
        }
    }
}

/// Compiles `rule` from a copy of `rego` (compiling marks the engine, e.g.
/// for print gathering, and the interpreter must stay as it was).
fn compile(rego: &regorus::Engine, rule: &str, strict: bool) -> Entry {
    if strict {
        return Entry::Fallback(Fallback {
            rule: rule.to_owned(),
            reason: Reason::Strict,
            message: "strict builtin errors are on".to_owned(),
        });
    }
    let fallback = |reason: Reason, message: String| {
        Entry::Fallback(Fallback {
            rule: rule.to_owned(),
            reason,
            message,
        })
    };
    let mut scoped = rego.clone();
    let policy = match scoped.compile_with_entrypoint(&rule.into()) {
        Ok(p) => p,
        Err(e) => return fallback(Reason::Unsupported, format!("{e:#}")),
    };
    let host_awaits = crate::builtins::host_awaits();
    let program =
        match Compiler::compile_from_policy_with_host_await(&policy, &[rule], &host_awaits) {
            Ok(p) => p,
            Err(e) => return fallback(Reason::of_compile_error(&e.error), format!("{e}")),
        };
    let data = scoped.get_data();
    if let Some((reason, message)) = crate::rvm_checks::refuse(&policy, &program, &data) {
        return fallback(reason, message);
    }
    let host_await = program.has_host_await();
    let mut vm = RegoVM::new();
    vm.load_program(Arc::clone(&program));
    if let Err(e) = vm.set_data(data) {
        return fallback(Reason::Unsupported, format!("{e}"));
    }
    vm.set_strict_builtin_errors(strict);
    vm.set_execution_mode(if host_await {
        ExecutionMode::Suspendable
    } else {
        ExecutionMode::RunToCompletion
    });
    Entry::Compiled(Box::new(Compiled { vm, host_await }))
}

/// Runs one compiled rule, answering the VM's calls of added builtins.
fn run(
    c: &mut Compiled,
    rule: &str,
    input: Value,
    options: &EvalOptions,
    strict: bool,
) -> Result<Value> {
    let vm = &mut c.vm;
    vm.set_max_instructions(usize::try_from(options.max_instructions).unwrap_or(usize::MAX));
    vm.set_input(input);
    let mut value = vm
        .execute_entry_point_by_index(0)
        .map_err(|e| vm_error(rule, e))?;
    if !c.host_await {
        return Ok(value);
    }
    loop {
        let (name, args) = match vm.execution_state() {
            ExecutionState::Suspended {
                reason:
                    SuspendReason::HostAwait {
                        identifier,
                        argument,
                        ..
                    },
                ..
            } => (identifier.clone(), argument.clone()),
            ExecutionState::Completed { result } => return Ok(result.clone()),
            _ => return Ok(value),
        };
        let answer = crate::builtins::call_host_await(&name, &args, strict)
            .map_err(|e| Error::Evaluation(format!("{e:#}")))?;
        value = vm.resume(Some(answer)).map_err(|e| vm_error(rule, e))?;
    }
}

/// The core error for a VM error: a stop at the instruction budget is a
/// typed `LimitExceeded`, never a silent undefined.
fn vm_error(rule: &str, e: VmError) -> Error {
    match e {
        VmError::InstructionLimitExceeded { limit, .. } => Error::LimitExceeded(format!(
            "evaluating {rule} stopped at the limit of {limit} RVM instructions \
             (raise max-instructions in the engine's eval options)"
        )),
        other => Error::Evaluation(format!("{other}")),
    }
}

#[cfg(test)]
#[path = "rvm_tests.rs"]
mod tests;
