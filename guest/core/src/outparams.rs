//! OPA's out-parameter call form for the builtins this crate adds.
//!
//! regorus recognises `f(x, out)` (the last argument receives the result)
//! only for its own builtins and for Rego functions, not for extensions. A
//! policy calling `io.jwt.decode(t, [h, p, s])` as a statement is rewritten,
//! before regorus parses it, to `[h, p, s] = io.jwt.decode(t)` — the same
//! unification OPA performs. Only whole statements are rewritten (the form is
//! only valid there), line structure is kept so error positions keep their
//! line, and strings and comments are skipped.

/// `source` with every out-parameter call of a name in `arity` (name to its
/// number of arguments) rewritten; `None` when nothing changed.
pub(crate) fn rewrite(source: &str, arity: impl Fn(&str) -> Option<u8>) -> Option<String> {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len() + 16);
    let (mut copied, mut i, mut changed) = (0, 0, false);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' | b'`' => i = skip_string(bytes, i),
            b'#' => i = skip_line(bytes, i),
            b if is_ident_start(b) && !follows_ident(bytes, i) => {
                let name_end = scan_name(bytes, i);
                let name = source.get(i..name_end).unwrap_or("");
                let call = arity(name).filter(|_| bytes.get(name_end) == Some(&b'('));
                let Some(nargs) = call else {
                    i = name_end;
                    continue;
                };
                let Some((args, close)) = split_args(source, name_end) else {
                    i = name_end;
                    continue;
                };
                let is_statement = starts_statement(bytes, i) && ends_statement(bytes, close + 1);
                let mut args = args;
                // A trailing comma leaves an empty last argument.
                if args.len() > 1 && args.last().is_some_and(|a| a.trim().is_empty()) {
                    args.pop();
                }
                match args.split_last() {
                    Some((last, inputs))
                        if is_statement && args.len() == usize::from(nargs) + 1 =>
                    {
                        out.push_str(source.get(copied..i).unwrap_or(""));
                        let call = format!("{} = {name}({})", last.trim(), inputs.join(",").trim());
                        // Keep the line count: pad with the newlines dropped.
                        let before = source.get(i..=close).map_or(0, |t| t.matches('\n').count());
                        let kept = call.matches('\n').count();
                        out.push_str(&call);
                        out.push_str(&"\n".repeat(before.saturating_sub(kept)));
                        copied = close + 1;
                        changed = true;
                        i = close + 1;
                    }
                    _ => i = name_end,
                }
            }
            _ => i += 1,
        }
    }
    changed.then(|| {
        out.push_str(source.get(copied..).unwrap_or(""));
        out
    })
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn follows_ident(bytes: &[u8], i: usize) -> bool {
    i.checked_sub(1)
        .and_then(|p| bytes.get(p))
        .is_some_and(|&b| is_ident(b) || b == b'.')
}

/// End of a dotted name such as `io.jwt.decode`.
fn scan_name(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&b) = bytes.get(i) {
        if is_ident(b) || (b == b'.' && bytes.get(i + 1).is_some_and(|&n| is_ident_start(n))) {
            i += 1;
        } else {
            break;
        }
    }
    i
}

fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes.get(start).copied().unwrap_or(b'"');
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if b == b'\\' && quote == b'"' {
            i += 1;
        } else if b == quote {
            break;
        }
    }
    i
}

fn skip_line(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|&b| b != b'\n') {
        i += 1;
    }
    i
}

/// The top-level arguments of the call whose `(` is at `open`, and the
/// index of its `)`.
fn split_args(source: &str, open: usize) -> Option<(Vec<&str>, usize)> {
    let bytes = source.as_bytes();
    let (mut depth, mut i, mut arg_start) = (0usize, open, open + 1);
    let mut args = Vec::new();
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' | b'`' => {
                i = skip_string(bytes, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    args.push(source.get(arg_start..i)?);
                    return Some((args, i));
                }
            }
            b',' if depth == 1 => {
                args.push(source.get(arg_start..i)?);
                arg_start = i + 1;
            }
            b'#' => {
                i = skip_line(bytes, i);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Only blanks since the start of the line, a `{` or a `;`.
fn starts_statement(bytes: &[u8], i: usize) -> bool {
    let mut p = i;
    while let Some(prev) = p.checked_sub(1) {
        match bytes.get(prev) {
            Some(b' ' | b'\t') => p = prev,
            Some(b'\n' | b'{' | b';') | None => return true,
            Some(_) => return false,
        }
    }
    true
}

/// Only blanks until the end of the line, a `}`, a `;` or a comment.
fn ends_statement(bytes: &[u8], mut i: usize) -> bool {
    loop {
        match bytes.get(i) {
            Some(b' ' | b'\t' | b'\r') => i += 1,
            Some(b'\n' | b'}' | b';' | b'#') | None => return true,
            Some(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    fn arity(name: &str) -> Option<u8> {
        match name {
            "io.jwt.decode" => Some(1),
            "net.cidr_merge" => Some(1),
            "io.jwt.verify_hs256" => Some(2),
            _ => None,
        }
    }

    #[test]
    fn rewrites_statement_calls_with_one_extra_argument() {
        let src = "p := [x, y, z] if {\n\tio.jwt.decode(\"a,b\", [x, y, z])\n}\n";
        assert_eq!(
            rewrite(src, arity).unwrap(),
            "p := [x, y, z] if {\n\t[x, y, z] = io.jwt.decode(\"a,b\")\n}\n"
        );
        let two = "p if { io.jwt.verify_hs256(t, \"k\", ok); ok }";
        assert_eq!(
            rewrite(two, arity).unwrap(),
            "p if { ok = io.jwt.verify_hs256(t, \"k\"); ok }"
        );
    }

    #[test]
    fn multi_line_calls_with_a_trailing_comma_keep_their_line_count() {
        let src = "p := x if {\n\tio.jwt.verify_hs256(\n\t\tt,\n\t\tk,\n\t\tx,\n\t)\n\tx\n}\n";
        let got = rewrite(src, arity).unwrap();
        assert_eq!(
            got,
            "p := x if {\n\tx = io.jwt.verify_hs256(t,\n\t\tk)\n\n\n\n\tx\n}\n"
        );
        assert_eq!(got.lines().count(), src.lines().count());
    }

    #[test]
    fn leaves_everything_else_alone() {
        for src in [
            "x := io.jwt.decode(t)\n",                // normal call
            "p if { io.jwt.decode(t) }\n",            // no extra argument
            "p if { x := f(io.jwt.decode(t, y)) }\n", // not a statement
            "p if { not io.jwt.decode(t, y) }\n",     // not a plain statement
            "# io.jwt.decode(t, y)\n",                // comment
            "s := \"io.jwt.decode(t, y)\"\n",         // string
            "p if { my.io.jwt.decode(t, y) }\n",      // another name
            "p if { other(t, y) }\n",                 // not ours
        ] {
            assert_eq!(rewrite(src, arity), None, "{src}");
        }
    }
}
