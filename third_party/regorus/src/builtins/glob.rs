// Copyright (c) Microsoft Corporation.
// Licensed under the MIT License.

#![allow(clippy::pattern_type_mismatch)]

use crate::ast::{Expr, Ref};
use crate::builtins;
use crate::builtins::utils::{ensure_args_count, ensure_string, ensure_string_collection};
use crate::lexer::Span;
use crate::value::Value;
use crate::*;

use anyhow::{bail, Result};

pub fn register(m: &mut builtins::BuiltinsMap<&'static str, builtins::BuiltinFcn>) {
    m.insert("glob.match", (glob_match, 3));
    m.insert("glob.quote_meta", (quote_meta, 1));
}

// OPA's glob.match is gobwas/glob: `*` matches any run of characters but the
// delimiters, `**` any run at all, `?` one character but a delimiter,
// `[abc]` / `[a-z]` (negated with `!`) one character, `{a,b}` any of the
// alternatives (possibly empty, possibly nested), `\` escapes. Matching
// with globset after rewriting the delimiters to `/` could not express an
// empty alternative (`{**/,}x` did not match "x") nor a `**` that is not a
// whole path component. This is gobwas's grammar, matched by a position-set
// simulation: linear in the input per pattern element, no backtracking.

/// One element of a pattern.
#[derive(Debug)]
enum Node {
    Text(Vec<char>),
    /// `*` (stops at delimiters) or `**` (does not).
    Star {
        super_star: bool,
    },
    /// `?`.
    Single,
    /// `[a-z]`, or `[!a-z]` when `not`.
    Range {
        lo: char,
        hi: char,
        not: bool,
    },
    /// `[abc]`, or `[!abc]` when `not`.
    Set {
        chars: Vec<char>,
        not: bool,
    },
    /// `{a,b,...}`: each alternative a sequence.
    Alt(Vec<Vec<Node>>),
}

/// gobwas's lexer and parser in one pass over the pattern's characters.
struct Parser<'a> {
    chars: core::iter::Peekable<core::str::Chars<'a>>,
    /// How many `{` are open: `,` and `}` are special only inside one.
    depth: usize,
}

impl Parser<'_> {
    /// A sequence, up to the end, or to a `,` or `}` of the enclosing group
    /// (left unread).
    fn sequence(&mut self) -> Result<Vec<Node>> {
        let mut seq = Vec::new();
        while let Some(&c) = self.chars.peek() {
            match c {
                ',' | '}' if self.depth > 0 => break,
                '{' => {
                    self.chars.next();
                    self.depth += 1;
                    let mut alternatives = Vec::new();
                    loop {
                        alternatives.push(self.sequence()?);
                        match self.chars.next() {
                            Some(',') => continue,
                            Some('}') => break,
                            _ => bail!("unclosed `{{`"),
                        }
                    }
                    self.depth -= 1;
                    seq.push(Node::Alt(alternatives));
                }
                '[' => {
                    self.chars.next();
                    seq.push(self.class()?);
                }
                '?' => {
                    self.chars.next();
                    seq.push(Node::Single);
                }
                '*' => {
                    self.chars.next();
                    let super_star = self.chars.next_if_eq(&'*').is_some();
                    seq.push(Node::Star { super_star });
                }
                _ => {
                    let breakers: &[char] = if self.depth > 0 {
                        &['?', '*', '[', '{', '}', ',']
                    } else {
                        &['?', '*', '[', '{']
                    };
                    seq.push(Node::Text(self.text(breakers)?));
                }
            }
        }
        Ok(seq)
    }

    /// Literal characters up to one of `breakers` (left unread), escapes
    /// resolved.
    fn text(&mut self, breakers: &[char]) -> Result<Vec<char>> {
        let mut text = Vec::new();
        while let Some(&c) = self.chars.peek() {
            if breakers.contains(&c) {
                break;
            }
            self.chars.next();
            if c == '\\' {
                match self.chars.next() {
                    Some(e) => text.push(e),
                    None => bail!("trailing backslash"),
                }
            } else {
                text.push(c);
            }
        }
        Ok(text)
    }

    /// A character class, after its `[`: one range `a-z` or a set of
    /// characters, either negated by a leading `!`, then `]`.
    fn class(&mut self) -> Result<Node> {
        let not = self.chars.next_if_eq(&'!').is_some();
        let first = match self.chars.peek() {
            Some(&c) => c,
            None => bail!("unexpected end of input"),
        };
        let mut ahead = self.chars.clone();
        ahead.next();
        let node = if first != ']' && ahead.peek() == Some(&'-') {
            self.chars.next();
            self.chars.next();
            let Some(hi) = self.chars.next() else {
                bail!("unexpected end of input")
            };
            if hi < first {
                bail!("range hi character is less than lo");
            }
            Node::Range { lo: first, hi, not }
        } else {
            let chars = self.text(&[']'])?;
            if chars.is_empty() {
                bail!("could not parse range");
            }
            Node::Set { chars, not }
        };
        match self.chars.next() {
            Some(']') => Ok(node),
            Some(_) => bail!("expected close range character"),
            None => bail!("unexpected end of input"),
        }
    }
}

