//! Canaries: high-entropy markers planted in every secret the harness sends.
//!
//! A canary is `SPC1-` followed by 160 random bits in base32 (32 characters).
//! Such a string cannot occur by chance, so any sighting of one outside the
//! backend's fetch endpoint is a leak, with essentially no false positives.
//! Canaries come from the run's seeded generator so a run can be replayed.

use rand::RngCore;

/// Marks every canary, so a report reader can spot them in evidence.
pub const PREFIX: &str = "SPC1-";

/// Number of random bytes in a canary (160 bits).
const RANDOM_BYTES: usize = 20;

/// A fresh canary string from `rng`.
pub fn canary(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    rng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&bytes))
}

/// A secret message that carries one canary, shaped like the short
/// confidential texts real apps push (a transfer, a one-time code).
pub fn secret_message(canary: &str, index: usize) -> String {
    format!("Confidential #{index}: wire transfer approved, reference {canary}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn canaries_are_seeded_and_distinct() {
        let mut a = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut b = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let first = canary(&mut a);
        assert_eq!(first, canary(&mut b));
        assert_ne!(first, canary(&mut a));
        assert!(first.starts_with(PREFIX));
        assert_eq!(first.len(), PREFIX.len() + 32);
    }
}
