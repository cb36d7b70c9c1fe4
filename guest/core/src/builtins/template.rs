//! `strings.render_template(template, vars)` (OPA `topdown/template.go`):
//! Go's `text/template` executed with `vars` as its data, and `<no value>`
//! (a missing key) printed as `<undefined>`.
//!
//! Supported, with Go's semantics:
//! - text and actions `{{ ... }}`, trim markers `{{- ` and ` -}}`,
//!   comments `{{/* ... */}}`;
//! - arguments: `.`, `.a.b`, `$`, `$.a`, `$x`, `$x.a`, string literals
//!   (`"..."` with Go escapes, and raw `` `...` ``), numbers, `true`,
//!   `false`, `nil`, parenthesized pipelines, field access on a
//!   parenthesized value `(...).a`;
//! - pipelines `a | f b` (the value goes last), variable declarations and
//!   assignments `{{$x := ...}}`, `{{$x = ...}}`;
//! - `{{if}}`, `{{else if}}`, `{{else}}`, `{{range}}` (over arrays, sets and
//!   objects by sorted key, with `$v :=` or `$k, $v :=`, and `{{else}}`),
//!   `{{with}}` (with `{{else}}`), `{{break}}`, `{{continue}}`, `{{end}}`;
//! - functions `and`, `or`, `not`, `len`, `index`, `eq`, `ne`, `lt`, `le`,
//!   `gt`, `ge`, `print`, `println`, `printf` (verbs `%v %s %d %q %t %%`).
//!
//! Values print as Go's `fmt` prints the JSON decoding OPA hands the
//! template (numbers are `json.Number` strings, also to `print`):
//! arrays `[a b]`, objects `map[k:v]` (sorted keys), `null`
//! inside a collection `<nil>`. Not supported (an error naming it):
//! `define`, `template`, `block`, and the functions `html`, `js`,
//! `urlquery`, `slice`, `call`. One divergence: `eq` and the other
//! comparisons compare numbers with numbers, where Go refuses to compare
//! the `json.Number` strings OPA's data holds with a number literal.

use super::{arg, operand_error, string_arg};
use anyhow::{Result, anyhow, bail};
use parse::{Arg, Node, Pipeline};
use regorus::Value;

#[path = "template_parse.rs"]
mod parse;

/// How many bytes a render may produce: a template is policy-controlled.
const MAX_OUTPUT: usize = 16 << 20;

/// Go's truth: false, 0, nil, and empty strings and collections are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Undefined => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Set(s) => !s.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Go's `fmt` `%v` of the decoded value; `top` marks the value printed by
/// an action, where nothing at all is Go's `<no value>`.
fn print(v: &Value, top: bool, out: &mut String) {
    match v {
        Value::Undefined | Value::Null if top => out.push_str("<undefined>"),
        Value::Undefined | Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(_) => out.push_str(&v.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => list(a.iter(), out),
        Value::Set(s) => list(s.iter(), out),
        Value::Object(o) => {
            out.push_str("map[");
            for (i, (k, v)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print(k, false, out);
                out.push(':');
                print(v, false, out);
            }
            out.push(']');
        }
    }
}

fn list<'a>(items: impl Iterator<Item = &'a Value>, out: &mut String) {
    out.push('[');
    for (i, v) in items.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print(v, false, out);
    }
    out.push(']');
}

fn to_text(v: &Value) -> String {
    let mut s = String::new();
    print(v, false, &mut s);
    s
}

/// Control flow out of a range body.
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    root: &'a Value,
    vars: Vec<(String, Value)>,
    out: String,
}

