//! A small pool of HTTP/2 connections to one gateway (APNs, FCM), driven
//! through the `h2` crate directly.
//!
//! Why not the general-purpose client: a push is one small request and one
//! small answer, thousands of times a second. hyper's pooled client hands
//! every request to the connection's task over a channel and spawns a task
//! per request body; here the pushing task itself opens the stream, queues
//! HEADERS and DATA, and awaits the answer, so the connection's task only
//! moves bytes, and the frames of many concurrent pushes leave in one write.
//!
//! How many connections: as few as carry the load. A push goes on the
//! busiest connection that still has room, so traffic packs onto one
//! connection and its writes coalesce; "room" is the gateway's own
//! `MAX_CONCURRENT_STREAMS` (capped at [`Limits::streams_per_connection`]).
//! Only when every connection is full is another opened, up to
//! [`Limits::max_connections`]; past that, pushes queue on the least busy
//! connection, where `h2` holds them until a stream frees up. The gateway's
//! limit is obeyed throughout, including APNs's: one stream on a fresh
//! connection (a new connection assumes one until the server's SETTINGS
//! say otherwise), raised after the first accepted push, dropped back to
//! one after a rejection.
//!
//! Connections that die (the gateway closed them, a GOAWAY, a failed
//! keep-alive ping) leave the pool and the next push opens a new one. A
//! push that provably never reached the gateway (the connection was
//! already gone, `REFUSED_STREAM`, or beyond a GOAWAY's last stream) is
//! retried once on another connection; one that may have been delivered is
//! a failed push, never sent twice.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::{header, HeaderMap, HeaderValue, Method, Request, Uri};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::http::{tls_config, Reply, ALPN_H2, MAX_REPLY};
use super::PushError;
use crate::config::Trust;

/// How often an idle connection is checked with a PING, and how long its
/// answer may take before the connection is given up.
const PING_EVERY: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed connect, pushes fail fast for this long instead of each
/// trying again in turn.
const CONNECT_FAILURE_HOLD: Duration = Duration::from_millis(250);

/// How far the pool grows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections opened at most.
    pub max_connections: usize,
    /// Pushes in flight on one connection before another is opened, if the
    /// gateway allows that many streams (it usually allows more: APNs
    /// 1000). Spreads very high loads over several connections and cores.
    pub streams_per_connection: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4,
            streams_per_connection: 256,
        }
    }
}

/// Where the connections go.
struct Origin {
    /// Host name or address as given (an IPv6 address without brackets).
    host: String,
    port: u16,
    /// TLS with ALPN `h2` for `https://`; `None`: h2c with prior knowledge.
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// One open connection and the pushes in flight on it.
struct Conn {
    sender: SendRequest<Bytes>,
    in_flight: AtomicUsize,
    /// Set once the connection can take no more streams.
    closed: Arc<AtomicBool>,
}

impl Conn {
    /// Streams this connection may still open now.
    fn has_room(&self, limits: &Limits) -> bool {
        let allowed = self
            .sender
            .current_max_send_streams()
            .min(limits.streams_per_connection);
        self.in_flight.load(Ordering::Relaxed) < allowed
    }
}

/// A push's claim on a connection; gives its stream back when dropped.
struct Lease(Arc<Conn>);

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How an exchange failed.
enum Failure {
    /// The gateway never processed the request: safe to send again.
    Unsent(String),
    /// It may have: report it, never resend.
    Failed(String),
}

/// HTTP/2 connections to one origin. Cheap to share behind an `Arc`.
pub(crate) struct H2Pool {
    origin: Result<Origin, String>,
    limits: Limits,
    timeout: Duration,
    conns: Mutex<Vec<Arc<Conn>>>,
    /// One connect at a time; remembers the last failure.
    connecting: tokio::sync::Mutex<Option<(Instant, String)>>,
    builder: h2::client::Builder,
}

impl H2Pool {
    /// A pool for the origin of `url` (`http://` for h2c, `https://` for
    /// TLS trusting `trust`). A URL that cannot be used fails every push
    /// with the reason, rather than the start-up.
    pub(crate) fn new(url: &str, trust: &Trust, timeout: Duration, limits: Limits) -> H2Pool {
        let mut builder = h2::client::Builder::new();
        builder
            // Assume one stream until the gateway's SETTINGS say more, as
            // APNs requires of a fresh connection.
            .initial_max_send_streams(1)
            .initial_window_size(1 << 20)
            .initial_connection_window_size(8 << 20);
        H2Pool {
            origin: origin(url, trust),
            limits,
            timeout,
            conns: Mutex::new(Vec::new()),
            connecting: tokio::sync::Mutex::new(None),
            builder,
        }
    }

