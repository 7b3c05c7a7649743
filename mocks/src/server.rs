//! Transport: the accept loop that serves one gateway on a listener the
//! caller bound, speaking the HTTP versions the real service speaks over
//! plaintext or TLS, and the bounded, timed reading of request bodies.
//! APNs connections announce a stream limit the gateway changes as it goes
//! (`streams`).

mod frame;
mod inbound;
mod layered;
mod preface;
mod scheme;
mod streams;

use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use inbound::Inbound;
use layered::LayeredIo;
use preface::First;
use streams::SettingsIo;
pub(crate) use streams::StreamLimit;

/// The largest request body read; beyond it the request is answered with
/// the platform's "too large" verdict.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a peer may take to send a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an HTTP/1.1 peer may take to send a request head, and any
/// peer its first bytes (which tell HTTP/1.1 from HTTP/2).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long open connections get to finish in-flight requests on shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The MAX_CONCURRENT_STREAMS real APNs announces once a connection is in
/// use; also the most h2 lets an APNs client open.
const APNS_MAX_STREAMS: u32 = 1000;

/// APNs allows one stream until a request with a valid provider token
/// arrives; the gateway raises the limit then (`apns::limit_streams`).
const APNS_INITIAL_STREAMS: u32 = 1;

/// How long a peer may take to complete the TLS handshake, so a client
/// that connects and stays silent does not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP versions a listener speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/2 only: prior knowledge on plaintext; over TLS whatever ALPN
    /// said, since some APNs clients offer no ALPN and send the HTTP/2
    /// preface straight away (APNs).
    Http2,
    /// HTTP/1.1, and HTTP/2 when the client starts with the h2c preface or
    /// chose `h2` by ALPN (FCM, WNS, the OAuth endpoints).
    Auto,
}

/// How one connection is served, once the protocol (and ALPN) is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The APNs HTTP/2 server.
    Apns,
    /// HTTP/2, the client having chosen `h2` by ALPN.
    Http2,
    /// HTTP/1.1, the client having chosen `http/1.1` by ALPN.
    Http1,
    /// HTTP/1.1, or HTTP/2 if the h2 preface arrives.
    Detect,
}

impl Mode {
    fn new(protocol: Protocol, alpn: Option<&[u8]>) -> Mode {
        match (protocol, alpn) {
            (Protocol::Http2, _) => Mode::Apns,
            (Protocol::Auto, Some(b"h2")) => Mode::Http2,
            (Protocol::Auto, Some(b"http/1.1")) => Mode::Http1,
            // No ALPN: HTTP/1.1 unless the client sends the h2 preface.
            (Protocol::Auto, _) => Mode::Detect,
        }
    }
}

/// The response body type every gateway answers with.
pub type ResponseBody = Full<Bytes>;

/// How a listener's connections are secured and which HTTP versions they
/// speak.
#[derive(Clone)]
pub(crate) enum Security {
    /// Plaintext (h2c prior knowledge for [`Protocol::Http2`]).
    Plain(Protocol),
    /// TLS with one configuration.
    Tls(Protocol, Arc<rustls::ServerConfig>),
    /// TLS whose protocol and configuration follow the server name the
    /// client sent (SNI), for a listener that serves several hosts.
    ByServerName(Arc<ChooseByName>),
}

/// Picks a connection's protocol and TLS configuration from its server
/// name (lowercase, if the client sent one).
pub(crate) type ChooseByName =
    dyn Fn(Option<&str>) -> (Protocol, Arc<rustls::ServerConfig>) + Send + Sync;

/// What a connection's service is told about its connection.
pub(crate) struct ConnInfo {
    /// The TLS server name (SNI) the client sent, lowercase.
    pub(crate) server_name: Option<String>,
    /// On an HTTP/2-only (APNs) connection, the MAX_CONCURRENT_STREAMS it
    /// announces, which the service changes.
    pub(crate) stream_limit: Option<Arc<StreamLimit>>,
}

