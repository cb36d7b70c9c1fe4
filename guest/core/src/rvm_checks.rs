//! What regorus 0.14.1's RVM answers differently from its interpreter (and
//! from OPA), found by running both on OPA's conformance cases, and the
//! static checks that keep such rules on the interpreter. Each check is
//! conservative: it may send a rule that would have agreed to the
//! interpreter, never the other way round.

use crate::rvm::Reason;
use regorus::CompiledPolicy;
use regorus::Value;
use regorus::rvm::Instruction;
use regorus::rvm::program::{Program, RuleType};
use regorus::unstable::{Expr, Rule, RuleHead};

/// Why the rule compiled into `program` from `policy` must not run on the
/// RVM, if it must not.
pub(crate) fn refuse(
    policy: &CompiledPolicy,
    program: &Program,
    data: &Value,
) -> Option<(Reason, String)> {
    if let Some(name) = conflict_capable(program) {
        return Some((
            Reason::Conflict,
            format!("{name} may produce more than one value, a conflict the RVM would not report"),
        ));
    }
    if let Some(why) = unsupported_rule_heads(policy) {
        return Some((Reason::Unsupported, why));
    }
    if has_number_literal(program) && has_numeric_key(data, 0) {
        return Some((
            Reason::Unsupported,
            "a number in the policy and a numeric string key in data: OPA matches `data.x[2]` \
             against the key \"2\", the RVM does not"
                .to_owned(),
        ));
    }
    None
}

/// Default functions (`default f(x) := 1`): the RVM ignores the default.
/// Ref heads with a variable other than a last key (`a[x].b contains y`):
/// the RVM caches the rule's value under the wrong key.
fn unsupported_rule_heads(policy: &CompiledPolicy) -> Option<String> {
    for module in policy.get_modules() {
        for rule in &module.policy {
            match rule.as_ref() {
                Rule::Default { args, span, .. } if !args.is_empty() => {
                    return Some(format!(
                        "default function at {}:{}: the RVM ignores its default",
                        span.source.get_path(),
                        span.line
                    ));
                }
                Rule::Spec { head, span, .. } => {
                    let (refr, last_var_ok) = match head {
                        RuleHead::Compr { refr, .. } => (refr, true),
                        RuleHead::Set { refr, .. } => (refr, false),
                        RuleHead::Func { .. } => continue,
                    };
                    let vars = variable_indices(refr);
                    let ok = match vars.as_slice() {
                        [] => true,
                        [last] => last_var_ok && *last == 0,
                        _ => false,
                    };
                    if !ok {
                        return Some(format!(
                            "rule head with a variable path at {}:{}: the RVM caches it under the wrong key",
                            span.source.get_path(),
                            span.line
                        ));
                    }
                }
                Rule::Default { .. } => {}
            }
        }
    }
    None
}

/// Distances from the end of the ref `e` of its bracket indices that are
/// not literals (0: the last component).
fn variable_indices(e: &Expr) -> Vec<usize> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = e;
    loop {
        match cur {
            Expr::RefBrack { refr, index, .. } => {
                if !matches!(
                    index.as_ref(),
                    Expr::String { .. }
                        | Expr::RawString { .. }
                        | Expr::Number { .. }
                        | Expr::Bool { .. }
                        | Expr::Null { .. }
                ) {
                    out.push(depth);
                }
                cur = refr;
            }
            Expr::RefDot { refr, .. } => cur = refr,
            _ => return out,
        }
        depth += 1;
    }
}

/// Whether the program holds a number literal (a possible path component).
fn has_number_literal(program: &Program) -> bool {
    program
        .literals
        .iter()
        .any(|l| matches!(l, Value::Number(_)))
}

/// Whether an object in `v` has a key that reads as a number, as OPA's store
/// lets `data.x[2]` find `{"x": {"2": ...}}`. Depth-bounded by the document
/// limits already enforced on data.
fn has_numeric_key(v: &Value, depth: usize) -> bool {
    match v {
        Value::Object(o) if depth < 128 => o.iter().any(|(k, v)| {
            matches!(k, Value::String(s) if s.parse::<f64>().is_ok())
                || has_numeric_key(v, depth + 1)
        }),
        Value::Array(a) if depth < 128 => a.iter().any(|v| has_numeric_key(v, depth + 1)),
        _ => false,
    }
}

