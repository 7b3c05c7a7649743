//! Needles: what each secret looks like after the transforms a substring
//! survives, reduced to short anchors for one Aho–Corasick automaton; and
//! the digests of each secret, looked up where decoding yields bytes.
//!
//! For every canary (or, for a secret without canaries, its whole text):
//! the plain text, hex, base64 at each of the three byte alignments and
//! base32 at each of the five. A canary embedded at an offset that is not a
//! multiple of 3 inside a larger base64'd text yields the characters of
//! `base64(canary[a..])` for one `a` in 0..3, except for the partial groups
//! at either edge, which depend on the neighbouring bytes; a *form* keeps
//! only whole groups, so it is a substring whatever the alignment.
//!
//! Digests (md5, sha1, sha256, sha512 of every canary and of the whole
//! text) are not anchors: a digest is a token of its own, so the hex,
//! base64 or base32 run it is written as is decoded anyway, and its bytes
//! are looked up by their first 8 in [`RawDigests`] (as are raw digests in
//! binary bodies). Their anchors would be uniformly random, the one shape
//! that makes an automaton slow on the random ids every clean push holds:
//! with them it was 4 times larger and the clean scan half as fast again.
//!
//! The automaton holds only an 8-byte anchor of each form (a plain canary
//! has one at each end, so a message's last words still show it), folded (ASCII
//! lower case, and the URL-safe base64 characters `-_` as `+/`), so one
//! automaton serves case-insensitive encodings and both base64 alphabets
//! while staying small; a match is then verified and extended against the
//! full form, recomputed from the secret, with the encoding's own case rule
//! (exact for base64). A form counts as found when at least 64 bits of its
//! randomness matched: 13 canary characters, or 16 hex digits of a digest.
//! A secret without canaries must match its form in full.

use std::ops::Range;
use std::sync::LazyLock;

use base64::Engine as _;
use md5::Digest as _;

use super::keys::{self, KeyMap};
use super::transform::Transform;
use crate::conformance::canary::{Part, Secret, PREFIX};

/// Length of an anchor in the automaton.
pub(crate) const ANCHOR: usize = 8;

/// `Needle::source` of the secret's whole text.
pub(crate) const WHOLE: u8 = u8::MAX;

/// Bits of randomness a match must cover to count (a digest lookup keys
/// on 8 bytes: the same).
const MIN_BITS: usize = 64;

/// Entropy of one random canary character (base32), in bits.
const CANARY_CHAR_BITS: usize = 5;

/// The hashes searched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Hash {
    pub(crate) const ALL: [Hash; 4] = [Hash::Md5, Hash::Sha1, Hash::Sha256, Hash::Sha512];

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Md5 => md5::Md5::digest(data).to_vec(),
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    pub(crate) fn transform(self) -> Transform {
        match self {
            Hash::Md5 => Transform::Md5,
            Hash::Sha1 => Transform::Sha1,
            Hash::Sha256 => Transform::Sha256,
            Hash::Sha512 => Transform::Sha512,
        }
    }

    fn len(self) -> usize {
        match self {
            Hash::Md5 => 16,
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }

    /// Where this digest sits in a source's block of digests.
    fn offset(self) -> usize {
        match self {
            Hash::Md5 => 0,
            Hash::Sha1 => 16,
            Hash::Sha256 => 36,
            Hash::Sha512 => 68,
        }
    }
}

/// Bytes of all four digests of one source.
const DIGESTS_LEN: usize = 132;

/// The text encodings a needle is precomputed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Plain,
    Hex,
    /// Either alphabet: the automaton folds them, verification tells them
    /// apart.
    Base64,
    Base32,
}

impl Encoding {
    const ALL: [Encoding; 4] = [
        Encoding::Plain,
        Encoding::Hex,
        Encoding::Base64,
        Encoding::Base32,
    ];

    /// Bits of input per output character.
    fn bits(self) -> usize {
        match self {
            Encoding::Plain => 8,
            Encoding::Hex => 4,
            Encoding::Base64 => 6,
            Encoding::Base32 => 5,
        }
    }

    /// Input bytes per whole group of output.
    fn group(self) -> usize {
        match self {
            Encoding::Plain | Encoding::Hex => 1,
            Encoding::Base64 => 3,
            Encoding::Base32 => 5,
        }
    }