impl Exec<'_> {
    fn field(&self, mut v: Value, fields: &[String]) -> Result<Value> {
        for f in fields {
            v = match &v {
                Value::Object(_) => v[f.as_str()].clone(),
                Value::Undefined | Value::Null => {
                    bail!("nil pointer evaluating interface {{}}.{f}")
                }
                other => bail!("can't evaluate field {f} in type {}", go_type(other)),
            };
        }
        Ok(v)
    }

    fn var(&self, name: &str) -> Result<Value> {
        if name == "$" {
            return Ok(self.root.clone());
        }
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| anyhow!("undefined variable: {name}"))
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value> {
        match a {
            Arg::Dot(fields) => self.field(dot.clone(), fields),
            Arg::Var(name, fields) => {
                let v = self.var(name)?;
                self.field(v, fields)
            }
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Nil => Ok(Value::Null),
            Arg::Paren(pipe, fields) => {
                let v = self.pipeline(pipe, dot)?;
                self.field(v, fields)
            }
            Arg::Func(name) => self.call(name, &[], dot),
        }
    }

    fn command(&mut self, cmd: &[Arg], piped: Option<Value>, dot: &Value) -> Result<Value> {
        match cmd.split_first() {
            Some((Arg::Func(name), rest)) => {
                let mut args = Vec::with_capacity(rest.len() + 1);
                for a in rest {
                    args.push(self.arg(a, dot)?);
                }
                args.extend(piped);
                self.call(name, &args, dot)
            }
            Some((a, [])) if piped.is_none() => self.arg(a, dot),
            Some(_) => bail!("can't give argument to non-function"),
            None => bail!("empty command"),
        }
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, value, dot)?);
        }
        let value = value.unwrap_or(Value::Undefined);
        if let Some(name) = pipe.vars.last() {
            if pipe.declare {
                self.vars.push((name.clone(), value.clone()));
            } else if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = value.clone();
            } else {
                bail!("undefined variable: {name}");
            }
        }
        Ok(value)
    }

    fn call(&mut self, name: &str, args: &[Value], _dot: &Value) -> Result<Value> {
        let want = |n: usize| -> Result<()> {
            if args.len() != n {
                bail!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                );
            }
            Ok(())
        };
        Ok(match name {
            "and" => args
                .iter()
                .find(|v| !truthy(v))
                .or(args.last())
                .cloned()
                .ok_or_else(|| anyhow!("wrong number of args for and"))?,
            "or" => args
                .iter()
                .find(|v| truthy(v))
                .or(args.last())
                .cloned()
                .ok_or_else(|| anyhow!("wrong number of args for or"))?,
            "not" => {
                want(1)?;
                Value::from(!args.first().is_some_and(truthy))
            }
            "len" => {
                want(1)?;
                let n = match args.first() {
                    // Go's len of a string counts bytes.
                    Some(Value::String(s)) => s.len(),
                    Some(Value::Array(a)) => a.len(),
                    Some(Value::Set(s)) => s.len(),
                    Some(Value::Object(o)) => o.len(),
                    Some(other) => bail!("len of type {}", go_type(other)),
                    None => 0,
                };
                Value::from(n)
            }
            "index" => {
                let (first, keys) = args
                    .split_first()
                    .ok_or_else(|| anyhow!("wrong number of args for index"))?;
                let mut v = first.clone();
                for k in keys {
                    v = match (&v, k) {
                        (Value::Array(a), Value::Number(n)) => {
                            let i = n
                                .as_i64()
                                .and_then(|i| usize::try_from(i).ok())
                                .filter(|i| *i < a.len())
                                .ok_or_else(|| {
                                    anyhow!("error calling index: index out of range: {n:?}")
                                })?;
                            a.get(i).cloned().unwrap_or(Value::Undefined)
                        }
                        (Value::Object(_), _) => v[k].clone(),
                        (Value::Null | Value::Undefined, _) => {
                            bail!("error calling index: index of untyped nil")
                        }
                        (other, _) => {
                            bail!(
                                "error calling index: can't index item of type {}",
                                go_type(other)
                            )
                        }
                    };
                }
                v
            }
            "eq" => {
                let (first, rest) = args
                    .split_first()
                    .ok_or_else(|| anyhow!("missing argument for comparison"))?;
                if rest.is_empty() {
                    bail!("missing argument for comparison");
                }
                Value::from(rest.iter().any(|v| v == first))
            }
            "ne" | "lt" | "le" | "gt" | "ge" => {
                want(2)?;
                let (a, b) = match args {
                    [a, b] => (a, b),
                    _ => bail!("missing argument for comparison"),
                };
                let comparable = matches!(
                    (a, b),
                    (Value::Number(_), Value::Number(_))
                        | (Value::String(_), Value::String(_))
                        | (Value::Bool(_), Value::Bool(_))
                );
                if !comparable && name != "ne" {
                    bail!("incompatible types for comparison");
                }
                if matches!((a, b), (Value::Bool(_), Value::Bool(_))) && name != "ne" {
                    bail!("invalid type for comparison");
                }
                Value::from(match name {
                    "ne" => a != b,
                    "lt" => a < b,
                    "le" => a <= b,
                    "gt" => a > b,
                    _ => a >= b,
                })
            }
            "print" | "println" => {
                // Go's Sprint adds a space between operands when neither
                // is a string; Sprintln between all. A number from the
                // data is a `json.Number`, a string to Sprint.
                let mut s = String::new();
                for (i, v) in args.iter().enumerate() {
                    let stringy =
                        |v: Option<&Value>| matches!(v, Some(Value::String(_) | Value::Number(_)));
                    let both_not_strings = i > 0 && !stringy(Some(v)) && !stringy(args.get(i - 1));
                    if i > 0 && (name == "println" || both_not_strings) {
                        s.push(' ');
                    }
                    s.push_str(&to_text(v));
                }
                if name == "println" {
                    s.push('\n');
                }
                Value::from(s)
            }
            "printf" => {
                let (fmt, rest) = match args.split_first() {
                    Some((Value::String(f), rest)) => (f.clone(), rest),
                    _ => bail!("printf needs a format string"),
                };
                Value::from(printf(&fmt, rest))
            }
            other => bail!("function {other:?} not defined"),
        })
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow> {
        for node in nodes {
            if self.out.len() > MAX_OUTPUT {
                bail!("template output is larger than {MAX_OUTPUT} bytes");
            }
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Print(pipe) => {
                    let v = self.pipeline(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        let mut s = String::new();
                        print(&v, true, &mut s);
                        self.out.push_str(&s);
                    }
                }
                Node::If(pipe, then, otherwise) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipe, dot)?;
                    let flow = self.list(if truthy(&v) { then } else { otherwise }, dot)?;
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With(pipe, body, otherwise) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipe, dot)?;
                    let flow = if truthy(&v) {
                        self.list(body, &v)?
                    } else {
                        self.list(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(pipe, body, otherwise) => {
                    let mut plain = pipe.clone();
                    plain.vars.clear();
                    let collection = self.pipeline(&plain, dot)?;
                    let pairs: Vec<(Value, Value)> = match &collection {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (Value::from(i), v.clone()))
                            .collect(),
                        Value::Set(s) => s
                            .iter()
                            .enumerate()
                            .map(|(i, v)| (Value::from(i), v.clone()))
                            .collect(),
                        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        Value::Null | Value::Undefined => Vec::new(),
                        Value::Number(n) => {
                            let count = n
                                .as_i64()
                                .filter(|n| *n <= 1 << 20)
                                .ok_or_else(|| anyhow!("range can't iterate over {n:?}"))?;
                            (0..count.max(0))
                                .map(|i| (Value::from(i), Value::from(i)))
                                .collect()
                        }
                        other => bail!("range can't iterate over {other}"),
                    };
                    if pairs.is_empty() {
                        self.list(otherwise, dot)?;
                        continue;
                    }
                    for (k, v) in pairs {
                        let mark = self.vars.len();
                        match pipe.vars.as_slice() {
                            [value] => self.vars.push((value.clone(), v.clone())),
                            [key, value] => {
                                self.vars.push((key.clone(), k));
                                self.vars.push((value.clone(), v.clone()));
                            }
                            _ => {}
                        }
                        let flow = self.list(body, &v)?;
                        self.vars.truncate(mark);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }
}

/// Go's type name for an error message.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "json.Number",
        Value::Bool(_) => "bool",
        Value::Array(_) | Value::Set(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null | Value::Undefined => "<nil>",
    }
}

/// `printf`'s subset: `%v %s %d %q %t %%`.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.next() {
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            Some(v) => match verb {
                'q' => out.push_str(&serde_json::to_string(&to_text(v)).unwrap_or_default()),
                _ => out.push_str(&to_text(v)),
            },
        }
    }
    out
}

/// `strings.render_template(template, vars)`.
pub(super) fn render(args: Vec<Value>) -> Result<Value> {
    let src = string_arg(&args, 0)?;
    let vars = match arg(&args, 1)? {
        v @ Value::Object(_) => v,
        other => return Err(operand_error(1, "object", other)),
    };
    let nodes = parse::parse(src).map_err(|e| anyhow!("template: {e}"))?;
    let mut exec = Exec {
        root: vars,
        vars: Vec::new(),
        out: String::new(),
    };
    exec.list(&nodes, vars)
        .map_err(|e| anyhow!("template: {e}"))?;
    Ok(Value::from(exec.out))
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
