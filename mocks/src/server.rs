//! Transport: the accept loop that serves one gateway on a listener the
//! caller bound, speaking the HTTP versions the real service speaks, and the
//! bounded, timed reading of request bodies. TLS slots in here later.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// The largest request body read; beyond it the request is answered with
/// the platform's "too large" verdict.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a peer may take to send a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open connections get to finish in-flight requests on shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The HTTP versions a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 only, prior knowledge on plaintext (APNs).
    Http2,
    /// HTTP/1.1, and HTTP/2 when the client starts with the h2c preface
    /// (FCM, WNS, the OAuth endpoints).
    Auto,
}

/// The response body type every gateway answers with.
pub type ResponseBody = Full<Bytes>;

/// Serves connections from `listener` until `shutdown` is cancelled, then
/// lets open connections drain briefly.
///
/// `make_service` is called once per connection, so a service can keep
/// per-connection state (APNs caches verified provider tokens per
/// connection, as the real service binds a connection to a team).
pub async fn run<F, S>(
    listener: TcpListener,
    protocol: Protocol,
    make_service: F,
    shutdown: CancellationToken,
) where
    F: Fn(SocketAddr) -> S,
    S: Service<Request<Incoming>, Response = Response<ResponseBody>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Usually EMFILE or a connection reset before accept: keep
                // serving, but do not spin while the condition lasts.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Latency matters more than packet count for a mock on loopback.
        let _ = stream.set_nodelay(true);
        let service = make_service(peer);
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let io = TokioIo::new(stream);
            let result = match protocol {
                Protocol::Http2 => {
                    let conn = http2_builder().serve_connection(io, service);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => r.map_err(Into::into),
                        () = shutdown.cancelled() => {
                            conn.as_mut().graceful_shutdown();
                            drain(conn).await
                        }
                    }
                }
                Protocol::Auto => {
                    let builder = auto_builder();
                    let conn = builder.serve_connection(io, service);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => r,
                        () = shutdown.cancelled() => {
                            conn.as_mut().graceful_shutdown();
                            drain(conn).await
                        }
                    }
                }
            };
            if let Err(error) = result {
                // Peers hanging up or speaking garbage is routine for a mock.
                debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn drain<C, E>(conn: C) -> Result<(), BoxError>
where
    C: std::future::Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    match tokio::time::timeout(DRAIN_TIMEOUT, conn).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Ok(()),
    }
}

fn http2_builder() -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    // The SETTINGS real APNs has been observed to announce.
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000)
        .max_header_list_size(8000);
    builder
}

fn auto_builder() -> hyper_util::server::conn::auto::Builder<TokioExecutor> {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000);
    builder
}

/// A request body as read, or why it could not be read whole.
#[derive(Clone, Debug)]
pub enum RequestBody {
    /// The whole body.
    Complete(Bytes),
    /// The body exceeded [`BODY_LIMIT`]; the first `BODY_LIMIT` bytes.
    TooLarge(Bytes),
    /// The peer took longer than the body timeout; what had arrived.
    TimedOut(Bytes),
    /// The stream broke (reset, protocol error); what had arrived.
    Broken(Bytes),
}

impl RequestBody {
    /// The bytes that were read, whatever the outcome.
    pub fn bytes(&self) -> &Bytes {
        match self {
            RequestBody::Complete(b)
            | RequestBody::TooLarge(b)
            | RequestBody::TimedOut(b)
            | RequestBody::Broken(b) => b,
        }
    }
}

/// Reads a body up to `limit` bytes, within the body timeout.
///
/// The bytes are copied into a buffer of their own so a capture kept for a
/// long time does not pin the connection's larger read buffers.
pub async fn read_body(mut body: Incoming, limit: usize) -> RequestBody {
    let hint = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut buf = BytesMut::with_capacity(hint.min(limit));
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(_) => return Err(false),
            };
            if let Ok(data) = frame.into_data() {
                let room = limit - buf.len();
                if data.len() > room {
                    buf.extend_from_slice(&data[..room]);
                    return Err(true);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(())
    };
    let outcome = tokio::time::timeout(BODY_TIMEOUT, read).await;
    let bytes = buf.freeze();
    match outcome {
        Ok(Ok(())) => RequestBody::Complete(bytes),
        Ok(Err(true)) => RequestBody::TooLarge(bytes),
        Ok(Err(false)) => RequestBody::Broken(bytes),
        Err(_) => RequestBody::TimedOut(bytes),
    }
}
