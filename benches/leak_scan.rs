//! Micro-benchmark of the leak scanner with 3000 secrets (a 3000-device
//! run): building it (every needle of every secret into one automaton),
//! scanning clean pushes as a sound backend sends them (the fast path:
//! only ids, tokens and JWTs to decode), scanning leaky pushes that need
//! the transform closure (a plain alert, base64url of gzip, hex of sha256),
//! and the partial-leak scan against a control run.
//!
//! `cargo bench --bench leak_scan`

use std::io::Write as _;
use std::time::SystemTime;

use base64::Engine as _;
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pushproof::conformance::canary::{self, Secret};
use pushproof::conformance::leak::{PartialScanner, Scanner};
use pushproof_mocks::{Capture, CaptureKind, Platform};
use rand::SeedableRng as _;
use sha2::Digest as _;

/// Secrets in the scanner: one per device of a 3000-device run.
const SECRETS: usize = 3000;

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

/// An APNs push with `body` and, optionally, one more header.
fn apns_push(body: String, extra: Option<(&str, &str)>) -> Capture {
    let authorization = format!("bearer {JWT}");
    let mut headers = vec![
        ("authorization", authorization.as_str()),
        ("apns-topic", "com.example.pushproof"),
        ("apns-push-type", "background"),
        ("apns-priority", "5"),
        ("apns-id", "6f0c1d5e-8b7a-4c3d-9e2f-1a0b9c8d7e6f"),
        ("content-type", "application/json"),
        ("content-length", "74"),
    ];
    headers.extend(extra);
    capture(
        Platform::Apns,
        "/3/device/5f2b7c0e9a41d3b68e0c47f19a2d5b3e8c61f04a97d2e5b80c3a6f1d49e7b2c5",
        &headers,
        body,
    )
}

const CLEAN_APNS: &str =
    r#"{"aps":{"content-available":1},"secureId":"8d0c6b2e5e3c4b7a9d2e1f6a3c9b7e21"}"#;

/// A data-only FCM message, as a sound backend sends it.
fn fcm_push(data: &str) -> Capture {
    let body = format!(
        r#"{{"message":{{"token":"dQw4w9WgXcQ:APA91bH7x2Kq0vY3mZ8sLr5TnB1cWp6eJu9oGf4aXi2DkE7hMl3NbVz0QyRt8UsC5jAwPx1gFe6Ko9Hd2LmYb4TqZr7Nc0Ws3Ju8Vi5Xa1Eg6Bf","data":{data},"android":{{"priority":"HIGH"}}}}}}"#
    );
    capture(
        Platform::Fcm,
        "/v1/projects/pushproof-test/messages:send",
        &[
            ("host", "127.0.0.1:40123"),
            ("authorization", "Bearer ya29.c.c0ASRK0GbXw3Yt8pLq2Zr5Nv1Mk7Hj4Fd9Sa6Gc0Bx3Ve8Tu2Yi5Ro1Pw7Qe4Lk9Jh6Mn3Bv0Cx"),
            ("content-type", "application/json; charset=utf-8"),
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

fn secrets(seed: u64) -> Vec<Secret> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    (0..SECRETS).map(|i| canary::secret(&mut rng, i)).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in-memory write");
    e.finish().expect("in-memory gzip")
}

fn bench_scan(c: &mut Criterion) {
    let secrets = secrets(7);
    let mut build = c.benchmark_group("leak_scan_build");
    build.sample_size(10);
    build.bench_function("scanner_3000_secrets", |b| {
        b.iter(|| Scanner::new(black_box(&secrets)))
    });
    build.bench_function("partial_index_3000_secrets", |b| {
        b.iter(|| PartialScanner::new(black_box(&secrets)))
    });
    build.finish();

    let scanner = Scanner::new(&secrets);
    let victim = &secrets[SECRETS / 2];
    let plain = apns_push(
        format!(
            r#"{{"aps":{{"content-available":1,"alert":{{"body":{}}}}},"secureId":"8d0c6b2e"}}"#,
            serde_json::Value::from(victim.text())
        ),
        None,
    );
    let packed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(gzip(victim.text().as_bytes()));
    let gzipped = fcm_push(&format!(r#"{{"secureId":"8d0c6b2e","blob":"{packed}"}}"#));
    let hashed = hex::encode(sha2::Sha256::digest(victim.text().as_bytes()));
    let hashed = apns_push(CLEAN_APNS.to_owned(), Some(("apns-collapse-id", &hashed)));
    let cases = [
        ("apns_clean", apns_push(CLEAN_APNS.to_owned(), None), 0),
        (
            "fcm_clean",
            fcm_push(r#"{"secureId":"8d0c6b2e5e3c4b7a9d2e1f6a3c9b7e21"}"#),
            0,
        ),
        ("wns_toast_clean", wns_toast(), 0),
        ("apns_alert_plain_leak", plain, 3),
        ("fcm_base64url_gzip_leak", gzipped, 3),
        ("apns_hex_sha256_leak", hashed, 1),
    ];
    for (name, capture, expected) in &cases {
        assert_eq!(scanner.scan(capture).len(), *expected, "{name}");
    }
    let mut group = c.benchmark_group("leak_scan_3000_secrets");
    for (name, capture, _) in &cases {
        group.bench_function(*name, |b| b.iter(|| scanner.scan(black_box(capture))));
    }
    group.finish();

    // Partial leaks: a preview of the secret's text, without its canaries,
    // against a control run that pushed other secrets' previews.
    let partial = PartialScanner::new(&secrets);
    let preview = |s: &Secret| {
        let text = s.text();
        let cut = &text[canary::CANARY_LEN + 1..];
        cut.chars().take(60).collect::<String>()
    };
    let others = self::secrets(8);
    let control_pushes: Vec<Capture> = others
        .iter()
        .take(300)
        .map(|s| apns_push(format!(r#"{{"aps":{{"alert":"{}"}}}}"#, preview(s)), None))
        .collect();
    let control = partial.control(&control_pushes);
    let leaky = apns_push(
        format!(r#"{{"aps":{{"alert":"{}"}}}}"#, preview(victim)),
        None,
    );
    let clean = apns_push(CLEAN_APNS.to_owned(), None);
    assert!(partial.scan(&clean, &control).is_empty());
    let mut group = c.benchmark_group("leak_partial_3000_secrets");
    group.bench_function("apns_clean", |b| {
        b.iter(|| partial.scan(black_box(&clean), &control))
    });
    group.bench_function("apns_preview_leak", |b| {
        b.iter(|| partial.scan(black_box(&leaky), &control))
    });
    group.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
