//! The load generator's HTTP client: lean, because its CPU per request is
//! part of what a run reports.
//!
//! To a backend that speaks HTTP/2 without TLS (h2c, prior knowledge; the
//! reference backend does) it multiplexes every request over a few
//! connections driven through `h2` directly: a request is a HEADERS frame
//! (and a DATA frame) queued on the connection, no task of its own and no
//! pool checkout. The connections take turns by the millisecond, so the
//! requests one tick of the driver's clock makes go out in one write.
//! Otherwise it keeps a pool of HTTP/1.1 keep-alive connections. `auto`
//! tries h2c once and falls back. Requests are built from prepared parts
//! (the credential header is built once per device), answers are read
//! whole up to a bound, and every call has a deadline: a stalled backend
//! yields [`CallError::Timeout`], counted, never a hung sender. A
//! connection that fails is dropped and the next call on its slot opens a
//! new one.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::FutureExt as _;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderName, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client as Pool};
use hyper_util::rt::TokioExecutor;

use crate::client::error_chain;

/// Largest answer body read.
const MAX_BODY: usize = 1 << 20;
/// Largest answer body read by [`Client::call_with`]: a control API's
/// pages of captures run larger than any backend answer.
const MAX_CALL_WITH_BODY: usize = 64 << 20;

/// How to speak to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// h2c if the backend answers it, else HTTP/1.1.
    #[default]
    Auto,
    H2c,
    Http1,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Auto => "auto",
            Protocol::H2c => "h2c",
            Protocol::Http1 => "http1",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s {
            "auto" => Ok(Protocol::Auto),
            "h2c" | "h2" | "http2" => Ok(Protocol::H2c),
            "http1" | "h1" | "http1.1" => Ok(Protocol::Http1),
            _ => Err(format!("{s:?} is not auto, h2c or http1")),
        }
    }
}

/// A request ready to go: everything but the origin.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: Method,
    pub path_and_query: String,
    /// The credential header (the profile names it; `authorization` by default).
    pub authorization: Option<(HeaderName, HeaderValue)>,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

/// Why a call has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("transport: {0}")]
    Transport(String),
    #[error("bad request: {0}")]
    Request(String),
}

/// A client bound to one origin.
#[derive(Clone)]
pub struct Client {
    origin: String,
    transport: Arc<Transport>,
    /// When the client was made: the connection of a request is the
    /// millisecond since, in turn.
    epoch: std::time::Instant,
    timeout: Duration,
    protocol: Protocol,
}

/// How a client's requests travel.
enum Transport {
    /// h2c connections, taking turns by the millisecond.
    H2 {
        scheme: Scheme,
        authority: Authority,
        slots: Vec<H2Slot>,
    },
    /// hyper's pool of HTTP/1.1 keep-alive connections.
    Http1(Box<Pool<HttpConnector, Full<Bytes>>>),
}

/// One h2c connection, opened on first use and again after it fails.
#[derive(Default)]
struct H2Slot {
    open: std::sync::Mutex<Option<h2::client::SendRequest<Bytes>>>,
    /// Held while connecting, so that the calls waiting meanwhile share
    /// the one connection instead of each opening its own.
    connecting: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.origin)
            .field("protocol", &self.protocol)
            .field("connections", &self.connections())
            .finish()
    }
}

fn http1_pool() -> Pool<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Pool::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4096)
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

impl Client {
    /// A client for `origin` (`http://host:port`). `connections` is the
    /// number of HTTP/2 connections to spread requests over (HTTP/1.1
    /// opens as many as requests in flight need). `Auto` asks the backend
    /// once whether it speaks h2c.
    pub async fn connect(
        origin: &str,
        protocol: Protocol,
        connections: usize,
        timeout: Duration,
    ) -> Client {
        let origin = origin.trim_end_matches('/').to_owned();
        let protocol = match protocol {
            Protocol::Auto => {
                if speaks_h2c(&origin, timeout.min(Duration::from_secs(3))).await {
                    Protocol::H2c
                } else {
                    Protocol::Http1
                }
            }
            p => p,
        };
        let h2_parts = (protocol == Protocol::H2c)
            .then(|| origin.parse::<Uri>().ok())
            .flatten()
            .and_then(|uri| Some((uri.scheme()?.clone(), uri.authority()?.clone())));
        let transport = match h2_parts {
            Some((scheme, authority)) => Transport::H2 {
                scheme,
                authority,
                slots: (0..connections.max(1)).map(|_| H2Slot::default()).collect(),
            },
            // An origin that is no URI fails each call, as hyper's pool does.
            None => Transport::Http1(Box::new(http1_pool())),
        };
        Client {
            origin,
            transport: Arc::new(transport),
            epoch: std::time::Instant::now(),
            timeout,
            protocol,
        }
    }