/// Serves connections from `listener` until `shutdown` is cancelled, then
/// lets open connections drain briefly.
///
/// With TLS, the handshake happens in the connection's own task, with a
/// deadline, so a slow or broken peer never holds up the accept loop.
///
/// `make_service` is called once per connection, so a service can keep
/// per-connection state (APNs caches verified provider tokens per
/// connection, as the real service binds a connection to a team). It is
/// told the peer, the server name and, on an HTTP/2-only (APNs)
/// connection, its [`StreamLimit`], through which the service changes the
/// MAX_CONCURRENT_STREAMS the connection announces.
/// A service error ends the exchange without an answer: hyper closes an
/// HTTP/1.1 connection and resets an HTTP/2 stream (a "drop" fault).
pub(crate) async fn run<F, S>(
    listener: TcpListener,
    security: Security,
    make_service: F,
    shutdown: CancellationToken,
) where
    F: Fn(ConnInfo) -> S + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<ResponseBody>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let make_service = Arc::new(make_service);
    // One TLS path: a fixed configuration is a choice that ignores the name.
    let security = match security {
        Security::Tls(protocol, config) => {
            Security::ByServerName(Arc::new(move |_: Option<&str>| (protocol, config.clone())))
        }
        other => other,
    };
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
        let shutdown = shutdown.clone();
        let security = security.clone();
        let make_service = make_service.clone();
        connections.spawn(async move {
            let result = match security {
                Security::Plain(protocol) => {
                    let (service, limit) = start(&*make_service, protocol, peer, None);
                    serve(stream, Mode::new(protocol, None), limit, service, &shutdown).await
                }
                // Made one at the start of the loop.
                Security::Tls(..) => return,
                Security::ByServerName(choose) => {
                    let Some((stream, protocol, name)) =
                        handshake(&*choose, stream, peer, &shutdown).await
                    else {
                        return;
                    };
                    let (service, limit) = start(&*make_service, protocol, peer, name);
                    let mode = Mode::new(protocol, stream.get_ref().1.alpn_protocol());
                    serve(stream, mode, limit, service, &shutdown).await
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

/// The service of a new connection and, on an HTTP/2-only listener, the
/// stream limit it announces (APNs mode whatever ALPN says).
fn start<F, S>(
    make_service: &F,
    protocol: Protocol,
    peer: SocketAddr,
    server_name: Option<String>,
) -> (S, Option<Arc<StreamLimit>>)
where
    F: Fn(ConnInfo) -> S,
{
    let stream_limit = (protocol == Protocol::Http2)
        .then(|| Arc::new(StreamLimit::new(APNS_INITIAL_STREAMS, APNS_MAX_STREAMS)));
    let _ = peer;
    let service = make_service(ConnInfo {
        server_name,
        stream_limit: stream_limit.clone(),
    });
    (service, stream_limit)
}

type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// The server side of a TLS handshake, with the protocol and configuration
/// `choose` picks for the client's server name; `None` (logged at debug)
/// if it failed, timed out or the gateways are shutting down.
async fn handshake(
    choose: &ChooseByName,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: &CancellationToken,
) -> Option<(TlsStream, Protocol, Option<String>)> {
    let accept = async {
        let start =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
                .await?;
        let name = start
            .client_hello()
            .server_name()
            .map(str::to_ascii_lowercase);
        let (protocol, config) = choose(name.as_deref());
        let stream = start.into_stream(config).await?;
        Ok::<_, std::io::Error>((stream, protocol, name))
    };
    let accept = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept);
    let outcome = tokio::select! {
        () = shutdown.cancelled() => return None,
        outcome = accept => outcome,
    };
    match outcome {
        Ok(Ok(accepted)) => Some(accepted),
        Ok(Err(error)) => {
            // Untrusted certificates, no shared ALPN protocol, port
            // scanners: the client's problem, not the mock's.
            debug!(%peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            debug!(%peer, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
            None
        }
    }
}

/// Serves HTTP on one connection, plaintext or TLS, until the peer leaves
/// or `shutdown` is cancelled (then in-flight requests drain briefly).
/// `limit` is the APNs stream limit, present in [`Mode::Apns`].
///
/// Every HTTP/2 connection reads through the inbound frame filter
/// (`:scheme` fixed; on APNs, the ACKs of injected SETTINGS removed); an
/// HTTP/1.1 connection reads straight from the socket.
async fn serve<I, S>(
    io: I,
    mode: Mode,
    limit: Option<Arc<StreamLimit>>,
    service: S,
    shutdown: &CancellationToken,
) -> Result<(), BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<ResponseBody>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    match (mode, limit) {
        (Mode::Apns, Some(limit)) => {
            // h2 cannot change MAX_CONCURRENT_STREAMS after the handshake:
            // it announces (and enforces) the full limit, and the I/O layer
            // below it sends the limits APNs would.
            let io = SettingsIo::new(io, limit, APNS_MAX_STREAMS);
            let conn = apns_builder().serve_connection(TokioIo::new(io), service);
            until_shutdown(conn, |c| c.graceful_shutdown(), shutdown).await
        }
        (Mode::Http2, _) => {
            serve_http2(LayeredIo::new(io, Inbound::new()), service, shutdown).await
        }
        (Mode::Http1, _) => serve_http1(io, service, shutdown).await,
        (Mode::Detect | Mode::Apns, _) => {
            // Nothing is being served yet: shutting down just closes, and
            // a peer silent for as long as HTTP/1.1 waits for a request
            // head is let go the same way.
            let sniff = tokio::time::timeout(HEADER_READ_TIMEOUT, preface::sniff(io));
            let first = tokio::select! {
                first = sniff => match first {
                    Ok(first) => first?,
                    Err(_) => {
                        debug!("no request before the header read timeout");
                        return Ok(());
                    }
                },
                () = shutdown.cancelled() => return Ok(()),
            };
            match first {
                First::Http2(io) => serve_http2(io, service, shutdown).await,
                First::Http1(io) => serve_http1(io, service, shutdown).await,
            }
        }
    }
}

/// Serves an HTTP/2 connection of a listener that speaks HTTP/1.1 too.
async fn serve_http2<I, S>(io: I, service: S, shutdown: &CancellationToken) -> Result<(), BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<ResponseBody>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let conn = http2_builder().serve_connection(TokioIo::new(io), service);
    until_shutdown(conn, |c| c.graceful_shutdown(), shutdown).await
}

/// Serves an HTTP/1.1 connection.
async fn serve_http1<I, S>(io: I, service: S, shutdown: &CancellationToken) -> Result<(), BoxError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<ResponseBody>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let conn = http1_builder().serve_connection(TokioIo::new(io), service);
    until_shutdown(conn, |c| c.graceful_shutdown(), shutdown).await
}

/// Drives a connection to its end; once `shutdown` is cancelled, asks it to
/// shut down gracefully (`graceful`) and lets in-flight requests drain
/// briefly.
async fn until_shutdown<C, E>(
    conn: C,
    graceful: fn(Pin<&mut C>),
    shutdown: &CancellationToken,
) -> Result<(), BoxError>
where
    C: std::future::Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r.map_err(Into::into),
        () = shutdown.cancelled() => {
            graceful(conn.as_mut());
            drain(conn).await
        }
    }
}