    /// POSTs `body` to `uri` with `headers`, and reads the answer, all
    /// within the pool's deadline (connecting included).
    pub(crate) async fn post(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Reply, PushError> {
        let exchange = async {
            let mut retried = false;
            loop {
                let lease = self.checkout().await?;
                match exchange(&lease.0, uri, headers, body.clone()).await {
                    Ok(reply) => return Ok(reply),
                    Err(Failure::Unsent(why)) if !retried => {
                        tracing::debug!(reason = %why, "push not taken by the connection; retrying");
                        lease.0.closed.store(true, Ordering::Relaxed);
                        retried = true;
                    }
                    Err(Failure::Unsent(why) | Failure::Failed(why)) => {
                        return Err(PushError::Transport(why))
                    }
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| PushError::Timeout(self.timeout))?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Conn>>> {
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection for one push: the busiest with room; or, with `any`
    /// (or once the pool is full grown), the least busy of all.
    fn pick(&self, any: bool) -> Option<Lease> {
        let mut conns = self.lock();
        conns.retain(|c| !c.closed.load(Ordering::Relaxed));
        let busy = |c: &&Arc<Conn>| c.in_flight.load(Ordering::Relaxed);
        let chosen = conns
            .iter()
            .filter(|c| c.has_room(&self.limits))
            .max_by_key(busy)
            .or_else(|| {
                (any || conns.len() >= self.limits.max_connections)
                    .then(|| conns.iter().min_by_key(busy))
                    .flatten()
            })?;
        chosen.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Lease(Arc::clone(chosen)))
    }

    async fn checkout(&self) -> Result<Lease, PushError> {
        if let Some(lease) = self.pick(false) {
            return Ok(lease);
        }
        // Every connection is full, or there is none: open one more, one
        // opener at a time. While another push is opening one, queue on an
        // existing connection rather than wait, if there is any.
        let mut last_failure = match self.connecting.try_lock() {
            Ok(gate) => gate,
            Err(_) => {
                if let Some(lease) = self.pick(true) {
                    return Ok(lease);
                }
                self.connecting.lock().await
            }
        };
        if let Some(lease) = self.pick(false) {
            return Ok(lease);
        }
        if let Some((at, error)) = last_failure.as_ref() {
            if at.elapsed() < CONNECT_FAILURE_HOLD {
                return Err(PushError::Transport(error.clone()));
            }
        }
        match self.connect().await {
            Ok(conn) => {
                *last_failure = None;
                conn.in_flight.fetch_add(1, Ordering::Relaxed);
                let lease = Lease(Arc::clone(&conn));
                self.lock().push(conn);
                Ok(lease)
            }
            Err(error) => {
                *last_failure = Some((Instant::now(), error.clone()));
                // Keep pushing over the connections there are.
                self.pick(true).ok_or(PushError::Transport(error))
            }
        }
    }

    /// Opens a connection and starts the task that drives it.
    async fn connect(&self) -> Result<Arc<Conn>, String> {
        let origin = self.origin.as_ref().map_err(Clone::clone)?;
        let tcp = TcpStream::connect((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", origin.host, origin.port))?;
        // Small frames, sent at once: Nagle only adds latency.
        let _ = tcp.set_nodelay(true);
        let closed = Arc::new(AtomicBool::new(false));
        let sender = match &origin.tls {
            None => self.handshake(tcp, &closed).await?,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", origin.host))?;
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err(format!("{} did not agree to HTTP/2 (ALPN)", origin.host));
                }
                self.handshake(tls, &closed).await?
            }
        };
        Ok(Arc::new(Conn {
            sender,
            in_flight: AtomicUsize::new(0),
            closed,
        }))
    }

    async fn handshake<T>(
        &self,
        io: T,
        closed: &Arc<AtomicBool>,
    ) -> Result<SendRequest<Bytes>, String>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, mut connection) = self
            .builder
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        let pings = connection.ping_pong();
        let done = Arc::clone(closed);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "gateway connection ended");
            }
            done.store(true, Ordering::Relaxed);
        });
        if let Some(pings) = pings {
            tokio::spawn(keep_alive(pings, Arc::clone(closed)));
        }
        Ok(sender)
    }

    #[cfg(test)]
    pub(crate) fn open_connections(&self) -> usize {
        let mut conns = self.lock();
        conns.retain(|c| !c.closed.load(Ordering::Relaxed));
        conns.len()
    }
}

