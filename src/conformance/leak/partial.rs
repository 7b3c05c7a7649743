//! Partial leaks: any run of at least [`K`] consecutive characters of a
//! secret's text seen in a push, except runs that a control run (the same
//! scenario with other secrets) also shows, so generic alert text ("You
//! have a new message") and shared templates are not leaks.
//!
//! Every 8-byte window (k-gram) of every secret's text, ASCII case folded,
//! is indexed. A push's text layers (every surface, decoded as for the
//! exact scan) are slid over; each window found in the index and absent
//! from the control set starts a run along its diagonal (push offset minus
//! text offset), extended while the texts agree and the windows stay
//! outside the control set. Per secret the longest run is reported.

use pushproof_mocks::Capture;

use super::hit::{self, Hit, RawHit};
use super::keys::{self, KeyMap, KeySet};
use super::offsets::to_captured;
use super::surface::Message;
use super::walk::{Layer, Limits, Sink, Walker};
use crate::conformance::canary::{Part, Secret};

/// Length of the runs indexed, and the shortest partial leak reported (in
/// characters).
pub const K: usize = 8;

/// The k-grams of a control run's pushes that also occur in the secrets:
/// runs made of them are not leaks.
#[derive(Debug, Clone, Default)]
pub struct Control {
    grams: KeySet,
    pushes: usize,
}

impl Control {
    /// No control run: every run counts (generic text then counts too).
    pub fn empty() -> Control {
        Control::default()
    }

    /// How many pushes the control run contributed.
    pub fn pushes(&self) -> usize {
        self.pushes
    }

    /// How many of the secrets' k-grams the control run showed.
    pub fn excluded_grams(&self) -> usize {
        self.grams.len()
    }
}

/// Finds the longest run of each secret's text in a push.
///
/// ```
/// use pushproof::conformance::canary::{self, Part};
/// use pushproof::conformance::leak::PartialScanner;
/// use pushproof_mocks::{Capture, CaptureKind, Platform};
/// use rand::SeedableRng as _;
///
/// let push = |seq: u64, alert: &str| Capture {
///     seq,
///     platform: Platform::Apns,
///     kind: CaptureKind::Push,
///     at: std::time::SystemTime::now(),
///     method: "POST".into(),
///     path: "/3/device/ab".into(),
///     headers: vec![],
///     body: format!(r#"{{"aps":{{"alert":{}}}}}"#, serde_json::Value::from(alert)).into(),
///     status: 200,
///     reason: None,
///     device: None,
/// };
/// let secrets = |seed| {
///     let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
///     (0..50).map(|i| canary::secret(&mut rng, i)).collect::<Vec<_>>()
/// };
/// // A backend that pushes the first 40 characters after the head canary.
/// let preview = |s: &canary::Secret| s.text()[canary::CANARY_LEN + 1..].chars().take(40).collect::<String>();
/// let (run, control_run) = (secrets(1), secrets(2));
/// let scanner = PartialScanner::new(&run);
/// // The control run: the same scenario with other secrets.
/// let control_pushes: Vec<Capture> = control_run.iter().map(|s| push(0, &preview(s))).collect();
/// let control = scanner.control(&control_pushes);
///
/// let hits = scanner.scan(&push(9, &preview(&run[7])), &control);
/// let hit = hits.iter().find(|h| h.secret == 7).expect("secret 7's preview");
/// assert_eq!(hit.part, Part::Partial);
/// assert!(preview(&run[7]).contains(&hit.seen));
/// ```
#[derive(Debug)]
pub struct PartialScanner {
    secrets: Vec<Secret>,
    /// Each secret's text, ASCII lower case.
    folded: Vec<Vec<u8>>,
    /// k-gram → range of `postings`.
    index: KeyMap<(u32, u32)>,
    /// (secret, offset in its text), grouped by k-gram.
    postings: Vec<(u32, u32)>,
    limits: Limits,
}

impl PartialScanner {
    /// Indexes every k-gram of every secret; a hit names a secret by its
    /// index in `secrets`.
    pub fn new(secrets: &[Secret]) -> PartialScanner {
        let folded: Vec<Vec<u8>> = secrets
            .iter()
            .map(|s| s.text().as_bytes().to_ascii_lowercase())
            .collect();
        let mut grams: Vec<(u64, u32, u32)> = Vec::new();
        for (s, text) in folded.iter().enumerate() {
            let s = u32::try_from(s).expect("fewer than 2^32 secrets");
            for at in 0..text.len().saturating_sub(K - 1) {
                if let Some(key) = keys::key_at(text, at) {
                    grams.push((key, s, u32::try_from(at).unwrap_or(u32::MAX)));
                }
            }
        }
        grams.sort_unstable();
        let mut index = KeyMap::default();
        let mut postings = Vec::with_capacity(grams.len());
        for group in grams.chunk_by(|a, b| a.0 == b.0) {
            let start = u32::try_from(postings.len()).unwrap_or(u32::MAX);
            let len = u32::try_from(group.len()).unwrap_or(u32::MAX);
            index.insert(group[0].0, (start, len));
            postings.extend(group.iter().map(|&(_, s, at)| (s, at)));
        }
        PartialScanner {
            secrets: secrets.to_vec(),
            folded,
            index,
            postings,
            limits: Limits::default(),
        }
    }