    /// Whether case carries information (base64), so a match must be
    /// exact.
    pub(crate) fn case_sensitive(self) -> bool {
        self == Encoding::Base64
    }

    pub(crate) fn encode(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Encoding::Plain => bytes.to_vec(),
            Encoding::Hex => hex::encode(bytes).into_bytes(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD_NO_PAD
                .encode(bytes)
                .into_bytes(),
            Encoding::Base32 => data_encoding::BASE32_NOPAD.encode(bytes).into_bytes(),
        }
    }
}

/// One form of one secret, by how to recompute it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needle {
    pub secret: u32,
    /// Index of the canary in the secret, or [`WHOLE`].
    pub source: u8,
    pub encoding: Encoding,
    /// Bytes skipped before the first whole group.
    pub align: u8,
    /// Where the anchor starts in the form.
    pub anchor: u16,
}

/// How much of a form must match: at least `needed` characters inside
/// `random` (the characters that carry randomness).
#[derive(Debug, Clone)]
pub(crate) struct Acceptance {
    pub random: Range<usize>,
    pub needed: usize,
}

/// Folds a byte the way anchors are folded: ASCII lower case, URL-safe
/// base64 characters onto standard ones.
pub(crate) static FOLD: LazyLock<[u8; 256]> = LazyLock::new(|| {
    let mut table = [0u8; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let b = u8::try_from(i).unwrap_or(0);
        *slot = match b {
            b'-' => b'+',
            b'_' => b'/',
            other => other.to_ascii_lowercase(),
        };
    }
    table
});

/// A marker's form: whole groups of `marker[align..]` only.
fn marker_form(marker: &[u8], encoding: Encoding, align: usize) -> Vec<u8> {
    let slice = marker.get(align..).unwrap_or_default();
    let whole = slice.len() / encoding.group() * encoding.group();
    encoding.encode(&slice[..whole])
}

/// Where a form's anchor goes and what must match, or `None` when the form
/// is too short to be searched safely.
fn marker_rule(
    form_len: usize,
    encoding: Encoding,
    align: usize,
    canary: bool,
) -> Option<(usize, Acceptance)> {
    if !canary {
        return (form_len >= ANCHOR).then(|| {
            let rule = Acceptance {
                random: 0..form_len,
                needed: form_len,
            };
            (form_len - ANCHOR, rule)
        });
    }
    // Characters before `first` mix in the fixed prefix.
    let bits = encoding.bits();
    let first = ((PREFIX.len() - align) * 8).div_ceil(bits);
    let needed = (MIN_BITS * 8).div_ceil(CANARY_CHAR_BITS * bits);
    (form_len >= first + needed.max(ANCHOR)).then_some((
        first,
        Acceptance {
            random: first..form_len,
            needed,
        },
    ))
}

/// A secret's searched pieces: its canaries, or its text when it has none.
fn markers(secret: &Secret) -> Vec<(u8, &[u8], bool)> {
    if secret.canaries().is_empty() {
        return vec![(WHOLE, secret.text().as_bytes(), false)];
    }
    secret
        .canaries()
        .iter()
        .enumerate()
        .map(|(i, c)| (u8::try_from(i).unwrap_or(WHOLE), c.text.as_bytes(), true))
        .collect()
}

/// The part a source stands for.
pub(crate) fn part(secret: &Secret, source: u8) -> Part {
    secret
        .canaries()
        .get(usize::from(source))
        .map_or(Part::Whole, |c| c.part)
}

/// Digests, looked up by their first 8 bytes (64 bits) at every position
/// of a binary layer: a raw body, or what a hex, base64 or base32 run
/// decodes to.
#[derive(Debug, Default)]
pub(crate) struct RawDigests {
    /// One bit per hashed key: most positions stop here.
    filter: Vec<u64>,
    /// First key → entry; later entries with the same key in `more`.
    first: KeyMap<u32>,
    more: Vec<(u64, u32)>,
    pub entries: Vec<(u32, u8, Hash)>,
}

const FILTER_BITS: u32 = 20;

