//! The push clients over TLS, against a throwaway gateway made here (rcgen
//! CA, tokio-rustls, hyper), never the mocks: the backend knows nothing of
//! them. Trusting `PUSHPROOF_CA_FILE` delivers; a CA file of another CA, or
//! a certificate for another host name, gives a failed push, not a panic.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::{test_keys, Config};
use crate::push::{Platform, Push, PushError, PushOutcome, Pushers};

/// A CA that can issue server certificates.
struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "throwaway test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    fn write_pem(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).unwrap();
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    fn issue(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }
}

/// A TLS gateway answering like APNs (`/3/device/…`), the WNS token
/// endpoint (`/accesstoken.srf`) and a WNS channel (`/?token=…`), and
/// noting the HTTP version of every request it gets.
struct Gateway {
    addr: SocketAddr,
    versions: Arc<Mutex<Vec<Version>>>,
}

impl Gateway {
    async fn start(ca: &TestCa, names: &[&str]) -> Gateway {
        let (chain, key) = ca.issue(names);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let versions = Arc::new(Mutex::new(Vec::new()));
        let seen = versions.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(move |request: Request<Incoming>| {
                        seen.lock().unwrap().push(request.version());
                        async move {
                            // Read the body as a gateway does: answering
                            // before it makes the server reset the stream.
                            let (parts, body) = request.into_parts();
                            let _ = body.collect().await;
                            Ok::<_, Infallible>(answer(parts.uri.path()))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Gateway { addr, versions }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn versions(&self) -> Vec<Version> {
        self.versions.lock().unwrap().clone()
    }
}

fn answer(path: &str) -> Response<Full<Bytes>> {
    let response = Response::builder();
    if path.starts_with("/3/device/") {
        return response
            .header("apns-id", "6a1e3f4c-2b5d-4e8f-9a0b-1c2d3e4f5a6b")
            .body(Full::default())
            .unwrap();
    }
    if path == "/accesstoken.srf" {
        let token = r#"{"access_token":"t0k3n","token_type":"bearer","expires_in":86400}"#;
        return response
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(token.as_bytes())))
            .unwrap();
    }
    response
        .header("x-wns-status", "received")
        .body(Full::default())
        .unwrap()
}

/// The backend configured as the harness would: APNs and WNS at
/// `gateway_url`, trusting the PEM at `ca_file`.
fn config(dir: &Path, gateway_url: &str, ca_file: &Path) -> Config {
    let p8 = dir.join("AuthKey.p8");
    std::fs::write(&p8, test_keys::EC_P8).unwrap();
    let vars = [
        ("PUSHPROOF_CA_FILE", ca_file.display().to_string()),
        ("PUSHPROOF_APNS_URL", gateway_url.to_owned()),
        ("PUSHPROOF_APNS_KEY_FILE", p8.display().to_string()),
        ("PUSHPROOF_APNS_KEY_ID", "KEYID12345".to_owned()),
        ("PUSHPROOF_APNS_TEAM_ID", "TEAM123456".to_owned()),
        ("PUSHPROOF_APNS_TOPIC", "com.example.app".to_owned()),
        (
            "PUSHPROOF_WNS_TOKEN_URL",
            format!("{gateway_url}/accesstoken.srf"),
        ),
        ("PUSHPROOF_WNS_CLIENT_ID", "ms-app://s-1-15-2-1".to_owned()),
        ("PUSHPROOF_WNS_CLIENT_SECRET", "secret".to_owned()),
    ];
    Config::from_vars(dir.join("db"), |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

async fn push_both(pushers: &Pushers, gateway_url: &str) -> (PushOutcome, PushOutcome) {
    let apns = pushers
        .send(
            Platform::Apns,
            Push {
                handle: &"ab".repeat(32),
                id: "n-1",
                leaked: None,
                ttl_s: Some(60),
            },
        )
        .await;
    let channel = format!("{gateway_url}/?token=abc");
    let wns = pushers
        .send(
            Platform::Wns,
            Push {
                handle: &channel,
                id: "n-2",
                leaked: None,
                ttl_s: Some(60),
            },
        )
        .await;
    (apns, wns)
}

/// The error of a failed push, or a panic naming what came instead.
fn failure(outcome: PushOutcome) -> PushError {
    match outcome {
        PushOutcome::Failed(error) => error,
        other => panic!("expected a failed push, got {other:?}"),
    }
}

#[tokio::test]
async fn pushes_over_tls_trusting_the_ca_file_are_delivered_over_h2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    ca.write_pem(&ca_file);
    let gateway = Gateway::start(&ca, &["localhost", "127.0.0.1"]).await;

    let pushers = Pushers::new(&config(dir.path(), &gateway.url(), &ca_file));
    let (apns, wns) = push_both(&pushers, &gateway.url()).await;
    assert!(matches!(apns, PushOutcome::Delivered), "{apns:?}");
    assert!(matches!(wns, PushOutcome::Delivered), "{wns:?}");
    // APNs push, WNS token, WNS push: all chose h2 by ALPN.
    assert_eq!(gateway.versions(), [Version::HTTP_2; 3]);
}

#[tokio::test]
async fn a_ca_file_of_another_ca_fails_the_push() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("other-ca.pem");
    TestCa::new().write_pem(&ca_file);
    let gateway = Gateway::start(&TestCa::new(), &["localhost", "127.0.0.1"]).await;

    let pushers = Pushers::new(&config(dir.path(), &gateway.url(), &ca_file));
    let (apns, wns) = push_both(&pushers, &gateway.url()).await;
    let apns = failure(apns);
    assert!(matches!(apns, PushError::Transport(_)), "{apns}");
    assert!(apns.to_string().contains("certificate"), "{apns}");
    // WNS fails at its token endpoint, on the same certificate.
    let wns = failure(wns);
    assert!(wns.to_string().contains("certificate"), "{wns}");
    assert!(gateway.versions().is_empty(), "no request got through");
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    ca.write_pem(&ca_file);
    // Signed by the trusted CA, but not for the address the backend dials.
    let gateway = Gateway::start(&ca, &["gateway.invalid"]).await;

    let pushers = Pushers::new(&config(dir.path(), &gateway.url(), &ca_file));
    let (apns, wns) = push_both(&pushers, &gateway.url()).await;
    let apns = failure(apns);
    assert!(apns.to_string().contains("certificate"), "{apns}");
    failure(wns);
    assert!(gateway.versions().is_empty(), "no request got through");
}

#[tokio::test]
async fn the_insecure_gateway_tls_flaw_accepts_any_ca_and_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("other-ca.pem");
    TestCa::new().write_pem(&ca_file);
    // Another CA, and a name the backend does not dial: refused above.
    let gateway = Gateway::start(&TestCa::new(), &["gateway.invalid"]).await;

    let mut config = config(dir.path(), &gateway.url(), &ca_file);
    config.trust = crate::config::Trust::AnyCertificate;
    let pushers = Pushers::new(&config);
    let (apns, wns) = push_both(&pushers, &gateway.url()).await;
    assert!(matches!(apns, PushOutcome::Delivered), "{apns:?}");
    assert!(matches!(wns, PushOutcome::Delivered), "{wns:?}");
}
