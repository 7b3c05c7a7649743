//! Hash maps keyed by 8-byte windows (k-grams, digest prefixes), probed
//! once per haystack position: they need a hash that costs a multiply, not
//! SipHash's rounds. The keys are the harness's own secrets, so flooding is
//! no concern.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes one `u64` with a multiply-xorshift mix.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }
}

/// SplitMix64's finaliser: every output bit depends on every input bit.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;
pub(crate) type KeySet = HashSet<u64, BuildHasherDefault<KeyHasher>>;

/// The 8 bytes at `at` as a key.
pub(crate) fn key_at(bytes: &[u8], at: usize) -> Option<u64> {
    let window: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(window))
}
