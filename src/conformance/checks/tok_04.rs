//! SP-TOK-04: no token travels in a URL. Three parts: no request of the
//! profile puts `{token}` in its path or query; a fetch that carries its
//! token only as `?access_token=` (RFC 6750 section 2.3), without the
//! header, is refused; and no URL the harness saw carries a credential:
//! the path of every captured push, every URL inside a push, and every
//! `Location` header the backend answered with.

use percent_encoding::percent_decode_str;
use pushproof_mocks::CaptureKind;
use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe::{self, Probed};
use super::super::refusal;
use crate::client::Exchange;
use crate::profile::Var;

/// Owners whose notifications are asked for with `?access_token=`.
const OWNERS: usize = 2;
/// Shorter "credentials" are not searched for: they would match by chance.
const MIN_NEEDLE: usize = 16;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-TOK-04",
    title: "No tokens in URLs",
    level: Level::Must,
    severity: Severity::High,
    method: "No profile request may put {token} in its path or query. A fresh notification on \
             each of two proven devices is fetched with the owner's token only as \
             ?access_token= (no header): it must be refused (4xx, no content); the owner then \
             fetches it (positive control). Every captured push's path, every URL inside a \
             push's headers and body, and every Location header answered to the harness is \
             searched (percent-decoded) for every credential the harness holds",
    sources: &[
        "OWASP ASVS 5.0 14.2.1",
        "OWASP ASVS 4.0.3 3.1.1",
        "RFC 6750 section 2.3",
    ],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    for (key, request) in suite.profile().requests.all() {
        if request.template.url_vars().contains(&Var::Token) {
            let mut e = evidence::what(format!(
                "the profile's requests.{key} puts {{token}} in its URL: every such request \
                 carries the token where logs and histories keep it"
            ));
            e.detail = json!({ "request": key });
            f.violation(e);
        }
    }
    let owners = probe::proven_devices(suite, OWNERS);
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let mut seen: Vec<Exchange> = Vec::new();
    let mut refused = 0;
    for p in &probed {
        if let Some(exchange) = in_query(suite, p, &mut f).await {
            refused += usize::from(exchange.status().is_some_and(|s| (400..500).contains(&s)));
            seen.push(exchange);
        }
    }
    seen.extend(
        suite
            .baseline
            .trips
            .iter()
            .filter_map(|t| t.exchange.clone()),
    );
    let scanned = scan_urls(suite, &probed, &seen, &mut f).await;
    f.require(scanned > 0, "no push was captured to search");
    f.gathered(usize::from(scanned > 0));
    if f.violations.is_empty() {
        f.summary(format!(
            "{refused} of {} fetches with ?access_token= were refused; no credential in {scanned} \
             push URLs and answers searched",
            probed.len()
        ));
    }
    f
}

