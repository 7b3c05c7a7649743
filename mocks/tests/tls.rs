//! The gateways over TLS, spoken to by hyper + rustls clients that trust
//! only the CA file the gateways wrote: APNs with and without ALPN, FCM and
//! WNS by every ALPN choice, the certificate's names, clients that refuse
//! the CA, garbage instead of a ClientHello, and a CA kept across runs.

#![allow(clippy::unwrap_used)]

mod support;

use support::tls::*;

use http::{Request, StatusCode, Version};
use pushproof_mocks::{BadCertificate, GatewayConfig, Platform, TlsSettings};
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const H2: &[u8] = b"h2";
const HTTP1: &[u8] = b"http/1.1";

async fn tls_harness() -> Harness {
    Harness::with_config(GatewayConfig {
        tls: Some(TlsSettings::default()),
        ..GatewayConfig::default()
    })
    .await
}

fn version_of(wire: Wire) -> Version {
    match wire {
        Wire::H2 => Version::HTTP_2,
        Wire::Http1 => Version::HTTP_11,
    }
}

/// A valid APNs push to a fresh device, sent over TLS with `alpn`.
async fn apns_push_over_tls(h: &Harness, alpn: &[&[u8]]) -> Option<Vec<u8>> {
    let device = h.gw.register_device(Platform::Apns);
    let request = apns_request(h, &device.handle, &apns_jwt(h))
        .body(body(ALERT))
        .unwrap();
    let (reply, version, chosen) = tls_send(trusting_ca_file(h, alpn), Wire::H2, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(version, Version::HTTP_2);
    assert!(h.gw.inbox(&device).unwrap().try_recv().is_some());
    chosen
}

#[tokio::test]
async fn tls_mode_serves_https_urls_and_writes_the_ca() {
    let h = tls_harness().await;
    let ca_pem = h.gw.ca_pem().expect("TLS mode has a CA");
    assert_eq!(
        std::fs::read_to_string(h.var("PUSHPROOF_CA_FILE")).unwrap(),
        ca_pem
    );
    for url in [
        h.gw.apns_url(),
        h.gw.fcm_url(),
        h.gw.fcm_token_url(),
        h.gw.wns_url(),
        h.gw.wns_token_url(),
        service_account(&h)["token_uri"]
            .as_str()
            .unwrap()
            .to_owned(),
        h.gw.register_device(Platform::Wns).handle,
    ] {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    }

    // The hub's connection string says https (the SDKs' reading of sb://)
    // over TLS, and says that the plaintext hub is an emulator's.
    assert!(h.gw.hub().url().starts_with("https://"));
    let emulator = ";UseDevelopmentEmulator=true";
    assert!(!h.var("PUSHPROOF_NH_CONNECTION_STRING").contains(emulator));

    let plain = Harness::start().await;
    assert!(plain.gw.ca_pem().is_none());
    assert!(plain.env.get("PUSHPROOF_CA_FILE").is_none());
    assert!(plain.gw.apns_url().starts_with("http://"));
    assert!(plain.gw.hub().url().starts_with("http://"));
    assert!(plain
        .var("PUSHPROOF_NH_CONNECTION_STRING")
        .ends_with(emulator));
}

#[tokio::test]
async fn apns_over_tls_with_alpn_h2() {
    let h = tls_harness().await;
    assert_eq!(apns_push_over_tls(&h, &[H2]).await.as_deref(), Some(H2));
}

#[tokio::test]
async fn apns_over_tls_without_alpn_still_speaks_h2() {
    let h = tls_harness().await;
    assert_eq!(apns_push_over_tls(&h, &[]).await, None);
}

#[tokio::test]
async fn apns_refuses_a_client_that_offers_only_http1() {
    let h = tls_harness().await;
    let refused = tls_connect(&h.gw.apns_url(), None, trusting_ca_file(&h, &[HTTP1])).await;
    assert!(refused.is_err(), "APNs has no HTTP/1.1 to offer");
    // The listener is unharmed.
    apns_push_over_tls(&h, &[H2]).await;
}

/// One way to talk to FCM or WNS: the ALPN offered, the version spoken,
/// and the ALPN protocol the server must choose.
type Choice = (&'static [&'static [u8]], Wire, Option<&'static [u8]>);

/// Every way, for FCM and WNS: h2 by ALPN, HTTP/1.1 by ALPN, and no ALPN
/// with either version (HTTP/1.1, or HTTP/2 detected from its preface).
const CHOICES: [Choice; 4] = [
    (&[H2, HTTP1], Wire::H2, Some(H2)),
    (&[HTTP1], Wire::Http1, Some(HTTP1)),
    (&[], Wire::Http1, None),
    (&[], Wire::H2, None),
];

#[tokio::test]
async fn fcm_over_tls_by_every_alpn_choice() {
    let h = tls_harness().await;
    for (alpn, wire, expected) in CHOICES {
        let config = trusting_ca_file(&h, alpn);
        let sa = service_account(&h);
        let token_request = Request::post(sa["token_uri"].as_str().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body(assertion_form(&fcm_assertion(&h, &fcm_claims(&h)))))
            .unwrap();
        let (reply, version, chosen) = tls_send(config.clone(), wire, token_request).await;
        assert_eq!(reply.status, StatusCode::OK, "{wire:?}: {:?}", reply.body);
        assert_eq!((version, chosen.as_deref()), (version_of(wire), expected));
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();

        let device = h.gw.register_device(Platform::Fcm);
        let message = serde_json::json!({
            "message": { "token": device.handle, "data": { "secureId": "42" } }
        });
        let send = Request::post(fcm_send_url(&h))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body(message.to_string()))
            .unwrap();
        let (reply, version, _) = tls_send(config, wire, send).await;
        assert_eq!(reply.status, StatusCode::OK, "{wire:?}: {:?}", reply.body);
        assert_eq!(version, version_of(wire));
        assert!(h.gw.inbox(&device).unwrap().try_recv().is_some());
    }
}

