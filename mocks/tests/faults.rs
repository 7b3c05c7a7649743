//! Fault rules against running gateways: each kind's answer in each
//! platform's shape, latency (lower bounds only), device and gateway
//! scope, count and probability limits, and rules from TOML files.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use pushproof_mocks::{Delay, DeviceHandle, Fault, FaultError, FaultPlan, FaultRule, Platform};
use serde_json::json;
use support::*;

/// Credentials for pushing to every gateway.
struct Sender {
    jwt: String,
    fcm: String,
    wns: String,
}

impl Sender {
    async fn new(h: &Harness) -> Sender {
        Sender {
            jwt: apns_jwt(h),
            fcm: fcm_access_token(h).await,
            wns: wns_access_token(h).await,
        }
    }

    /// A well-formed push to `device`, on a fresh connection.
    fn request(&self, h: &Harness, device: &DeviceHandle) -> http::Request<Full<Bytes>> {
        match device.platform {
            Platform::Apns => apns_request(h, &device.handle, &self.jwt)
                .body(body(ALERT))
                .unwrap(),
            Platform::Fcm => http::Request::post(fcm_send_url(h))
                .header("authorization", format!("Bearer {}", self.fcm))
                .header("content-type", "application/json")
                .body(body(
                    json!({"message": {"token": device.handle, "data": {"secureId": "1"}}})
                        .to_string(),
                ))
                .unwrap(),
            Platform::Wns => wns_raw(&device.handle, &self.wns).body(body("1")).unwrap(),
        }
    }

    async fn push(&self, h: &Harness, device: &DeviceHandle) -> Reply {
        let request = self.request(h, device);
        match device.platform {
            Platform::Apns => h2_send(&mut h2_connect(&h.gw.apns_url()).await, request).await,
            Platform::Fcm | Platform::Wns => http1_send(request).await,
        }
    }
}

fn status(code: u16, reason: Option<&str>, retry_after_secs: Option<u64>) -> Fault {
    Fault::Status {
        status: code,
        reason: reason.map(str::to_owned),
        retry_after_secs,
    }
}

fn throttle() -> Fault {
    // One token, refilled every 2 s: the second push in a row is throttled.
    Fault::Throttle {
        rate_per_sec: 0.5,
        burst: Some(1),
        per_device: false,
    }
}

fn expired_at(ms: u64) -> Fault {
    Fault::Expire {
        after_ms: None,
        at_unix_ms: Some(ms),
    }
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Starts gateways, a sender and a device on `platform` with `fault` set.
async fn faulted(platform: Platform, fault: Fault) -> (Harness, Sender, DeviceHandle) {
    let h = Harness::start().await;
    let sender = Sender::new(&h).await;
    let device = h.gw.register_device(platform);
    h.gw.set_fault(FaultRule::device(&device, fault)).unwrap();
    (h, sender, device)
}

fn assert_not_delivered(h: &Harness, device: &DeviceHandle) {
    assert!(
        h.gw.inbox(device).unwrap().is_empty(),
        "a faulted push was delivered"
    );
}

// ---------------------------------------------------------------- status

#[tokio::test]
async fn apns_status_fault_answers_reason_json() {
    let (h, s, device) = faulted(Platform::Apns, status(503, None, None)).await;
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.reason(), "ServiceUnavailable");
    assert_eq!(reply.header("apns-id").map(str::len), Some(36));
    assert_not_delivered(&h, &device);

    let other = h.gw.register_device(Platform::Apns);
    h.gw.set_fault(FaultRule::device(
        &other,
        status(503, Some("Shutdown"), None),
    ))
    .unwrap();
    assert_eq!(s.push(&h, &other).await.reason(), "Shutdown");
}

#[tokio::test]
async fn fcm_status_fault_answers_google_rpc_status_with_fcm_error() {
    let (h, s, device) = faulted(Platform::Fcm, status(503, None, Some(7))).await;
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let error = &reply.json()["error"];
    assert_eq!(
        (error["code"].as_u64(), error["status"].as_str()),
        (Some(503), Some("UNAVAILABLE"))
    );
    assert_eq!(fcm_error_code(&reply).as_deref(), Some("UNAVAILABLE"));
    assert_eq!(reply.header("retry-after"), Some("7"));
    assert_not_delivered(&h, &device);
}

