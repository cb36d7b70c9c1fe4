use super::{Alphabet, decode};
use data_encoding::{BASE64, BASE64URL, BASE64URL_NOPAD};

#[test]
fn matches_a_reference_decoder_on_every_length() {
    let data: Vec<u8> = (0u8..=255).rev().chain(0..=255).collect();
    for len in 0..data.len() {
        let bytes = data.get(..len).unwrap();
        for (text, alphabet) in [
            (BASE64URL_NOPAD.encode(bytes), Alphabet::Url),
            (BASE64URL.encode(bytes), Alphabet::Url),
            (BASE64.encode(bytes), Alphabet::Either),
            (BASE64URL_NOPAD.encode(bytes), Alphabet::Either),
        ] {
            assert_eq!(decode(&text, alphabet).as_deref(), Ok(bytes), "{text}");
        }
    }
}

#[test]
fn leniency_and_errors() {
    assert_eq!(decode("e30", Alphabet::Url), Ok(b"{}".to_vec()));
    assert_eq!(
        decode("e31", Alphabet::Url),
        Ok(b"{}".to_vec()),
        "trailing bits"
    );
    assert_eq!(decode("e3\r\n0=", Alphabet::Url), Ok(b"{}".to_vec()));
    assert_eq!(decode("", Alphabet::Url), Ok(vec![]));
    assert_eq!(
        decode("+/8", Alphabet::Either),
        decode("-_8", Alphabet::Url)
    );
    assert_eq!(decode("+/8", Alphabet::Url), Err(0));
    assert_eq!(decode("ab.c", Alphabet::Url), Err(2));
    assert!(decode("abcde", Alphabet::Url).is_err(), "one symbol over");
    assert!(decode("ab=", Alphabet::Url).is_err(), "short padding");
    assert!(decode("a===", Alphabet::Url).is_err());
    assert!(decode("abc==", Alphabet::Url).is_err(), "long padding");
}
