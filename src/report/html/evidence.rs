//! One piece of evidence as HTML: what was seen, who it concerns, the
//! captured push or HTTP exchange written out as on the wire (JSON bodies
//! re-indented), every hit marked by its byte range with `<mark>`, and
//! the transform chain that found it.
//!
//! Re-indenting copies every byte of the body in order and only adds or
//! drops whitespace between JSON tokens, so a hit's offsets into the body
//! as captured still say which bytes to mark.

use std::fmt::Write;

use base64::Engine as _;

use crate::report::escape::{push_attr, push_text};
use crate::report::suite::{CapturedPush, Evidence, Hit, HttpMessage};
use crate::report::view::{self, Part};

/// Bytes of one body shown in the page; hits beyond are still quoted in
/// the list of hits.
const BODY_LIMIT: usize = 64 * 1024;
/// Bytes either side of a hit in the list of hits.
const HIT_CONTEXT: usize = 80;

/// Appends one piece of evidence.
pub fn render(out: &mut String, evidence: &Evidence) {
    out.push_str("<div class=\"evidence\"><p class=\"what\">");
    push_text(out, &evidence.what);
    out.push_str("</p>");
    if let Some(s) = &evidence.subject {
        out.push_str("<p class=\"subject\">Device <code>");
        push_text(out, &s.device);
        out.push_str("</code> of user <code>");
        push_text(out, &s.user);
        out.push_str("</code> on <code>");
        push_text(out, &s.platform);
        out.push_str("</code>, handle <code class=\"handle\">");
        push_text(out, &s.handle);
        out.push_str("</code></p>");
    }
    if !evidence.hits.is_empty() {
        hits(out, evidence);
    }
    if let Some(capture) = &evidence.capture {
        capture_wire(out, evidence, capture);
    }
    if let Some(exchange) = &evidence.exchange {
        message_wire(out, evidence, &exchange.request, true);
        match &exchange.response {
            Some(response) => message_wire(out, evidence, response, false),
            None => {
                out.push_str("<p class=\"no-answer\">No answer: ");
                push_text(
                    out,
                    exchange.request.error.as_deref().unwrap_or("unknown error"),
                );
                out.push_str("</p>");
            }
        }
    }
    if !evidence.detail.is_null() {
        out.push_str("<details class=\"detail\"><summary>Measurements</summary><pre><code>");
        let pretty = serde_json::to_string_pretty(&evidence.detail).unwrap_or_default();
        push_text(out, view::truncate(&pretty, BODY_LIMIT));
        out.push_str("</code></pre></details>");
    }
    out.push_str("</div>");
}

