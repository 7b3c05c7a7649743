//! TLS clients for the tests: hyper over rustls, trusting exactly the CA
//! the gateways wrote.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{Harness, Reply};

/// Roots holding exactly the certificates of a PEM document.
pub fn roots(pem: &str) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A client configuration trusting only the CA file the gateways wrote
/// (`PUSHPROOF_CA_FILE`), offering `alpn` (nothing when empty).
pub fn trusting_ca_file(h: &Harness, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let pem = std::fs::read_to_string(h.var("PUSHPROOF_CA_FILE")).unwrap();
    client_config(roots(&pem), alpn)
}

pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS connection to `url`'s origin, verifying the certificate for
/// `name` (the URL's host when `None`).
pub async fn tls_connect(
    url: &str,
    name: Option<&str>,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let uri: http::Uri = url.parse().unwrap();
    let authority = uri.authority().unwrap();
    let stream = TcpStream::connect(authority.as_str()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let name = ServerName::try_from(name.unwrap_or(authority.host()).to_owned()).unwrap();
    TlsConnector::from(config).connect(name, stream).await
}

/// Which HTTP version the client speaks once TLS is up.
#[derive(Clone, Copy, Debug)]
pub enum Wire {
    H2,
    Http1,
}

/// Sends `request` on a fresh TLS connection with `config`, speaking
/// `wire`; returns the reply, the version it came back in and the ALPN
/// protocol the server chose.
pub async fn tls_send(
    config: Arc<ClientConfig>,
    wire: Wire,
    request: Request<Full<Bytes>>,
) -> (Reply, Version, Option<Vec<u8>>) {
    let url = request.uri().to_string();
    let stream = tls_connect(&url, None, config).await.unwrap();
    send_on(stream, wire, request).await
}

/// Sends `request` (whose URL may name any host) to `addr`, verifying the
/// certificate for `name` and sending it as the server name (SNI; none for
/// an IP address): how a client whose host name resolves to `addr` talks.
pub async fn tls_send_via(
    addr: std::net::SocketAddr,
    name: ServerName<'static>,
    config: Arc<ClientConfig>,
    wire: Wire,
    request: Request<Full<Bytes>>,
) -> (Reply, Version, Option<Vec<u8>>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let stream = TlsConnector::from(config)
        .connect(name, stream)
        .await
        .unwrap();
    send_on(stream, wire, request).await
}

async fn send_on(
    stream: TlsStream<TcpStream>,
    wire: Wire,
    mut request: Request<Full<Bytes>>,
) -> (Reply, Version, Option<Vec<u8>>) {
    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let io = TokioIo::new(stream);
    let response = match wire {
        Wire::H2 => {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(conn);
            sender.ready().await.unwrap();
            sender.send_request(request).await.unwrap()
        }
        Wire::Http1 => {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            let authority = request.uri().authority().unwrap().to_string();
            request
                .headers_mut()
                .insert(http::header::HOST, authority.parse().unwrap());
            let path = request.uri().path_and_query().unwrap().as_str().to_owned();
            *request.uri_mut() = path.parse().unwrap();
            sender.send_request(request).await.unwrap()
        }
    };
    let version = response.version();
    let (parts, body) = response.into_parts();
    let reply = Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
        ended_on_headers: false,
    };
    (reply, version, alpn)
}
