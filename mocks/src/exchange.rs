//! One request's path through a gateway, the same for every platform: read
//! the body; hand control-API requests to `control`; find the device the
//! push addresses and consult the fault rules (one atomic load when there
//! are none); let the platform module validate the request into a verdict
//! and a response (or answer a fault in its shape); record the capture;
//! answer. Dispatched on [`Platform`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::StatusCode;
use hyper::body::Incoming;
use hyper::Request;
use tracing::debug;

use crate::capture::{CaptureKind, DeviceRef, Stored};
use crate::fault::table::Action;
use crate::platform::Platform;
use crate::server::{self, RequestBody, ResponseBody, StreamLimit};
use crate::state::Shared;
use crate::{apns, control, fcm, wns};

/// The response type of every gateway.
pub(crate) type Response = http::Response<ResponseBody>;

/// What a platform module decided about one request.
pub(crate) struct Outcome {
    pub(crate) kind: CaptureKind,
    pub(crate) response: Response,
    /// The platform's reason for a rejection; `None` on success.
    pub(crate) reason: Option<String>,
    /// The device handle the request was addressed to.
    pub(crate) device: Option<DeviceRef>,
}

/// The device a push addresses, as fault rules look it up.
pub(crate) struct Addressed {
    /// The device registry key (lowercase APNs token, FCM token, WNS opaque
    /// token), if the request names a device.
    pub(crate) key: Option<String>,
    /// The handle as captures record it.
    pub(crate) device: Option<DeviceRef>,
}

/// State that lives as long as one client connection.
#[derive(Default)]
pub(crate) struct ConnectionState {
    pub(crate) apns: apns::ConnectionAuth,
    /// The MAX_CONCURRENT_STREAMS an APNs connection announces; `None` on
    /// the other gateways.
    pub(crate) stream_limit: Option<Arc<StreamLimit>>,
    /// Header values that never repeat sent so far (see
    /// [`ConnectionState::one_off`]).
    one_offs: AtomicU32,
}

/// One in this many never-repeating header values is entered into the
/// HPACK table, which keeps its name there (see
/// [`ConnectionState::one_off`]).
const ONE_OFF_INDEXED_EVERY: u32 = 1024;

impl ConnectionState {
    pub(crate) fn new(stream_limit: Option<Arc<StreamLimit>>) -> ConnectionState {
        ConnectionState {
            stream_limit,
            ..ConnectionState::default()
        }
    }

    /// Prepares a response header value that never repeats (a fresh
    /// `apns-id`) for HTTP/2's header compression. Entering each such value
    /// into the HPACK dynamic table, as h2 does by default, costs both ends
    /// an insert and an eviction per response and pushes out entries that
    /// do repeat. So the value goes as a literal on the indexed name, not
    /// entered (marked sensitive: h2's only way to say so), except one in
    /// [`ONE_OFF_INDEXED_EVERY`], which enters name and value and so keeps
    /// the name in the table however long the connection lives.
    pub(crate) fn one_off(&self, mut value: HeaderValue) -> HeaderValue {
        let n = self.one_offs.fetch_add(1, Ordering::Relaxed);
        value.set_sensitive(!n.is_multiple_of(ONE_OFF_INDEXED_EVERY));
        value
    }
}

/// The service error that makes hyper close an HTTP/1.1 connection, or
/// reset an HTTP/2 stream, without answering: a drop fault.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by a fault rule")]
pub(crate) struct Dropped;

/// Answers one request on `platform`'s gateway and records it; `Err` when a
/// drop fault says to close without answering.
///
/// The future is every request's task, so it is kept small: an async block
/// keeps the request's parts once (an async fn would move its arguments
/// into a second copy), the rare paths' futures (control API, faults) are
/// boxed, and the rest is synchronous.
pub(crate) fn serve(
    platform: Platform,
    shared: Arc<Shared>,
    conn: Arc<ConnectionState>,
    request: Request<Incoming>,
) -> impl std::future::Future<Output = Result<Response, Dropped>> + Send {
    let (parts, body) = request.into_parts();
    async move {
        let body = server::read_body(body, server::BODY_LIMIT).await;
        if control::is_control_path(parts.uri.path()) {
            // The control API is the mock's own: not a push, never captured.
            return Ok(Box::pin(control::handle(&shared, &parts, &body)).await);
        }
        let fault = if shared.faults.any(platform) {
            Box::pin(apply_faults(platform, &shared, &parts, &body)).await
        } else {
            None
        };
        answer(platform, &shared, &conn, parts, &body, fault)
    }
}

