//! Canaries and the secret texts that carry them.
//!
//! A canary is `SPC1-` followed by 128 random bits in base32 (26
//! characters). Such a string cannot occur by chance, so any sighting of one
//! outside the backend's fetch endpoint is a leak, with essentially no false
//! positives. Canaries come from the run's seeded generator so a run can be
//! replayed.
//!
//! Every secret carries three fresh canaries: one at its head, one in its
//! middle and one at its tail, so a push that carries only a truncated
//! preview (the first line of a message, or its last words) still shows a
//! canary, and the report can say which part leaked. The text around them
//! is shaped like what real apps push and must not: a bank transfer, a
//! one-time code, a medical appointment, a chat message.

use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use serde::Serialize;

/// Marks every canary, so a report reader can spot them in evidence.
pub const PREFIX: &str = "SPC1-";

/// Number of random bytes in a canary (128 bits).
const RANDOM_BYTES: usize = 16;

/// Length of a canary: the prefix and 26 base32 characters.
pub const CANARY_LEN: usize = PREFIX.len() + 26;

/// Shortest secret without canaries (a token) that can be searched without
/// false positives: shorter strings occur by chance in random ids.
pub const MIN_OPAQUE_LEN: usize = 16;

/// A fresh canary string from `rng`.
pub fn canary(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    rng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&bytes))
}

/// Whether `text` has the shape [`canary`] produces.
pub fn is_canary(text: &str) -> bool {
    text.len() == CANARY_LEN
        && text.starts_with(PREFIX)
        && text[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// Which part of a secret a sighting shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The canary at the start of the text.
    Head,
    /// The canary in the middle of the text.
    Middle,
    /// The canary at the end of the text.
    Tail,
    /// The secret as a whole (its hash, or a secret without canaries).
    Whole,
    /// A run of its text shorter than any canary (a k-gram match).
    Partial,
}

impl Part {
    /// The parts a canary can have, in the order they appear in the text.
    pub const CANARIES: [Part; 3] = [Part::Head, Part::Middle, Part::Tail];

    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Head => "head",
            Part::Middle => "middle",
            Part::Tail => "tail",
            Part::Whole => "whole",
            Part::Partial => "partial",
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One canary of a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    /// Head, middle or tail.
    pub part: Part,
    pub text: String,
}

/// A secret as given to a [`Secret`] constructor that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecret {
    #[error("canary {0:?} does not occur in the secret's text")]
    CanaryMissing(String),
    #[error("canary {0:?} is not of the form SPC1-<26 base32 characters>")]
    NotACanary(String),
    #[error("a secret without canaries must be at least {MIN_OPAQUE_LEN} bytes, not {0}")]
    TooShort(usize),
}

/// A secret the harness sends through the backend, and the canaries planted
/// in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    label: String,
    text: String,
    canaries: Vec<Canary>,
}

impl Secret {
    /// A secret with canaries at its head, middle and tail; each must occur
    /// in `text`.
    pub fn with_canaries(
        label: impl Into<String>,
        text: impl Into<String>,
        [head, middle, tail]: [String; 3],
    ) -> Result<Secret, InvalidSecret> {
        let text = text.into();
        let mut canaries = Vec::with_capacity(3);
        for (part, canary) in Part::CANARIES.into_iter().zip([head, middle, tail]) {
            if !is_canary(&canary) {
                return Err(InvalidSecret::NotACanary(canary));
            }
            if !text.contains(&canary) {
                return Err(InvalidSecret::CanaryMissing(canary));
            }
            canaries.push(Canary { part, text: canary });
        }
        Ok(Secret {
            label: label.into(),
            text,
            canaries,
        })
    }

