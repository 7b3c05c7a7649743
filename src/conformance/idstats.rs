//! Statistics over a sample of notification ids, for the id checks: what
//! alphabet they are written in, whether they are integers or time-based
//! UUIDs, how strongly they grow with time (Kendall's τ between issue
//! order and id order), how many repeat, and how many bits of entropy
//! they carry (per character position, Miller–Madow corrected, capped by
//! the alphabet; a repeat bounds it by the birthday estimate).

use std::collections::HashMap;

/// What a sample of ids shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IdStats {
    pub ids: usize,
    /// Size of the alphabet the ids are written in (16 for hex, …).
    pub alphabet: usize,
    pub alphabet_name: &'static str,
    /// Every id is a decimal integer.
    pub integers: bool,
    /// The UUID version every id shows, when all of them are UUIDs of one.
    pub uuid_version: Option<u8>,
    /// Kendall's τ between the order the ids were issued in and their own
    /// order (numeric for integers, by length then text otherwise): near 0
    /// for random ids, near 1 for a counter or a clock.
    pub tau: f64,
    /// Ids seen more than once (each extra sighting counts).
    pub repeats: usize,
    /// Estimated entropy per id, in bits.
    pub entropy_bits: f64,
}

/// Entropy a sound id must reach: 128 bits, less the estimator's spread
/// (its standard deviation is about 0.02 bits for 1000 ids of 128 random
/// bits; a UUIDv4, 122 bits, lands six bits below).
pub const MIN_BITS: f64 = 127.5;

/// |τ| above this is an order that follows time (1000 random ids give
/// |τ| below 0.07 with overwhelming probability).
pub const MAX_TAU: f64 = 0.5;

impl IdStats {
    /// The statistics of `ids`, in the order they were issued.
    pub fn of(ids: &[String]) -> IdStats {
        let (alphabet, alphabet_name) = alphabet(ids);
        let integers = !ids.is_empty()
            && ids
                .iter()
                .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for id in ids {
            *seen.entry(id.as_str()).or_default() += 1;
        }
        let repeats = seen.values().map(|n| n - 1).sum();
        let mut entropy_bits = positional_entropy(ids, alphabet);
        if repeats > 0 {
            // n ids with c coinciding pairs: about n²/2c equally likely values.
            let pairs: usize = seen.values().map(|n| n * (n - 1) / 2).sum();
            let n = ids.len() as f64;
            entropy_bits = entropy_bits.min((n * (n - 1.0) / 2.0 / pairs as f64).log2());
        }
        IdStats {
            ids: ids.len(),
            alphabet,
            alphabet_name,
            integers,
            uuid_version: uuid_version(ids),
            tau: kendall_tau(ids, integers),
            repeats,
            entropy_bits,
        }
    }

    /// Every reason the sample says the ids are guessable.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.integers {
            out.push("the ids are integers".to_owned());
        }
        if let Some(v @ (1 | 6 | 7)) = self.uuid_version {
            out.push(format!(
                "the ids are version {v} UUIDs, which carry a timestamp"
            ));
        }
        if self.tau.abs() > MAX_TAU {
            out.push(format!(
                "the ids follow the order they were issued in (Kendall's τ = {:.2}): a counter or a clock",
                self.tau
            ));
        }
        if self.repeats > 0 {
            out.push(format!(
                "{} of {} ids repeat an earlier one",
                self.repeats, self.ids
            ));
        }
        if self.entropy_bits < MIN_BITS {
            out.push(format!(
                "the ids carry about {:.1} bits of entropy, not 128",
                self.entropy_bits
            ));
        }
        out
    }
}

/// The alphabet the ids are written in: the smallest common one that holds
/// every character seen, or as many symbols as were seen.
fn alphabet(ids: &[String]) -> (usize, &'static str) {
    let mut chars: Vec<char> = ids.iter().flat_map(|id| id.chars()).collect();
    chars.sort_unstable();
    chars.dedup();
    let within = |ok: &dyn Fn(char) -> bool| chars.iter().all(|c| ok(*c));
    if within(&|c| c.is_ascii_digit()) {
        (10, "decimal")
    } else if within(&|c| matches!(c, '0'..='9' | 'a'..='f'))
        || within(&|c| matches!(c, '0'..='9' | 'A'..='F'))
    {
        (16, "hex")
    } else if within(&|c| matches!(c, 'A'..='Z' | '2'..='7'))
        || within(&|c| matches!(c, 'a'..='z' | '2'..='7'))
    {
        (32, "base32")
    } else if within(&|c| matches!(c, '0'..='9' | 'a'..='z'))
        || within(&|c| matches!(c, '0'..='9' | 'A'..='Z'))
    {
        (36, "base36")
    } else if within(&|c| c.is_ascii_alphanumeric()) {
        (62, "base62")
    } else if within(&|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=')) {
        (64, "base64")
    } else {
        (chars.len().max(2), "other")
    }
}

