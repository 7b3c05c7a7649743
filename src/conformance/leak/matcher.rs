//! The exact matcher: one Aho–Corasick automaton over the folded anchors of
//! every needle of every secret, run once per layer, each match verified
//! and extended against its full form; and the digest table probed in
//! binary layers.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::hit::{self, RawHit};
use super::keys;
use super::needle::{self, Encoding, Needle, Needles, ANCHOR, FOLD};
use super::offsets::to_captured;
use super::transform::Transform;
use super::walk::{Layer, Sink};
use crate::conformance::canary::Secret;

/// The automaton and the needles its patterns stand for.
#[derive(Debug)]
pub(crate) struct Matcher {
    automaton: AhoCorasick,
    needles: Needles,
    /// Every byte some anchor holds: a layer without a run of 8 of them
    /// cannot match, and is not searched.
    alphabet: [bool; 256],
}

impl Matcher {
    pub(crate) fn new(secrets: &[Secret]) -> Matcher {
        let needles = Needles::build(secrets);
        // Standard semantics, so overlapping matches are all reported; a
        // contiguous NFA, since a DFA over this many patterns would not fit
        // in memory.
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(&needles.anchors)
            .expect("anchors are 8-byte literals, well within automaton limits");
        let mut alphabet = [false; 256];
        for &b in needles.anchors.iter().flatten() {
            alphabet[usize::from(b)] = true;
        }
        Matcher {
            automaton,
            needles,
            alphabet,
        }
    }

    pub(crate) fn needle_count(&self) -> usize {
        self.needles.list.len()
    }

    pub(crate) fn memory_usage(&self) -> usize {
        self.automaton.memory_usage()
    }

    /// The haystack range the needle's form matches around an anchor match
    /// at `at`, if enough of it matches, and how much of the form that is
    /// (in thousandths).
    fn verify(
        &self,
        secret: &Secret,
        needle: &Needle,
        hay: &[u8],
        at: usize,
    ) -> Option<(Range<usize>, u16)> {
        let (form, rule) = self.needles.form(secret, needle);
        let eq: fn(u8, u8) -> bool = if needle.encoding.case_sensitive() {
            base64_eq
        } else {
            |a, b| a.eq_ignore_ascii_case(&b)
        };
        let anchor = usize::from(needle.anchor);
        let exact = (0..ANCHOR).all(|i| eq(hay[at + i], form[anchor + i]));
        if !exact {
            return None;
        }
        let mut left = 0;
        while left < anchor && left < at && eq(hay[at - left - 1], form[anchor - left - 1]) {
            left += 1;
        }
        let mut right = anchor + ANCHOR;
        let mut end = at + ANCHOR;
        while right < form.len() && end < hay.len() && eq(hay[end], form[right]) {
            right += 1;
            end += 1;
        }
        let matched = anchor - left..right;
        let overlap = matched
            .end
            .min(rule.random.end)
            .saturating_sub(matched.start.max(rule.random.start));
        (overlap >= rule.needed).then(|| (at - left..end, coverage(matched.len(), form.len())))
    }
}

/// `part` of `whole`, in thousandths.
fn coverage(part: usize, whole: usize) -> u16 {
    u16::try_from(part * 1000 / whole.max(1)).unwrap_or(1000)
}

/// Base64 compares exactly, either alphabet for the two characters they
/// differ in (forms are standard base64).
fn base64_eq(seen: u8, form: u8) -> bool {
    seen == form || matches!((seen, form), (b'-', b'+') | (b'_', b'/'))
}

/// Which base64 alphabet the run around `range` is written in.
fn base64_alphabet(bytes: &[u8], range: &Range<usize>) -> Transform {
    let in_run = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    let before = bytes[..range.start].iter().rev().take_while(|b| in_run(b));
    let after = bytes[range.start..].iter().take_while(|b| in_run(b));
    if before.chain(after).any(|b| matches!(b, b'-' | b'_')) {
        Transform::Base64Url
    } else {
        Transform::Base64
    }
}

