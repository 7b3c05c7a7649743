//! The leak scanner: finds canaries in captured pushes.
//!
//! Every surface of a push is searched — the request path (raw and
//! percent-decoded), every header value, the raw body, and every key and
//! string of the body once decoded as JSON or XML, so escapes such as
//! `\u0053` or `&#83;` hide nothing. All canaries are matched in one pass
//! per surface with an Aho–Corasick automaton, case-insensitively, since a
//! lower-cased canary is still a leak.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use pushproof_mocks::{Capture, CaptureKind, CaptureStats};
use serde::Serialize;

use super::catalogue::LEAK_01;
use super::{CheckResult, Verdict};

/// SP-LEAK-01: scans every captured push for every secret's canary, and
/// every request a backend made to the mock Notification Hub (what it
/// hands the hub reaches the platform). `canaries[i]` belongs to device
/// `i`.
pub fn check(captures: &[Capture], stats: &CaptureStats, canaries: &[String]) -> CheckResult {
    let scanner = Scanner::new(canaries);
    let pushes = captures
        .iter()
        .filter(|c| matches!(c.kind, CaptureKind::Push | CaptureKind::Hub));
    let mut scanned = 0usize;
    let mut hits = Vec::new();
    for capture in pushes {
        scanned += 1;
        hits.extend(scanner.scan(capture));
    }
    if !hits.is_empty() {
        let leaked: std::collections::BTreeSet<usize> = hits.iter().map(|h| h.secret).collect();
        return CheckResult::new(
            LEAK_01,
            CheckResult::broken(&LEAK_01),
            format!(
                "{} of {} secrets found in pushes ({} sightings in {scanned} pushes)",
                leaked.len(),
                canaries.len(),
                hits.len()
            ),
        )
        .with_evidence(hits);
    }
    if stats.evicted > 0 {
        return CheckResult::new(
            LEAK_01,
            Verdict::Error,
            format!(
                "{} captures were evicted before the scan: raise the capture capacity",
                stats.evicted
            ),
        );
    }
    if scanned == 0 {
        return CheckResult::new(LEAK_01, Verdict::Skip, "no push was captured");
    }
    CheckResult::new(
        LEAK_01,
        Verdict::Pass,
        format!(
            "{} canaries absent from {scanned} captured pushes",
            canaries.len()
        ),
    )
}

/// A canary sighting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// Sequence number of the capture it was found in.
    pub capture: u64,
    pub platform: String,
    /// Where in the push: `path`, `header:<name>`, `body`, `json`, `xml`.
    pub surface: String,
    /// Index of the secret (as given to [`Scanner::new`]) that leaked.
    pub secret: usize,
}

/// Searches pushes for any of a fixed set of canaries.
pub struct Scanner {
    automaton: AhoCorasick,
}

impl Scanner {
    /// A scanner for these canaries; a hit reports the index in `canaries`.
    pub fn new<I, S>(canaries: I) -> Scanner
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(canaries)
            .expect("canaries are short literal strings, well within automaton limits");
        Scanner { automaton }
    }

    /// Every canary sighting in one captured request.
    pub fn scan(&self, capture: &Capture) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut record = |surface: &str, haystack: &[u8]| {
            for found in self.automaton.find_iter(haystack) {
                let hit = Hit {
                    capture: capture.seq,
                    platform: capture.platform.to_string(),
                    surface: surface.to_owned(),
                    secret: found.pattern().as_usize(),
                };
                if !hits.contains(&hit) {
                    hits.push(hit);
                }
            }
        };
        record("path", capture.path.as_bytes());
        let decoded_path = percent_encoding::percent_decode_str(&capture.path).collect::<Vec<u8>>();
        record("path", &decoded_path);
        for (name, value) in &capture.headers {
            record(&format!("header:{name}"), value.as_bytes());
        }
        record("body", &capture.body);
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&capture.body) {
            visit_json_strings(&json, &mut |text| record("json", text.as_bytes()));
        }
        if capture.body.contains(&b'&') {
            if let Ok(text) = std::str::from_utf8(&capture.body) {
                record("xml", xml_unescape(text).as_bytes());
            }
        }
        hits
    }
}