    /// The protocol in use (never `Auto`).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub fn connections(&self) -> usize {
        match &*self.transport {
            Transport::H2 { slots, .. } => slots.len(),
            Transport::Http1(_) => 1,
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Sends `request`; the status and body of the answer.
    pub async fn call(&self, request: &Prepared) -> Result<(StatusCode, Bytes), CallError> {
        let mut headers = HeaderMap::with_capacity(2);
        if let Some((name, value)) = &request.authorization {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(content_type) = request.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        self.exchange(
            request.method.clone(),
            &request.path_and_query,
            headers,
            request.body.clone(),
            MAX_BODY,
            self.timeout,
        )
        .await
    }

    /// Sends a request with headers of its own, spread over the
    /// connections like [`Client::call`] (control APIs, and the bare
    /// server's pushes, which carry several headers each).
    pub async fn call_with(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let mut map = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            map.append(name.clone(), value.clone());
        }
        self.exchange(
            method,
            path_and_query,
            map,
            body,
            MAX_CALL_WITH_BODY,
            timeout,
        )
        .await
    }

    /// One exchange (on the next connection in turn, over h2c): the status
    /// and the body (at most `limit` bytes) within `timeout`.
    ///
    /// Over h2c the request is built and queued on its connection before
    /// the first wait, so what stays in flight is little more than h2's
    /// handle on the answer: the future of a request is moved and kept for
    /// every request in flight, and its size is CPU time.
    async fn exchange(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        limit: usize,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (authority, slots, request) = match &*self.transport {
            Transport::H2 {
                scheme,
                authority,
                slots,
            } => (
                authority,
                slots,
                h2_request(scheme, authority, method, path_and_query, headers)?,
            ),
            // Boxed: hyper's pool future is large, and a future is as
            // large as its largest branch.
            Transport::Http1(pool) => {
                let exchange = Box::pin(self.exchange_http1(
                    pool,
                    method,
                    path_and_query,
                    headers,
                    body,
                    limit,
                ));
                return tokio::time::timeout_at(deadline, exchange)
                    .await
                    .map_err(|_| CallError::Timeout(timeout))?;
            }
        };
        // One connection per millisecond, in turn: the requests of one
        // tick of the driver's clock share a write, and over time the
        // connections share the load.
        let turn = usize::try_from(self.epoch.elapsed().as_millis()).unwrap_or(0);
        let slot = &slots[turn % slots.len()];
        let response = match slot.start_now(request, body) {
            Started::Sent(response) => response,
            Started::Failed(error) => return Err(error),
            // No connection yet (or it failed): open one. Boxed, as rare.
            Started::NotNow(waiting) => {
                let (request, body) = *waiting;
                tokio::time::timeout_at(deadline, Box::pin(slot.start(authority, request, body)))
                    .await
                    .map_err(|_| CallError::Timeout(timeout))??
            }
        };
        tokio::time::timeout_at(deadline, slot.answer(response, limit))
            .await
            .map_err(|_| CallError::Timeout(timeout))?
    }

    async fn exchange_http1(
        &self,
        pool: &Pool<HttpConnector, Full<Bytes>>,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        limit: usize,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = format!("{}{path_and_query}", self.origin)
            .parse()
            .map_err(|e: http::uri::InvalidUri| CallError::Request(e.to_string()))?;
        *request.headers_mut() = headers;
        let response = pool
            .request(request)
            .await
            .map_err(|e| CallError::Transport(error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| CallError::Transport(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((parts.status, body))
    }
}

impl H2Slot {
    /// A handle on this slot's connection, opening one if it has none.
    async fn sender(
        &self,
        authority: &Authority,
    ) -> Result<h2::client::SendRequest<Bytes>, CallError> {
        if let Some(send) = self.current() {
            return Ok(send);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(send) = self.current() {
            return Ok(send);
        }
        // Boxed: the connect and handshake futures are large and rare;
        // every request's future would carry their size.
        let send = Box::pin(open_h2(authority)).await?;
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = Some(send.clone());
        Ok(send)
    }

    fn current(&self) -> Option<h2::client::SendRequest<Bytes>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops the connection after a failure of its own (not of one
    /// stream), so the next call opens another.
    fn forget(&self, error: &h2::Error) {
        if error.is_io() || error.is_go_away() || error.reason().is_none() {
            *self.open.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    /// Queues `request` on the open connection, if there is one.
    fn start_now(&self, request: Request<()>, body: Bytes) -> Started {
        let Some(send) = self.current() else {
            return Started::NotNow(Box::new((request, body)));
        };
        // A fresh handle is ready at once unless the connection is gone:
        // streams beyond the server's limit wait in h2's own queue.
        match send.ready().now_or_never() {
            Some(Ok(send)) => match self.send_on(send, request, body) {
                Ok(response) => Started::Sent(response),
                Err(error) => Started::Failed(error),
            },
            Some(Err(error)) => {
                self.forget(&error);
                Started::NotNow(Box::new((request, body)))
            }
            None => Started::NotNow(Box::new((request, body))),
        }
    }

    /// Queues `request`, opening the connection first if need be.
    async fn start(
        &self,
        authority: &Authority,
        request: Request<()>,
        body: Bytes,
    ) -> Result<h2::client::ResponseFuture, CallError> {
        let send = self.sender(authority).await?;
        let send = send.ready().await.map_err(|e| self.failed(e))?;
        self.send_on(send, request, body)
    }

    fn send_on(
        &self,
        mut send: h2::client::SendRequest<Bytes>,
        request: Request<()>,
        body: Bytes,
    ) -> Result<h2::client::ResponseFuture, CallError> {
        let end_of_stream = body.is_empty();
        let (response, mut stream) = send
            .send_request(request, end_of_stream)
            .map_err(|e| self.failed(e))?;
        if !end_of_stream {
            stream.send_data(body, true).map_err(|e| self.failed(e))?;
        }
        Ok(response)
    }

    fn failed(&self, error: h2::Error) -> CallError {
        self.forget(&error);
        CallError::Transport(error_chain(&error))
    }

    /// The answer's status and body (at most `limit` bytes).
    async fn answer(
        &self,
        response: h2::client::ResponseFuture,
        limit: usize,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let response = response.await.map_err(|e| self.failed(e))?;
        let status = response.status();
        let mut recv = response.into_body();
        // Most answers are one DATA frame: kept as it came, no copy.
        let mut first: Option<Bytes> = None;
        let mut rest = BytesMut::new();
        while let Some(chunk) = recv.data().await {
            let chunk =
                chunk.map_err(|e| CallError::Transport(format!("reading the answer: {e}")))?;
            let _ = recv.flow_control().release_capacity(chunk.len());
            let length = first.as_ref().map_or(0, Bytes::len) + rest.len() + chunk.len();
            if length > limit {
                return Err(CallError::Transport(format!(
                    "reading the answer: longer than {limit} bytes"
                )));
            }
            match &first {
                None => first = Some(chunk),
                Some(head) => {
                    if rest.is_empty() {
                        rest.extend_from_slice(head);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        let body = if rest.is_empty() {
            first.unwrap_or_default()
        } else {
            rest.freeze()
        };
        Ok((status, body))
    }
}

/// How queuing a request without waiting went.
enum Started {
    Sent(h2::client::ResponseFuture),
    Failed(CallError),
    /// Not now: the request back, for the path that waits (boxed: the
    /// common answer is the small one).
    NotNow(Box<(Request<()>, Bytes)>),
}

/// An h2 request for `path_and_query` on the origin.
fn h2_request(
    scheme: &Scheme,
    authority: &Authority,
    method: Method,
    path_and_query: &str,
    headers: HeaderMap,
) -> Result<Request<()>, CallError> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme.clone());
    parts.authority = Some(authority.clone());
    parts.path_and_query = Some(
        PathAndQuery::try_from(path_and_query).map_err(|e| CallError::Request(e.to_string()))?,
    );
    let uri = Uri::from_parts(parts).map_err(|e| CallError::Request(e.to_string()))?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Opens an h2c connection (prior knowledge) to `authority` and runs it on
/// the current runtime.
async fn open_h2(authority: &Authority) -> Result<h2::client::SendRequest<Bytes>, CallError> {
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let tcp = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| CallError::Transport(format!("connecting to {address}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(8 << 20)
        .max_concurrent_reset_streams(1024)
        .handshake::<_, Bytes>(tcp)
        .await
        .map_err(|e| CallError::Transport(format!("HTTP/2 handshake with {address}: {e}")))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "an h2c connection of the load client ended");
        }
    });
    Ok(send)
}

/// Whether `origin` answers an HTTP/2 prior-knowledge request at all.
async fn speaks_h2c(origin: &str, timeout: Duration) -> bool {
    let Some((scheme, authority)) = origin
        .parse::<Uri>()
        .ok()
        .and_then(|uri| Some((uri.scheme()?.clone(), uri.authority()?.clone())))
    else {
        return false;
    };
    let probe = async {
        let request = h2_request(&scheme, &authority, Method::GET, "/", HeaderMap::new()).ok()?;
        let mut send = open_h2(&authority).await.ok()?.ready().await.ok()?;
        let (response, _) = send.send_request(request, true).ok()?;
        response.await.ok()
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Some(_)))
}
