//! RSA signature verification for RS* (PKCS #1 v1.5) and PS* (PSS) JWTs,
//! with Go's rules, which OPA inherits.

use super::jwt_verify::Hash;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// Go 1.24 refuses RSA keys under 1024 bits for every operation.
const MIN_BITS: usize = 1024;

/// RSASSA-PKCS1-v1_5 over `hash(input)`.
pub(super) fn verify_pkcs1v15(key: &RsaPublicKey, hash: Hash, input: &[u8], sig: &[u8]) -> bool {
    if key.n().bits() < MIN_BITS {
        return false;
    }
    let scheme = match hash {
        Hash::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        Hash::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        Hash::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    };
    key.verify(scheme, &hash.digest(input), sig).is_ok()
}

/// RSASSA-PSS over `hash(input)`, MGF1 with the same hash, and any salt
/// length: Go's `rsa.VerifyPSS` with nil options (`PSSSaltLengthAuto`),
/// which OPA uses. JWA signers use a salt as long as the hash, but others
/// (the maximum length, for one) verify in OPA, so they must here; the
/// `rsa` crate checks one fixed salt length, hence EMSA-PSS-VERIFY
/// (RFC 8017 section 9.1.2) below over the raw RSA operation.
pub(super) fn verify_pss(key: &RsaPublicKey, hash: Hash, input: &[u8], sig: &[u8]) -> bool {
    match hash {
        Hash::Sha256 => pss::<Sha256>(key, input, sig),
        Hash::Sha384 => pss::<Sha384>(key, input, sig),
        Hash::Sha512 => pss::<Sha512>(key, input, sig),
    }
    .unwrap_or(false)
}

/// `Some(valid)`; `None` for a malformed signature (also invalid).
fn pss<D: Digest>(key: &RsaPublicKey, input: &[u8], sig: &[u8]) -> Option<bool> {
    let mod_bits = key.n().bits();
    if mod_bits < MIN_BITS || sig.len() != key.size() {
        return Some(false);
    }
    let s = BigUint::from_bytes_be(sig);
    if &s >= key.n() {
        return Some(false);
    }
    let m = rsa::hazmat::rsa_encrypt(key, &s).ok()?.to_bytes_be();
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let m_hash = D::digest(input);
    let h_len = m_hash.len();
    if m.len() > em_len || em_len < h_len + 2 {
        return Some(false);
    }
    let mut em = vec![0u8; em_len - m.len()];
    em.extend_from_slice(&m);
    if em.last() != Some(&0xbc) {
        return Some(false);
    }
    let (db, rest) = em.split_at_mut(em_len - h_len - 1);
    let h = rest.get(..h_len)?;
    // The leftmost 8 * emLen - emBits bits of EM must be zero.
    let unused_bits = 8 * em_len - em_bits;
    let first = db.first_mut()?;
    if u32::from(*first) >> (8 - unused_bits) != 0 {
        return Some(false);
    }
    mgf1_xor::<D>(h, db);
    let first = db.first_mut()?;
    *first &= 0xff >> unused_bits;
    // DB = PS (zeros) || 0x01 || salt, the salt of any length.
    let one = db.iter().position(|&b| b != 0)?;
    if db.get(one) != Some(&0x01) {
        return Some(false);
    }
    let salt = db.get(one + 1..)?;
    let h2 = D::new()
        .chain_update([0u8; 8])
        .chain_update(&m_hash)
        .chain_update(salt)
        .finalize();
    Some(AsRef::<[u8]>::as_ref(&h2).ct_eq(h).into())
}

/// `out ^= MGF1(seed)` (RFC 8017 appendix B.2.1).
fn mgf1_xor<D: Digest>(seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(<D as Digest>::output_size())) {
        let mask = D::new()
            .chain_update(seed)
            .chain_update(counter.to_be_bytes())
            .finalize();
        for (o, m) in chunk.iter_mut().zip(mask.iter()) {
            *o ^= m;
        }
    }
}
