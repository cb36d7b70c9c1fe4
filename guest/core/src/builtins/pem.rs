//! PEM decoding with Go's `encoding/pem.Decode` rules, which decide what OPA
//! accepts as a key: text before the first block is skipped, a block that
//! does not decode is skipped, and `rest` is what follows the END line.

use data_encoding::BASE64;

/// One PEM block: its label (`CERTIFICATE`, `PUBLIC KEY`, ...) and DER bytes.
pub(super) struct Block {
    pub(super) label: String,
    pub(super) der: Vec<u8>,
}

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";

/// The first well-formed block in `data` and the text after it, or `None`
/// when there is none.
pub(super) fn decode(data: &str) -> Option<(Block, &str)> {
    let mut rest = data;
    loop {
        rest = if let Some(after) = rest.strip_prefix(BEGIN) {
            after
        } else {
            let at = rest.find("\n-----BEGIN ")?;
            rest.get(at + 1 + BEGIN.len()..)?
        };
        let (type_line, after_type) = get_line(rest);
        rest = after_type;
        let Some(label) = type_line.strip_suffix(DASHES) else {
            continue;
        };
        if let Some(found) = block_body(label, rest) {
            return Some(found);
        }
    }
}

/// The block whose BEGIN line (labelled `label`) preceded `body`.
fn block_body<'a>(label: &str, mut body: &'a str) -> Option<(Block, &'a str)> {
    // Header lines ("Proc-Type: 4,ENCRYPTED") run up to the first line
    // without a colon; keys never carry them, so they are only skipped.
    let mut headers = false;
    loop {
        if body.is_empty() {
            return None;
        }
        let (line, next) = get_line(body);
        if !line.contains(':') {
            break;
        }
        headers = true;
        body = next;
    }
    let (end_index, trailer_at) = if !headers && body.starts_with(END) {
        (0, END.len())
    } else {
        let at = body.find("\n-----END ")?;
        (at, at + 1 + END.len())
    };
    let trailer = body.get(trailer_at..)?;
    let rest_of_end_line = trailer.strip_prefix(label)?.strip_prefix(DASHES)?;
    let (tail, rest) = get_line(rest_of_end_line);
    if !tail.is_empty() {
        return None;
    }
    let b64: String = body
        .get(..end_index)?
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .collect();
    let der = BASE64.decode(b64.as_bytes()).ok()?;
    Some((
        Block {
            label: label.to_owned(),
            der,
        },
        rest,
    ))
}

/// Go's `getLine`: the first line without its trailing blanks and line
/// ending, and the text after that line ending.
fn get_line(data: &str) -> (&str, &str) {
    let (line, rest) = match data.find('\n') {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (data, ""),
    };
    let line = line.strip_suffix('\r').unwrap_or(line);
    (line.trim_end_matches([' ', '\t']), rest)
}