/// Serves a push that did not come over a socket: the mock Notification
/// Hub's fan-out hands each native push to the gateway's own path (fault
/// rules, validation, delivery, capture) as if it had arrived on `conn`.
pub(crate) async fn forward(
    platform: Platform,
    shared: &Shared,
    conn: &ConnectionState,
    parts: Parts,
    body: RequestBody,
) -> Result<Response, Dropped> {
    let fault = if shared.faults.any(platform) {
        Box::pin(apply_faults(platform, shared, &parts, &body)).await
    } else {
        None
    };
    answer(platform, shared, conn, parts, &body, fault)
}

/// The gateway's answer to a push or token request, or the fault's that
/// replaces it; records the capture.
fn answer(
    platform: Platform,
    shared: &Shared,
    conn: &ConnectionState,
    parts: Parts,
    body: &RequestBody,
    fault: Option<(Action, Option<DeviceRef>)>,
) -> Result<Response, Dropped> {
    let outcome = match fault {
        None => match platform {
            Platform::Apns => apns::handle(shared, conn, &parts, body),
            Platform::Fcm => fcm::handle(shared, &parts, body),
            Platform::Wns => wns::handle(shared, &parts, body),
        },
        Some((Action::Answer(answer), device)) => match platform {
            Platform::Apns => apns::fault_outcome(&parts, conn, &answer, device),
            Platform::Fcm => fcm::fault_outcome(shared, &answer, device),
            Platform::Wns => wns::fault_outcome(&parts, &answer, device),
        },
        Some((Action::Drop, device)) => {
            debug!(
                platform = platform.as_str(),
                path = parts.uri.path(),
                "dropping the connection (fault)"
            );
            shared.captures.record(Stored::new(
                platform,
                CaptureKind::Push,
                parts,
                body.bytes().clone(),
                0,
                Some("connection dropped (fault)".to_owned()),
                device,
            ));
            return Err(Dropped);
        }
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
    // The body is shared, not copied (`read_body` gave it a buffer of its
    // own); path and headers are packed into one buffer.
    shared.captures.record(Stored::new(
        platform,
        outcome.kind,
        parts,
        body.bytes().clone(),
        status,
        outcome.reason,
        outcome.device,
    ));
    Ok(outcome.response)
}

/// Consults the fault rules for a push (token requests are never faulted),
/// waits out any latency, and returns the action that replaces the
/// gateway's own answer, with the device the capture names.
async fn apply_faults(
    platform: Platform,
    shared: &Shared,
    parts: &Parts,
    body: &RequestBody,
) -> Option<(Action, Option<DeviceRef>)> {
    let addressed = match platform {
        Platform::Apns => apns::addressed(parts),
        Platform::Fcm => fcm::addressed(parts, body)?,
        Platform::Wns => wns::addressed(shared, parts)?,
    };
    let decision = shared.faults.decide(platform, addressed.key.as_deref());
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    decision.action.map(|action| (action, addressed.device))
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
    let headers = headers.into_iter();
    let map = response.headers_mut();
    // Sized once, not grown header by header.
    map.reserve(headers.size_hint().0);
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio::net::{TcpListener, TcpStream};

    /// What a drop fault relies on: given a service error, hyper closes an
    /// HTTP/1.1 connection without a response, and resets an HTTP/2 stream
    /// while keeping the connection for other streams.
    #[tokio::test]
    async fn drop_closes_http1_and_resets_http2() {
        let dropping = || service_fn(|_req| async { Err::<Response, _>(Dropped) });
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), dropping())
                .await;
            let (stream, _) = listener.accept().await.unwrap();
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), dropping())
                .await;
        });
        let request = || {
            http::Request::post("http://localhost/")
                .body(Full::new(bytes::Bytes::new()))
                .unwrap()
        };

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        let error = h1.send_request(request()).await.unwrap_err();
        assert!(
            error.is_incomplete_message() || error.is_closed(),
            "{error}"
        );
        let _ = conn.await;

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut h2, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        // The second stream on the same connection proves only the stream
        // was reset.
        for _ in 0..2 {
            h2.ready().await.unwrap();
            let error = h2.send_request(request()).await.unwrap_err();
            assert!(!error.is_closed(), "{error}");
        }
    }

    #[test]
    fn one_off_values_enter_the_hpack_table_once_in_a_while() {
        let conn = ConnectionState::default();
        let sensitive: Vec<bool> = (0..=ONE_OFF_INDEXED_EVERY)
            .map(|_| conn.one_off(HeaderValue::from_static("x")).is_sensitive())
            .collect();
        // The first keeps the name in the table; the rest are literals on it.
        assert!(!sensitive[0]);
        assert!(sensitive[1..sensitive.len() - 1].iter().all(|&s| s));
        assert!(!sensitive[sensitive.len() - 1]);
    }

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
