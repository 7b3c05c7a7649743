//! SP-HTTP-02: the API is served over TLS only. A loopback target cannot
//! be judged (nothing reaches it over a network), so the check SKIPs there
//! and says so; elsewhere a plain-HTTP origin FAILs, and an HTTPS origin
//! must refuse plain HTTP on the same port without a redirect.

use bytes::Bytes;
use http::Method;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use crate::client::Exchange;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-HTTP-02",
    title: "TLS only",
    level: Level::Must,
    severity: Severity::High,
    method: "The backend's origin must be https:// (a handshake with rustls means TLS 1.2 or \
             later); plain HTTP to the same host and port must be refused, not answered or \
             redirected. A loopback target SKIPs: run against the deployed origin with \
             --backend-url https://…",
    sources: &[
        "OWASP ASVS 5.0 12.2.1, 12.1.1, 4.1.2",
        "OWASP API Security Top 10 2023 API8",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let origin = suite.options.origin.clone();
    if suite.loopback() {
        let mut f = Findings::new();
        f.not_applicable(
            format!(
                "the backend is on loopback ({origin}): no client reaches it over a network, so \
                 TLS cannot be judged here"
            ),
            Some("--backend-url https://<the deployed backend>"),
        );
        return f;
    }
    if let Some(rest) = origin.strip_prefix("http://") {
        let answer = suite.raw(Method::GET, "/", Vec::new(), Bytes::new()).await;
        return judge_plain_origin(rest, &answer);
    }
    let plain = format!("http://{}/", origin.trim_start_matches("https://"));
    let secure = suite.raw(Method::GET, "/", Vec::new(), Bytes::new()).await;
    let downgrade = suite
        .raw(Method::GET, &plain, Vec::new(), Bytes::new())
        .await;
    judge_tls_origin(&secure, &downgrade)
}

/// The API itself is plain HTTP on a network address: a violation.
pub fn judge_plain_origin(host: &str, answer: &Exchange) -> Findings {
    let mut f = Findings::new();
    f.gathered(1);
    let mut e = evidence::what(format!(
        "the API is served over plain HTTP at http://{host}"
    ));
    e.exchange = Some(evidence::exchange(answer));
    f.violation(e);
    f
}

/// An HTTPS origin: the TLS request must get an answer, and plain HTTP on
/// the same port must not (a refused connection, or a 4xx, and never a
/// redirect or content).
pub fn judge_tls_origin(secure: &Exchange, downgrade: &Exchange) -> Findings {
    let mut f = Findings::new();
    if secure.reply().is_none() {
        let mut e = evidence::what(format!("no TLS answer: {}", secure.describe()));
        e.exchange = Some(evidence::exchange(secure));
        f.backend_failure(e);
        return f;
    }
    f.gathered(1);
    match downgrade.status() {
        None | Some(400..=499) => {
            f.summary("the API answers over TLS and refuses plain HTTP");
        }
        Some(status) => {
            let what = if (300..400).contains(&status) {
                format!("plain HTTP is redirected ({status}) instead of refused")
            } else {
                format!("plain HTTP is answered ({status})")
            };
            let mut e = evidence::what(what);
            e.exchange = Some(evidence::exchange(downgrade));
            f.violation(e);
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientError, Reply};
    use std::time::Duration;

    fn exchange(url: &str, status: Option<u16>) -> Exchange {
        Exchange {
            method: Method::GET,
            url: url.to_owned(),
            request_headers: Vec::new(),
            request_body: Bytes::new(),
            outcome: match status {
                Some(s) => Ok(Reply {
                    status: http::StatusCode::from_u16(s).expect("a status"),
                    headers: http::HeaderMap::new(),
                    body: Bytes::new(),
                }),
                None => Err(ClientError::Transport("connection refused".into())),
            },
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn a_plain_http_origin_on_a_network_fails() {
        let f = judge_plain_origin(
            "10.0.0.5:8080",
            &exchange("http://10.0.0.5:8080/", Some(404)),
        );
        assert_eq!(f.violations.len(), 1);
        assert!(f.violations[0].what.contains("plain HTTP"));
    }

    #[test]
    fn an_https_origin_must_refuse_plain_http_without_redirect() {
        let secure = exchange("https://api.example/", Some(404));
        let refused = judge_tls_origin(&secure, &exchange("http://api.example/", None));
        assert!(refused.violations.is_empty() && refused.gathered == 1);
        let bad_request = judge_tls_origin(&secure, &exchange("http://api.example/", Some(400)));
        assert!(bad_request.violations.is_empty());
        let redirected = judge_tls_origin(&secure, &exchange("http://api.example/", Some(301)));
        assert!(redirected.violations[0].what.contains("redirected"));
        let answered = judge_tls_origin(&secure, &exchange("http://api.example/", Some(200)));
        assert_eq!(answered.violations.len(), 1);
        let down = judge_tls_origin(
            &exchange("https://api.example/", None),
            &exchange("http://api.example/", None),
        );
        assert_eq!(down.backend_failures.len(), 1);
    }
}
