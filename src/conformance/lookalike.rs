//! Ids that look like a backend's real ones but name nothing: the unknown
//! ids the enumeration checks compare real ids with. A lookalike has the
//! real id's length and, position by position, its kind of character (a
//! UUID stays a version-4 UUID), so a backend that checks the shape of an
//! id before looking it up treats both alike, and any difference in the
//! answers comes from the lookup.

use rand::seq::SliceRandom;
use rand::Rng;

const DIGITS: &[u8] = b"0123456789";
const HEX_LOWER: &[u8] = b"0123456789abcdef";
const HEX_UPPER: &[u8] = b"0123456789ABCDEF";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A random id shaped like `real`, never equal to it.
pub fn lookalike(real: &str, rng: &mut impl Rng) -> String {
    loop {
        let candidate = shaped_like(real, rng);
        if candidate != real || real.is_empty() {
            return candidate;
        }
    }
}

fn shaped_like(real: &str, rng: &mut impl Rng) -> String {
    if let Ok(uuid) = uuid_parts(real) {
        return random_uuid(uuid, rng);
    }
    let hex_lower = real.bytes().all(|b| HEX_LOWER.contains(&b));
    let hex_upper = real.bytes().all(|b| HEX_UPPER.contains(&b));
    real.chars()
        .map(|c| {
            let class: &[u8] = if hex_lower && c.is_ascii_hexdigit() {
                HEX_LOWER
            } else if hex_upper && c.is_ascii_hexdigit() {
                HEX_UPPER
            } else if c.is_ascii_digit() {
                DIGITS
            } else if c.is_ascii_lowercase() {
                LOWER
            } else if c.is_ascii_uppercase() {
                UPPER
            } else {
                // Separators and anything else stay where they are.
                return c;
            };
            char::from(*class.choose(rng).expect("classes are not empty"))
        })
        .collect()
}

/// Whether the id is a UUID in its usual text form, and in which case.
fn uuid_parts(id: &str) -> Result<bool, ()> {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lengths != [8, 4, 4, 4, 12]
        || !groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(());
    }
    Ok(id.bytes().any(|b| b.is_ascii_uppercase()))
}

fn random_uuid(upper: bool, rng: &mut impl Rng) -> String {
    let mut bytes: [u8; 16] = rng.gen();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    let text = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    if upper {
        text.to_ascii_uppercase()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lookalikes_keep_length_and_classes() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let hex = "0f3a9c1d2e4b5a6978877665544332211";
        for _ in 0..50 {
            let other = lookalike(hex, &mut rng);
            assert_eq!(other.len(), hex.len());
            assert_ne!(other, hex);
            assert!(other.bytes().all(|b| HEX_LOWER.contains(&b)), "{other}");
        }
        let mixed = lookalike("Ab3_x-9Z", &mut rng);
        let classes = |s: &str| -> Vec<u8> {
            s.bytes()
                .map(|b| match b {
                    b'0'..=b'9' => 0,
                    b'a'..=b'z' => 1,
                    b'A'..=b'Z' => 2,
                    other => other,
                })
                .collect()
        };
        assert_eq!(classes(&mixed), classes("Ab3_x-9Z"));
        let uuid = lookalike("1B4E28BA-2FA1-41D2-883F-0016D3CCA427", &mut rng);
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "A" | "B"), "{uuid}");
        assert_eq!(uuid, uuid.to_ascii_uppercase());
        assert_eq!(lookalike("", &mut rng), "");
    }
}