/// Collects exact hits from every layer it is shown.
pub(crate) struct ExactSink<'m> {
    matcher: &'m Matcher,
    secrets: &'m [Secret],
    folded: Vec<u8>,
    pub hits: Vec<RawHit>,
}

impl<'m> ExactSink<'m> {
    pub(crate) fn new(matcher: &'m Matcher, secrets: &'m [Secret]) -> ExactSink<'m> {
        ExactSink {
            matcher,
            secrets,
            folded: Vec::new(),
            hits: Vec::new(),
        }
    }

    fn record(
        &mut self,
        layer: &Layer<'_>,
        range: Range<usize>,
        mut transforms: Vec<Transform>,
        (secret, source): (u32, u8),
        coverage: u16,
    ) {
        let Some(owner) = self.secrets.get(secret as usize) else {
            return;
        };
        transforms.extend(layer.decoded.iter().rev());
        self.hits.push(RawHit {
            coordinates: layer.surface.coordinates(),
            surface: layer.surface.render(),
            structural: layer.surface.structural(),
            range: to_captured(layer.frames, range.clone()),
            transforms,
            secret,
            part: needle::part(owner, source),
            seen: hit::seen(&layer.bytes[range]),
            coverage,
        });
    }

    /// Digests at any position of a binary layer; at least the 8 bytes the
    /// lookup keys on must match.
    fn digests(&mut self, layer: &Layer<'_>) {
        let (matcher, secrets, bytes) = (self.matcher, self.secrets, layer.bytes);
        for at in 0..bytes.len().saturating_sub(ANCHOR - 1) {
            let Some(key) = keys::key_at(bytes, at) else {
                break;
            };
            for &(secret, source, hash) in matcher.needles.raw.get(key) {
                let Some(owner) = secrets.get(secret as usize) else {
                    continue;
                };
                let digest = matcher.needles.digest(owner, secret, source, hash);
                let len = digest
                    .iter()
                    .zip(&bytes[at..])
                    .take_while(|(a, b)| a == b)
                    .count();
                let covered = coverage(len, digest.len());
                self.record(
                    layer,
                    at..at + len,
                    vec![hash.transform()],
                    (secret, source),
                    covered,
                );
            }
        }
    }
}

impl Sink for ExactSink<'_> {
    fn layer(&mut self, layer: &Layer<'_>) {
        if layer.bytes.len() < ANCHOR {
            return;
        }
        let (matcher, secrets) = (self.matcher, self.secrets);
        let mut folded = std::mem::take(&mut self.folded);
        folded.clear();
        let (mut run, mut longest) = (0usize, 0usize);
        folded.extend(layer.bytes.iter().map(|&b| {
            let f = FOLD[usize::from(b)];
            run = if matcher.alphabet[usize::from(f)] {
                run + 1
            } else {
                0
            };
            longest = longest.max(run);
            f
        }));
        let searched = if longest >= ANCHOR {
            folded.as_slice()
        } else {
            &[]
        };
        for found in matcher.automaton.find_overlapping_iter(searched) {
            let needle = matcher.needles.list[found.pattern().as_usize()];
            let Some(owner) = secrets.get(needle.secret as usize) else {
                continue;
            };
            let Some((range, covered)) = matcher.verify(owner, &needle, layer.bytes, found.start())
            else {
                continue;
            };
            let transforms = match needle.encoding {
                Encoding::Plain => vec![],
                Encoding::Hex => vec![Transform::Hex],
                Encoding::Base32 => vec![Transform::Base32],
                Encoding::Base64 => vec![base64_alphabet(layer.bytes, &range)],
            };
            self.record(
                layer,
                range,
                transforms,
                (needle.secret, needle.source),
                covered,
            );
        }
        self.folded = folded;
        if layer.binary {
            self.digests(layer);
        }
    }
}