fn parse_glob(pattern: &str) -> Result<Vec<Node>> {
    let mut parser = Parser {
        chars: pattern.chars().peekable(),
        depth: 0,
    };
    parser.sequence()
}

/// The positions of `input` reachable after `seq`, from those in `from`
/// (`from[i]`: the first `i` characters are matched).
fn advance(seq: &[Node], input: &[char], delimiters: &[char], from: Vec<bool>) -> Vec<bool> {
    let mut state = from;
    for node in seq {
        let n = input.len();
        let mut next = vec![false; n + 1];
        let one = |next: &mut Vec<bool>, ok: &dyn Fn(char) -> bool| {
            for (i, c) in input.iter().enumerate() {
                if state.get(i) == Some(&true) && ok(*c) {
                    if let Some(slot) = next.get_mut(i + 1) {
                        *slot = true;
                    }
                }
            }
        };
        match node {
            Node::Text(text) => {
                for i in 0..=n {
                    let fits = input
                        .get(i..i + text.len())
                        .is_some_and(|s| s == text.as_slice());
                    if state.get(i) == Some(&true) && fits {
                        if let Some(slot) = next.get_mut(i + text.len()) {
                            *slot = true;
                        }
                    }
                }
            }
            Node::Star { super_star } => {
                let mut active = false;
                for i in 0..=n {
                    active |= state.get(i) == Some(&true);
                    if let Some(slot) = next.get_mut(i) {
                        *slot = active;
                    }
                    if !super_star && input.get(i).is_some_and(|c| delimiters.contains(c)) {
                        active = false;
                    }
                }
            }
            Node::Single => one(&mut next, &|c| !delimiters.contains(&c)),
            Node::Range { lo, hi, not } => one(&mut next, &|c| (*lo <= c && c <= *hi) != *not),
            Node::Set { chars, not } => one(&mut next, &|c| chars.contains(&c) != *not),
            Node::Alt(alternatives) => {
                for alternative in alternatives {
                    let reached = advance(alternative, input, delimiters, state.clone());
                    for (slot, r) in next.iter_mut().zip(reached) {
                        *slot |= r;
                    }
                }
            }
        }
        state = next;
        if !state.contains(&true) {
            break;
        }
    }
    state
}

fn glob_is_match(pattern: &[Node], value: &str, delimiters: &[char]) -> bool {
    let input: Vec<char> = value.chars().collect();
    let mut start = vec![false; input.len() + 1];
    if let Some(first) = start.first_mut() {
        *first = true;
    }
    advance(pattern, &input, delimiters, start)
        .last()
        .copied()
        .unwrap_or(false)
}

fn glob_match(span: &Span, params: &[Ref<Expr>], args: &[Value], _strict: bool) -> Result<Value> {
    let name = "glob.match";
    ensure_args_count(span, name, params, args, 3)?;

    let pattern = ensure_string(name, &params[0], &args[0])?;
    let value = ensure_string(name, &params[2], &args[2])?;

    // null: no delimiters; an empty array: ".", as in OPA.
    let delimiters: Vec<char> = match &args[1] {
        Value::Null => Vec::new(),
        Value::Array(_) => {
            let mut delimiters = Vec::new();
            for d in ensure_string_collection(name, &params[1], &args[1])? {
                let mut chars = d.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => delimiters.push(c),
                    _ => bail!(params[1]
                        .span()
                        .error("delimiters must be single character")),
                }
            }
            if delimiters.is_empty() {
                delimiters.push('.');
            }
            delimiters
        }
        _ => bail!(params[1]
            .span()
            .error(format!("{name} requires string array").as_str())),
    };

    let glob = parse_glob(&pattern)
        .map_err(|e| anyhow::anyhow!(params[0].span().error(&format!("invalid glob: {e}"))))?;
    Ok(Value::Bool(glob_is_match(&glob, &value, &delimiters)))
}

fn quote_meta(span: &Span, params: &[Ref<Expr>], args: &[Value], _strict: bool) -> Result<Value> {
    let name = "glob.quote_meta";
    ensure_args_count(span, name, params, args, 1)?;

    // gobwas's QuoteMeta: a backslash before each of `*?\[]{}` (regorus
    // escaped `*` only, and refused a pattern that is not a valid glob).
    let pattern = ensure_string(name, &params[0], &args[0])?;
    let mut quoted = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '\\' | '[' | ']' | '{' | '}') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    Ok(Value::String(quoted.into()))
}