/// Σ over character positions of the Miller–Madow corrected Shannon
/// entropy of that position, capped at log₂ of the alphabet and weighted
/// by the share of ids long enough to have it.
fn positional_entropy(ids: &[String], alphabet: usize) -> f64 {
    let n = ids.len();
    if n == 0 {
        return 0.0;
    }
    let columns: Vec<Vec<char>> = ids.iter().map(|id| id.chars().collect()).collect();
    let longest = columns.iter().map(Vec::len).max().unwrap_or(0);
    let cap = (alphabet as f64).log2();
    let mut total = 0.0;
    for position in 0..longest {
        let mut counts: HashMap<char, usize> = HashMap::new();
        let mut present = 0usize;
        for chars in &columns {
            if let Some(c) = chars.get(position) {
                *counts.entry(*c).or_default() += 1;
                present += 1;
            }
        }
        let m = present as f64;
        let plug_in: f64 = counts
            .values()
            .map(|&k| {
                let p = k as f64 / m;
                -p * p.log2()
            })
            .sum();
        let corrected = plug_in + (counts.len() as f64 - 1.0) / (2.0 * m * std::f64::consts::LN_2);
        total += corrected.min(cap) * m / n as f64;
    }
    total
}

/// The UUID version every id shows (36 characters with hyphens, or 32 hex
/// digits), when all ids are UUIDs of the same version and the RFC 4122
/// variant.
fn uuid_version(ids: &[String]) -> Option<u8> {
    let mut version = None;
    for id in ids {
        let hex: String = match id.len() {
            36 if [8, 13, 18, 23].iter().all(|&i| id.as_bytes()[i] == b'-') => {
                id.chars().filter(|c| *c != '-').collect()
            }
            32 => id.clone(),
            _ => return None,
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = u8::from_str_radix(&hex[12..13], 16).ok()?;
        let variant = u8::from_str_radix(&hex[16..17], 16).ok()?;
        if variant & 0b1100 != 0b1000 {
            return None;
        }
        match version {
            None => version = Some(v),
            Some(seen) if seen != v => return None,
            Some(_) => {}
        }
    }
    version
}

/// Kendall's τ-a between issue order and id order (ties count as
/// neither).
fn kendall_tau(ids: &[String], integers: bool) -> f64 {
    let n = ids.len();
    if n < 2 {
        return 0.0;
    }
    let key = |id: &String| -> (u128, usize, String) {
        if integers {
            (id.parse::<u128>().unwrap_or(u128::MAX), 0, String::new())
        } else {
            (0, id.len(), id.clone())
        }
    };
    let keys: Vec<(u128, usize, String)> = ids.iter().map(key).collect();
    let mut score: i64 = 0;
    for i in 0..n {
        for j in (i + 1)..n {
            match keys[i].cmp(&keys[j]) {
                std::cmp::Ordering::Less => score += 1,
                std::cmp::Ordering::Greater => score -= 1,
                std::cmp::Ordering::Equal => {}
            }
        }
    }
    score as f64 / (n * (n - 1) / 2) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_hex(rng: &mut impl Rng, bytes: usize) -> String {
        (0..bytes)
            .map(|_| format!("{:02x}", rng.gen::<u8>()))
            .collect()
    }

    #[test]
    fn random_128_bit_ids_pass_over_many_seeds() {
        for seed in 0..20 {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let ids: Vec<String> = (0..1000).map(|_| random_hex(&mut rng, 16)).collect();
            let stats = IdStats::of(&ids);
            assert!(stats.problems().is_empty(), "seed {seed}: {stats:?}");
            assert_eq!(stats.alphabet_name, "hex");
            assert!(stats.tau.abs() < 0.07, "{}", stats.tau);
        }
    }

    #[test]
    fn counters_clocks_short_and_v4_ids_fail() {
        let counter: Vec<String> = (1_700_000_000_000u64..1_700_000_001_000)
            .map(|n| format!("{n:032x}"))
            .collect();
        let stats = IdStats::of(&counter);
        assert!(stats.tau > 0.99);
        assert!(stats.entropy_bits < 20.0, "{stats:?}");

        let integers: Vec<String> = (1..=1000).map(|n| n.to_string()).collect();
        let stats = IdStats::of(&integers);
        assert!(stats.integers && stats.tau > 0.99);
        assert_eq!(stats.problems().len(), 3, "{:?}", stats.problems());

        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let v4: Vec<String> = (0..1000)
            .map(|_| {
                let mut b: [u8; 16] = rng.gen();
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                let h = hex::encode(b);
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                )
            })
            .collect();
        let stats = IdStats::of(&v4);
        assert_eq!(stats.uuid_version, Some(4));
        assert!((121.5..122.5).contains(&stats.entropy_bits), "{stats:?}");
        assert_eq!(stats.problems().len(), 1);

        let short: Vec<String> = (0..1000).map(|_| random_hex(&mut rng, 2)).collect();
        let stats = IdStats::of(&short);
        assert!(stats.repeats > 0);
        assert!(stats.entropy_bits < 20.0);
    }

    #[test]
    fn time_based_uuids_are_named() {
        let v7: Vec<String> = (0..50u64)
            .map(|i| {
                format!(
                    "{:012x}7{:03x}8{:015x}",
                    1_700_000_000_000u64 + i,
                    i,
                    i * 7919
                )
            })
            .collect();
        assert_eq!(IdStats::of(&v7).uuid_version, Some(7));
        assert!(IdStats::of(&v7).problems()[0].contains("version 7"));
    }
}
