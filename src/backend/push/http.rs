//! The HTTP client plumbing shared by the push clients: one pooled hyper
//! client per platform, a deadline on every exchange, and capped reply
//! bodies.
//!
//! The connector is plain TCP today. TLS (trusting `PUSHPROOF_CA_FILE`) slots
//! in by replacing [`Connector`] with a TLS-wrapping connector that offers
//! ALPN `h2` for APNs and `h2, http/1.1` for the others; nothing else here
//! changes.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::PushError;

/// How push clients reach the gateways.
pub(crate) type Connector = HttpConnector;

/// Largest reply body read from a gateway; error bodies are small JSON.
const MAX_REPLY: usize = 64 * 1024;

/// A gateway's answer, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A pooled client with a deadline on every request.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
}

fn connector(timeout: Duration) -> Connector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(timeout));
    connector.set_keepalive(Some(Duration::from_secs(60)));
    connector
}

impl HttpClient {
    /// HTTP/1.1 with a keep-alive pool large enough that a burst of
    /// concurrent pushes reuses its connections instead of reconnecting.
    pub(crate) fn http1(timeout: Duration) -> HttpClient {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(4096)
            .build(connector(timeout));
        HttpClient { client, timeout }
    }

    /// HTTP/2 only (prior knowledge on plaintext), multiplexing every push
    /// to a host over one connection, as APNs expects.
    pub(crate) fn http2(timeout: Duration) -> HttpClient {
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(600))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_while_idle(true)
            .http2_initial_stream_window_size(1 << 20)
            .http2_initial_connection_window_size(8 << 20)
            .build(connector(timeout));
        HttpClient { client, timeout }
    }

    /// Sends `request` and reads the reply, all within the deadline.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Result<Reply, PushError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| PushError::Transport(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_REPLY)
                .collect()
                .await
                .map_err(|e| PushError::Transport(format!("reading the reply: {e}")))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| PushError::Timeout(self.timeout))?
    }
}

/// An error and its causes on one line ("client error (Connect): tcp
/// connect error: Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
