//! Criterion micro-benchmarks of the harness's and the mocks' hot paths in
//! a load run:
//!
//! - histogram recording (one stage sample; one whole notification through
//!   the ledger: plan, send, answer, push, fetch);
//! - id generation (a run's notification content; a gateway device handle,
//!   registered);
//! - a device reading the id out of a push, as the profile says;
//! - building the notify and fetch requests from the profile's templates;
//! - JWT signing and verification, ES256 (APNs provider tokens) and RS256
//!   (FCM service-account assertions), with the key parsed once (cached)
//!   and parsed every time;
//! - capture: one accepted WNS push through the mock gateway over
//!   HTTP/1.1 keep-alive (validation, capture and feed delivery included;
//!   the capture store itself is private to the mocks).
//!
//! The reference backend builds its pushes inside `pushproof-backend`,
//! whose push builders are private to it: their benchmark belongs with
//! the backend's own work. The leak scan has its own (`leak_scan`).
//!
//! `cargo bench --bench hot_paths`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use http::header::{HeaderValue, AUTHORIZATION};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pushproof::load::api::{Api, Device, ProfileApi};
use pushproof::load::driver::message;
use pushproof::load::ledger::{Arrival, Fetched, Ledger, SendResult};
use pushproof::metrics::Latency;
use pushproof::profile::Profile;
use pushproof_mocks::{Delivery, Feed, GatewayConfig, Gateways, Platform};
use serde::{Deserialize, Serialize};

fn histograms(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram");
    let mut latency = Latency::default();
    let mut us = 1u64;
    group.bench_function("record one sample", |b| {
        b.iter(|| {
            us = us.wrapping_mul(6364136223846793005).wrapping_add(1) % 2_000_000 + 1;
            latency.record_micros(black_box(us));
        })
    });
    let start = Instant::now();
    let ledger = Ledger::new(start, Duration::from_secs(3600));
    let mut k = 0u64;
    group.bench_function("one notification through the ledger", |b| {
        b.iter(|| {
            let now = Instant::now();
            ledger.plan(k, k, (k % 1000) as u32);
            ledger.sent(k, now);
            ledger.answered(k, now, SendResult::Accepted);
            ledger.pushed(now);
            ledger.delivered();
            ledger.fetched(
                Fetched::Content {
                    k,
                    device: (k % 1000) as u32,
                    matches: true,
                },
                Arrival {
                    gateway_at: now,
                    delivered_at: now,
                    fetched_at: now,
                },
            );
            k += 1;
            if k.is_multiple_of(65_536) {
                ledger.retire(now + Duration::from_secs(7200));
            }
        })
    });
    group.finish();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("ids");
    let mut n = 0u64;
    group.bench_function("notification content", |b| {
        b.iter(|| {
            n += 1;
            black_box(message("20261201T000000Z-0000abcd-0", 42, n))
        })
    });
    let rt = runtime();
    let gateways = rt
        .block_on(Gateways::start(GatewayConfig::default()))
        .expect("gateways");
    let feed = Feed::new(16);
    for platform in Platform::ALL {
        let mut tag = 0;
        group.bench_function(format!("{platform} device handle, registered"), |b| {
            b.iter(|| {
                tag += 1;
                black_box(gateways.register_feed_device(platform, &feed, tag))
            })
        });
    }
    group.finish();
}

