//! SP-HTTP-01: answers that carry content or credentials are not cached.
//! Every verified baseline fetch answer, and a login answer (RFC 6749
//! section 5.1), must say `Cache-Control: no-store`, and neither `public`
//! nor a positive `max-age`/`s-maxage`. A SHOULD: WARN.

use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::setup;
use crate::client::Exchange;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-HTTP-01",
    title: "Fetch and credential answers are not cached",
    level: Level::Should,
    severity: Severity::Medium,
    method: "Every verified baseline fetch answer, and the answer to a fresh login of a \
             baseline user (bearer profiles), must carry Cache-Control with no-store and \
             neither public nor a max-age or s-maxage above 0",
    sources: &[
        "OWASP ASVS 5.0 14.3.2",
        "OWASP ASVS 5.0 14.2.2",
        "OWASP API Security Top 10 2023 API8",
        "RFC 6749 section 5.1",
    ],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "answers",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let baseline = &suite.baseline;
    let (mut judged, mut logins) = (0, 0);
    for (device, exchange) in setup::verified_fetches(suite) {
        judged += 1;
        if let Some(problem) = cacheable(exchange) {
            f.violation(evidence::about(
                device,
                format!("{}'s fetch answer {problem}", device.name),
                Some(exchange),
            ));
        }
    }
    // A credential answer: a fresh session of a baseline device's user.
    if let (Some(login), Some(device)) = (
        suite.profile().requests.login.as_ref(),
        baseline.devices.first(),
    ) {
        let values = suite.api.account(&device.user, &device.password, None);
        match suite.api.login_exchange(login, &values, "login").await {
            Ok((_, exchange)) => {
                judged += 1;
                logins += 1;
                if let Some(problem) = cacheable(&exchange) {
                    let mut e = evidence::about(
                        device,
                        format!("the login answer for {} {problem}", device.user),
                        Some(&exchange),
                    );
                    e.detail = json!({ "answer": "login" });
                    f.violation(e);
                }
            }
            Err(e) => f.backend_failed(&e),
        }
    }
    f.gathered(judged);
    if f.violations.is_empty() {
        let login = if logins > 0 {
            " and a login answer"
        } else {
            ""
        };
        f.summary(format!(
            "{} fetch answers{login} said Cache-Control: no-store",
            judged - logins
        ));
    }
    f
}

/// What lets a cache keep this answer, if anything.
pub fn cacheable(exchange: &Exchange) -> Option<String> {
    let reply = exchange.reply()?;
    let values: Vec<String> = reply
        .headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
        .collect();
    if values.is_empty() {
        return Some("has no Cache-Control (no-store is due)".to_owned());
    }
    let directives: Vec<(String, Option<String>)> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|d| {
            let d = d.trim();
            match d.split_once('=') {
                Some((name, value)) => (
                    name.trim().to_owned(),
                    Some(value.trim().trim_matches('"').to_owned()),
                ),
                None => (d.to_owned(), None),
            }
        })
        .collect();
    let has = |name: &str| directives.iter().any(|(n, _)| n == name);
    let header = values.join(", ");
    if has("public") {
        return Some(format!("says Cache-Control: {header} (public)"));
    }
    for age in ["max-age", "s-maxage"] {
        let positive = directives.iter().any(|(n, v)| {
            n == age
                && v.as_deref()
                    .is_none_or(|v| v.parse::<u64>().map_or(true, |s| s > 0))
        });
        if positive {
            return Some(format!("says Cache-Control: {header} ({age} above 0)"));
        }
    }
    if !has("no-store") {
        return Some(format!("says Cache-Control: {header}, without no-store"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Reply;
    use bytes::Bytes;
    use std::time::Duration;

    fn answer(cache_control: &[&str]) -> Exchange {
        let mut headers = http::HeaderMap::new();
        for value in cache_control {
            headers.append(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_str(value).expect("a header value"),
            );
        }
        Exchange {
            method: http::Method::GET,
            url: "http://b/n".into(),
            request_headers: Vec::new(),
            request_body: Bytes::new(),
            outcome: Ok(Reply {
                status: http::StatusCode::OK,
                headers,
                body: Bytes::new(),
            }),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn only_no_store_without_public_or_an_age_passes() {
        assert_eq!(cacheable(&answer(&["no-store"])), None);
        assert_eq!(cacheable(&answer(&["No-Store, private"])), None);
        assert_eq!(cacheable(&answer(&["no-store", "max-age=0"])), None);
        for bad in [
            &[][..],
            &["no-cache"],
            &["private, max-age=300"],
            &["no-store, public"],
            &["no-store, max-age=60"],
            &["no-store, s-maxage=\"10\""],
            &["no-store, max-age"],
        ] {
            assert!(cacheable(&answer(bad)).is_some(), "{bad:?}");
        }
    }
}
