//! One request's path through a gateway, the same for every platform: read
//! the body, let the platform module validate it into a verdict and a
//! response, record the capture, answer. Dispatched on [`Platform`].

use std::convert::Infallible;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use http::StatusCode;
use hyper::body::Incoming;
use hyper::Request;
use tracing::debug;

use crate::capture::{Capture, CaptureKind};
use crate::platform::Platform;
use crate::server::{self, ResponseBody};
use crate::state::Shared;
use crate::{apns, fcm, wns};

/// The response type of every gateway.
pub(crate) type Response = http::Response<ResponseBody>;

/// What a platform module decided about one request.
pub(crate) struct Outcome {
    pub(crate) kind: CaptureKind,
    pub(crate) response: Response,
    /// The platform's reason for a rejection; `None` on success.
    pub(crate) reason: Option<String>,
    /// The device handle the request was addressed to.
    pub(crate) device: Option<String>,
}

/// State that lives as long as one client connection.
#[derive(Default)]
pub(crate) struct ConnectionState {
    pub(crate) apns: apns::ConnectionAuth,
}

/// Answers one request on `platform`'s gateway and records it.
pub(crate) async fn serve(
    platform: Platform,
    shared: Arc<Shared>,
    conn: Arc<ConnectionState>,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let (parts, body) = request.into_parts();
    let body = server::read_body(body, server::BODY_LIMIT).await;
    let outcome = match platform {
        Platform::Apns => apns::handle(&shared, &conn.apns, &parts, &body),
        Platform::Fcm => fcm::handle(&shared, &parts, &body),
        Platform::Wns => wns::handle(&shared, &parts, &body),
    };
    let status = outcome.response.status().as_u16();
    debug!(
        platform = platform.as_str(),
        method = %parts.method,
        path = parts.uri.path(),
        status,
        reason = outcome.reason.as_deref(),
        "request answered"
    );
    shared.captures.record(Capture::from_request(
        platform,
        outcome.kind,
        &parts,
        body.bytes().clone(),
        status,
        outcome.reason,
        outcome.device,
    ));
    Ok(outcome.response)
}

/// A response with a status, headers and a body. Header values built by the
/// gateways are always valid; a value that is not is skipped rather than
/// turned into a panic.
pub(crate) fn response(
    status: StatusCode,
    headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    body: impl Into<bytes::Bytes>,
) -> Response {
    let mut response = http::Response::new(ResponseBody::new(body.into()));
    *response.status_mut() = status;
    let map = response.headers_mut();
    for (name, value) in headers {
        map.append(name, value);
    }
    response
}

/// A header value from text the gateway made; falls back to an empty value
/// (never panics) if the text is not a valid header value.
pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Splits `Authorization: <scheme> <credentials>` and returns the
/// credentials when the scheme is `bearer`, compared case-insensitively
/// (clients send both `bearer` and `Bearer`).
pub(crate) fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let text = std::str::from_utf8(value.as_bytes()).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            bearer_token(&HeaderValue::from_static("bearer abc")),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&HeaderValue::from_static("Bearer  abc ")),
            Some("abc")
        );
        assert_eq!(bearer_token(&HeaderValue::from_static("Basic abc")), None);
        assert_eq!(bearer_token(&HeaderValue::from_static("bearer")), None);
    }
}
