//! The HTTP client plumbing shared by the push clients: the TLS
//! configuration, and a pooled hyper client (plaintext or TLS by the URL's
//! scheme, a deadline on every exchange, capped reply bodies) for WNS and
//! the token endpoints. APNs and FCM pushes go over HTTP/2 through
//! [`super::h2pool`].
//!
//! `https://` URLs are served by rustls (ring) through hyper-rustls, trusting
//! what [`Trust`] says: exactly the certificates of `PUSHPROOF_CA_FILE`, or
//! the platform's roots. `http://` URLs go over plain TCP as before. The TLS
//! configuration is built once per client; per request there is nothing
//! beyond the pool checkout, and per connection only the handshake.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{ConfigBuilderExt as _, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{ClientConfig, RootCertStore};
use tracing::warn;

use super::PushError;
use crate::config::Trust;

/// How push clients reach the gateways: TCP, wrapped in TLS for `https://`.
pub(crate) type Connector = HttpsConnector<HttpConnector>;

/// Largest reply body read from a gateway; error bodies are small JSON.
pub(crate) const MAX_REPLY: usize = 64 * 1024;

/// ALPN for APNs and FCM pushes, which go over HTTP/2 only.
pub(crate) const ALPN_H2: &[&[u8]] = &[b"h2"];
/// ALPN for FCM, WNS and the token endpoints, which speak both.
const ALPN_H2_HTTP1: &[&[u8]] = &[b"h2", b"http/1.1"];

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

fn connector(timeout: Duration, trust: &Trust, alpn: &[&[u8]]) -> Connector {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    // Let `https://` through to the TLS layer; `http://` stays plain.
    http.enforce_http(false);
    HttpsConnector::from((http, tls_config(trust, alpn)))
}

/// The rustls client configuration for one client: its trust anchors and
/// ALPN list, built once and shared by all its connections.
pub(crate) fn tls_config(trust: &Trust, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = match trust {
        Trust::NativeRoots => native_roots_config().clone(),
        Trust::CaFile { roots, .. } => builder()
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
        Trust::AnyCertificate => builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate::new()))
            .with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
}

/// The `insecure-gateway-tls` flaw's verifier: the handshake's signature
/// is checked (so the peer holds the certificate's key), the certificate
/// itself never is: any issuer, any name, any date.
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl AnyCertificate {
    fn new() -> AnyCertificate {
        AnyCertificate(rustls::crypto::ring::default_provider().signature_verification_algorithms)
    }
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A configuration trusting the platform's roots, read once per process:
/// every client without `PUSHPROOF_CA_FILE` starts from it. With none found
/// (a bare container), `https://` pushes fail as transport errors, counted
/// like any other failed push; plaintext gateways are unaffected.
fn native_roots_config() -> &'static ClientConfig {
    static CONFIG: OnceLock<ClientConfig> = OnceLock::new();
    CONFIG.get_or_init(|| match builder().with_native_roots() {
        Ok(builder) => builder.with_no_client_auth(),
        Err(error) => {
            warn!(%error, "no native root certificates: https:// gateways will be refused");
            builder()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        }
    })
}

impl HttpClient {
    /// For FCM, WNS and the token endpoints: HTTP/1.1 on plaintext, and
    /// over TLS whichever of `h2` and `http/1.1` the server picks by ALPN.
    ///
    /// `h2` is offered first because it keeps the pool fastest under TLS:
    /// every in-flight push multiplexes over one connection, so a burst
    /// costs one handshake instead of one per concurrent push (HTTP/1.1
    /// holds one request per connection, so N concurrent pushes would need
    /// N handshakes and N sets of TLS buffers), and HEADERS/DATA of many
    /// pushes share TLS records and syscalls. Measured against a local TLS
    /// server on two cores: on par with HTTP/1.1 at 64 pushes in flight,
    /// about a third more pushes per second at 1024. `http/1.1` stays
    /// offered for servers that do not speak HTTP/2; the keep-alive pool
    /// below serves them.
    pub(crate) fn http1_or_2(timeout: Duration, trust: &Trust) -> HttpClient {
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(4096)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_initial_stream_window_size(1 << 20)
            .http2_initial_connection_window_size(8 << 20)
            .build(connector(timeout, trust, ALPN_H2_HTTP1));
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

#[cfg(test)]
mod tests;
