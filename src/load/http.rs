//! The load generator's HTTP client: lean, because its CPU per request is
//! part of what a run reports.
//!
//! To a backend that speaks HTTP/2 without TLS (h2c, prior knowledge; the
//! reference backend does) it multiplexes every request over a few
//! connections; otherwise it keeps a pool of HTTP/1.1 keep-alive
//! connections. `auto` tries h2c once and falls back. Requests are built
//! from prepared parts (the credential header is built once per device),
//! answers are read whole up to a bound, and every call has a deadline: a
//! stalled backend yields [`CallError::Timeout`], counted, never a hung
//! sender.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderName, Method, Request, StatusCode};
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

/// A pooled client bound to one origin.
#[derive(Clone)]
pub struct Client {
    origin: String,
    pools: Vec<Pool<HttpConnector, Full<Bytes>>>,
    next: std::sync::Arc<AtomicUsize>,
    timeout: Duration,
    protocol: Protocol,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.origin)
            .field("protocol", &self.protocol)
            .field("connections", &self.pools.len())
            .finish()
    }
}

fn pool(h2c: bool) -> Pool<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let mut builder = Pool::builder(TokioExecutor::new());
    builder
        .pool_max_idle_per_host(4096)
        .pool_idle_timeout(Duration::from_secs(30));
    if h2c {
        builder
            .http2_only(true)
            .http2_max_concurrent_reset_streams(1024)
            .http2_initial_stream_window_size(1 << 20)
            .http2_initial_connection_window_size(8 << 20)
            .http2_adaptive_window(false);
    }
    builder.build(connector)
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
        let h2c = protocol == Protocol::H2c;
        let n = if h2c { connections.max(1) } else { 1 };
        Client {
            origin,
            pools: (0..n).map(|_| pool(h2c)).collect(),
            next: std::sync::Arc::new(AtomicUsize::new(0)),
            timeout,
            protocol,
        }
    }

    /// The protocol in use (never `Auto`).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub fn connections(&self) -> usize {
        self.pools.len()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Sends `request`; the status and body of the answer.
    pub async fn call(&self, request: &Prepared) -> Result<(StatusCode, Bytes), CallError> {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(format!("{}{}", self.origin, request.path_and_query));
        if let Some((name, value)) = &request.authorization {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(content_type) = request.content_type {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        let http_request = builder
            .body(Full::new(request.body.clone()))
            .map_err(|e| CallError::Request(e.to_string()))?;
        self.exchange(http_request, MAX_BODY, self.timeout).await
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
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.origin, path_and_query));
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| CallError::Request(e.to_string()))?;
        self.exchange(request, MAX_CALL_WITH_BODY, timeout).await
    }

    /// One exchange on the next connection in turn: the status and the
    /// body (at most `limit` bytes) within `timeout`.
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        limit: usize,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let pool = &self.pools[self.next.fetch_add(1, Ordering::Relaxed) % self.pools.len()];
        let exchange = async {
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
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| CallError::Timeout(timeout))?
    }
}

/// Whether `origin` answers an HTTP/2 prior-knowledge request at all.
async fn speaks_h2c(origin: &str, timeout: Duration) -> bool {
    let Ok(request) = Request::builder()
        .method(Method::GET)
        .uri(format!("{origin}/"))
        .body(Full::new(Bytes::new()))
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(timeout, pool(true).request(request)).await,
        Ok(Ok(_))
    )
}