/// Any error, as hyper reports connection and service errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// The HTTP/2 server of APNs connections.
fn apns_builder() -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut builder = http2_builder();
    // The SETTINGS real APNs has been observed to announce.
    builder
        .max_concurrent_streams(APNS_MAX_STREAMS)
        .max_header_list_size(8000);
    builder
}

/// The HTTP/2 server of the other listeners.
fn http2_builder() -> hyper::server::conn::http2::Builder<TokioExecutor> {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000);
    builder
}

fn http1_builder() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
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

/// The bytes of `buf` in a buffer exactly their size: captures keep the
/// body as is, so it must not carry spare capacity. When the size hint
/// was right (the usual case) this is the buffer itself, without a copy.
fn own_buffer(buf: BytesMut) -> Bytes {
    if buf.len() == buf.capacity() {
        buf.freeze()
    } else {
        Bytes::copy_from_slice(&buf)
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
    let mut read = std::pin::pin!(read);
    // Usually the body came in with the headers and the first poll reads
    // it whole: the timer (a clock read, and a timer-wheel entry when
    // armed) is set only when the peer is still sending.
    let first = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
    let outcome = match first {
        Poll::Ready(outcome) => Ok(outcome),
        Poll::Pending => tokio::time::timeout(BODY_TIMEOUT, read).await,
    };
    let bytes = own_buffer(buf);
    match outcome {
        Ok(Ok(())) => RequestBody::Complete(bytes),
        Ok(Err(true)) => RequestBody::TooLarge(bytes),
        Ok(Err(false)) => RequestBody::Broken(bytes),
        Err(_) => RequestBody::TimedOut(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves one HTTP/1.1 connection whose service reads the body with
    /// [`read_body`], writes `raw` as the client, and returns what was read.
    async fn body_read_from(raw: &'static [u8]) -> RequestBody {
        use tokio::io::AsyncWriteExt as _;
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let tx = tx.lock().ok().and_then(|mut t| t.take());
            async move {
                let body = read_body(request.into_body(), BODY_LIMIT).await;
                if let Some(tx) = tx {
                    let _ = tx.send(body);
                }
                Ok::<_, std::convert::Infallible>(Response::new(ResponseBody::default()))
            }
        });
        tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(server), service),
        );
        client.write_all(raw).await.unwrap_or_default();
        let body = rx.await;
        drop(client);
        body.unwrap_or(RequestBody::Broken(Bytes::new()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_sent_with_its_headers_is_read_whole() {
        let body =
            body_read_from(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc").await;
        assert!(
            matches!(&body, RequestBody::Complete(b) if b.as_ref() == b"abc"),
            "{body:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out_with_what_arrived() {
        let started = tokio::time::Instant::now();
        let body =
            body_read_from(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc").await;
        assert!(
            matches!(&body, RequestBody::TimedOut(b) if b.as_ref() == b"abc"),
            "{body:?}"
        );
        assert!(started.elapsed() >= BODY_TIMEOUT);
    }

    /// A connection that may speak either version and never sends a byte
    /// is closed once HTTP/1.1 would have stopped waiting for a request.
    #[tokio::test(start_paused = true)]
    async fn a_peer_silent_from_the_start_is_let_go() {
        let (client, server) = tokio::io::duplex(1024);
        let service = hyper::service::service_fn(|_: Request<Incoming>| async {
            Ok::<_, std::convert::Infallible>(Response::new(ResponseBody::default()))
        });
        let started = tokio::time::Instant::now();
        let shutdown = CancellationToken::new();
        let served = tokio::time::timeout(
            2 * HEADER_READ_TIMEOUT,
            serve(server, Mode::Detect, None, service, &shutdown),
        )
        .await;
        assert!(matches!(served, Ok(Ok(()))), "{served:?}");
        assert!(started.elapsed() >= HEADER_READ_TIMEOUT);
        drop(client);
    }

    #[test]
    fn bodies_get_a_buffer_exactly_their_size() {
        let mut exact = BytesMut::with_capacity(4);
        exact.extend_from_slice(b"abcd");
        let ptr = exact.as_ptr();
        assert_eq!(own_buffer(exact).as_ptr(), ptr, "no copy when exact");

        let mut spare = BytesMut::with_capacity(4096);
        spare.extend_from_slice(b"ab");
        let ptr = spare.as_ptr();
        let kept = own_buffer(spare);
        assert_eq!(kept.as_ref(), b"ab");
        assert_ne!(kept.as_ptr(), ptr, "a larger buffer is not kept");
    }
}