#[tokio::test]
async fn wns_over_tls_by_every_alpn_choice() {
    let h = tls_harness().await;
    let form = wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        "notify.windows.com",
    );
    for (alpn, wire, expected) in CHOICES {
        let config = trusting_ca_file(&h, alpn);
        let token_request = Request::post(h.var("PUSHPROOF_WNS_TOKEN_URL"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body(form.clone()))
            .unwrap();
        let (reply, version, chosen) = tls_send(config.clone(), wire, token_request).await;
        assert_eq!(reply.status, StatusCode::OK, "{wire:?}: {:?}", reply.body);
        assert_eq!((version, chosen.as_deref()), (version_of(wire), expected));
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();

        let device = h.gw.register_device(Platform::Wns);
        let push = wns_raw(&device.handle, &token).body(body("42")).unwrap();
        let (reply, version, _) = tls_send(config, wire, push).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{wire:?}: {:?}",
            reply.headers
        );
        assert_eq!(version, version_of(wire));
        assert_eq!(reply.header("x-wns-status"), Some("received"));
        assert!(h.gw.inbox(&device).unwrap().try_recv().is_some());
    }
}

#[tokio::test]
async fn the_certificate_covers_localhost_and_the_loopback_addresses() {
    let h = tls_harness().await;
    for name in ["localhost", "127.0.0.1", "::1"] {
        let connected = tls_connect(&h.gw.fcm_url(), Some(name), trusting_ca_file(&h, &[H2])).await;
        assert!(connected.is_ok(), "{name}: {connected:?}");
    }
    let other = tls_connect(
        &h.gw.fcm_url(),
        Some("fcm.googleapis.com"),
        trusting_ca_file(&h, &[H2]),
    )
    .await;
    assert!(other.is_err(), "a name the certificate does not cover");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_fails_the_handshake() {
    let h = tls_harness().await;
    let stranger = tls_harness().await;
    let other_ca = client_config(roots(stranger.gw.ca_pem().unwrap()), &[H2]);
    for url in [h.gw.apns_url(), h.gw.fcm_url(), h.gw.wns_url()] {
        let error = tls_connect(&url, None, other_ca.clone())
            .await
            .expect_err("another CA's client must refuse the certificate");
        assert!(error.to_string().contains("certificate"), "{error}");
    }
    // The gateways still serve a client that trusts them.
    apns_push_over_tls(&h, &[H2]).await;
}

#[tokio::test]
async fn garbage_instead_of_a_client_hello_does_not_hurt() {
    let h = tls_harness().await;
    let garbage: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00],
    ];
    // Peers that connect and say nothing hold only their own tasks: they
    // stay open while other connections are served, well before the
    // handshake deadline would free an accept loop they blocked.
    let mut silent = Vec::new();
    for platform in Platform::ALL {
        silent.push(TcpStream::connect(h.gw.addr(platform)).await.unwrap());
    }
    let served = async {
        served_despite_garbage(&h, garbage).await;
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), served)
        .await
        .expect("a silent peer blocked the gateways");
    drop(silent);
}

