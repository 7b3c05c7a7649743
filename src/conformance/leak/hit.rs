//! A sighting of a secret, as evidence reports it.
//!
//! [`Hit`] serializes to the fields of the report's hit record (`surface`,
//! `start`, `end`, `transforms`, `secret`, `part`), plus the capture's
//! sequence number, the secret's index and what was seen, which that
//! record ignores; a check builds its evidence from these fields.

use std::ops::Range;

use serde::Serialize;

use super::transform::{chain_text, Transform};
use crate::conformance::canary::Part;

/// Most bytes of what was seen kept in a hit.
const SEEN_MAX: usize = 120;

/// Where and how a secret was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// `path`, `header:<name>`, `header-name:<name>`, `body`,
    /// `json:<pointer>`, `xml:<path>`, or the name given to
    /// [`Scanner::scan_bytes`](super::Scanner::scan_bytes).
    pub surface: String,
    /// The captured bytes that hold the sighting: exact for a plain or an
    /// escaped match, the encoded characters for a match inside a decoded
    /// base64/base32/hex run, the whole blob when found after
    /// decompression. Offsets count in the header value, the path, or the
    /// body (for `body`, `json:` and `xml:` surfaces).
    pub start: Option<usize>,
    pub end: Option<usize>,
    /// The transforms that turn the secret into what was seen, in order of
    /// application (`[gzip, base64url]`); empty for a plain match.
    pub transforms: Vec<Transform>,
    /// The secret's label.
    #[serde(rename = "secret")]
    pub label: String,
    /// Which canary, the whole secret, or a partial run of its text.
    pub part: Part,
    /// Index of the secret in the list the scanner was built from.
    #[serde(rename = "secret_index")]
    pub secret: usize,
    /// Sequence number of the capture, for a hit in a captured push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<u64>,
    /// What matched, once decoded (lossy UTF-8, at most 120 bytes).
    pub seen: String,
}

impl Hit {
    /// The chain for people: `gzip → base64url`, or `plain`.
    pub fn chain(&self) -> String {
        chain_text(&self.transforms)
    }

    /// The transforms' names, as the report's hit record holds them.
    pub fn transform_names(&self) -> Vec<String> {
        self.transforms
            .iter()
            .map(|t| t.name().to_owned())
            .collect()
    }
}

/// A sighting before duplicates are removed.
#[derive(Debug, Clone)]
pub(crate) struct RawHit {
    /// The captured bytes `range` counts in (`body` for JSON/XML surfaces).
    pub coordinates: String,
    pub surface: String,
    pub structural: bool,
    pub range: Range<usize>,
    pub transforms: Vec<Transform>,
    pub secret: u32,
    pub part: Part,
    pub seen: String,
    /// How much of the needle's form matched, in thousandths: a sighting
    /// seen whole in a decoded layer beats the same one seen in pieces.
    pub coverage: u16,
}

/// What was seen, bounded, for evidence.
pub(crate) fn seen(bytes: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(SEEN_MAX)]).into_owned();
    if bytes.len() > SEEN_MAX {
        text.push('…');
    }
    text
}

impl RawHit {
    /// Better evidence first: more of the needle matched, fewer
    /// transforms, a named part of the body over the body, a narrower
    /// range.
    fn rank(&self) -> (u16, usize, bool, usize) {
        (
            u16::MAX - self.coverage,
            self.transforms.len(),
            !self.structural,
            self.range.len(),
        )
    }

    fn same_sighting(&self, other: &RawHit) -> bool {
        self.secret == other.secret
            && self.part == other.part
            && self.coordinates == other.coordinates
            && self.range.start < other.range.end.max(other.range.start + 1)
            && other.range.start < self.range.end.max(self.range.start + 1)
    }
}

/// One hit per sighting: the same part of the same secret over
/// overlapping captured bytes is one sighting, reported by its best
/// evidence; in order of surface and offset.
pub(crate) fn settle(
    mut raw: Vec<RawHit>,
    capture: Option<u64>,
    label: impl Fn(u32) -> String,
) -> Vec<Hit> {
    raw.sort_by_key(RawHit::rank);
    let mut kept: Vec<RawHit> = Vec::with_capacity(raw.len());
    for hit in raw {
        if !kept.iter().any(|k| k.same_sighting(&hit)) {
            kept.push(hit);
        }
    }
    kept.sort_by(|a, b| {
        (&a.coordinates, a.range.start, a.secret, a.part).cmp(&(
            &b.coordinates,
            b.range.start,
            b.secret,
            b.part,
        ))
    });
    kept.into_iter()
        .map(|h| Hit {
            surface: h.surface,
            start: Some(h.range.start),
            end: Some(h.range.end),
            transforms: h.transforms,
            label: label(h.secret),
            part: h.part,
            secret: h.secret as usize,
            capture,
            seen: h.seen,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(surface: &str, range: Range<usize>, transforms: Vec<Transform>) -> RawHit {
        RawHit {
            coordinates: if surface.starts_with("json:") {
                "body"
            } else {
                surface
            }
            .to_owned(),
            surface: surface.to_owned(),
            structural: surface.starts_with("json:"),
            range,
            transforms,
            secret: 0,
            part: Part::Head,
            seen: String::new(),
            coverage: 1000,
        }
    }

    #[test]
    fn overlapping_sightings_keep_the_best_evidence() {
        let hits = settle(
            vec![
                raw("body", 10..41, vec![]),
                raw("json:/aps/alert", 10..41, vec![]),
                raw("json:/aps/alert", 8..50, vec![Transform::JsonEscape]),
                raw("body", 60..91, vec![]),
                raw("header:x", 10..41, vec![]),
                RawHit {
                    coverage: 600,
                    ..raw("header:y", 10..30, vec![Transform::Base64])
                },
                raw(
                    "header:y",
                    5..50,
                    vec![Transform::Base64, Transform::Percent],
                ),
            ],
            Some(3),
            |i| format!("secret-{i}"),
        );
        let kept: Vec<(&str, Option<usize>)> =
            hits.iter().map(|h| (h.surface.as_str(), h.start)).collect();
        assert_eq!(
            kept,
            [
                ("json:/aps/alert", Some(10)),
                ("body", Some(60)),
                ("header:x", Some(10)),
                ("header:y", Some(5))
            ]
        );
        assert_eq!(
            hits[3].transforms.len(),
            2,
            "seen whole beats seen in pieces"
        );
        assert!(hits
            .iter()
            .all(|h| h.capture == Some(3) && h.label == "secret-0"));
    }

    #[test]
    fn hits_serialize_into_the_report_record() {
        let hit = Hit {
            surface: "json:/aps/alert".into(),
            start: Some(4),
            end: Some(35),
            transforms: vec![Transform::Gzip, Transform::Base64Url],
            label: "secret-2".into(),
            part: Part::Middle,
            secret: 2,
            capture: Some(9),
            seen: "SPC1-…".into(),
        };
        assert_eq!(hit.chain(), "gzip → base64url");
        let record: crate::report::suite::Hit =
            serde_json::from_value(serde_json::to_value(&hit).expect("json")).expect("record");
        assert_eq!(record.surface, hit.surface);
        assert_eq!((record.start, record.end), (Some(4), Some(35)));
        assert_eq!(record.transforms, hit.transform_names());
        assert_eq!(
            (record.secret.as_str(), record.part.as_str()),
            ("secret-2", "middle")
        );
    }
}
