//! The traversal every search shares: each surface of a message, then each
//! layer decoded out of it, handed to a [`Sink`] (the exact matcher, the
//! k-gram matcher, the control-run collector).
//!
//! A layer is undone further only when it holds something to undo: an
//! escape (`%`, `\`, `&`), a run of 16 or more base64/base32/hex
//! characters, or binary bytes whose first bytes can start a compressed
//! stream. A clean push (a JSON body with a hex id, a JWT, a device token)
//! decodes its few runs once and stops. Depth and decoded bytes are
//! bounded per message, so a crafted push costs a bounded scan.

use super::decode::{self, is_binary, RunKind};
use super::inflate::{self, Inflater};
use super::offsets::Frame;
use super::surface::{Message, Surface};
use super::transform::Transform;
use super::{json, xml};

/// One layer of one surface, as a sink sees it.
#[derive(Debug)]
pub(crate) struct Layer<'a> {
    pub surface: &'a Surface<'a>,
    pub bytes: &'a [u8],
    /// The decodings that led here, outermost first.
    pub decoded: &'a [Transform],
    /// How offsets here map back to the captured surface.
    pub frames: &'a [Frame],
    /// Not text: control bytes or invalid UTF-8.
    pub binary: bool,
}

/// Receives every layer of a traversal.
pub(crate) trait Sink {
    fn layer(&mut self, layer: &Layer<'_>);
}

/// Bounds of one message's traversal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Decodings stacked on a surface (a needle adds its own on top: a
    /// hash and an encoding).
    pub max_depth: usize,
    /// Shortest run of an encoding's alphabet worth decoding.
    pub min_run: usize,
    /// Most runs decoded per layer.
    pub max_runs: usize,
    /// Most bytes one decompression may produce.
    pub max_inflate: usize,
    /// Most decoded bytes per message, all layers together.
    pub budget: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 3,
            min_run: 16,
            max_runs: 64,
            max_inflate: 256 * 1024,
            budget: 1024 * 1024,
        }
    }
}

/// The shortest layer worth handing on: no needle or k-gram is shorter.
const MIN_LAYER: usize = 8;

/// Walks messages layer by layer; one per scan, reused across its
/// surfaces.
#[derive(Debug, Default)]
pub(crate) struct Walker {
    limits: Limits,
    decoded: Vec<Transform>,
    frames: Vec<Frame>,
    budget: usize,
    inflater: Inflater,
}

impl Walker {
    pub(crate) fn new(limits: Limits) -> Walker {
        Walker {
            limits,
            ..Walker::default()
        }
    }

    /// Every surface of `message`: the path, each header's name and value,
    /// the body, and each string of a JSON or XML body.
    pub(crate) fn message(&mut self, message: &Message<'_>, sink: &mut impl Sink) {
        self.budget = self.limits.budget;
        if let Some(path) = message.path {
            // In a query string `+` is a space.
            let plus_from = path.find('?').map(|q| q + 1);
            self.layer(&Surface::Path, path.as_bytes(), true, plus_from, sink);
        }
        for &(name, value) in &message.headers {
            let name_surface = Surface::HeaderName(name);
            self.layer(&name_surface, name.as_bytes(), true, None, sink);
            self.layer(&Surface::Header(name), value, true, None, sink);
        }
        self.body(message.body, sink);
    }

    /// Plain bytes under a name of the caller's.
    pub(crate) fn bytes(&mut self, surface: &str, bytes: &[u8], sink: &mut impl Sink) {
        self.budget = self.limits.budget;
        self.layer(&Surface::Named(surface), bytes, true, None, sink);
    }