impl RawDigests {
    fn bit(key: u64) -> (usize, u64) {
        let h = keys::mix(key) >> (64 - FILTER_BITS);
        ((h >> 6) as usize, 1 << (h & 63))
    }

    fn insert(&mut self, key: u64, entry: (u32, u8, Hash)) {
        if self.filter.is_empty() {
            self.filter = vec![0; 1 << (FILTER_BITS - 6)];
        }
        let (word, bit) = RawDigests::bit(key);
        self.filter[word] |= bit;
        let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        self.entries.push(entry);
        match self.first.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => self.more.push((key, index)),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
            }
        }
    }

    /// Entries whose digest starts with `key`.
    pub(crate) fn get(&self, key: u64) -> impl Iterator<Item = &(u32, u8, Hash)> {
        let (word, bit) = RawDigests::bit(key);
        let present = self.filter.get(word).is_some_and(|w| w & bit != 0);
        let first = present.then(|| self.first.get(&key)).flatten().copied();
        let more = present && first.is_some() && !self.more.is_empty();
        first
            .into_iter()
            .chain(
                self.more
                    .iter()
                    .filter(move |(k, _)| more && *k == key)
                    .map(|&(_, i)| i),
            )
            .filter_map(|i| self.entries.get(i as usize))
    }
}

/// Every needle of every secret.
#[derive(Debug, Default)]
pub(crate) struct Needles {
    pub list: Vec<Needle>,
    /// `anchors[i]` is needle `i`'s folded anchor.
    pub anchors: Vec<[u8; ANCHOR]>,
    digests: Vec<u8>,
    digest_base: Vec<usize>,
    pub raw: RawDigests,
}

impl Needles {
    pub(crate) fn build(secrets: &[Secret]) -> Needles {
        let mut needles = Needles::default();
        for (index, secret) in secrets.iter().enumerate() {
            let id = u32::try_from(index).expect("fewer than 2^32 secrets");
            needles.add(id, secret);
        }
        needles
    }

    fn push(&mut self, needle: Needle, form: &[u8]) {
        let at = usize::from(needle.anchor);
        let mut anchor = [0u8; ANCHOR];
        for (slot, &b) in anchor.iter_mut().zip(&form[at..at + ANCHOR]) {
            *slot = FOLD[usize::from(b)];
        }
        self.anchors.push(anchor);
        self.list.push(needle);
    }

    fn add(&mut self, id: u32, secret: &Secret) {
        let markers = markers(secret);
        for &(source, bytes, canary) in &markers {
            for encoding in Encoding::ALL {
                let alignments = if encoding.group() == 1 {
                    1
                } else {
                    encoding.group()
                };
                for align in 0..alignments {
                    let form = marker_form(bytes, encoding, align);
                    let Some((anchor, _)) = marker_rule(form.len(), encoding, align, canary) else {
                        continue;
                    };
                    // A plain canary is anchored at both ends too, so the end
                    // of a message shown alone still shows its tail canary.
                    let tail = form.len() - ANCHOR;
                    let both = encoding == Encoding::Plain && canary && tail != anchor;
                    for at in [anchor, tail].into_iter().take(if both { 2 } else { 1 }) {
                        let needle = Needle {
                            secret: id,
                            source,
                            encoding,
                            align: u8::try_from(align).unwrap_or(0),
                            anchor: u16::try_from(at).unwrap_or(0),
                        };
                        self.push(needle, &form);
                    }
                }
            }
        }
        // Digests of each canary and of the whole text.
        let mut sources: Vec<(u8, &[u8])> = markers.iter().map(|&(s, b, _)| (s, b)).collect();
        if !secret.canaries().is_empty() {
            sources.push((WHOLE, secret.text().as_bytes()));
        }
        self.digest_base.push(self.digests.len());
        for &(source, bytes) in &sources {
            for hash in Hash::ALL {
                let digest = hash.digest(bytes);
                self.digests.extend_from_slice(&digest);
                if let Some(key) = keys::key_at(&digest, 0) {
                    self.raw.insert(key, (id, source, hash));
                }
            }
        }
    }

