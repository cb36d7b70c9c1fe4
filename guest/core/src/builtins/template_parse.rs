//! The parser of `strings.render_template`'s Go text/template subset (see
//! `template.rs`): the template split into text and actions, each action
//! lexed and parsed into pipelines and control nodes.

use anyhow::{Result, anyhow, bail};
use regorus::Value;

/// How deep templates may nest (`if` in `range` in ...): a template is
/// policy-controlled.
const MAX_DEPTH: usize = 64;

/// A lexical token inside an action.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `.`, or a field chain `.a.b` (the names).
    Dot(Vec<String>),
    /// `$`, `$x`, with a field chain.
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(String),
    LParen,
    /// `)` with the field chain that follows it, if any.
    RParen(Vec<String>),
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// An argument of a command.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Dot(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Lit(Value),
    Nil,
    Paren(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub(super) struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`).
    pub(super) vars: Vec<String>,
    pub(super) declare: bool,
    pub(super) cmds: Vec<Vec<Arg>>,
}

#[derive(Debug)]
pub(super) enum Node {
    Text(String),
    Print(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

/// The template split into text and the tokens of each action.
enum Item {
    Text(String),
    Action(Vec<Tok>),
}

fn split_items(src: &str) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let (text, after) = rest.split_at(open);
        let after = after.get(2..).unwrap_or_default();
        let trim_left =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        let mut text = if trim_next { text.trim_start() } else { text };
        if trim_left {
            text = text.trim_end();
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_owned()));
        }
        let body_start = if trim_left {
            after.get(1..).unwrap_or_default()
        } else {
            after
        };
        let (body, close_len, trim_right) = action_body(body_start)?;
        let trimmed = body.trim();
        if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
            items.push(Item::Action(lex(body)?));
        }
        trim_next = trim_right;
        rest = body_start.get(body.len() + close_len..).unwrap_or_default();
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        items.push(Item::Text(text.to_owned()));
    }
    Ok(items)
}

/// The text of an action up to its `}}` (quoted strings may hold `}}`),
/// the length of the closing delimiter and whether it trims (` -}}`).
fn action_body(s: &str) -> Result<(&str, usize, bool)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' | b'`' | b'\'' => {
                let quote = b;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    if c == b'\\' && quote != b'`' {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if c == quote {
                        break;
                    }
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                let trim = i >= 2
                    && bytes.get(i - 1) == Some(&b'-')
                    && bytes.get(i - 2).is_some_and(u8::is_ascii_whitespace);
                let end = if trim { i - 1 } else { i };
                let body = s.get(..end).ok_or_else(|| anyhow!("unclosed action"))?;
                return Ok((body, if trim { 3 } else { 2 }, trim));
            }
            _ => i += 1,
        }
    }
    bail!("unclosed action")
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A `.a.b` chain starting at `chars` (after the first `.` was consumed).
fn field_chain(first: String, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Vec<String> {
    let mut fields = Vec::new();
    if !first.is_empty() {
        fields.push(first);
    }
    while chars.peek() == Some(&'.') {
        chars.next();
        let mut name = String::new();
        while let Some(&c) = chars.peek().filter(|c| is_ident_char(**c)) {
            name.push(c);
            chars.next();
        }
        fields.push(name);
    }
    fields
}

fn lex(body: &str) -> Result<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '.' => {
                chars.next();
                let mut name = String::new();
                while let Some(&c) = chars.peek().filter(|c| is_ident_char(**c)) {
                    name.push(c);
                    chars.next();
                }
                toks.push(Tok::Dot(field_chain(name, &mut chars)));
            }
            '$' => {
                chars.next();
                let mut name = String::from("$");
                while let Some(&c) = chars.peek().filter(|c| is_ident_char(**c)) {
                    name.push(c);
                    chars.next();
                }
                toks.push(Tok::Var(name, field_chain(String::new(), &mut chars)));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => s.push(match chars.next() {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some('\\') => '\\',
                            Some('"') => '"',
                            Some('\'') => '\'',
                            Some('u') => {
                                let hex: String = chars.by_ref().take(4).collect();
                                u32::from_str_radix(&hex, 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                    .ok_or_else(|| anyhow!("invalid escape in string"))?
                            }
                            _ => bail!("invalid escape in string"),
                        }),
                        Some(c) => s.push(c),
                        None => bail!("unterminated quoted string"),
                    }
                }
                toks.push(Tok::Str(s));
            }
            '`' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('`') => break,
                        Some(c) => s.push(c),
                        None => bail!("unterminated raw quoted string"),
                    }
                }
                toks.push(Tok::Str(s));
            }
            '(' => {
                chars.next();
                toks.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                toks.push(Tok::RParen(field_chain(String::new(), &mut chars)));
            }
            '|' => {
                chars.next();
                toks.push(Tok::Pipe);
            }
            ',' => {
                chars.next();
                toks.push(Tok::Comma);
            }
            ':' => {
                chars.next();
                if chars.next() != Some('=') {
                    bail!("expected :=");
                }
                toks.push(Tok::Declare);
            }
            '=' => {
                chars.next();
                toks.push(Tok::Assign);
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let mut n = String::new();
                while let Some(&c) = chars
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
                {
                    n.push(c);
                    chars.next();
                }
                toks.push(Tok::Num(n));
            }
            c if is_ident_char(c) => {
                let mut name = String::new();
                while let Some(&c) = chars.peek().filter(|c| is_ident_char(**c)) {
                    name.push(c);
                    chars.next();
                }
                toks.push(Tok::Ident(name));
            }
            other => bail!("unexpected {other:?} in action"),
        }
    }
    Ok(toks)
}