fn device(platform: Platform) -> Device {
    Device {
        platform,
        user: "pp-20261201-0000abcd-17".into(),
        auth: (
            AUTHORIZATION,
            HeaderValue::from_static(
                "Bearer 3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
        ),
        token: None,
    }
}

fn requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("requests");
    let api = ProfileApi::new(
        Arc::new(Profile::reference()),
        "http://127.0.0.1:1",
        Duration::from_secs(1),
        "bench",
    );
    let d = device(Platform::Fcm);
    let content = message("bench", 1, 7);
    group.bench_function("notify, rendered from the profile", |b| {
        b.iter(|| black_box(api.notify(None, &d, &content)))
    });
    group.bench_function("fetch, rendered from the profile", |b| {
        b.iter(|| black_box(api.fetch(&d, "3f1c9b0e6d2a4c8e9f7b5a1d3c6e8f0a")))
    });
    for (platform, body) in [
        (
            Platform::Apns,
            r#"{"aps":{"content-available":1},"secureId":"3f1c9b0e6d2a4c8e9f7b5a1d3c6e8f0a"}"#,
        ),
        (
            Platform::Fcm,
            r#"{"token":"abc","data":{"secureId":"3f1c9b0e6d2a4c8e9f7b5a1d3c6e8f0a"},"android":{"priority":"HIGH"}}"#,
        ),
        (Platform::Wns, "3f1c9b0e6d2a4c8e9f7b5a1d3c6e8f0a"),
    ] {
        let delivery = Delivery {
            platform,
            headers: vec![("apns-push-type".to_owned(), "background".to_owned())],
            body: Bytes::from_static(body.as_bytes()),
            received_at: Instant::now(),
        };
        group.bench_function(format!("{platform} push id read"), |b| {
            b.iter(|| black_box(api.push_id(&delivery)))
        });
    }
    group.finish();
}

#[derive(Serialize, Deserialize)]
struct ApnsClaims {
    iss: String,
    iat: u64,
}

#[derive(Serialize, Deserialize)]
struct GoogleClaims {
    iss: String,
    scope: String,
    aud: String,
    iat: u64,
    exp: u64,
}

fn signature_only(algorithm: Algorithm) -> Validation {
    let mut v = Validation::new(algorithm);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_aud = false;
    v
}

fn jwt(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt");
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key");
    let ec_private = ec.serialize_pem();
    let ec_public = ec.public_key_pem();
    let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
    let rsa_private = {
        use rsa::pkcs8::EncodePrivateKey as _;
        rsa.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .expect("PKCS#8")
            .to_string()
    };
    let rsa_public = {
        use rsa::pkcs8::EncodePublicKey as _;
        rsa.to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("SPKI")
    };
    let apns = ApnsClaims {
        iss: "PPTEAM1234".to_owned(),
        iat: 1_764_068_000,
    };
    let google = GoogleClaims {
        iss: "pushproof@pushproof-test.iam.gserviceaccount.com".to_owned(),
        scope: "https://www.googleapis.com/auth/firebase.messaging".to_owned(),
        aud: "http://127.0.0.1:1/token".to_owned(),
        iat: 1_764_068_000,
        exp: 1_764_071_600,
    };
    let mut es_header = Header::new(Algorithm::ES256);
    es_header.kid = Some("PPKEY12345".to_owned());
    let rs_header = Header::new(Algorithm::RS256);

    let es_key = EncodingKey::from_ec_pem(ec_private.as_bytes()).expect("ES key");
    let rs_key = EncodingKey::from_rsa_pem(rsa_private.as_bytes()).expect("RS key");
    group.bench_function("ES256 sign, key cached", |b| {
        b.iter(|| black_box(jsonwebtoken::encode(&es_header, &apns, &es_key)))
    });
    group.bench_function("ES256 sign, key parsed each time", |b| {
        b.iter(|| {
            let key = EncodingKey::from_ec_pem(ec_private.as_bytes()).expect("ES key");
            black_box(jsonwebtoken::encode(&es_header, &apns, &key))
        })
    });
    group.bench_function("RS256 sign, key cached", |b| {
        b.iter(|| black_box(jsonwebtoken::encode(&rs_header, &google, &rs_key)))
    });
    group.bench_function("RS256 sign, key parsed each time", |b| {
        b.iter(|| {
            let key = EncodingKey::from_rsa_pem(rsa_private.as_bytes()).expect("RS key");
            black_box(jsonwebtoken::encode(&rs_header, &google, &key))
        })
    });

    let es_token = jsonwebtoken::encode(&es_header, &apns, &es_key).expect("a token");
    let rs_token = jsonwebtoken::encode(&rs_header, &google, &rs_key).expect("a token");
    let es_validation = signature_only(Algorithm::ES256);
    let rs_validation = signature_only(Algorithm::RS256);
    let es_decoding = DecodingKey::from_ec_pem(ec_public.as_bytes()).expect("ES public key");
    let rs_decoding = DecodingKey::from_rsa_pem(rsa_public.as_bytes()).expect("RS public key");
    group.bench_function("ES256 verify, key and validation cached", |b| {
        b.iter(|| {
            black_box(jsonwebtoken::decode::<ApnsClaims>(
                &es_token,
                &es_decoding,
                &es_validation,
            ))
        })
    });
    group.bench_function("ES256 verify, key parsed each time", |b| {
        b.iter(|| {
            let key = DecodingKey::from_ec_pem(ec_public.as_bytes()).expect("ES public key");
            black_box(jsonwebtoken::decode::<ApnsClaims>(
                &es_token,
                &key,
                &signature_only(Algorithm::ES256),
            ))
        })
    });
    group.bench_function("RS256 verify, key and validation cached", |b| {
        b.iter(|| {
            black_box(jsonwebtoken::decode::<GoogleClaims>(
                &rs_token,
                &rs_decoding,
                &rs_validation,
            ))
        })
    });
    group.bench_function("RS256 verify, key parsed each time", |b| {
        b.iter(|| {
            let key = DecodingKey::from_rsa_pem(rsa_public.as_bytes()).expect("RS public key");
            black_box(jsonwebtoken::decode::<GoogleClaims>(
                &rs_token,
                &key,
                &signature_only(Algorithm::RS256),
            ))
        })
    });
    group.finish();
}