    /// The digest of one source of a secret.
    pub(crate) fn digest(&self, secret: &Secret, id: u32, source: u8, hash: Hash) -> &[u8] {
        // The whole text comes after the canaries (or alone).
        let slot = if source == WHOLE {
            secret.canaries().len()
        } else {
            usize::from(source)
        };
        let base = self.digest_base.get(id as usize).copied().unwrap_or(0);
        let at = base + slot * DIGESTS_LEN + hash.offset();
        self.digests.get(at..at + hash.len()).unwrap_or_default()
    }

    /// A needle's full form and what of it must match.
    pub(crate) fn form(&self, secret: &Secret, needle: &Needle) -> (Vec<u8>, Acceptance) {
        let (bytes, canary) = match secret.canaries().get(usize::from(needle.source)) {
            Some(c) => (c.text.as_bytes(), true),
            None => (secret.text().as_bytes(), false),
        };
        let align = usize::from(needle.align);
        let form = marker_form(bytes, needle.encoding, align);
        let rule = marker_rule(form.len(), needle.encoding, align, canary)
            .map(|(_, rule)| rule)
            .unwrap_or(Acceptance {
                random: 0..form.len(),
                needed: form.len(),
            });
        (form, rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::canary;
    use rand::SeedableRng;

    fn secret() -> Secret {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        canary::secret(&mut rng, 0)
    }

    #[test]
    fn a_canary_secret_has_thirty_three_needles_and_sixteen_digests() {
        let needles = Needles::build(&[secret()]);
        // 3 canaries × (plain at both ends, hex, 3 base64, 5 base32); 4
        // sources (3 canaries, the text) × 4 hashes.
        assert_eq!(needles.list.len(), 3 * 11);
        assert_eq!(needles.raw.entries.len(), 16);
        assert_eq!(needles.anchors.len(), needles.list.len());
    }

    #[test]
    fn forms_recompute_their_anchor_and_hold_64_bits() {
        let secret = secret();
        let needles = Needles::build(std::slice::from_ref(&secret));
        for (needle, anchor) in needles.list.iter().zip(&needles.anchors) {
            let (form, rule) = needles.form(&secret, needle);
            let at = usize::from(needle.anchor);
            let folded: Vec<u8> = form[at..at + ANCHOR]
                .iter()
                .map(|&b| FOLD[usize::from(b)])
                .collect();
            assert_eq!(&folded, anchor, "{needle:?}");
            assert!(rule.random.contains(&at), "{needle:?}");
            assert!(rule.random.len() >= rule.needed && rule.needed >= ANCHOR);
        }
    }

    #[test]
    fn base64_forms_are_substrings_at_every_alignment() {
        let secret = secret();
        let canary = secret.canary(Part::Middle).expect("middle").as_bytes();
        for offset in 0..6 {
            let mut text = vec![b'x'; offset];
            text.extend_from_slice(canary);
            text.extend_from_slice(b" and more");
            let encoded = Encoding::Base64.encode(&text);
            let align = (3 - offset % 3) % 3;
            let form = marker_form(canary, Encoding::Base64, align);
            let found = encoded.windows(form.len()).any(|w| w == form.as_slice());
            assert!(found, "offset {offset}");
        }
    }

    #[test]
    fn digests_are_stored_per_source() {
        let secret = secret();
        let needles = Needles::build(std::slice::from_ref(&secret));
        let whole = needles.digest(&secret, 0, WHOLE, Hash::Sha256);
        assert_eq!(whole, Hash::Sha256.digest(secret.text().as_bytes()));
        let tail = secret.canary(Part::Tail).expect("tail");
        assert_eq!(
            needles.digest(&secret, 0, 2, Hash::Md5),
            Hash::Md5.digest(tail.as_bytes())
        );
        let key = keys::key_at(whole, 0).expect("8 bytes");
        let found: Vec<_> = needles.raw.get(key).collect();
        assert_eq!(found, [&(0, WHOLE, Hash::Sha256)]);
        let opaque = Secret::opaque("t", "tok_9f8e7d6c5b4a39281706").expect("opaque");
        let needles = Needles::build(std::slice::from_ref(&opaque));
        let digest = needles.digest(&opaque, 0, WHOLE, Hash::Sha1);
        assert_eq!(digest, Hash::Sha1.digest(opaque.text().as_bytes()));
    }
}