/// Parses a pipeline from `toks`, up to a `)` (left unread) or the end.
fn parse_pipeline(toks: &[Tok], pos: &mut usize) -> Result<Pipeline> {
    let mut pipe = Pipeline::default();
    // `$x :=`, `$k, $v :=`, `$x =`.
    let mut look = *pos;
    let mut vars = Vec::new();
    while let Some(Tok::Var(name, fields)) = toks.get(look) {
        if !fields.is_empty() {
            break;
        }
        vars.push(name.clone());
        look += 1;
        if toks.get(look) == Some(&Tok::Comma) {
            look += 1;
        } else {
            break;
        }
    }
    match toks.get(look) {
        Some(Tok::Declare) if !vars.is_empty() => {
            pipe.vars = vars;
            pipe.declare = true;
            *pos = look + 1;
        }
        Some(Tok::Assign) if !vars.is_empty() => {
            pipe.vars = vars;
            *pos = look + 1;
        }
        _ => {}
    }
    let mut cmd = Vec::new();
    while let Some(tok) = toks.get(*pos) {
        *pos += 1;
        match tok {
            Tok::Pipe => {
                if cmd.is_empty() {
                    bail!("missing command before |");
                }
                pipe.cmds.push(std::mem::take(&mut cmd));
            }
            Tok::RParen(_) => {
                *pos -= 1;
                break;
            }
            Tok::LParen => {
                let inner = parse_pipeline(toks, pos)?;
                match toks.get(*pos) {
                    Some(Tok::RParen(fields)) => {
                        *pos += 1;
                        cmd.push(Arg::Paren(Box::new(inner), fields.clone()));
                    }
                    _ => bail!("unclosed left paren"),
                }
            }
            Tok::Dot(fields) => cmd.push(Arg::Dot(fields.clone())),
            Tok::Var(name, fields) => cmd.push(Arg::Var(name.clone(), fields.clone())),
            Tok::Str(s) => cmd.push(Arg::Lit(Value::from(s.as_str()))),
            Tok::Num(n) => {
                let v = Value::from_json_str(n).map_err(|_| anyhow!("bad number syntax: {n}"))?;
                cmd.push(Arg::Lit(v));
            }
            Tok::Ident(name) => cmd.push(match name.as_str() {
                "true" => Arg::Lit(Value::from(true)),
                "false" => Arg::Lit(Value::from(false)),
                "nil" => Arg::Nil,
                _ => Arg::Func(name.clone()),
            }),
            Tok::Comma | Tok::Declare | Tok::Assign => bail!("unexpected {tok:?} in command"),
        }
    }
    if !cmd.is_empty() {
        pipe.cmds.push(cmd);
    }
    if pipe.cmds.is_empty() {
        bail!("missing value for command");
    }
    for cmd in &pipe.cmds {
        for a in cmd {
            if let Arg::Func(name) = a
                && !FUNCTIONS.contains(&name.as_str())
            {
                bail!("function {name:?} not defined");
            }
        }
    }
    Ok(pipe)
}

