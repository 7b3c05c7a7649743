//! The leak scanner: finds the harness's secrets in captured pushes and in
//! HTTP messages, through the transforms a backend may apply to them.
//!
//! # What is searched
//!
//! Every surface of a message: the path (raw, and percent-decoded), every
//! header name and value, the body, and every string of a JSON body (keys
//! and values, named by their JSON pointer: `json:/aps/alert/body`) or XML
//! body (text and attributes, by element path:
//! `xml:/toast/visual/binding/text`). Plain bytes (an error body, a
//! `Location` header) are searched under a name of the caller's.
//!
//! # Through what
//!
//! Two kinds of transform reach two layers deep and more:
//!
//! - **Needles** precompute what survives as a substring: each canary (or a
//!   secret without canaries) as plain text (any case), hex (any case),
//!   base64 standard or URL-safe, padded or not, at all three byte
//!   alignments, and base32 (any case) at all five. All needles of all
//!   secrets are anchors in one Aho–Corasick automaton, run once per layer,
//!   each match verified against the needle's whole form.
//! - **Decoding** undoes what no substring survives: percent-encoding, JSON
//!   `\u` escapes, XML/HTML entities, base64/base32/hex runs of 16 characters
//!   or more, and gzip, zlib and raw deflate streams found in what those
//!   yield; each decoded layer is searched again, to a depth of three
//!   decodings and at most 1 MiB decoded per message.
//! - **Digests**: md5, sha1, sha256 and sha512 of each canary and of the
//!   whole text are looked up (by their first 64 bits) in every binary
//!   layer: a raw body, or what a hex, base64 or base32 run decodes to. So a
//!   digest is found raw, as hex in either case (truncated to 16 digits
//!   too), or as base64.
//!
//! So `base64url(gzip(secret))` is found by decoding twice and matching the
//! plain canary, `hex(sha256(secret))` by decoding the hex run and looking
//! the digest up, and `percent(base64(secret))` by decoding once and
//! matching a base64 needle.
//! Every hit keeps its chain in application order (`["gzip", "base64url"]`).
//!
//! Beyond exact sightings, [`PartialScanner`] finds runs of at least
//! [`K`] characters of a secret's text that a control run with other
//! secrets does not show, and [`Differ`] compares the pushes of two runs
//! that differ only in their secrets.
//!
//! # Use in a check
//!
//! Build a [`Scanner`] once per run from the run's secrets, scan every
//! capture, and turn hits into evidence:
//!
//! ```
//! use base64::Engine as _;
//! use pushproof::conformance::canary::{self, Part};
//! use pushproof::conformance::leak::{Scanner, Transform};
//! use pushproof_mocks::{Capture, CaptureKind, Platform};
//! use rand::SeedableRng as _;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let secrets: Vec<_> = (0..100).map(|i| canary::secret(&mut rng, i)).collect();
//! let scanner = Scanner::new(&secrets);
//!
//! // A flawed backend hides secret 42 in a custom header, base64url'd.
//! let hidden = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secrets[42].text());
//! let push = Capture {
//!     seq: 5,
//!     platform: Platform::Apns,
//!     kind: CaptureKind::Push,
//!     at: std::time::SystemTime::now(),
//!     method: "POST".into(),
//!     path: "/3/device/5f2b7c0e9a41d3b68e0c47f19a2d5b3e".into(),
//!     headers: vec![("x-trace".into(), hidden)],
//!     body: r#"{"aps":{"content-available":1},"secureId":"8d0c6b2e5e3c4b7a"}"#.into(),
//!     status: 200,
//!     reason: None,
//!     device: None,
//! };
//! let hits = scanner.scan(&push);
//! // All three canaries are seen, each through base64.
//! assert_eq!(hits.len(), 3);
//! for hit in &hits {
//!     assert_eq!((hit.secret, hit.capture), (42, Some(5)));
//!     assert_eq!(hit.surface, "header:x-trace");
//!     assert!(matches!(hit.transforms[..], [Transform::Base64] | [Transform::Base64Url]));
//! }
//! assert_eq!(hits[0].part, Part::Head);
//! // Evidence: the report's hit record takes these fields as they are.
//! let record = serde_json::to_value(&hits[0]).unwrap();
//! assert_eq!(record["secret"], "secret-42");
//! assert_eq!(record["part"], "head");
//! ```
//!
//! A check of partial leaks builds a [`PartialScanner`], feeds the control
//! run's captures to [`PartialScanner::control`], and scans each capture
//! against that [`Control`]; a differential check pairs the two runs'
//! pushes and calls [`Differ::compare`] with the ids each device read.

mod decode;
mod diff;
mod hit;
mod inflate;
mod json;
mod keys;
mod matcher;
mod needle;
mod offsets;
mod partial;
mod scan;
mod surface;
mod transform;
mod walk;
mod xml;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use diff::{fields, Comparison, Differ, FieldDiff, SizeDiff, ID_MASK};
pub use hit::Hit;
pub use partial::{Control, PartialScanner, K};
pub use scan::Scanner;
pub use surface::Message;
pub use transform::{chain_text, Transform};
