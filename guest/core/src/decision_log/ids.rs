//! Decision ids: random (version 4) UUIDs from a generator the host seeds
//! once per instance, so the guest needs no entropy source.

/// Makes decision ids. Two generators with different seeds make different
/// sequences; ids need to be unique, not secret.
#[derive(Debug, Clone)]
pub struct DecisionIds {
    state: u64,
    stream: u64,
}

impl DecisionIds {
    /// A generator seeded with 128 bits (hosts pass random ones).
    pub fn new(seed: [u64; 2]) -> Self {
        DecisionIds {
            state: seed[0],
            stream: seed[1] | 1,
        }
    }

    /// SplitMix64 over two independent streams.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state ^ self.stream.rotate_left(17);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next id, e.g. `4a0e2c1e-8f4b-4c3a-9d2e-1b7f5e6a8c90`.
    pub fn next_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        let (a, b) = bytes.split_at_mut(8);
        a.copy_from_slice(&self.next_u64().to_le_bytes());
        b.copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}
