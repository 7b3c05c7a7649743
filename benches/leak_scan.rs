//! Micro-benchmark of the leak scanner: the time to search one captured
//! push for 3000 canaries (a 3000-device run), on every surface the scanner
//! reads (path, headers, raw body, decoded JSON strings, XML text).
//!
//! `cargo bench --bench leak_scan`

use std::time::SystemTime;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pushproof::conformance::canary;
use pushproof::conformance::leak::Scanner;
use pushproof_mocks::{Capture, CaptureKind, Platform};
use rand::SeedableRng as _;

/// Canaries in the scanner: one secret per device of a 3000-device run.
const CANARIES: usize = 3000;

/// A provider token of realistic length (an ES256 JWT is about 200 bytes).
const JWT: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6IlBQS0VZMTIzNDUiLCJ0eXAiOiJKV1QifQ.\
    eyJpc3MiOiJQUFRFQU0xMjM0IiwiaWF0IjoxNzY0MDY4MDAwfQ.\
    MEUCIQDx3V9f0mJ2cK1yQe6bX8rHn4sLwTzP5aGd7uV0iE2oYwIgKp3Nf8sVb1mXq9Lr4tZc6yW0hJd2eA5uG7iO1kR3sTc";

fn capture(
    platform: Platform,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Capture {
    Capture {
        seq: 42,
        platform,
        kind: CaptureKind::Push,
        at: SystemTime::now(),
        method: "POST".to_owned(),
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
        status: 200,
        reason: None,
        device: Some("device".to_owned()),
    }
}

/// A background APNs push carrying only an id, as a sound backend sends it.
fn apns_push(body: String) -> Capture {
    let authorization = format!("bearer {JWT}");
    capture(
        Platform::Apns,
        "/3/device/5f2b7c0e9a41d3b68e0c47f19a2d5b3e8c61f04a97d2e5b80c3a6f1d49e7b2c5",
        &[
            ("authorization", authorization.as_str()),
            ("apns-topic", "com.example.pushproof"),
            ("apns-push-type", "background"),
            ("apns-priority", "5"),
            ("content-type", "application/json"),
            ("content-length", "74"),
        ],
        body,
    )
}

/// A data-only FCM message, as a sound backend sends it.
fn fcm_push() -> Capture {
    let body = r#"{"message":{"token":"dQw4w9WgXcQ:APA91bH7x2Kq0vY3mZ8sLr5TnB1cWp6eJu9oGf4aXi2DkE7hMl3NbVz0QyRt8UsC5jAwPx1gFe6Ko9Hd2LmYb4TqZr7Nc0Ws3Ju8Vi5Xa1Eg6Bf","data":{"secureId":"8d0c6b2e-5e3c-4b7a-9d2e-1f6a3c9b7e21"},"android":{"priority":"HIGH"}}}"#;
    capture(
        Platform::Fcm,
        "/v1/projects/pushproof-test/messages:send",
        &[
            ("host", "127.0.0.1:40123"),
            ("authorization", "Bearer ya29.c.c0ASRK0GbXw3Yt8pLq2Zr5Nv1Mk7Hj4Fd9Sa6Gc0Bx3Ve8Tu2Yi5Ro1Pw7Qe4Lk9Jh6Mn3Bv0Cx"),
            ("content-type", "application/json"),
            ("content-length", "214"),
        ],
        body,
    )
}

/// A WNS toast whose text is XML-escaped: the scanner also unescapes it.
fn wns_toast() -> Capture {
    let body = "<toast><visual><binding template=\"ToastGeneric\"><text>You have a new \
                secure message &#8212; open the app to read it &amp; reply</text></binding>\
                </visual></toast>";
    capture(
        Platform::Wns,
        "/?token=AwYAAAD8kz1nQ%2bG5Lr7Tx2Vb0Yc9Pe4Ws6Hj3Km8Nf1Qa5Zd7Ug2Xi0Bo",
        &[
            ("host", "127.0.0.1:40125"),
            (
                "authorization",
                "Bearer EgAbAQMAAAAEgAAAC4AA3vJx9Ktq2Lm0Rb7Yc5Wn8Hd1Pf4Ua6Se3Gz0Bo",
            ),
            ("x-wns-type", "wns/toast"),
            ("content-type", "text/xml"),
            ("content-length", "171"),
        ],
        body,
    )
}

fn bench_scan(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let canaries: Vec<String> = (0..CANARIES).map(|_| canary::canary(&mut rng)).collect();
    let scanner = Scanner::new(&canaries);
    let clean_apns = apns_push(
        r#"{"aps":{"content-available":1},"secureId":"8d0c6b2e-5e3c-4b7a-9d2e-1f6a3c9b7e21"}"#
            .to_owned(),
    );
    // A flawed backend: the secret message itself in the alert.
    let leaky_apns = apns_push(format!(
        r#"{{"aps":{{"content-available":1,"alert":{{"body":"{}"}}}},"secureId":"8d0c6b2e"}}"#,
        canary::secret_message(&canaries[CANARIES / 2], CANARIES / 2)
    ));
    assert_eq!(scanner.scan(&leaky_apns).len(), 2, "body and json surfaces");

    let mut group = c.benchmark_group("leak_scan_3000_canaries");
    let cases = [
        ("apns_clean", clean_apns),
        ("apns_leak", leaky_apns),
        ("fcm_clean", fcm_push()),
        ("wns_toast_clean", wns_toast()),
    ];
    for (name, capture) in &cases {
        group.bench_function(*name, |b| b.iter(|| scanner.scan(black_box(capture))));
    }
    group.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