/// Calls `visit` on every object key and string value, at any depth.
fn visit_json_strings(value: &serde_json::Value, visit: &mut impl FnMut(&str)) {
    match value {
        serde_json::Value::String(s) => visit(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| visit_json_strings(v, visit)),
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                visit(key);
                visit_json_strings(v, visit);
            }
        }
        _ => {}
    }
}

/// Resolves XML's predefined entities and numeric character references.
/// Anything malformed is kept as written: the raw body is scanned anyway.
pub fn xml_unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let decoded = tail.find(';').filter(|&end| end <= 12).and_then(|end| {
            let entity = &tail[1..end];
            let ch = match entity {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| entity.strip_prefix('#').map(|dec| dec.parse::<u32>()))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            ch.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, consumed)) => {
                out.push(c);
                rest = &tail[consumed..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushproof_mocks::{CaptureKind, Platform};

    fn capture(path: &str, headers: &[(&str, &str)], body: &str) -> Capture {
        Capture {
            seq: 1,
            platform: Platform::Apns,
            kind: CaptureKind::Push,
            at: std::time::SystemTime::now(),
            method: "POST".into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            status: 200,
            reason: None,
            device: None,
        }
    }

    const CANARY: &str = "SPC1-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    fn surfaces(c: &Capture) -> Vec<String> {
        Scanner::new(["SPC1-OTHER", CANARY])
            .scan(c)
            .into_iter()
            .inspect(|h| assert_eq!(h.secret, 1))
            .map(|h| h.surface)
            .collect()
    }

    #[test]
    fn a_canary_handed_to_the_hub_is_a_leak() {
        let mut c = capture(
            "/hub/messages/",
            &[("servicebusnotification-format", "template")],
            &format!(r#"{{"message":"{CANARY}"}}"#),
        );
        c.kind = CaptureKind::Hub;
        let stats = CaptureStats::default();
        let result = check(&[c.clone()], &stats, &[CANARY.to_owned()]);
        assert_ne!(result.verdict, Verdict::Pass);
        assert_ne!(result.verdict, Verdict::Skip);
        c.body = bytes::Bytes::from_static(b"{}");
        assert_eq!(
            check(&[c], &stats, &[CANARY.to_owned()]).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn clean_push_has_no_hits() {
        let c = capture(
            "/3/device/ab",
            &[("apns-topic", "x")],
            r#"{"secureId":"1"}"#,
        );
        assert!(surfaces(&c).is_empty());
    }

    #[test]
    fn finds_canary_in_body_headers_and_path() {
        let body = format!(r#"{{"aps":{{"alert":"{CANARY}"}}}}"#);
        assert!(surfaces(&capture("/", &[], &body)).contains(&"body".to_owned()));
        let c = capture("/", &[("apns-collapse-id", CANARY)], "{}");
        assert_eq!(surfaces(&c), vec!["header:apns-collapse-id"]);
        let c = capture(&format!("/x?m={CANARY}"), &[], "");
        assert!(surfaces(&c).contains(&"path".to_owned()));
    }

    #[test]
    fn finds_json_escaped_canary() {
        let escaped: String = CANARY
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let c = capture("/", &[], &format!(r#"{{"m":"{escaped}"}}"#));
        assert_eq!(surfaces(&c), vec!["json"]);
    }

    #[test]
    fn finds_xml_escaped_canary() {
        let escaped: String = CANARY.chars().map(|c| format!("&#{};", c as u32)).collect();
        let c = capture("/", &[], &format!("<toast><text>{escaped}</text></toast>"));
        assert_eq!(surfaces(&c), vec!["xml"]);
    }

    #[test]
    fn finds_lower_cased_and_percent_encoded_canary() {
        let c = capture("/", &[], &CANARY.to_lowercase());
        assert_eq!(surfaces(&c), vec!["body"]);
        let c = capture(&format!("/x/{}", CANARY.replace('-', "%2D")), &[], "");
        assert_eq!(surfaces(&c), vec!["path"]);
    }

    #[test]
    fn xml_unescape_keeps_malformed_entities() {
        assert_eq!(xml_unescape("a &amp; b &bogus; &#x41;"), "a & b &bogus; A");
        assert_eq!(xml_unescape("&#99999999999;"), "&#99999999999;");
        assert_eq!(xml_unescape("tail &"), "tail &");
    }
}