/// One accepted WNS push through the gateway: what a capture costs on the
/// request path, with validation and delivery.
fn capture(c: &mut Criterion) {
    let rt = runtime();
    let gateways = rt.block_on(Gateways::start(GatewayConfig {
        capture_capacity: 10_000,
        ..GatewayConfig::default()
    }));
    let gateways = gateways.expect("gateways");
    let feed = Feed::new(1_000_000);
    let device = gateways.register_feed_device(Platform::Wns, &feed, 1);
    let client = rt.block_on(pushproof::load::http::Client::connect(
        &gateways.wns_url(),
        pushproof::load::http::Protocol::Http1,
        1,
        Duration::from_secs(5),
    ));
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=notify.windows.com",
        form_encode(&gateways.config().wns_client_id),
        form_encode(gateways.wns_client_secret())
    );
    let token_request = pushproof::load::http::Prepared {
        method: http::Method::POST,
        path_and_query: "/accesstoken.srf".to_owned(),
        authorization: None,
        content_type: Some("application/x-www-form-urlencoded"),
        body: Bytes::from(form),
    };
    let (_, body) = rt
        .block_on(client.call(&token_request))
        .expect("a WNS token");
    let token: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let bearer = format!(
        "Bearer {}",
        token["access_token"].as_str().expect("access_token")
    );
    let path = device
        .handle
        .split_once("127.0.0.1")
        .map_or("/", |(_, rest)| rest);
    let path = &path[path.find('/').unwrap_or(0)..];
    let push = pushproof::load::http::Prepared {
        method: http::Method::POST,
        path_and_query: path.to_owned(),
        authorization: Some((
            AUTHORIZATION,
            HeaderValue::from_str(&bearer).expect("a header"),
        )),
        content_type: Some("application/octet-stream"),
        body: Bytes::from_static(b"3f1c9b0e6d2a4c8e9f7b5a1d3c6e8f0a"),
    };
    let wns_type = push.clone();
    let mut group = c.benchmark_group("capture");
    group.bench_function("WNS push accepted, captured and delivered", |b| {
        b.iter_batched(
            || wns_type.clone(),
            |request| {
                let (status, _) = rt.block_on(client.call(&request)).expect("an answer");
                assert!(status.is_success() || status.as_u16() == 400, "{status}");
                let _ = feed.try_take(64);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

criterion_group!(benches, histograms, ids, requests, jwt, capture);
criterion_main!(benches);
