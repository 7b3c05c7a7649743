//! The harness's HTTP client for a backend's API, keeping every exchange.
//!
//! One pooled client (HTTP/1.1, and HTTP/2 by ALPN over TLS) serves the
//! whole fleet and every check. Every call has a deadline: a stalled
//! backend yields a [`ClientError::Timeout`] that the run records, never a
//! hung device. Each call returns the whole [`Exchange`] (request as sent,
//! answer as read), so a check's evidence shows exactly what happened.

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::profile::{Auth, Rendered, Scheme};

/// Largest response body the harness reads; a bigger one is an error.
const MAX_BODY: usize = 1 << 20;

/// How a simulated user authenticates to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A token, sent with the profile's header and prefix.
    Token(String),
    Basic {
        user: String,
        password: String,
    },
}

impl Credential {
    /// The header that carries it, as the profile's auth says.
    pub fn header(&self, auth: &Auth) -> Result<(HeaderName, HeaderValue), ClientError> {
        let bad = || ClientError::Request("the credential is not a valid header".into());
        let name = HeaderName::from_bytes(auth.header.as_bytes()).map_err(|_| bad())?;
        let text = match (self, &auth.scheme) {
            (
                Credential::Token(token),
                Scheme::Bearer { prefix } | Scheme::Static { prefix, .. },
            ) => {
                format!("{prefix}{token}")
            }
            (Credential::Token(token), Scheme::Basic { .. }) => format!("Bearer {token}"),
            (Credential::Basic { user, password }, scheme) => {
                let prefix = match scheme {
                    Scheme::Basic { prefix } => prefix.as_str(),
                    _ => "Basic ",
                };
                format!(
                    "{prefix}{}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
            }
        };
        Ok((name, HeaderValue::try_from(text).map_err(|_| bad())?))
    }

    /// The secret part, for scanning answers and pushes for it.
    pub fn secret(&self) -> &str {
        match self {
            Credential::Token(token) => token,
            Credential::Basic { password, .. } => password,
        }
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

/// One request as sent and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Bytes,
    pub outcome: Result<Reply, ClientError>,
    pub elapsed: Duration,
}

impl Exchange {
    pub fn reply(&self) -> Option<&Reply> {
        self.outcome.as_ref().ok()
    }

    pub fn status(&self) -> Option<u16> {
        self.reply().map(|r| r.status.as_u16())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        self.reply().and_then(Reply::json)
    }

    /// What went wrong, in a few words: the status, or the client error.
    pub fn describe(&self) -> String {
        match &self.outcome {
            Ok(reply) => format!("{} {} answered {}", self.method, self.url, reply.status),
            Err(e) => format!("{} {}: {e}", self.method, self.url),
        }
    }
}

/// A pooled client bound to one backend origin.
#[derive(Clone)]
pub struct BackendClient {
    origin: String,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl BackendClient {
    /// `origin` is `http(s)://host:port`; a trailing slash is dropped.
    pub fn new(origin: &str, timeout: Duration) -> BackendClient {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        // https:// origins (a backend behind a real certificate) are
        // verified against the platform's roots; none found means none
        // trusted, never "trust anything".
        // ring, named: with goose's reqwest in the build, rustls has two
        // providers compiled in and picks no default on its own.
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(builder) => builder
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(
                    rustls::ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .expect("ring supports the default protocol versions")
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http),
        };
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

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a rendered profile request with `auth`'s header for
    /// `credential`.
    pub async fn send(
        &self,
        request: &Rendered,
        auth: &Auth,
        credential: Option<&Credential>,
    ) -> Exchange {
        self.send_with(request, auth, credential, Vec::new()).await
    }

    /// [`BackendClient::send`] on a connection of its own, closed after
    /// the answer: for a request a backend may answer before reading its
    /// body (too large, wrong method), which can leave the connection
    /// unusable for whichever request takes it next.
    pub async fn send_alone(
        &self,
        request: &Rendered,
        auth: &Auth,
        credential: Option<&Credential>,
    ) -> Exchange {
        let close = vec![("connection".to_owned(), "close".to_owned())];
        self.send_with(request, auth, credential, close).await
    }

    async fn send_with(
        &self,
        request: &Rendered,
        auth: &Auth,
        credential: Option<&Credential>,
        mut headers: Vec<(String, String)>,
    ) -> Exchange {
        if let Some(content_type) = request.content_type {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        if let Some(credential) = credential {
            match credential.header(auth) {
                Ok((name, value)) => headers.push((
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )),
                Err(e) => {
                    return Exchange {
                        method: request.method.clone(),
                        url: format!("{}{}", self.origin, request.target),
                        request_headers: headers,
                        request_body: Bytes::from(request.body.clone()),
                        outcome: Err(e),
                        elapsed: Duration::ZERO,
                    }
                }
            }
        }
        self.raw(
            request.method.clone(),
            &request.target,
            headers,
            Bytes::from(request.body.clone()),
        )
        .await
    }

    /// Sends any request: `target` is a path and query (or a full URL),
    /// `headers` go as given. For probes no profile describes.
    pub async fn raw(
        &self,
        method: Method,
        target: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Exchange {
        let url = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_owned()
        } else {
            format!("{}{target}", self.origin)
        };
        let started = Instant::now();
        let mut exchange = Exchange {
            method: method.clone(),
            url: url.clone(),
            request_headers: headers,
            request_body: body.clone(),
            outcome: Err(ClientError::Request("not sent".into())),
            elapsed: Duration::ZERO,
        };
        let mut builder = Request::builder().method(method).uri(&url);
        for (name, value) in &exchange.request_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = match builder.body(Full::new(body)) {
            Ok(request) => request,
            Err(e) => {
                exchange.outcome = Err(ClientError::Request(e.to_string()));
                return exchange;
            }
        };
        let call = async {
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
        exchange.outcome = tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(ClientError::Timeout(self.timeout)));
        exchange.elapsed = started.elapsed();
        exchange
    }
}

/// An error and its causes on one line, each once: hyper's top-level
/// messages alone ("client error (Connect)") do not say what went wrong.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
