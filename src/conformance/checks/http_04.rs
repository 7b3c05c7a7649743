//! SP-HTTP-04: every answer with a body says what it is, with its charset.
//! The answers judged: every verified baseline fetch (200), a fetch without
//! credentials (401) and a fetch of an id that does not exist (404). Each
//! must carry a `Content-Type` that matches the body (JSON as
//! `application/json` or `+json`, markup as XML or HTML) and, for a
//! textual type (`text/*`, JSON, XML, JavaScript), a `charset` parameter,
//! so no client or intermediary guesses the encoding.

use rand::Rng;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::setup;
use crate::client::Exchange;
use crate::device::Device;
use crate::report::suite::Evidence;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-HTTP-04",
    title: "Content-Type correct, with its charset",
    level: Level::Must,
    severity: Severity::Low,
    method: "Every verified baseline fetch answer, a fetch without credentials and a fetch of \
             an unknown id with a valid session: each answer with a body must carry a \
             Content-Type that matches it (a JSON body as application/json or +json, markup as \
             XML or HTML) and, for a textual type (text/*, JSON, XML, JavaScript), a charset \
             parameter",
    sources: &["OWASP ASVS 5.0 4.1.1"],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "answers",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let mut answers: Vec<(&Device, Exchange, &str)> = Vec::new();
    for (device, exchange) in setup::verified_fetches(suite) {
        answers.push((device, exchange.clone(), "fetch answer"));
    }
    if let Some(verified) = suite.verified().first() {
        let device = verified.device;
        let anonymous = suite.fetch(None, &device.user, verified.id).await;
        let mut rng = suite.rng(INFO.id);
        let unknown: String = (0..32)
            .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
            .collect();
        let missing = suite
            .fetch(Some(&device.credential), &device.user, &unknown)
            .await;
        answers.push((device, anonymous, "answer to a fetch without credentials"));
        answers.push((device, missing, "answer to a fetch of an unknown id"));
    }
    let mut judged = 0;
    for (device, exchange, what) in &answers {
        let Some(reply) = exchange.reply() else {
            continue;
        };
        if reply.body.is_empty() {
            continue;
        }
        judged += 1;
        let content_type = reply
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if let Some(problem) = judge(content_type.as_deref(), &reply.body) {
            let e: Evidence = evidence::about(
                device,
                format!("the {what} ({}) {problem}", reply.status.as_u16()),
                Some(exchange),
            );
            f.violation(e);
        }
    }
    f.gathered(judged);
    if f.violations.is_empty() {
        f.summary(format!(
            "{judged} answers carried a Content-Type that matches their body, with a charset"
        ));
    }
    f
}

/// What is wrong with `content_type` for `body`, if anything.
pub fn judge(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let Some(content_type) = content_type else {
        return Some("has no Content-Type".to_owned());
    };
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.any(|p| {
        p.split_once('=').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("charset")
                && !value.trim().trim_matches('"').is_empty()
        })
    });
    let json_type = media == "application/json" || media.ends_with("+json");
    let markup_type = media.ends_with("/xml") || media.ends_with("+xml") || media == "text/html";
    let is_json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
    let is_markup = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'<');
    if is_json && !json_type && !media.starts_with("text/plain") {
        return Some(format!("is JSON but says Content-Type: {content_type}"));
    }
    if json_type && !is_json {
        return Some(format!("says Content-Type: {content_type} but is not JSON"));
    }
    if is_markup && !markup_type && !media.starts_with("text/plain") && !is_json {
        return Some(format!("is markup but says Content-Type: {content_type}"));
    }
    let textual =
        media.starts_with("text/") || json_type || markup_type || media == "application/javascript";
    if textual && !charset {
        return Some(format!(
            "says Content-Type: {content_type}, without a charset"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_type_with_its_charset_passes() {
        let json = br#"{"Id":"x"}"#;
        assert_eq!(judge(Some("application/json; charset=utf-8"), json), None);
        assert_eq!(
            judge(Some("Application/JSON;Charset=\"UTF-8\""), json),
            None
        );
        assert_eq!(
            judge(Some("application/problem+json; charset=utf-8"), json),
            None
        );
        assert_eq!(judge(Some("text/xml; charset=utf-8"), b"<a/>"), None);
        assert_eq!(judge(Some("application/octet-stream"), b"\x00\x01"), None);
    }

    #[test]
    fn a_missing_charset_type_or_a_mismatch_fails() {
        let json = br#"{"Id":"x"}"#;
        for (content_type, body) in [
            (None, &json[..]),
            (Some("application/json"), &json[..]),
            (Some("text/html; charset=utf-8"), &json[..]),
            (Some("application/json; charset=utf-8"), &b"oops"[..]),
            (Some("application/json; charset="), &json[..]),
            (Some("application/octet-stream"), &b"<html>"[..]),
            (Some("text/plain"), &b"hi"[..]),
        ] {
            assert!(judge(content_type, body).is_some(), "{content_type:?}");
        }
    }
}