#[tokio::test]
async fn wns_status_fault_answers_status_with_error_description() {
    let (h, s, device) = faulted(Platform::Wns, status(500, Some("Injected failure"), None)).await;
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.header("x-wns-error-description"),
        Some("Injected failure")
    );
    assert!(reply.body.is_empty());
    assert_not_delivered(&h, &device);
}

// ---------------------------------------------------------------- throttle

#[tokio::test]
async fn apns_throttle_answers_429_too_many_requests() {
    let (h, s, device) = faulted(Platform::Apns, throttle()).await;
    assert_eq!(s.push(&h, &device).await.status, StatusCode::OK);
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.reason(), "TooManyRequests");
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
}

#[tokio::test]
async fn fcm_throttle_answers_429_with_retry_after() {
    let (h, s, device) = faulted(Platform::Fcm, throttle()).await;
    assert_eq!(s.push(&h, &device).await.status, StatusCode::OK);
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.json()["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(fcm_error_code(&reply).as_deref(), Some("QUOTA_EXCEEDED"));
    let details = reply.json()["error"]["details"].as_array().unwrap().clone();
    assert!(details
        .iter()
        .any(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"));
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
}

#[tokio::test]
async fn wns_throttle_answers_406_with_continue_after() {
    let (h, s, device) = faulted(Platform::Wns, throttle()).await;
    assert_eq!(s.push(&h, &device).await.status, StatusCode::OK);
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::NOT_ACCEPTABLE);
    let wait: u64 = reply
        .header("x-wns-continue-after")
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert!(reply.header("x-wns-error-description").is_some());
}

#[tokio::test]
async fn apns_per_device_throttle_limits_each_device_token_alone() {
    let h = Harness::start().await;
    let s = Sender::new(&h).await;
    let (first, second) = (
        h.gw.register_device(Platform::Apns),
        h.gw.register_device(Platform::Apns),
    );
    h.gw.set_fault(FaultRule::gateway(
        Platform::Apns,
        Fault::Throttle {
            rate_per_sec: 0.5,
            burst: Some(1),
            per_device: true,
        },
    ))
    .unwrap();
    assert_eq!(s.push(&h, &first).await.status, StatusCode::OK);
    let reply = s.push(&h, &first).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.reason(), "TooManyRequests");
    // Another device token is not held back by the first one's pushes.
    assert_eq!(s.push(&h, &second).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------- expiry

#[tokio::test]
async fn apns_expire_answers_410_unregistered_with_timestamp() {
    let at = now_ms() - 1000;
    let (h, s, device) = faulted(Platform::Apns, expired_at(at)).await;
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::GONE);
    assert_eq!(reply.reason(), "Unregistered");
    assert_eq!(reply.json()["timestamp"].as_u64(), Some(at));
    assert_not_delivered(&h, &device);
}

#[tokio::test]
async fn fcm_expire_answers_404_unregistered() {
    let (h, s, device) = faulted(Platform::Fcm, expired_at(now_ms())).await;
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["status"], "NOT_FOUND");
    assert_eq!(fcm_error_code(&reply).as_deref(), Some("UNREGISTERED"));
}

#[tokio::test]
async fn wns_expire_answers_410_channel_expired() {
    let (h, s, device) = faulted(Platform::Wns, expired_at(now_ms())).await;
    let reply = s.push(&h, &device).await;
    assert_eq!(reply.status, StatusCode::GONE);
    assert_eq!(
        reply.header("x-wns-error-description"),
        Some("The channel expired.")
    );
}

#[tokio::test]
async fn expire_changes_nothing_before_its_moment() {
    let later = Fault::Expire {
        after_ms: Some(3_600_000),
        at_unix_ms: None,
    };
    let (h, s, device) = faulted(Platform::Apns, later).await;
    assert_eq!(s.push(&h, &device).await.status, StatusCode::OK);
    assert_eq!(h.gw.faults()[0].applied, 0);
}

// ---------------------------------------------------------------- latency

#[tokio::test]
async fn latency_fault_delays_the_answer_but_not_the_verdict() {
    let (h, s, device) = faulted(Platform::Apns, Fault::Latency(Delay::Fixed { ms: 200 })).await;
    let started = Instant::now();
    let reply = s.push(&h, &device).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
}

#[tokio::test]
async fn uniform_latency_waits_at_least_its_minimum() {
    let delay = Delay::Uniform {
        min_ms: 120,
        max_ms: 160,
    };
    let (h, s, device) = faulted(Platform::Fcm, Fault::Latency(delay)).await;
    let started = Instant::now();
    assert_eq!(s.push(&h, &device).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(120));
}

// ---------------------------------------------------------------- drop

/// Sends one request on a fresh HTTP/1.1 connection; the error if the
/// connection closed without an answer.
async fn http1_try(request: http::Request<Full<Bytes>>) -> Result<StatusCode, hyper::Error> {
    let authority = request.uri().authority().unwrap().to_string();
    let stream = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let (mut parts, body) = request.into_parts();
    parts
        .headers
        .insert(http::header::HOST, authority.parse().unwrap());
    parts.uri = parts
        .uri
        .path_and_query()
        .unwrap()
        .as_str()
        .parse()
        .unwrap();
    sender
        .send_request(http::Request::from_parts(parts, body))
        .await
        .map(|r| r.status())
}

#[tokio::test]
async fn drop_fault_is_captured_with_status_0_and_counted() {
    let (h, s, device) = faulted(Platform::Wns, Fault::Drop).await;
    assert!(http1_try(s.request(&h, &device)).await.is_err());
    let last = h.gw.captures().pop().unwrap();
    assert_eq!(
        (last.status, last.device.as_deref()),
        (0, Some(device.handle.as_str()))
    );
    assert!(last.reason.unwrap().contains("dropped"));
    assert_eq!(h.gw.counters().wns.rejected.get(&0), Some(&1));
    assert_not_delivered(&h, &device);
}

#[tokio::test]
async fn wns_drop_closes_the_connection_without_answering() {
    let (h, s, device) = faulted(Platform::Wns, Fault::Drop).await;
    let error = http1_try(s.request(&h, &device)).await.unwrap_err();
    assert!(
        error.is_incomplete_message() || error.is_closed(),
        "{error}"
    );
}

#[tokio::test]
async fn apns_drop_resets_the_stream_but_keeps_the_connection() {
    let (h, s, device) = faulted(Platform::Apns, Fault::Drop).await;
    let mut client = h2_connect(&h.gw.apns_url()).await;
    client.ready().await.unwrap();
    assert!(client.send_request(s.request(&h, &device)).await.is_err());
    h.gw.clear_faults();
    assert_eq!(
        h2_send(&mut client, s.request(&h, &device)).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- scope

#[tokio::test]
async fn device_fault_leaves_other_devices_alone() {
    let (h, s, device) = faulted(Platform::Fcm, status(500, None, None)).await;
    let other = h.gw.register_device(Platform::Fcm);
    assert_eq!(
        s.push(&h, &device).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(s.push(&h, &other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn gateway_fault_applies_to_every_device_of_that_gateway_only() {
    let h = Harness::start().await;
    let s = Sender::new(&h).await;
    h.gw.set_fault(FaultRule::gateway(Platform::Apns, status(503, None, None)))
        .unwrap();
    for _ in 0..2 {
        let device = h.gw.register_device(Platform::Apns);
        assert_eq!(
            s.push(&h, &device).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let fcm = h.gw.register_device(Platform::Fcm);
    assert_eq!(s.push(&h, &fcm).await.status, StatusCode::OK);
}

#[tokio::test]
async fn faults_leave_token_requests_alone() {
    let h = Harness::start().await;
    for platform in [Platform::Fcm, Platform::Wns] {
        h.gw.set_fault(FaultRule::gateway(platform, status(500, None, None)))
            .unwrap();
    }
    // Sender::new asserts that both token endpoints answer 200.
    Sender::new(&h).await;
}

#[tokio::test]
async fn device_rule_for_a_wns_channel_uri_matches_its_pushes() {
    let (h, s, device) = faulted(Platform::Wns, status(404, None, None)).await;
    assert_eq!(s.push(&h, &device).await.status, StatusCode::NOT_FOUND);
    let other = h.gw.register_device(Platform::Wns);
    assert_eq!(s.push(&h, &other).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------- limits

#[tokio::test]
async fn count_limits_a_fault_to_the_first_n_requests() {
    let h = Harness::start().await;
    let s = Sender::new(&h).await;
    let device = h.gw.register_device(Platform::Wns);
    h.gw.set_fault(FaultRule::device(&device, status(503, None, None)).with_count(2))
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(s.push(&h, &device).await.status.as_u16());
    }
    assert_eq!(statuses, [503, 503, 200]);
    let fault = &h.gw.faults()[0];
    assert_eq!((fault.applied, fault.remaining), (2, Some(0)));
}

#[tokio::test]
async fn probability_affects_a_seeded_fraction() {
    let h = Harness::start().await;
    let s = Sender::new(&h).await;
    let device = h.gw.register_device(Platform::Fcm);
    let rule = FaultRule::device(&device, status(500, None, None))
        .with_probability(0.5)
        .with_seed(42);
    let mut runs = Vec::new();
    for _ in 0..2 {
        h.gw.clear_faults();
        h.gw.set_fault(rule.clone()).unwrap();
        let mut hits = Vec::new();
        for _ in 0..30 {
            hits.push(s.push(&h, &device).await.status != StatusCode::OK);
        }
        runs.push(hits);
    }
    assert_eq!(
        runs[0], runs[1],
        "the same seed must fault the same requests"
    );
    let hits = runs[0].iter().filter(|h| **h).count();
    assert!((5..=25).contains(&hits), "{hits} of 30 faulted at p = 0.5");
}

#[tokio::test]
async fn removing_a_fault_restores_normal_answers() {
    let h = Harness::start().await;
    let s = Sender::new(&h).await;
    let device = h.gw.register_device(Platform::Apns);
    let id =
        h.gw.set_fault(FaultRule::device(&device, status(500, None, None)))
            .unwrap();
    assert_eq!(
        s.push(&h, &device).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(h.gw.remove_fault(id));
    assert!(h.gw.faults().is_empty());
    assert_eq!(s.push(&h, &device).await.status, StatusCode::OK);
}

#[tokio::test]
async fn invalid_rules_are_refused() {
    let h = Harness::start().await;
    let rule = FaultRule::gateway(Platform::Fcm, Fault::Drop).with_probability(1.5);
    assert!(matches!(h.gw.set_fault(rule), Err(FaultError::Invalid(_))));
    assert!(h.gw.faults().is_empty());
}

// ---------------------------------------------------------------- files

#[tokio::test]
async fn faults_from_a_toml_file_apply() {
    let h = Harness::start().await;
    let s = Sender::new(&h).await;
    let path = h.dir.path().join("faults.toml");
    std::fs::write(
        &path,
        r#"
[[rule]]
platform = "apns"
count = 1
fault = { kind = "status", status = 410, reason = "Unregistered" }

[[rule]]
platform = "wns"
fault = { kind = "throttle", rate_per_sec = 0.5, burst = 1 }
"#,
    )
    .unwrap();
    let plan = FaultPlan::load(&path).unwrap();
    assert_eq!(h.gw.set_faults(plan.rules).unwrap().len(), 2);
    let apns = h.gw.register_device(Platform::Apns);
    let reply = s.push(&h, &apns).await;
    assert_eq!(
        (reply.status, reply.reason()),
        (StatusCode::GONE, "Unregistered".to_owned())
    );
    assert!(reply.json()["timestamp"].is_u64());
    assert_eq!(s.push(&h, &apns).await.status, StatusCode::OK);
    let wns = h.gw.register_device(Platform::Wns);
    assert_eq!(s.push(&h, &wns).await.status, StatusCode::OK);
    assert_eq!(s.push(&h, &wns).await.status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn a_bad_toml_file_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[rule]]\nplatform = \"apns\"\nfault = { kind = \"nope\" }\n",
    )
    .unwrap();
    let error = FaultPlan::load(&path).unwrap_err();
    assert!(matches!(error, FaultError::Parse { .. }));
    assert!(error.to_string().contains("bad.toml"), "{error}");
}

#[tokio::test]
async fn every_fault_scenario_file_loads_and_applies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/faults");
    let h = Harness::start().await;
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let plan = FaultPlan::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!plan.rules.is_empty(), "{} has no rule", path.display());
        h.gw.set_faults(plan.rules).unwrap();
        h.gw.clear_faults();
        files += 1;
    }
    assert!(files > 0, "no fault scenario in {}", dir.display());
}