    /// A secret without canaries, searched as a whole: a token or another
    /// value the harness did not choose (an access token, a device handle).
    /// It must be long and random enough not to occur by chance.
    pub fn opaque(
        label: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Secret, InvalidSecret> {
        let text = text.into();
        if text.len() < MIN_OPAQUE_LEN {
            return Err(InvalidSecret::TooShort(text.len()));
        }
        Ok(Secret {
            label: label.into(),
            text,
            canaries: Vec::new(),
        })
    }

    /// Names the secret in evidence (`secret-7`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The text sent through the backend.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its canaries, head first; empty for an [`opaque`](Secret::opaque)
    /// secret.
    pub fn canaries(&self) -> &[Canary] {
        &self.canaries
    }

    /// The canary of one part, if the secret has it.
    pub fn canary(&self, part: Part) -> Option<&str> {
        self.canaries
            .iter()
            .find(|c| c.part == part)
            .map(|c| c.text.as_str())
    }
}

/// A fresh secret for device `index`: realistic sensitive text with three
/// new canaries, the head canary first, the tail canary last and the middle
/// one near the middle.
pub fn secret(rng: &mut impl RngCore, index: usize) -> Secret {
    long_secret(rng, index, 0)
}

/// A fresh secret of about `len` bytes (never less): several of
/// [`secret`]'s texts run together, with the head canary first, the tail
/// canary last and the middle one near the middle. For checks that vary
/// the size of what is sent.
pub fn long_secret(rng: &mut impl RngCore, index: usize, len: usize) -> Secret {
    let [head, middle, tail] = [canary(rng), canary(rng), canary(rng)];
    let mut prose = prose(rng);
    while prose.len() + 3 * (CANARY_LEN + 1) < len {
        prose.push(' ');
        prose.push_str(&self::prose(rng));
    }
    let mid = middle_space(&prose);
    let text = format!(
        "{head} {} {middle} {} {tail}",
        &prose[..mid],
        prose[mid..].trim_start()
    );
    Secret::with_canaries(format!("secret-{index}"), text, [head, middle, tail])
        .expect("every canary was just written into the text")
}

/// The byte offset of the space nearest the middle of `prose` (the middle
/// itself, on a character boundary, if it has no space).
fn middle_space(prose: &str) -> usize {
    let half = (0..=prose.len() / 2)
        .rev()
        .find(|&i| prose.is_char_boundary(i))
        .unwrap_or(0);
    let before = prose[..half].rfind(' ');
    let after = prose[half..].find(' ').map(|i| half + i);
    match (before, after) {
        (Some(b), Some(a)) if half - b <= a - half => b,
        (_, Some(a)) => a,
        (Some(b), None) => b,
        (None, None) => half,
    }
}

const FIRST: &[&str] = &[
    "Anna", "Jonas", "Amélie", "Søren", "Priya", "Mateo", "Chloé", "Yusuf", "Hannah", "Kenji",
    "Olivia", "Björn", "Fatima", "Lucas", "Zoë", "Tomás",
];
const LAST: &[&str] = &[
    "Keller",
    "Müller",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "García",
    "O'Brien",
    "Kowalski",
    "Haddad",
    "Fischer",
    "Rossi",
    "Andersson",
    "Novak",
];
const CITIES: &[&str] = &[
    "Lyon", "Porto", "Gdańsk", "Leeds", "Graz", "Malmö", "Utrecht", "Bilbao", "Cork", "Brno",
];
const MERCHANTS: &[&str] = &[
    "Marks & Spencer",
    "Shell Station 114",
    "Apotheke am Markt",
    "Uber *Trip",
    "Deliveroo",
    "IKEA Delft",
    "Steam Purchase",
];
const DEPARTMENTS: &[&str] = &[
    "cardiology",
    "dermatology",
    "oncology follow-up",
    "psychiatry",
    "obstetrics",
    "sexual health clinic",
];
const TESTS: &[&str] = &[
    "blood panel",
    "HbA1c",
    "thyroid (TSH)",
    "lipid profile",
    "HIV and hepatitis screen",
];
const DRUGS: &[&str] = &[
    "sertraline",
    "metformin",
    "levothyroxine",
    "atorvastatin",
    "lamotrigine",
    "tenofovir",
];

fn pick<'a>(rng: &mut impl RngCore, pool: &[&'a str]) -> &'a str {
    pool.choose(rng).copied().unwrap_or_default()
}

fn person(rng: &mut impl RngCore) -> String {
    format!("{} {}", pick(rng, FIRST), pick(rng, LAST))
}

fn date(rng: &mut impl RngCore) -> String {
    format!(
        "{:02}/{:02}/2026",
        rng.gen_range(1..=28),
        rng.gen_range(1..=12)
    )
}

fn time(rng: &mut impl RngCore) -> String {
    format!(
        "{:02}:{:02}",
        rng.gen_range(7..=19),
        5 * rng.gen_range(0..12)
    )
}

fn amount(rng: &mut impl RngCore) -> String {
    let cents: u32 = rng.gen_range(1_000..2_500_000);
    let euros = cents / 100;
    if euros >= 1000 {
        format!("{},{:03}.{:02}", euros / 1000, euros % 1000, cents % 100)
    } else {
        format!("{euros}.{:02}", cents % 100)
    }
}

