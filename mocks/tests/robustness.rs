//! Robustness: no input a peer can send panics or wedges a gateway. Seeded
//! random requests (methods, paths, header values including non-UTF-8
//! bytes, bodies) and raw garbage on the sockets; afterwards every gateway
//! still answers a valid request, and every request was captured.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use pushproof_mocks::Platform;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const HEADER_NAMES: &[&str] = &[
    "authorization",
    "apns-id",
    "apns-topic",
    "apns-priority",
    "apns-push-type",
    "apns-collapse-id",
    "apns-expiration",
    "content-type",
    "x-wns-type",
    "x-wns-tag",
    "x-wns-ttl",
    "x-wns-cache-policy",
    "x-wns-requestforstatus",
    "ms-cv",
];

/// Printable ASCII and obs-text (0x80..=0xff): everything a header value
/// may carry on the wire, including bytes that are not UTF-8.
fn random_header_value(rng: &mut StdRng) -> HeaderValue {
    let len = rng.gen_range(0..80);
    let bytes: Vec<u8> = (0..len)
        .map(|_| loop {
            let b: u8 = rng.gen();
            if b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80 {
                break b;
            }
        })
        .collect();
    HeaderValue::from_bytes(&bytes).unwrap()
}

fn random_path(rng: &mut StdRng, handles: &[String]) -> String {
    let pieces = [
        "/3/device/",
        "/3/device/zz",
        "/v1/projects/pushproof-test/messages:send",
        "/v1/projects/",
        "/token",
        "/accesstoken.srf",
        "/?token=",
        "/%ff%00",
        "/",
    ];
    let mut path = pieces[rng.gen_range(0..pieces.len())].to_owned();
    if rng.gen_bool(0.5) && !handles.is_empty() {
        let handle = &handles[rng.gen_range(0..handles.len())];
        path.push_str(
            handle
                .rsplit('/')
                .next()
                .unwrap()
                .trim_start_matches("?token="),
        );
    }
    path
}

fn random_body(rng: &mut StdRng) -> Bytes {
    let choices: [&[u8]; 8] = [
        b"",
        b"{",
        b"null",
        b"{\"message\":{\"token\":[1,2],\"data\":{\"a\":{}}}}",
        b"{\"message\":{\"topic\":\"\",\"condition\":null}}",
        b"grant_type=client_credentials&client_id=%ff&scope=",
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c",
        b"{\"aps\":{\"alert\":\"\xff\xfe\"}}",
    ];
    if rng.gen_bool(0.3) {
        let len = rng.gen_range(0..9000);
        Bytes::from((0..len).map(|_| rng.gen()).collect::<Vec<u8>>())
    } else {
        Bytes::from_static(choices[rng.gen_range(0..choices.len())])
    }
}

fn random_request(
    rng: &mut StdRng,
    origin: &str,
    handles: &[String],
    jwt: &str,
) -> Request<http_body_util::Full<Bytes>> {
    let methods = [
        Method::POST,
        Method::POST,
        Method::GET,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ];
    let mut request = Request::builder()
        .method(methods[rng.gen_range(0..methods.len())].clone())
        .uri(format!("{origin}{}", random_path(rng, handles)))
        .body(body(random_body(rng)))
        .unwrap();
    for _ in 0..rng.gen_range(0..8) {
        let name = HeaderName::from_static(HEADER_NAMES[rng.gen_range(0..HEADER_NAMES.len())]);
        request.headers_mut().append(name, random_header_value(rng));
    }
    if rng.gen_bool(0.3) {
        let value = format!("bearer {jwt}").parse().unwrap();
        request.headers_mut().insert("authorization", value);
    }
    request
}

#[tokio::test]
async fn garbage_requests_get_answers_and_never_break_a_gateway() {
    let h = Harness::start().await;
    let handles: Vec<String> = Platform::ALL
        .iter()
        .map(|p| h.gw.register_device(*p).handle)
        .collect();
    let jwt = apns_jwt(&h);
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut sent = 0u64;

    let mut apns = h2_connect(&h.gw.apns_url()).await;
    for _ in 0..300 {
        let request = random_request(&mut rng, &h.gw.apns_url(), &handles, &jwt);
        let reply = h2_send(&mut apns, request).await;

        assert!(reply.status.as_u16() >= 200 && reply.status.as_u16() < 600);
        sent += 1;
    }
    for origin in [h.gw.fcm_url(), h.gw.wns_url()] {
        let mut h2 = h2_connect(&origin).await;
        for n in 0..200 {
            let request = random_request(&mut rng, &origin, &handles, &jwt);
            // Alternate HTTP/1.1 and h2c.
            let reply = if n % 2 == 0 {
                http1_send(request).await
            } else {
                h2_send(&mut h2, request).await
            };

            assert!(reply.status.as_u16() >= 200 && reply.status.as_u16() < 600);
            sent += 1;
        }
    }
    assert_eq!(
        h.gw.capture_stats().total,
        sent,
        "every request is captured"
    );

    // Still serving valid pushes afterwards.
    let device = h.gw.register_device(Platform::Apns);
    let reply = h2_send(
        &mut apns,
        apns_request(&h, &device.handle, &jwt)
            .body(body(ALERT))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn raw_socket_garbage_does_not_stop_the_listeners() {
    let h = Harness::start().await;
    let mut rng = StdRng::seed_from_u64(7);
    let garbage: Vec<Vec<u8>> = vec![
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
        (0..4096).map(|_| rng.gen()).collect(),
    ];
    for platform in Platform::ALL {
        for bytes in &garbage {
            let mut stream = TcpStream::connect(h.gw.addr(platform)).await.unwrap();
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
            // The server answers or closes; either way it must not hang.
            let mut sink = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                stream.read_to_end(&mut sink),
            )
            .await;
            assert!(read.is_ok(), "{platform} kept a garbage connection open");
        }
    }
    // Each gateway still works.
    let device = h.gw.register_device(Platform::Apns);
    let mut apns = h2_connect(&h.gw.apns_url()).await;
    let reply = h2_send(
        &mut apns,
        apns_request(&h, &device.handle, &apns_jwt(&h))
            .body(body(ALERT))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    fcm_access_token(&h).await;
    wns_access_token(&h).await;
}

#[tokio::test]
async fn apns_closes_http1_clients_instead_of_hanging() {
    let h = Harness::start().await;
    let mut stream = TcpStream::connect(h.gw.addr(Platform::Apns)).await.unwrap();
    stream
        .write_all(b"POST /3/device/ab HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut sink),
    )
    .await;
    assert!(
        read.is_ok(),
        "APNs speaks HTTP/2 only and must close the connection"
    );
    assert!(!sink.starts_with(b"HTTP/1.1 200"));
}
