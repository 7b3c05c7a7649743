//! Probes with credentials no profile describes, and how their answers are
//! judged: a fetch sent with any `Authorization` header (or none, or extra
//! query parameters), and the one reading of "refused" the token checks
//! share (401 without content; 403 is a deviation).

use bytes::Bytes;

use super::context::{Secret, Suite};
use super::findings::Findings;
use super::probe;
use crate::client::{Credential, Exchange};
use crate::profile::{Scheme, Values};
use crate::report::suite::Evidence;

/// What a probe's answer was, for a secret it must not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The answer carries the secret.
    Content,
    Unauthorized,
    Forbidden,
    /// Any other status, without the secret.
    Status(u16),
    /// No answer: a timeout, a reset.
    NoAnswer(String),
}

impl Refusal {
    pub fn of(exchange: &Exchange, secret: &Secret) -> Refusal {
        if probe::leaks(exchange, secret) {
            return Refusal::Content;
        }
        match exchange.status() {
            Some(401) => Refusal::Unauthorized,
            Some(403) => Refusal::Forbidden,
            Some(status) => Refusal::Status(status),
            None => Refusal::NoAnswer(exchange.describe()),
        }
    }
}

/// Records how a probe with a bad, dead or wrong credential went: 401 is a
/// refusal, 403 a deviation, any other answer (content, a 2xx, a 404) a
/// violation, no answer a backend failure. `malformed` also takes 400 as a
/// refusal (RFC 6750 section 3.1: `invalid_request`). `evidence` turns a
/// tail ("answered 200") into evidence. Returns whether it was refused.
pub fn expect_unauthorized(
    f: &mut Findings,
    refusal: &Refusal,
    malformed: bool,
    evidence: impl FnOnce(String) -> Evidence,
) -> bool {
    match refusal {
        Refusal::Unauthorized => true,
        Refusal::Status(400) if malformed => true,
        Refusal::Content => {
            f.violation(evidence("the answer carries the content".to_owned()));
            false
        }
        Refusal::Forbidden => {
            f.deviation(evidence("refused with 403, not 401".to_owned()));
            false
        }
        Refusal::Status(status) => {
            f.violation(evidence(format!("answered {status}, not 401")));
            false
        }
        Refusal::NoAnswer(why) => {
            f.backend_failure(evidence(format!("no answer: {why}")));
            false
        }
    }
}

/// The header value a credential travels in under the profile's auth
/// (`Bearer abc…`, `Basic dXNlcjpwdw==`).
pub fn header_value(suite: &Suite, credential: &Credential) -> Option<String> {
    let (_, value) = credential.header(&suite.profile().auth).ok()?;
    value.to_str().ok().map(str::to_owned)
}

/// The prefix the profile's scheme puts before a credential (`Bearer `).
pub fn scheme_prefix(suite: &Suite) -> &str {
    match &suite.profile().auth.scheme {
        Scheme::Basic { prefix } | Scheme::Bearer { prefix } | Scheme::Static { prefix, .. } => {
            prefix
        }
    }
}

/// The token part of a credential as it travels: the header value without
/// the scheme's prefix (for Basic, the base64 of `user:password`).
pub fn token_text(suite: &Suite, credential: &Credential) -> Option<String> {
    let value = header_value(suite, credential)?;
    Some(
        value
            .strip_prefix(scheme_prefix(suite))
            .unwrap_or(&value)
            .to_owned(),
    )
}

/// The fetch request of notification `id`, rendered for `user` (path and
/// query, and the body the profile gives it), with `token` where the
/// profile's fetch names `{token}`.
pub fn fetch_request(
    suite: &Suite,
    user: &str,
    id: &str,
    token: Option<&str>,
) -> Option<crate::profile::Rendered> {
    let values = Values {
        user: Some(user.to_owned()),
        id: Some(id.to_owned()),
        token: token.map(str::to_owned),
        ..Values::default()
    };
    suite.profile().requests.fetch.template.render(&values).ok()
}

/// Fetches `id` with exactly these headers (the profile's auth header with
/// `authorization`, or none): for credentials no profile describes.
/// `target` overrides the rendered path and query.
pub async fn fetch_with(
    suite: &Suite,
    user: &str,
    id: &str,
    authorization: Option<String>,
    target: Option<String>,
) -> Exchange {
    // A `{token}` in the fetch itself gets nothing: the header is the probe.
    let Some(rendered) = fetch_request(suite, user, id, Some("")) else {
        return suite
            .raw(
                suite.profile().requests.fetch.template.method.clone(),
                "/",
                Vec::new(),
                Bytes::new(),
            )
            .await;
    };
    let mut headers = Vec::new();
    if let Some(content_type) = rendered.content_type {
        headers.push(("content-type".to_owned(), content_type.to_owned()));
    }
    if let Some(value) = authorization {
        headers.push((suite.profile().auth.header.clone(), value));
    }
    suite
        .raw(
            rendered.method,
            &target.unwrap_or(rendered.target),
            headers,
            Bytes::from(rendered.body),
        )
        .await
}