fn hits(out: &mut String, evidence: &Evidence) {
    out.push_str("<ul class=\"hits\">");
    for hit in &evidence.hits {
        out.push_str("<li class=\"hit\"><span class=\"part\">");
        push_text(out, &hit.part);
        out.push_str("</span> of <code>");
        push_text(out, &hit.secret);
        out.push_str("</code> in <code>");
        push_text(out, &hit.surface);
        out.push_str("</code>");
        if let (Some(start), Some(end)) = (hit.start, hit.end) {
            let _ = write!(out, " at bytes {start}..{end}");
        }
        out.push_str(", found through <span class=\"chain\">");
        if hit.transforms.is_empty() {
            out.push_str("<span class=\"step\">plain match</span>");
        }
        for (i, step) in hit.transforms.iter().enumerate() {
            if i > 0 {
                out.push_str("<span class=\"arrow\" aria-label=\"then\">→</span>");
            }
            out.push_str("<span class=\"step\">");
            push_text(out, step);
            out.push_str("</span>");
        }
        out.push_str("</span>");
        let excerpt = view::hit_surface(evidence, hit)
            .and_then(|text| view::hit_excerpt(&text, hit, HIT_CONTEXT));
        if let Some((before, seen, after)) = excerpt {
            out.push_str("<pre class=\"excerpt\"><code>");
            push_text(out, &before);
            out.push_str("<mark>");
            push_text(out, view::truncate(&seen, BODY_LIMIT));
            out.push_str("</mark>");
            push_text(out, &after);
            out.push_str("</code></pre>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn capture_wire(out: &mut String, evidence: &Evidence, c: &CapturedPush) {
    let _ = write!(
        out,
        "<figure class=\"wire\"><figcaption>Push #{} captured by the mock ",
        c.seq
    );
    push_text(out, &c.platform);
    let _ = write!(
        out,
        " gateway, answered {}</figcaption><pre><code>",
        c.status
    );
    push_text(out, &c.method);
    out.push(' ');
    marked(out, &c.path, &ranges(evidence, false, Part::Path, &c.path));
    out.push('\n');
    headers(out, evidence, false, &c.headers);
    out.push('\n');
    body(out, evidence, false, &c.body, &c.body_encoding);
    out.push_str("</code></pre></figure>");
}

fn message_wire(out: &mut String, evidence: &Evidence, m: &HttpMessage, request: bool) {
    out.push_str("<figure class=\"wire\"><figcaption>");
    out.push_str(if request {
        "Request to the backend"
    } else {
        "The backend's answer"
    });
    out.push_str("</figcaption><pre><code>");
    if request {
        push_text(out, m.method.as_deref().unwrap_or("?"));
        out.push(' ');
        let url = m.url.as_deref().unwrap_or("?");
        marked(out, url, &ranges(evidence, true, Part::Path, url));
    } else {
        let _ = write!(
            out,
            "HTTP {}",
            m.status.map_or("?".to_owned(), |s| s.to_string())
        );
    }
    out.push('\n');
    headers(out, evidence, request, &m.headers);
    out.push('\n');
    body(out, evidence, request, &m.body, &m.body_encoding);
    out.push_str("</code></pre></figure>");
}

fn headers(out: &mut String, evidence: &Evidence, request: bool, headers: &[(String, String)]) {
    for (name, value) in headers {
        out.push_str("<span class=\"hname\">");
        push_text(out, name);
        out.push_str("</span>: ");
        marked(
            out,
            value,
            &ranges(evidence, request, Part::Header(name), value),
        );
        out.push('\n');
    }
}

/// The byte ranges of the hits on `part`, where they fit `text`.
fn ranges(evidence: &Evidence, request: bool, part: Part<'_>, text: &str) -> Vec<(usize, usize)> {
    view::hits_on(evidence, request, part)
        .into_iter()
        .filter_map(|hit: &Hit| view::hit_range(text, hit))
        .collect()
}

fn body(out: &mut String, evidence: &Evidence, request: bool, body: &str, encoding: &str) {
    if encoding.eq_ignore_ascii_case("base64") {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.trim()) {
            match String::from_utf8(bytes) {
                Ok(text) => text_body(out, evidence, request, &text),
                Err(e) => hex_dump(out, evidence, request, e.as_bytes()),
            }
            return;
        }
    }
    text_body(out, evidence, request, body);
}

fn text_body(out: &mut String, evidence: &Evidence, request: bool, text: &str) {
    let shown = view::truncate(text, BODY_LIMIT);
    let marks = ranges(evidence, request, Part::Body, text);
    if shown.len() == text.len() && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        pretty_json(out, text, &marks);
    } else {
        marked(out, shown, &marks);
    }
    if shown.len() < text.len() {
        let _ = write!(
            out,
            "\n<span class=\"cut\">… {} more bytes not shown</span>",
            text.len() - shown.len()
        );
    }
}

/// Whether byte `at` lies in one of `marks`.
fn inside(marks: &[(usize, usize)], at: usize) -> bool {
    marks.iter().any(|&(s, e)| s <= at && at < e)
}

/// Tracks whether a `<mark>` is open while text is copied.
struct Marker<'a> {
    marks: &'a [(usize, usize)],
    open: bool,
}

impl Marker<'_> {
    fn at(&mut self, out: &mut String, index: usize) {
        let want = inside(self.marks, index);
        if want != self.open {
            out.push_str(if want { "<mark>" } else { "</mark>" });
            self.open = want;
        }
    }

    fn finish(&mut self, out: &mut String) {
        if self.open {
            out.push_str("</mark>");
            self.open = false;
        }
    }
}

/// `text`, escaped, with the bytes in `marks` inside `<mark>`.
fn marked(out: &mut String, text: &str, marks: &[(usize, usize)]) {
    let mut marker = Marker { marks, open: false };
    let mut buf = [0u8; 4];
    for (i, c) in text.char_indices() {
        marker.at(out, i);
        push_text(out, c.encode_utf8(&mut buf));
    }
    marker.finish(out);
}

