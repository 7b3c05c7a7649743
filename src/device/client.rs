//! The harness's HTTP client for a backend's API.
//!
//! One pooled HTTP/1.1 client serves the whole fleet, as the backend's API is
//! plain HTTP/1.1 in the tutorial shape. Every call has a deadline: a stalled
//! backend yields a [`ClientError::Timeout`] that the run counts, never a
//! hung device.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// Largest response body the harness reads; a bigger one is an error.
const MAX_BODY: usize = 1 << 20;

/// How a simulated user authenticates to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Bearer(String),
    Basic { user: String, password: String },
}

impl Credential {
    fn header_value(&self) -> Result<HeaderValue, ClientError> {
        let text = match self {
            Credential::Bearer(token) => format!("Bearer {token}"),
            Credential::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
        };
        HeaderValue::try_from(text)
            .map_err(|_| ClientError::Request("credential is not a valid header".into()))
    }
}

/// A backend's answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("transport: {0}")]
    Transport(String),
    #[error("bad request: {0}")]
    Request(String),
}

/// One step of a device's journey that did not succeed, named so a report
/// says where it went wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    #[error("{step}: {source}")]
    Client {
        step: &'static str,
        source: ClientError,
    },
    #[error("{step}: backend answered {status}")]
    Status {
        step: &'static str,
        status: StatusCode,
    },
}

/// A pooled client bound to one backend origin.
#[derive(Clone)]
pub struct BackendClient {
    origin: String,
    http: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl BackendClient {
    /// `origin` is `http://host:port`, without a trailing slash.
    pub fn new(origin: &str, timeout: Duration) -> BackendClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(connector);
        BackendClient {
            origin: origin.trim_end_matches('/').to_owned(),
            http,
            timeout,
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Sends one request; `json` is sent as `application/json`.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        credential: Option<&Credential>,
        json: Option<&serde_json::Value>,
    ) -> Result<Reply, ClientError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.origin, path_and_query));
        if let Some(credential) = credential {
            builder = builder.header(http::header::AUTHORIZATION, credential.header_value()?);
        }
        let body = match json {
            Some(value) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(
                    serde_json::to_vec(value).map_err(|e| ClientError::Request(e.to_string()))?,
                )
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(body))
            .map_err(|e| ClientError::Request(e.to_string()))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ClientError::Transport(error_chain(&e)))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| ClientError::Transport(format!("reading body: {e}")))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }
}

impl BackendClient {
    /// Like [`BackendClient::call`], for a step that must succeed: any
    /// answer but a 2xx or one of `also_fine` is a [`StepError`].
    pub async fn step(
        &self,
        step: &'static str,
        method: Method,
        path_and_query: &str,
        credential: Option<&Credential>,
        json: Option<&serde_json::Value>,
        also_fine: &[StatusCode],
    ) -> Result<Reply, StepError> {
        let reply = self
            .call(method, path_and_query, credential, json)
            .await
            .map_err(|source| StepError::Client { step, source })?;
        if reply.status.is_success() || also_fine.contains(&reply.status) {
            Ok(reply)
        } else {
            Err(StepError::Status {
                step,
                status: reply.status,
            })
        }
    }
}

/// An error and its causes on one line: hyper's top-level messages alone
/// ("client error (Connect)") do not say what went wrong.
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