async fn served_despite_garbage(h: &Harness, garbage: [&[u8]; 3]) {
    for platform in Platform::ALL {
        let addr = h.gw.addr(platform);
        for bytes in garbage {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(bytes).await.unwrap();
            // The server answers with an alert at most, then closes.
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
            assert!(sink.len() < 64, "{platform}: {} bytes back", sink.len());
        }
    }
    apns_push_over_tls(h, &[H2]).await;
    wns_access_token(h, trusting_ca_file(h, &[H2, HTTP1])).await;
}

/// A WNS access token from the gateway's token endpoint, over TLS.
async fn wns_access_token(h: &Harness, config: std::sync::Arc<rustls::ClientConfig>) -> String {
    let form = wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        "notify.windows.com",
    );
    let token_request = Request::post(h.var("PUSHPROOF_WNS_TOKEN_URL"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body(form))
        .unwrap();
    let (reply, _, _) = tls_send(config, Wire::H2, token_request).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_ca_folder_is_kept_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let settings = TlsSettings {
        ca_dir: Some(dir.path().join("ca")),
    };
    let start = || {
        Harness::with_config(GatewayConfig {
            tls: Some(settings.clone()),
            ..GatewayConfig::default()
        })
    };
    let first = start().await;
    let ca_pem = first.gw.ca_pem().unwrap().to_owned();
    first.gw.shutdown().await;

    let second = start().await;
    assert_eq!(second.gw.ca_pem(), Some(ca_pem.as_str()));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ca").join("ca.pem")).unwrap(),
        ca_pem
    );
    // A client configured with the first run's CA trusts the second run.
    let connected = tls_connect(
        &second.gw.apns_url(),
        None,
        client_config(roots(&ca_pem), &[H2]),
    )
    .await;
    assert!(connected.is_ok(), "{connected:?}");
}

#[tokio::test]
async fn a_gateway_with_a_bad_certificate_is_refused_serves_who_accepts_it_and_stops_when_dropped()
{
    let h = tls_harness().await;
    let trusting = trusting_ca_file(&h, &[H2]);
    for which in BadCertificate::ALL {
        let bad =
            h.gw.serve_with_bad_certificate(Platform::Wns, which)
                .await
                .unwrap();
        assert_eq!(bad.certificate(), which);
        assert!(bad.url().starts_with("https://127.0.0.1:"), "{}", bad.url());
        assert_ne!(bad.url(), h.gw.wns_url());
        let error = tls_connect(bad.url(), None, trusting.clone())
            .await
            .expect_err("a client that checks certificates refuses it");
        assert!(
            error.to_string().contains("certificate"),
            "{which:?}: {error}"
        );
    }

    // The other-host certificate is the run CA's: a client that dials the
    // name on it is served as by the gateway, pushes delivered.
    let token = wns_access_token(&h, trusting.clone()).await;
    let bad =
        h.gw.serve_with_bad_certificate(Platform::Wns, BadCertificate::OtherHost)
            .await
            .unwrap();
    let device = h.gw.register_device(Platform::Wns);
    let channel = device.handle.replacen(&h.gw.wns_url(), bad.url(), 1);
    assert_ne!(channel, device.handle);
    let addr: std::net::SocketAddr = bad.url().trim_start_matches("https://").parse().unwrap();
    let name = rustls::pki_types::ServerName::try_from("wrong-host.pushproof.invalid").unwrap();
    let push = wns_raw(&channel, &token).body(body("42")).unwrap();
    let (reply, _, _) = tls_send_via(addr, name, trusting, Wire::H2, push).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.headers);
    assert!(h.gw.inbox(&device).unwrap().try_recv().is_some());

    drop(bad);
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), refused)
        .await
        .expect("the listener stops when dropped");

    let plain = Harness::start().await;
    let error = plain
        .gw
        .serve_with_bad_certificate(Platform::Wns, BadCertificate::OtherCa)
        .await
        .expect_err("plaintext gateways have no certificates");
    assert!(
        matches!(error, pushproof_mocks::MockError::TlsOff),
        "{error}"
    );
}
