//! The scanner a check builds once per run from its secrets and calls for
//! every capture or HTTP message.

use pushproof_mocks::Capture;

use super::hit::{settle, Hit};
use super::matcher::{ExactSink, Matcher};
use super::surface::Message;
use super::walk::{Limits, Walker};
use crate::conformance::canary::Secret;

/// Finds every secret it was built from, through every transform, in
/// captured pushes and HTTP messages.
#[derive(Debug)]
pub struct Scanner {
    secrets: Vec<Secret>,
    matcher: Matcher,
    limits: Limits,
}

impl Scanner {
    /// Precomputes every needle of every secret into one automaton. A hit
    /// names a secret by its index in `secrets`.
    pub fn new(secrets: &[Secret]) -> Scanner {
        let started = std::time::Instant::now();
        let matcher = Matcher::new(secrets);
        tracing::debug!(
            secrets = secrets.len(),
            needles = matcher.needle_count(),
            automaton_bytes = matcher.memory_usage(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "leak scanner built"
        );
        Scanner {
            secrets: secrets.to_vec(),
            matcher,
            limits: Limits::default(),
        }
    }

    /// The secrets, in the order hits index them.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// How many needles the automaton holds.
    pub fn needle_count(&self) -> usize {
        self.matcher.needle_count()
    }

    /// Every sighting in one captured request, one per sighting (the same
    /// secret part over the same bytes is reported once, by its best
    /// evidence), ordered by surface and offset.
    pub fn scan(&self, capture: &Capture) -> Vec<Hit> {
        let mut hits = self.scan_message(&Message::capture(capture));
        for hit in &mut hits {
            hit.capture = Some(capture.seq);
        }
        hits
    }

    /// Every sighting in an HTTP message (a response's headers and body).
    pub fn scan_message(&self, message: &Message<'_>) -> Vec<Hit> {
        let mut sink = ExactSink::new(&self.matcher, &self.secrets);
        Walker::new(self.limits).message(message, &mut sink);
        settle(sink.hits, None, |i| self.label(i))
    }

    /// Every sighting in plain bytes, reported under `surface`.
    pub fn scan_bytes(&self, surface: &str, bytes: &[u8]) -> Vec<Hit> {
        let mut sink = ExactSink::new(&self.matcher, &self.secrets);
        Walker::new(self.limits).bytes(surface, bytes, &mut sink);
        settle(sink.hits, None, |i| self.label(i))
    }

    fn label(&self, index: u32) -> String {
        self.secrets
            .get(index as usize)
            .map(|s| s.label().to_owned())
            .unwrap_or_default()
    }
}