/// Pings the gateway every [`PING_EVERY`]; a ping unanswered in time takes
/// the connection out of the pool (a silently dead peer would otherwise
/// hold pushes until their deadline).
async fn keep_alive(mut pings: h2::PingPong, closed: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(PING_EVERY).await;
        if closed.load(Ordering::Relaxed) {
            return;
        }
        let answered = tokio::time::timeout(PING_TIMEOUT, pings.ping(h2::Ping::opaque())).await;
        if !matches!(answered, Ok(Ok(_))) {
            tracing::debug!("gateway connection failed its keep-alive ping");
            closed.store(true, Ordering::Relaxed);
            return;
        }
    }
}

/// One request and its answer on `conn`.
async fn exchange(
    conn: &Conn,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Reply, Failure> {
    let mut request = Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers.clone();
    request
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let unsent = |e: h2::Error| Failure::Unsent(e.to_string());
    let mut sender = conn.sender.clone().ready().await.map_err(unsent)?;
    let (response, mut stream) = sender
        .send_request(request, body.is_empty())
        .map_err(unsent)?;
    if !body.is_empty() {
        stream.send_data(body, true).map_err(unsent)?;
    }
    let response = response.await.map_err(classify)?;
    let (parts, mut received) = response.into_parts();
    let mut body = BytesMut::new();
    while let Some(chunk) = received.data().await {
        let chunk = chunk.map_err(classify)?;
        let _ = received.flow_control().release_capacity(chunk.len());
        if body.len() + chunk.len() > MAX_REPLY {
            return Err(Failure::Failed(format!(
                "the gateway's answer is over {MAX_REPLY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.freeze(),
    })
}

/// Whether a stream error means the gateway never processed the request:
/// refused streams (RFC 9113 §8.7) and streams beyond a GOAWAY's last
/// stream id.
fn classify(error: h2::Error) -> Failure {
    let unprocessed = error.reason() == Some(h2::Reason::REFUSED_STREAM)
        || (error.is_go_away() && error.is_remote());
    if unprocessed {
        Failure::Unsent(error.to_string())
    } else {
        Failure::Failed(error.to_string())
    }
}

fn origin(url: &str, trust: &Trust) -> Result<Origin, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("gateway URL {url:?}: {e}"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("gateway URL {url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls = match uri.scheme_str() {
        Some("http") => None,
        Some("https") => {
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("gateway host {host:?}: {e}"))?;
            Some((TlsConnector::from(tls_config(trust, ALPN_H2)), name))
        }
        _ => return Err(format!("gateway URL {url:?} is not http:// or https://")),
    };
    let port = uri
        .port_u16()
        .unwrap_or(if tls.is_some() { 443 } else { 80 });
    Ok(Origin { host, port, tls })
}

#[cfg(test)]
mod tests;
