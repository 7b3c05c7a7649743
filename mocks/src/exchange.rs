//! One request's path through a gateway, the same for every platform: read
//! the body; hand control-API requests to `control`; find the device the
//! push addresses and consult the fault rules (one atomic load when there
//! are none); let the platform module validate the request into a verdict
//! and a response (or answer a fault in its shape); record the capture;
//! answer. Dispatched on [`Platform`].

use std::sync::Arc;

use http::request::Parts;
use hyper::body::Incoming;
use hyper::Request;
use tracing::debug;

use crate::capture::{CaptureKind, DeviceRef, Stored};
use crate::fault::table::Action;
use crate::hosts::{self, Route};
use crate::platform::Platform;
use crate::reply::Response;
use crate::server::{self, RequestBody};
use crate::state::Shared;
use crate::{apns, control, fcm, wns};

/// State that lives as long as one client connection.
#[derive(Default)]
pub(crate) struct ConnectionState {
    /// What APNs remembers per connection (tokens, stream limit).
    pub(crate) apns: apns::Connection,
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

/// Answers one request on the host-impersonation listener: the request's
/// host (`:authority`, or `Host` in HTTP/1.1) picks the gateway, else the
/// connection's TLS server name (`route`); a host no gateway serves gets
/// 421 Misdirected Request (RFC 9110 §15.5.20). The control API answers
/// whatever the host. (The Notification Hub's namespace host never gets
/// here: the listener hands it to the hub, by [`request_route`].)
pub(crate) fn serve_routed(
    route: Option<Route>,
    shared: Arc<Shared>,
    conn: Arc<ConnectionState>,
    request: Request<Incoming>,
) -> impl std::future::Future<Output = Result<Response, Dropped>> + Send {
    let host = request_host(&request);
    let platform = host
        .as_deref()
        .and_then(hosts::route)
        .or(route)
        .and_then(Route::platform)
        .or_else(|| control::is_control_path(request.uri().path()).then_some(Platform::Fcm));
    async move {
        match platform {
            Some(platform) => serve(platform, shared, conn, request).await,
            None => Ok(misdirected(host.as_deref().unwrap_or(""))),
        }
    }
}

/// The host a request names (`:authority`, or `Host` in HTTP/1.1),
/// without its port.
fn request_host(request: &Request<Incoming>) -> Option<String> {
    request.uri().host().map(str::to_owned).or_else(|| {
        let value = request.headers().get(http::header::HOST)?.to_str().ok()?;
        Some(hosts::host_of(value).to_owned())
    })
}

/// What serves a request on the impersonation listener: its host's route,
/// else the connection's (`route`, from the TLS server name).
pub(crate) fn request_route(route: Option<Route>, request: &Request<Incoming>) -> Option<Route> {
    request_host(request)
        .as_deref()
        .and_then(hosts::route)
        .or(route)
}

/// 421: the request named a host this listener does not serve.
fn misdirected(host: &str) -> Response {
    crate::reply::response(
        http::StatusCode::MISDIRECTED_REQUEST,
        [(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("no mock gateway serves the host {host:?}\n"),
    )
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
            Platform::Apns => apns::handle(shared, &conn.apns, &parts, body),
            Platform::Fcm => fcm::handle(shared, &parts, body),
            Platform::Wns => wns::handle(shared, &parts, body),
        },
        Some((Action::Answer(answer), device)) => match platform {
            Platform::Apns => apns::fault_outcome(&parts, &conn.apns, &answer, device),
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
}