fn digits(rng: &mut impl RngCore, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// The sensitive text around the canaries, from ~40 bytes (a one-time
/// code) to a few hundred (lab results with a prescription).
fn prose(rng: &mut impl RngCore) -> String {
    match rng.gen_range(0..8) {
        0 => format!(
            "Your sign-in code is {}. Never share it with anyone.",
            digits(rng, 6)
        ),
        1 => format!(
            "Transfer of €{} to {}, IBAN DE{} {} {} {} {} {}, approved on {}. If you did not \
             authorise this payment call us on 0800 555 {}.",
            amount(rng),
            person(rng),
            digits(rng, 2),
            digits(rng, 4),
            digits(rng, 4),
            digits(rng, 4),
            digits(rng, 4),
            digits(rng, 2),
            date(rng),
            digits(rng, 4)
        ),
        2 => format!(
            "Reminder for {}: your {} appointment with Dr. {} is on {} at {}, room {}. Reply C \
             to cancel.",
            person(rng),
            pick(rng, DEPARTMENTS),
            pick(rng, LAST),
            date(rng),
            time(rng),
            rng.gen_range(100..640)
        ),
        3 => format!(
            "{}: hey, the door code for tonight is {}#, flat {}. Don't forward this, see you at \
             {}!",
            pick(rng, FIRST),
            digits(rng, 4),
            rng.gen_range(1..60),
            time(rng)
        ),
        4 => format!(
            "Card ending {} charged ${} at {} on {}. Remaining balance ${}.",
            digits(rng, 4),
            amount(rng),
            pick(rng, MERCHANTS),
            date(rng),
            amount(rng)
        ),
        5 => format!(
            "Password reset requested for {}.{}@fastmail.com from {}. Temporary password: {}-{}. \
             It expires in 15 minutes.",
            pick(rng, FIRST).to_lowercase(),
            digits(rng, 2),
            pick(rng, CITIES),
            pick(rng, LAST).to_lowercase(),
            digits(rng, 5)
        ),
        6 => format!(
            "Dear {}, your {} results from {} are ready: {} mmol/L, flagged {}. Dr. {} has \
             renewed your prescription for {} {} mg ({} tablets). Please collect it at the \
             pharmacy in {} before {} and bring your insurance card (member no. {}). This \
             message is confidential and intended only for its recipient.",
            person(rng),
            pick(rng, TESTS),
            date(rng),
            rng.gen_range(3..12),
            if rng.gen_bool(0.5) { "high" } else { "normal" },
            pick(rng, LAST),
            pick(rng, DRUGS),
            5 * rng.gen_range(1..40),
            rng.gen_range(14..90),
            pick(rng, CITIES),
            date(rng),
            digits(rng, 9)
        ),
        _ => format!(
            "{} sent you a message: I got the job in {}! Salary is €{} a year, don't tell \
             anyone at work yet. Call me at {}.",
            person(rng),
            pick(rng, CITIES),
            amount(rng),
            time(rng)
        ),
    }
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
        assert_eq!(first.len(), CANARY_LEN);
        assert!(is_canary(&first));
        assert!(!is_canary("SPC1-abc"));
        assert!(!is_canary(&first.to_lowercase()));
    }

    #[test]
    fn secrets_carry_head_middle_and_tail_canaries() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut shortest = usize::MAX;
        let mut longest = 0;
        for i in 0..200 {
            let secret = secret(&mut rng, i);
            let text = secret.text();
            let [head, middle, tail] = Part::CANARIES.map(|p| secret.canary(p).expect("canary"));
            assert!(text.starts_with(head), "{text}");
            assert!(text.ends_with(tail), "{text}");
            let at = text.find(middle).expect("middle canary in text");
            let prose_len = text.len() - 3 * CANARY_LEN;
            // The middle canary sits within a few words of the middle.
            let centre = CANARY_LEN + prose_len / 2;
            assert!(at.abs_diff(centre) < 40, "{at} vs {centre}: {text}");
            assert_eq!(secret.label(), format!("secret-{i}"));
            shortest = shortest.min(prose_len);
            longest = longest.max(prose_len);
        }
        assert!(shortest < 60, "shortest prose {shortest}");
        assert!(longest > 300, "longest prose {longest}");
    }

    #[test]
    fn long_secrets_reach_their_length_with_three_canaries() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        for len in [100, 3000] {
            let secret = long_secret(&mut rng, 1, len);
            assert!(secret.text().len() >= len, "{}", secret.text().len());
            assert!(secret.text().len() < len + 700);
            assert_eq!(secret.canaries().len(), 3);
            assert!(secret
                .text()
                .starts_with(secret.canary(Part::Head).expect("head")));
        }
    }

    #[test]
    fn secrets_are_reproducible_from_the_seed() {
        let mut a = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut b = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        assert_eq!(secret(&mut a, 3), secret(&mut b, 3));
    }

    #[test]
    fn constructors_check_their_input() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let [h, m, t] = [canary(&mut rng), canary(&mut rng), canary(&mut rng)];
        let text = format!("{h} a {m} b {t}");
        assert!(
            Secret::with_canaries("s", text.clone(), [h.clone(), m.clone(), t.clone()]).is_ok()
        );
        assert_eq!(
            Secret::with_canaries("s", "nothing", [h.clone(), m.clone(), t.clone()]),
            Err(InvalidSecret::CanaryMissing(h.clone()))
        );
        assert_eq!(
            Secret::with_canaries("s", text, ["bad".into(), m, t]),
            Err(InvalidSecret::NotACanary("bad".into()))
        );
        assert_eq!(
            Secret::opaque("t", "short"),
            Err(InvalidSecret::TooShort(5))
        );
        let token = Secret::opaque("token", "ya29.a0AfB_byC8xQ2").expect("long enough");
        assert!(token.canaries().is_empty());
        assert_eq!(token.canary(Part::Head), None);
    }
}