/// A JSON text re-indented by two spaces, bytes in `marks` marked.
fn pretty_json(out: &mut String, text: &str, marks: &[(usize, usize)]) {
    let mut marker = Marker { marks, open: false };
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.char_indices().peekable();
    let mut buf = [0u8; 4];
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some((i, c)) = chars.next() {
        marker.at(out, i);
        if in_string {
            push_text(out, c.encode_utf8(&mut buf));
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push('"');
            }
            '{' | '[' => {
                out.push(c);
                // Skip to the next token to see whether the container is
                // empty: `{}` stays on one line.
                while let Some((j, w)) = chars.peek().copied() {
                    if !w.is_ascii_whitespace() {
                        break;
                    }
                    marker.at(out, j);
                    chars.next();
                }
                match chars.peek() {
                    Some((_, '}' | ']')) => {}
                    _ => {
                        depth += 1;
                        newline(out, depth);
                    }
                }
            }
            '}' | ']' => {
                if !matches!(out.as_bytes().last(), Some(b'{' | b'[')) {
                    depth = depth.saturating_sub(1);
                    newline(out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => push_text(out, c.encode_utf8(&mut buf)),
        }
    }
    marker.finish(out);
}

/// A body that is not UTF-8: offset, hex and printable bytes, 16 a line,
/// marked bytes in `<mark>` on both sides.
fn hex_dump(out: &mut String, evidence: &Evidence, request: bool, bytes: &[u8]) {
    let marks: Vec<(usize, usize)> = view::hits_on(evidence, request, Part::Body)
        .into_iter()
        .filter_map(|h| match (h.start, h.end) {
            (Some(s), Some(e)) if s <= e && e <= bytes.len() => Some((s, e)),
            _ => None,
        })
        .collect();
    let shown = &bytes[..bytes.len().min(BODY_LIMIT)];
    out.push_str("<span class=\"binary\">binary body, ");
    let _ = writeln!(out, "{} bytes</span>", bytes.len());
    for (line, chunk) in shown.chunks(16).enumerate() {
        let base = line * 16;
        let _ = write!(out, "{base:08x}  ");
        let mut marker = Marker {
            marks: &marks,
            open: false,
        };
        for (k, b) in chunk.iter().enumerate() {
            marker.at(out, base + k);
            let _ = write!(out, "{b:02x} ");
        }
        marker.finish(out);
        out.push_str(&"   ".repeat(16 - chunk.len()));
        out.push(' ');
        for (k, b) in chunk.iter().enumerate() {
            marker.at(out, base + k);
            let c = if b.is_ascii_graphic() || *b == b' ' {
                char::from(*b)
            } else {
                '.'
            };
            let mut s = [0u8; 4];
            push_text(out, c.encode_utf8(&mut s));
        }
        marker.finish(out);
        out.push('\n');
    }
    if shown.len() < bytes.len() {
        let _ = write!(
            out,
            "<span class=\"cut\">… {} more bytes not shown</span>",
            bytes.len() - shown.len()
        );
    }
}

/// An attribute-safe id for a check's anchor.
pub fn anchor(id: &str) -> String {
    let mut out = String::from("check-");
    for c in id.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        });
    }
    let mut escaped = String::new();
    push_attr(&mut escaped, &out);
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_reindented_with_the_hit_still_marked() {
        let body = r#"{"aps":{"content-available":1},"secureId":"abc<SECRET>def","e":[]}"#;
        let start = body.find("<SECRET>").expect("present");
        let mut out = String::new();
        pretty_json(&mut out, body, &[(start, start + 8)]);
        assert!(out.contains("<mark>&lt;SECRET&gt;</mark>"), "{out}");
        assert!(
            out.contains("\"aps\": {\n    \"content-available\": 1\n  },"),
            "{out}"
        );
        assert!(out.contains("\"e\": []"), "{out}");
    }

    #[test]
    fn marks_span_exactly_their_bytes() {
        let mut out = String::new();
        marked(&mut out, "a<b>c", &[(1, 4)]);
        assert_eq!(out, "a<mark>&lt;b&gt;</mark>c");
    }

    #[test]
    fn anchors_are_safe() {
        assert_eq!(anchor("SP-LEAK-01"), "check-SP-LEAK-01");
        assert_eq!(anchor("a\"><x"), "check-a___x");
    }
}