    /// A JSON or XML body by its strings; any other body (or one that does
    /// not parse to its end) as a whole. Outside its strings a well-formed
    /// body holds only punctuation, numbers and literals.
    fn body(&mut self, body: &[u8], sink: &mut impl Sink) {
        let structured = match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => json::walk(body, &mut |span, path| {
                let start = span.start;
                self.frames.push(Frame::Shift(start));
                let surface = Surface::Json(path);
                self.layer(&surface, &body[span], true, None, sink);
                self.frames.pop();
            }),
            Some(b'<') => xml::walk(body, &mut |span, steps, attr| {
                let start = span.start;
                self.frames.push(Frame::Shift(start));
                let surface = Surface::Xml(steps, attr);
                self.layer(&surface, &body[span], true, None, sink);
                self.frames.pop();
            }),
            _ => false,
        };
        if !structured {
            self.layer(&Surface::Body, body, true, None, sink);
        }
    }

    fn layer(
        &mut self,
        surface: &Surface<'_>,
        bytes: &[u8],
        explore: bool,
        plus_from: Option<usize>,
        sink: &mut impl Sink,
    ) {
        let binary = is_binary(bytes);
        sink.layer(&Layer {
            surface,
            bytes,
            decoded: &self.decoded,
            frames: &self.frames,
            binary,
        });
        if !explore || self.decoded.len() >= self.limits.max_depth || self.budget == 0 {
            return;
        }
        if !binary {
            if let Some(u) = decode::percent(bytes, plus_from) {
                let frame = Frame::Table(u.table);
                self.child(surface, u.bytes, Transform::Percent, frame, sink);
            }
            if let Some(u) = decode::json_unescape(bytes) {
                let frame = Frame::Table(u.table);
                self.child(surface, u.bytes, Transform::JsonEscape, frame, sink);
            }
            if let Some(u) = decode::xml_unescape(bytes) {
                let frame = Frame::Table(u.table);
                self.child(surface, u.bytes, Transform::XmlEntity, frame, sink);
            }
        }
        let mut runs = Vec::new();
        decode::runs(bytes, self.limits.min_run, &mut runs);
        for run in runs.iter().take(self.limits.max_runs) {
            // An odd hex run has a stray digit at one end: try both.
            let odd_hex = run.kind == RunKind::Hex && (run.end - run.start) % 2 == 1;
            let spans = [(run.start, run.end), (run.start + 1, run.end)];
            for &(start, end) in &spans[..if odd_hex { 2 } else { 1 }] {
                let Some((decoded, transform)) = decode::decode_run(&bytes[start..end], run.kind)
                else {
                    continue;
                };
                let (num, den) = match transform {
                    Transform::Hex => (2, 1),
                    Transform::Base32 => (8, 5),
                    _ => (4, 3),
                };
                let frame = Frame::Scale {
                    start,
                    end,
                    num,
                    den,
                };
                self.child(surface, decoded, transform, frame, sink);
            }
        }
        if binary {
            if let Some((transform, start)) = inflate::sniff(bytes) {
                let limit = self.limits.max_inflate.min(self.budget);
                let trusted = transform != Transform::Deflate;
                if let Some(out) = self.inflater.inflate(&bytes[start..], limit, trusted) {
                    let frame = Frame::Whole {
                        start: 0,
                        end: bytes.len(),
                    };
                    self.child(surface, out, transform, frame, sink);
                }
            }
        }
    }

    fn child(
        &mut self,
        surface: &Surface<'_>,
        bytes: Vec<u8>,
        transform: Transform,
        frame: Frame,
        sink: &mut impl Sink,
    ) {
        if bytes.len() < MIN_LAYER || self.budget == 0 {
            return;
        }
        self.budget = self.budget.saturating_sub(bytes.len());
        self.decoded.push(transform);
        self.frames.push(frame);
        self.layer(surface, &bytes, true, None, sink);
        self.frames.pop();
        self.decoded.pop();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use base64::Engine as _;

    use super::super::offsets::to_captured;
    use super::*;

    /// One layer seen: surface, decodings, bytes and captured range.
    type Seen = (String, Vec<Transform>, Vec<u8>, std::ops::Range<usize>);

    /// Records every layer.
    #[derive(Default)]
    struct Record(Vec<Seen>);

    impl Sink for Record {
        fn layer(&mut self, layer: &Layer<'_>) {
            let range = to_captured(layer.frames, 0..layer.bytes.len());
            self.0.push((
                layer.surface.render(),
                layer.decoded.to_vec(),
                layer.bytes.to_vec(),
                range,
            ));
        }
    }

    fn layers(message: &Message<'_>) -> Record {
        let mut record = Record::default();
        Walker::new(Limits::default()).message(message, &mut record);
        record
    }

    #[test]
    fn a_clean_apns_push_is_walked_without_decoding_more_than_its_ids() {
        let body =
            br#"{"aps":{"content-available":1},"secureId":"8d0c6b2e5e3c4b7a9d2e1f6a3c9b7e21"}"#;
        let message = Message {
            path: Some("/3/device/5f2b7c0e9a41d3b6"),
            headers: vec![("apns-topic", b"com.example.app")],
            body,
        };
        let record = layers(&message);
        let names: Vec<(&str, usize)> = record
            .0
            .iter()
            .map(|(s, d, _, _)| (s.as_str(), d.len()))
            .collect();
        assert_eq!(
            names,
            [
                ("path", 0),
                ("path", 1),
                ("header-name:apns-topic", 0),
                ("header:apns-topic", 0),
                ("json:/aps", 0),
                ("json:/aps/content-available", 0),
                ("json:/secureId", 0),
                ("json:/secureId", 0),
                ("json:/secureId", 1),
            ]
        );
        let (_, _, bytes, range) = &record.0[7];
        assert_eq!(bytes.as_slice(), b"8d0c6b2e5e3c4b7a9d2e1f6a3c9b7e21");
        assert_eq!(
            &body[range.clone()],
            bytes.as_slice(),
            "JSON strings count in the body"
        );
    }

    #[test]
    fn nested_encodings_are_undone_to_the_depth_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"the secret text inside").expect("write");
        let inner =
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(gz.finish().expect("gz"));
        let value = format!("x=%{:02X}{}", inner.as_bytes()[0], &inner[1..]);
        let message = Message {
            headers: vec![("x-note", value.as_bytes())],
            ..Message::default()
        };
        let record = layers(&message);
        let found = record
            .0
            .iter()
            .find(|(_, _, bytes, _)| bytes.as_slice() == b"the secret text inside")
            .expect("decoded all the way");
        assert_eq!(found.0, "header:x-note");
        assert_eq!(
            found.1,
            [Transform::Percent, Transform::Base64, Transform::Gzip]
        );
        assert_eq!(found.3, 2..value.len(), "the whole encoded blob");
    }

    #[test]
    fn decoding_is_bounded() {
        // Zlib of 8 MiB of zeros, base64'd: only max_inflate comes out.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 8 << 20]).expect("write");
        let bomb = base64::engine::general_purpose::STANDARD.encode(z.finish().expect("zlib"));
        let record = layers(&Message {
            body: bomb.as_bytes(),
            ..Message::default()
        });
        let largest = record.0.iter().map(|l| l.2.len()).max().unwrap_or(0);
        assert_eq!(largest, Limits::default().max_inflate);
        // Base64 nested deeper than the limit stops being decoded.
        let mut text = b"innermost text!!".to_vec();
        for _ in 0..6 {
            text = base64::engine::general_purpose::STANDARD
                .encode(&text)
                .into_bytes();
        }
        let record = layers(&Message {
            body: &text,
            ..Message::default()
        });
        let deepest = record.0.iter().map(|l| l.1.len()).max().unwrap_or(0);
        assert_eq!(deepest, Limits::default().max_depth);
    }
}