/// The first rule of `program` that could produce conflicting values.
///
/// regorus 0.14.1's RVM makes a complete rule whose definitions disagree
/// undefined, keeps the last value when one body yields several, and lets
/// a later key win in a partial object; OPA (and the interpreter) fail the
/// evaluation. A complete rule or function can disagree with itself when it
/// has independent bodies not known to yield one constant value, or yields
/// a computed value inside a loop; a partial object when it yields a
/// computed value from a loop or from more than one body. Such programs run
/// on the interpreter.
fn conflict_capable(program: &Program) -> Option<&str> {
    program.rule_infos.iter().find_map(|info| {
        let object = match info.rule_type {
            RuleType::Complete => false,
            RuleType::PartialObject => true,
            RuleType::PartialSet => return None,
        };
        let (mut independent, mut computed, mut repeated) = (0usize, false, false);
        for (def, bodies) in info.definitions.iter().enumerate() {
            let else_flags = info.else_bodies.get(def);
            for (i, &pc) in bodies.iter().enumerate() {
                if !else_flags.and_then(|e| e.get(i)).copied().unwrap_or(false) {
                    independent += 1;
                }
                let yields = body_yields(program, pc, object);
                computed |= yields.computed;
                repeated |= yields.computed_in_loop;
            }
        }
        let several =
            independent > 1 && (object && computed || !object && !info.early_exit_on_first_success);
        (repeated || several).then_some(info.name.as_str())
    })
}

/// What the body of a rule starting at `pc` yields.
#[derive(Default)]
struct Yields {
    /// Some yield is not a constant.
    computed: bool,
    /// Some yield is not a constant and lies inside a loop.
    computed_in_loop: bool,
}

/// Scans the rule body starting at `pc` (up to its `RuleReturn`) for the
/// instructions that yield the rule's value: a `Move` into its result
/// register (complete rules, functions) or an `ObjectSet` on it (partial
/// objects). A yield is constant when the instruction before it loads a
/// literal into the yielded register (as the compiler emits `allow if ...`
/// and `x := "lit" if ...`).
fn body_yields(program: &Program, pc: u32, object: bool) -> Yields {
    let start = usize::try_from(pc).unwrap_or(usize::MAX);
    let body: Vec<(usize, &Instruction)> = program
        .instructions
        .iter()
        .enumerate()
        .skip(start)
        .take_while(|(_, i)| !matches!(i, Instruction::RuleReturn {}))
        .collect();
    let result = body.iter().find_map(|(_, i)| match i {
        Instruction::RuleInit { result_reg, .. } => Some(*result_reg),
        _ => None,
    });
    let loops: Vec<(usize, usize)> = body
        .iter()
        .filter_map(|(_, i)| match i {
            Instruction::LoopStart { params_index } => program
                .instruction_data
                .loop_params
                .get(usize::from(*params_index))
                .map(|p| (usize::from(p.body_start), usize::from(p.loop_end))),
            _ => None,
        })
        .collect();
    let mut out = Yields::default();
    let mut previous: Option<&Instruction> = None;
    for &(at, instruction) in &body {
        let yielded = match instruction {
            Instruction::Move { dest, src } if !object && Some(*dest) == result => Some(*src),
            Instruction::ObjectSet { obj, value, .. } if object && Some(*obj) == result => {
                Some(*value)
            }
            _ => None,
        };
        if let Some(src) = yielded {
            let constant = matches!(previous, Some(
                Instruction::Load { dest, .. }
                | Instruction::LoadBool { dest, .. }
                | Instruction::LoadTrue { dest }
                | Instruction::LoadFalse { dest }
                | Instruction::LoadNull { dest }) if *dest == src);
            if !constant {
                out.computed = true;
                out.computed_in_loop |= loops.iter().any(|&(b, e)| b <= at && at < e);
            }
        }
        previous = Some(instruction);
    }
    out
}
