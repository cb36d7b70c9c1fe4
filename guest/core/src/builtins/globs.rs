//! `regex.globs_match` (OPA `topdown/regex.go`, which asks the Go package
//! `yashtewari/glob-intersection` whether two "glob-style" regular
//! expressions have a non-empty string in common).
//!
//! The syntax has only `.` (any character), `[...]` (a set: characters and
//! `a-z` ranges, no negation), the postfix flags `*` and `+`, and `\`
//! escaping the next character. The answer is exact: both patterns become
//! token automata and their product is searched for a path that consumes at
//! least one character and ends with both patterns done. (OPA's library
//! walks the token lists greedily; on the inputs its tests cover the two
//! agree.)

use super::string_arg;
use anyhow::{Result, bail};
use regorus::Value;
use std::collections::{BTreeSet, VecDeque};

/// What one token matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Char(char),
    Any,
    /// Inclusive ranges (a single character is a range of one): kept as
    /// ranges, so `[\u{0}-\u{10FFFF}]` costs nothing.
    Set(Vec<(char, char)>),
}

impl Class {
    /// Whether some character matches both.
    fn meets(&self, other: &Class) -> bool {
        match (self, other) {
            (Class::Any, Class::Set(s)) | (Class::Set(s), Class::Any) => !s.is_empty(),
            (Class::Any, _) | (_, Class::Any) => true,
            (Class::Char(a), Class::Char(b)) => a == b,
            (Class::Char(c), Class::Set(s)) | (Class::Set(s), Class::Char(c)) => {
                s.iter().any(|(lo, hi)| lo <= c && c <= hi)
            }
            (Class::Set(a), Class::Set(b)) => a
                .iter()
                .any(|(alo, ahi)| b.iter().any(|(blo, bhi)| alo <= bhi && blo <= ahi)),
        }
    }
}

/// A token: its class, and whether it repeats (`*`: zero or more times).
/// `x+` is read as `x x*`.
#[derive(Debug, Clone)]
struct Token {
    class: Class,
    star: bool,
}

/// The next character of `chars`, and whether it was escaped.
fn next_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Option<(char, bool)>> {
    match chars.next() {
        Some('\\') => match chars.next() {
            Some(c) => Ok(Some((c, true))),
            None => bail!("input ends with a \\ (escape) character"),
        },
        Some(c) => Ok(Some((c, false))),
        None => Ok(None),
    }
}

/// A `[...]` set, after its `[`.
fn parse_set(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Class> {
    let mut set = Vec::new();
    let mut prev: Option<char> = None;
    loop {
        let Some((c, escaped)) = next_char(chars)? else {
            bail!("found [ without matching ]");
        };
        match (c, escaped) {
            (']', false) => return Ok(Class::Set(set)),
            ('-', false) => {
                let Some(lo) = prev.take() else {
                    bail!("range character '-' must be preceded by a Unicode character");
                };
                let Some((hi, escaped)) = next_char(chars)? else {
                    bail!("range character '-' must be followed by a Unicode character");
                };
                if !escaped && (hi == ']' || hi == '-') {
                    bail!("range character '-' cannot be followed by a special symbol");
                }
                if hi < lo {
                    bail!("range is out of order: '{hi}' comes before '{lo}' in Unicode");
                }
                // `lo` went in on its own already; the range covers it.
                set.push((lo, hi));
            }
            (c, _) => {
                set.push((c, c));
                prev = Some(c);
            }
        }
    }
}

/// The tokens of a pattern.
fn tokenize(pattern: &str) -> Result<Vec<Token>> {
    let mut chars = pattern.chars().peekable();
    let mut tokens: Vec<Token> = Vec::new();
    while let Some((c, escaped)) = next_char(&mut chars)? {
        let class = match (c, escaped) {
            ('.', false) => Class::Any,
            ('[', false) => parse_set(&mut chars)?,
            (']', false) => bail!("set-close ']' with no preceding '['"),
            ('*' | '+', false) => bail!("flag '{c}' must be preceded by a non-flag"),
            (c, _) => Class::Char(c),
        };
        let token = Token { class, star: false };
        match chars.peek() {
            Some('*') => {
                chars.next();
                tokens.push(Token {
                    star: true,
                    ..token
                });
            }
            Some('+') => {
                chars.next();
                tokens.push(token.clone());
                tokens.push(Token {
                    star: true,
                    ..token
                });
            }
            _ => tokens.push(token),
        }
    }
    Ok(tokens)
}

/// Whether some non-empty string matches both token lists.
fn intersect(a: &[Token], b: &[Token]) -> bool {
    // A state: the next token of each pattern, and whether a character was
    // consumed. A starred token may be skipped (an empty step) or consume a
    // character and stay.
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([(0usize, 0usize, false)]);
    while let Some(state) = queue.pop_front() {
        if !seen.insert(state) {
            continue;
        }
        let (i, j, consumed) = state;
        let (ta, tb) = (a.get(i), b.get(j));
        if ta.is_none() && tb.is_none() && consumed {
            return true;
        }
        if ta.is_some_and(|t| t.star) {
            queue.push_back((i + 1, j, consumed));
        }
        if tb.is_some_and(|t| t.star) {
            queue.push_back((i, j + 1, consumed));
        }
        if let (Some(ta), Some(tb)) = (ta, tb)
            && ta.class.meets(&tb.class)
        {
            let ni = if ta.star { i } else { i + 1 };
            let nj = if tb.star { j } else { j + 1 };
            queue.push_back((ni, nj, true));
        }
    }
    false
}

/// `regex.globs_match(glob1, glob2)`: whether some non-empty string
/// matches both.
pub(super) fn globs_match(args: Vec<Value>) -> Result<Value> {
    let a = tokenize(string_arg(&args, 0)?)?;
    let b = tokenize(string_arg(&args, 1)?)?;
    Ok(Value::from(intersect(&a, &b)))
}

#[cfg(test)]
#[path = "globs_tests.rs"]
mod tests;
