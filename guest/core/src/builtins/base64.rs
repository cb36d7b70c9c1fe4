//! Lenient base64 decoding, as Go decodes JWT parts and as OPA's JWK
//! library decodes key material: padding optional, CR and LF skipped,
//! unused trailing bits not checked. (`data-encoding` can be configured to
//! do the same, but its configurable decoder adds ~30 KB to the component.)

/// The alphabets accepted.
#[derive(Clone, Copy)]
pub(super) enum Alphabet {
    /// base64url (`-`, `_`) only.
    Url,
    /// base64url or standard (`+`, `/`), mixed freely.
    Either,
}

/// The bytes of `text`, or the byte offset where it stops being base64.
pub(super) fn decode(text: &str, alphabet: Alphabet) -> Result<Vec<u8>, usize> {
    let body = text.trim_end_matches('=');
    let pads = text.len() - body.len();
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let (mut acc, mut bits, mut symbols) = (0u32, 0u32, 0usize);
    for (at, c) in body.bytes().enumerate() {
        if c == b'\r' || c == b'\n' {
            continue;
        }
        let value = match (c, alphabet) {
            (b'A'..=b'Z', _) => c - b'A',
            (b'a'..=b'z', _) => c - b'a' + 26,
            (b'0'..=b'9', _) => c - b'0' + 52,
            (b'-', _) | (b'+', Alphabet::Either) => 62,
            (b'_', _) | (b'/', Alphabet::Either) => 63,
            _ => return Err(at),
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        symbols += 1;
        if bits >= 8 {
            bits -= 8;
            // `acc` holds `bits + 8` bits, so this is exactly one byte.
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // One symbol of a quantum carries no whole byte, and padding, when
    // present, must complete the last quantum.
    if symbols % 4 == 1 || pads > 2 || (pads > 0 && !(symbols + pads).is_multiple_of(4)) {
        return Err(text.len());
    }
    Ok(out)
}

#[cfg(test)]
#[path = "base64_tests.rs"]
mod tests;