/// Fetches a notification with the owner's token only in the query; then
/// the owner fetches it properly. The probe's exchange.
async fn in_query(suite: &Suite, p: &Probed, f: &mut Findings) -> Option<Exchange> {
    let Some(token) = refusal::token_text(suite, &p.owner.credential) else {
        f.harness_error("the owner's credential makes no header");
        return None;
    };
    let rendered = refusal::fetch_request(suite, &p.owner.user, &p.delivered.id, Some(""))?;
    let sep = if rendered.target.contains('?') {
        '&'
    } else {
        '?'
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("access_token", &token)
        .finish();
    let target = format!("{}{sep}{query}", rendered.target);
    let exchange =
        refusal::fetch_with(suite, &p.owner.user, &p.delivered.id, None, Some(target)).await;
    let mut e = evidence::about(&p.owner, String::new(), Some(&exchange));
    e.detail = json!({ "id": p.delivered.id });
    let whose = format!(
        "a fetch of {}'s notification with its token as ?access_token= and no header",
        p.owner.name
    );
    let mut counted = false;
    if probe::leaks(&exchange, &p.secret) {
        e.what = format!("{whose} got the content");
        f.violation(e);
    } else {
        match exchange.status() {
            Some(status @ 200..=399) => {
                e.what = format!("{whose} was accepted ({status})");
                f.violation(e);
            }
            Some(400..=499) => counted = true,
            _ => {
                e.what = format!("{whose}: {}", exchange.describe());
                f.backend_failure(e);
            }
        }
    }
    if probe::control(suite, p, f).await && counted {
        f.gathered(1);
    }
    Some(exchange)
}

/// Searches push URLs and `Location` answers for credentials; how many
/// pushes and answers were searched.
async fn scan_urls(suite: &Suite, probed: &[Probed], seen: &[Exchange], f: &mut Findings) -> usize {
    let mut needles: Vec<(String, String)> = Vec::new();
    let devices = suite
        .baseline
        .devices
        .iter()
        .chain(probed.iter().map(|p| &p.owner));
    for device in devices {
        if let Some(token) = refusal::token_text(suite, &device.credential) {
            needles.push((format!("{}'s credential", device.name), token));
        }
    }
    if let Some((sender, credential)) = &suite.baseline.sender {
        if let Some(token) = refusal::token_text(suite, credential) {
            needles.push((format!("the sender {sender}'s credential"), token));
        }
    }
    needles.retain(|(_, n)| n.len() >= MIN_NEEDLE);
    let find = |url: &str| {
        let decoded = percent_decode_str(url).decode_utf8_lossy();
        needles
            .iter()
            .find(|(_, needle)| decoded.contains(needle.as_str()) || url.contains(needle.as_str()))
            .map(|(what, _)| what.clone())
    };
    let captures = match suite.captures().await {
        Ok(captures) => captures,
        Err(e) => {
            f.harness_error(e.to_string());
            return 0;
        }
    };
    let mut scanned = 0;
    for capture in captures.iter().filter(|c| c.kind == CaptureKind::Push) {
        scanned += 1;
        let body = String::from_utf8_lossy(&capture.body);
        let mut urls = vec![capture.path.clone()];
        for text in capture
            .headers
            .iter()
            .map(|(_, v)| v.as_str())
            .chain([body.as_ref()])
        {
            urls.extend(urls_in(text).map(str::to_owned));
        }
        for url in urls {
            if let Some(what) = find(&url) {
                let mut e = evidence::what(format!(
                    "a push to {} carries {what} in a URL ({})",
                    capture.platform,
                    url.chars().take(120).collect::<String>()
                ));
                e.capture = Some(evidence::capture(capture));
                f.violation(e);
            }
        }
    }
    for exchange in seen {
        let Some(reply) = exchange.reply() else {
            continue;
        };
        scanned += 1;
        for location in reply.headers.get_all(http::header::LOCATION) {
            let location = String::from_utf8_lossy(location.as_bytes());
            if let Some(what) = find(&location) {
                let mut e = evidence::what(format!(
                    "the backend answered {} with a Location that carries {what}",
                    exchange.url
                ));
                e.exchange = Some(evidence::exchange(exchange));
                f.violation(e);
            }
        }
    }
    scanned
}

/// The `http://` and `https://` URLs in a text, each up to the first
/// character that cannot be part of one.
fn urls_in(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let at = ["http://", "https://"]
            .iter()
            .filter_map(|scheme| rest.find(scheme))
            .min()?;
        let url = &rest[at..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
            .unwrap_or(url.len());
        rest = &url[end..];
        Some(&url[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_in_json_and_xml() {
        let text = r#"{"u":"https://a.example/x?t=1","v":"<a href='http://b/y'>"} http://c"#;
        assert_eq!(
            urls_in(text).collect::<Vec<_>>(),
            ["https://a.example/x?t=1", "http://b/y", "http://c"]
        );
        assert_eq!(urls_in("no url").count(), 0);
    }
}