const FUNCTIONS: &[&str] = &[
    "and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "print", "println",
    "printf",
];

/// How a list of nodes ended: at the end of input, `{{else}}` (with the
/// rest of its tokens) or `{{end}}`.
enum Stop {
    Eof,
    Else(Vec<Tok>),
    End,
}

fn parse_list(items: &mut std::vec::IntoIter<Item>, depth: usize) -> Result<(Vec<Node>, Stop)> {
    if depth > MAX_DEPTH {
        bail!("template nests deeper than {MAX_DEPTH} levels");
    }
    let mut nodes = Vec::new();
    while let Some(item) = items.next() {
        let toks = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Item::Action(toks) => toks,
        };
        let keyword = match toks.first() {
            Some(Tok::Ident(k)) => k.as_str(),
            _ => "",
        };
        let rest = toks.get(1..).unwrap_or_default();
        match keyword {
            "end" => return Ok((nodes, Stop::End)),
            "else" => return Ok((nodes, Stop::Else(rest.to_vec()))),
            "if" | "range" | "with" => nodes.push(parse_control(keyword, rest, items, depth)?),
            "break" => nodes.push(Node::Break),
            "continue" => nodes.push(Node::Continue),
            "define" | "template" | "block" => bail!("{{{{{keyword}}}}} is not supported"),
            _ => {
                let mut pos = 0;
                let pipe = parse_pipeline(&toks, &mut pos)?;
                if pos != toks.len() {
                    bail!("unexpected \")\" in operand");
                }
                nodes.push(Node::Print(pipe));
            }
        }
    }
    Ok((nodes, Stop::Eof))
}

fn parse_control(
    keyword: &str,
    toks: &[Tok],
    items: &mut std::vec::IntoIter<Item>,
    depth: usize,
) -> Result<Node> {
    let mut pos = 0;
    let pipe = parse_pipeline(toks, &mut pos)?;
    if pos != toks.len() {
        bail!("unexpected \")\" in {keyword}");
    }
    let (body, stop) = parse_list(items, depth + 1)?;
    let otherwise = match stop {
        Stop::End => Vec::new(),
        Stop::Eof => bail!("unexpected EOF: {{{{{keyword}}}}} without {{{{end}}}}"),
        // `{{else if ...}}` / `{{else with ...}}`: a nested control that
        // shares this one's `{{end}}`.
        Stop::Else(rest) if !rest.is_empty() => match rest.first() {
            Some(Tok::Ident(k)) if k == "if" || k == "with" => {
                let k = k.clone();
                vec![parse_control(
                    &k,
                    rest.get(1..).unwrap_or_default(),
                    items,
                    depth + 1,
                )?]
            }
            _ => bail!("unexpected tokens after else"),
        },
        Stop::Else(_) => {
            let (otherwise, stop) = parse_list(items, depth + 1)?;
            if !matches!(stop, Stop::End) {
                bail!("expected {{{{end}}}} after {{{{else}}}}");
            }
            otherwise
        }
    };
    Ok(match keyword {
        "if" => Node::If(pipe, body, otherwise),
        "range" => Node::Range(pipe, body, otherwise),
        _ => Node::With(pipe, body, otherwise),
    })
}

/// The nodes of a whole template.
pub(super) fn parse(src: &str) -> Result<Vec<Node>> {
    let mut items = split_items(src)?.into_iter();
    let (nodes, stop) = parse_list(&mut items, 0)?;
    if !matches!(stop, Stop::Eof) {
        bail!("unexpected {{{{end}}}} or {{{{else}}}}");
    }
    Ok(nodes)
}