    /// The exclusion set from a control run's captures (only pushes are
    /// read).
    pub fn control<'c>(&self, captures: impl IntoIterator<Item = &'c Capture>) -> Control {
        let mut sink = ControlSink {
            index: &self.index,
            grams: KeySet::default(),
            folded: Vec::new(),
        };
        let mut pushes = 0;
        let mut walker = Walker::new(self.limits);
        for capture in captures {
            if capture.kind == pushproof_mocks::CaptureKind::Push {
                pushes += 1;
                walker.message(&Message::capture(capture), &mut sink);
            }
        }
        Control {
            grams: sink.grams,
            pushes,
        }
    }

    /// The longest run of each secret's text in one capture, outside
    /// `control`; part `partial`, ordered by secret.
    pub fn scan(&self, capture: &Capture, control: &Control) -> Vec<Hit> {
        let mut hits = self.scan_message(&Message::capture(capture), control);
        for hit in &mut hits {
            hit.capture = Some(capture.seq);
        }
        hits
    }

    /// The same for an HTTP message.
    pub fn scan_message(&self, message: &Message<'_>, control: &Control) -> Vec<Hit> {
        let mut sink = PartialSink {
            scanner: self,
            control,
            folded: Vec::new(),
            best: KeyMap::default(),
        };
        Walker::new(self.limits).message(message, &mut sink);
        let mut best: Vec<(u32, Run)> = sink.best.into_iter().map(|(s, r)| (s as u32, r)).collect();
        best.sort_by_key(|(s, _)| *s);
        best.into_iter()
            .map(|(s, run)| Hit {
                surface: run.hit.surface,
                start: Some(run.hit.range.start),
                end: Some(run.hit.range.end),
                transforms: run.hit.transforms,
                label: self
                    .secrets
                    .get(s as usize)
                    .map(|x| x.label().to_owned())
                    .unwrap_or_default(),
                part: Part::Partial,
                secret: s as usize,
                capture: None,
                seen: run.hit.seen,
            })
            .collect()
    }
}

/// `run` shrunk to whole UTF-8 characters (texts may agree on the first
/// byte of a character and differ in the next).
fn char_bounded(bytes: &[u8], run: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let continuation = |i: usize| bytes.get(i).is_some_and(|b| b & 0xC0 == 0x80);
    let (mut start, mut end) = (run.start, run.end);
    while start < end && continuation(start) {
        start += 1;
    }
    while end > start && continuation(end) {
        end -= 1;
    }
    start..end
}

fn fold_into(out: &mut Vec<u8>, bytes: &[u8]) {
    out.clear();
    out.extend(bytes.iter().map(u8::to_ascii_lowercase));
}

struct ControlSink<'p> {
    index: &'p KeyMap<(u32, u32)>,
    grams: KeySet,
    folded: Vec<u8>,
}

impl Sink for ControlSink<'_> {
    fn layer(&mut self, layer: &Layer<'_>) {
        if layer.binary || layer.bytes.len() < K {
            return;
        }
        fold_into(&mut self.folded, layer.bytes);
        for at in 0..=self.folded.len() - K {
            if let Some(key) = keys::key_at(&self.folded, at) {
                if self.index.contains_key(&key) {
                    self.grams.insert(key);
                }
            }
        }
    }
}

/// A secret's longest run so far.
struct Run {
    chars: usize,
    hit: RawHit,
}

struct PartialSink<'p> {
    scanner: &'p PartialScanner,
    control: &'p Control,
    folded: Vec<u8>,
    best: KeyMap<Run>,
}

impl PartialSink<'_> {
    fn excluded(&self, key: u64) -> bool {
        self.control.grams.contains(&key)
    }
}

impl Sink for PartialSink<'_> {
    fn layer(&mut self, layer: &Layer<'_>) {
        if layer.binary || layer.bytes.len() < K {
            return;
        }
        let scanner = self.scanner;
        let mut folded = std::mem::take(&mut self.folded);
        fold_into(&mut folded, layer.bytes);
        // Per (secret, diagonal): the first push offset not yet covered.
        let mut covered: KeyMap<usize> = KeyMap::default();
        for p in 0..=folded.len() - K {
            let Some(key) = keys::key_at(&folded, p) else {
                break;
            };
            let Some(&(start, len)) = scanner.index.get(&key) else {
                continue;
            };
            if self.excluded(key) {
                continue;
            }
            let postings = &scanner.postings[start as usize..(start + len) as usize];
            for &(s, t) in postings {
                let (s_us, t) = (s as usize, t as usize);
                let diagonal = (u64::from(s) << 32) | u64::from((p as u32).wrapping_sub(t as u32));
                if covered.get(&diagonal).is_some_and(|&end| end > p) {
                    continue;
                }
                let text = &scanner.folded[s_us];
                let mut last = p;
                while last + K < folded.len()
                    && t + (last - p) + K < text.len()
                    && folded[last + K] == text[t + (last - p) + K]
                    && !keys::key_at(&folded, last + 1).is_some_and(|k| self.excluded(k))
                {
                    last += 1;
                }
                covered.insert(diagonal, last + 1);
                let run = char_bounded(layer.bytes, p..last + K);
                let chars = layer.bytes[run.clone()]
                    .iter()
                    .filter(|&&b| b & 0xC0 != 0x80)
                    .count();
                if chars < K {
                    continue;
                }
                let better = self.best.get(&u64::from(s)).is_none_or(|b| {
                    (
                        chars,
                        layer.surface.structural(),
                        usize::MAX - layer.decoded.len(),
                    ) > (
                        b.chars,
                        b.hit.structural,
                        usize::MAX - b.hit.transforms.len(),
                    )
                });
                if better {
                    let hit = RawHit {
                        coordinates: layer.surface.coordinates(),
                        surface: layer.surface.render(),
                        structural: layer.surface.structural(),
                        range: to_captured(layer.frames, run.clone()),
                        transforms: layer.decoded.iter().rev().copied().collect(),
                        secret: s,
                        part: Part::Partial,
                        seen: hit::seen(&layer.bytes[run]),
                        coverage: 1000,
                    };
                    self.best.insert(u64::from(s), Run { chars, hit });
                }
            }
        }
        self.folded = folded;
    }
}
