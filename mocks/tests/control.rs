//! The control API under `/__pushproof/`: devices and inbox long-polls,
//! paged captures, faults over JSON, counters, reset and errors; and the
//! JSON-lines capture file.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use http::StatusCode;
use pushproof_mocks::{DeviceHandle, GatewayConfig, Platform};
use serde_json::{json, Value};
use support::*;

/// Creates a device through the control API.
async fn create_device(h: &Harness, platform: &str) -> DeviceHandle {
    let reply = control(
        h,
        "POST",
        "/devices",
        Some(&json!({ "platform": platform })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let json = reply.json();
    DeviceHandle {
        platform: platform.parse().unwrap(),
        handle: json["handle"].as_str().unwrap().to_owned(),
    }
}

/// A raw WNS push of `text` to `device`.
async fn wns_push(access_token: &str, device: &DeviceHandle, text: &str) -> Reply {
    http1_send(
        wns_raw(&device.handle, access_token)
            .body(body(text.to_owned()))
            .unwrap(),
    )
    .await
}

fn inbox_path(device: &DeviceHandle, query: &str) -> String {
    format!("/devices/{}/inbox?{query}", path_segment(&device.handle))
}

fn bodies(inbox: &Value) -> Vec<&str> {
    inbox["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["body"].as_str().unwrap())
        .collect()
}

fn seqs(page: &Value) -> Vec<u64> {
    page["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn control_creates_devices_on_each_platform() {
    let h = Harness::start().await;
    for platform in ["apns", "fcm", "wns"] {
        let device = create_device(&h, platform).await;
        assert!(h.gw.inbox(&device).is_some(), "{platform}");
    }
    let reply = control(&h, "POST", "/devices", Some(&json!({ "platform": "mpns" }))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["error"].is_string());
}

#[tokio::test]
async fn control_inbox_long_poll_returns_when_a_push_arrives() {
    let h = std::sync::Arc::new(Harness::start().await);
    let device = create_device(&h, "wns").await;
    let poll = tokio::spawn({
        let h = h.clone();
        let path = inbox_path(&device, "wait=30");
        async move { control(&h, "GET", &path, None).await }
    });
    // Getting a token takes a few round trips: the poll is waiting by then.
    let token = wns_access_token(&h).await;
    assert_eq!(
        wns_push(&token, &device, "secure-id-1").await.status,
        StatusCode::OK
    );
    let reply = poll.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    let json = reply.json();
    assert_eq!(bodies(&json), ["secure-id-1"]);
    assert_eq!(json["deliveries"][0]["encoding"], "utf8");
    assert_eq!(json["handle"], device.handle.as_str());
    assert!(
        h.gw.inbox(&device).unwrap().is_empty(),
        "reading takes the deliveries"
    );
}

#[tokio::test]
async fn control_inbox_waits_for_the_given_time_then_answers_empty() {
    let h = Harness::start().await;
    let device = create_device(&h, "apns").await;
    let started = Instant::now();
    let reply = control(&h, "GET", &inbox_path(&device, "wait=0.3"), None).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, StatusCode::OK);
    assert!(bodies(&reply.json()).is_empty());
}

#[tokio::test]
async fn control_inbox_returns_queued_deliveries_oldest_first_with_a_limit() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    for text in ["a", "b", "c"] {
        wns_push(&token, &device, text).await;
    }
    let first = control(&h, "GET", &inbox_path(&device, "limit=2"), None).await;
    assert_eq!(bodies(&first.json()), ["a", "b"]);
    let rest = control(&h, "GET", &inbox_path(&device, ""), None).await;
    assert_eq!(bodies(&rest.json()), ["c"]);
}

#[tokio::test]
async fn control_inbox_encodes_binary_bodies_in_base64() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    let request = wns_raw(&device.handle, &token)
        .body(body(vec![0xffu8, 0x00]))
        .unwrap();
    assert_eq!(http1_send(request).await.status, StatusCode::OK);
    let json = control(&h, "GET", &inbox_path(&device, ""), None)
        .await
        .json();
    assert_eq!(json["deliveries"][0]["encoding"], "base64");
    assert_eq!(json["deliveries"][0]["body"], "/wA=");
}

#[tokio::test]
async fn control_inbox_of_an_unknown_device_is_404_and_bad_waits_are_400() {
    let h = Harness::start().await;
    let reply = control(&h, "GET", "/devices/0000/inbox", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let device = create_device(&h, "fcm").await;
    for query in [
        "wait=-1",
        "wait=soon",
        "limit=0",
        "limit=100000",
        "timeout=1",
    ] {
        let reply = control(&h, "GET", &inbox_path(&device, query), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn control_deletes_a_device() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let path = format!("/devices/{}", path_segment(&device.handle));
    assert_eq!(
        control(&h, "DELETE", &path, None).await.status,
        StatusCode::OK
    );
    assert!(h.gw.inbox(&device).is_none());
    assert_eq!(
        control(&h, "DELETE", &path, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn control_captures_are_paged_oldest_first_with_a_next_cursor() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    for n in 0..5 {
        wns_push(&token, &device, &n.to_string()).await;
    }
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = control(&h, "GET", &format!("/captures?{query}"), None)
            .await
            .json();
        seen.extend(seqs(&page));
        if !page["more"].as_bool().unwrap() {
            break;
        }
        query = format!("limit=2&after={}", page["next"]);
    }
    let all: Vec<u64> = h.gw.captures().iter().map(|c| c.seq).collect();
    assert_eq!(seen, all);
    assert_eq!(all.len(), 6, "a token request and five pushes");
    let empty = control(&h, "GET", &format!("/captures?after={}", all[5]), None)
        .await
        .json();
    assert_eq!(
        (seqs(&empty), empty["next"].as_u64()),
        (vec![], Some(all[5]))
    );
}

#[tokio::test]
async fn control_captures_filter_by_device_verdict_platform_and_kind() {
    let h = Harness::start().await;
    let one = create_device(&h, "wns").await;
    let two = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    wns_push(&token, &one, "1").await;
    wns_push(&token, &two, "2").await;
    wns_push(&token, &two, &"x".repeat(6000)).await; // 413
    let count = |query: String| {
        let h = &h;
        async move {
            let reply = control(h, "GET", &format!("/captures?{query}"), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}");
            seqs(&reply.json()).len()
        }
    };
    let two_segment = path_segment(&two.handle);
    assert_eq!(count(format!("device={two_segment}")).await, 2);
    assert_eq!(
        count(format!("device={two_segment}&verdict=accepted")).await,
        1
    );
    assert_eq!(count("verdict=rejected".into()).await, 1);
    assert_eq!(count("kind=token".into()).await, 1);
    assert_eq!(count("platform=wns&kind=push".into()).await, 3);
    assert_eq!(count("platform=apns".into()).await, 0);
    let bad = control(&h, "GET", "/captures?verdict=maybe", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn control_requests_are_not_captured_or_counted() {
    let h = Harness::start().await;
    create_device(&h, "apns").await;
    control(&h, "GET", "/counters", None).await;
    control(&h, "GET", "/captures", None).await;
    control(&h, "GET", "/nowhere", None).await;
    assert_eq!(h.gw.capture_stats().total, 0);
    assert_eq!(h.gw.counters().fcm.rejected.len(), 0);
}

#[tokio::test]
async fn control_faults_can_be_set_listed_and_cleared() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    let rule = json!({
        "platform": "wns",
        "fault": { "kind": "throttle", "rate_per_sec": 0.5, "burst": 1 },
    });
    let set = control(&h, "POST", "/faults", Some(&rule)).await;
    assert_eq!(set.status, StatusCode::CREATED, "{:?}", set.body);
    let id = set.json()["ids"][0].as_u64().unwrap();
    assert_eq!(wns_push(&token, &device, "1").await.status, StatusCode::OK);
    let throttled = wns_push(&token, &device, "2").await;
    assert_eq!(throttled.status, StatusCode::NOT_ACCEPTABLE);
    assert!(throttled.header("x-wns-continue-after").is_some());

    let listed = control(&h, "GET", "/faults", None).await.json();
    assert_eq!(listed["rules"][0]["id"].as_u64(), Some(id));
    assert_eq!(listed["rules"][0]["applied"].as_u64(), Some(1));
    assert_eq!(listed["rules"][0]["fault"]["kind"], "throttle");

    let path = format!("/faults/{id}");
    assert_eq!(
        control(&h, "DELETE", &path, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        control(&h, "DELETE", &path, None).await.status,
        StatusCode::NOT_FOUND
    );
    let rules = json!([rule, { "platform": "fcm", "fault": { "kind": "drop" } }]);
    assert_eq!(
        control(&h, "POST", "/faults", Some(&rules)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(h.gw.faults().len(), 2);
    assert_eq!(
        control(&h, "DELETE", "/faults", None).await.status,
        StatusCode::OK
    );
    assert!(h.gw.faults().is_empty());
    assert_eq!(wns_push(&token, &device, "3").await.status, StatusCode::OK);
}

#[tokio::test]
async fn control_refuses_invalid_fault_rules_all_or_none() {
    let h = Harness::start().await;
    let good = json!({ "platform": "fcm", "fault": { "kind": "drop" } });
    for bad in [
        json!({ "platform": "fcm", "fault": { "kind": "drop" }, "probability": 2.0 }),
        json!({ "platform": "fcm", "fault": { "kind": "explode" } }),
        json!({ "platform": "fcm", "fault": { "kind": "status", "status": 200 } }),
        json!([good, { "platform": "wns", "device": "no-token-here", "fault": { "kind": "drop" } }]),
    ] {
        let reply = control(&h, "POST", "/faults", Some(&bad)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(reply.json()["error"].is_string());
    }
    assert!(h.gw.faults().is_empty());
}

#[tokio::test]
async fn control_reset_clears_captures_inboxes_and_faults_but_keeps_devices() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    wns_push(&token, &device, "before").await;
    let rule = json!({ "platform": "apns", "fault": { "kind": "drop" } });
    control(&h, "POST", "/faults", Some(&rule)).await;

    assert_eq!(
        control(&h, "POST", "/reset", None).await.status,
        StatusCode::OK
    );
    assert!(h.gw.captures().is_empty());
    assert!(h.gw.faults().is_empty());
    assert!(h.gw.inbox(&device).unwrap().is_empty());
    assert_eq!(h.gw.counters().wns.accepted, 0);
    assert_eq!(
        control(&h, "GET", "/counters", None).await.json()["captures"]["total"],
        0,
        "the capture total counts from the reset"
    );
    // The device and the access token still work.
    assert_eq!(
        wns_push(&token, &device, "after").await.status,
        StatusCode::OK
    );
    let inbox = control(&h, "GET", &inbox_path(&device, ""), None)
        .await
        .json();
    assert_eq!(bodies(&inbox), ["after"]);
}

#[tokio::test]
async fn control_counters_report_verdicts_by_platform() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    wns_push(&token, &device, "ok").await;
    wns_push(&token, &device, &"x".repeat(6000)).await;
    let counters = control(&h, "GET", "/counters", None).await.json();
    let wns = &counters["wns"];
    assert_eq!(wns["accepted"], 1);
    assert_eq!(wns["rejected"]["413"], 1);
    assert_eq!(wns["token_requests"], 1);
    assert_eq!(wns["tokens_issued"], 1);
    assert_eq!(wns["captures_kept"], 3);
    assert_eq!(counters["apns"]["accepted"], 0);
    assert_eq!(counters["captures"]["total"], 3);
}

#[tokio::test]
async fn control_errors_are_json_with_a_status() {
    let h = Harness::start().await;
    let missing = control(&h, "GET", "/nowhere", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"].is_string());
    let wrong = control(&h, "PUT", "/captures", None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.header("allow"), Some("GET"));
    let typo = control(&h, "GET", "/captures?aftr=1", None).await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    let request = http::Request::post(format!("{}/__pushproof/faults", h.gw.wns_url()))
        .body(body("{not json"))
        .unwrap();
    assert_eq!(http1_send(request).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn control_api_answers_on_every_listener() {
    let h = Harness::start().await;
    let mut apns = h2_connect(&h.gw.apns_url()).await;
    let request = http::Request::get(format!("{}/__pushproof/counters", h.gw.apns_url()))
        .body(body(""))
        .unwrap();
    assert_eq!(h2_send(&mut apns, request).await.status, StatusCode::OK);
    let request = http::Request::get(format!("{}/__pushproof/counters", h.gw.wns_url()))
        .body(body(""))
        .unwrap();
    assert_eq!(http1_send(request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn capture_file_lines_parse_as_json_and_match_the_captures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("captures.jsonl");
    let config = GatewayConfig {
        capture_file: Some(path.clone()),
        ..GatewayConfig::default()
    };
    let h = Harness::with_config(config).await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    wns_push(&token, &device, "one").await;
    http1_send(
        wns_raw(&device.handle, &token)
            .body(body(vec![0xfeu8]))
            .unwrap(),
    )
    .await;
    wns_push(&token, &device, &"x".repeat(6000)).await; // 413
    h.gw.flush_capture_file().await;

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let captures = h.gw.captures();
    assert_eq!(lines.len(), captures.len());
    assert_eq!(lines.len(), 4);
    for (line, capture) in lines.iter().zip(&captures) {
        assert_eq!(line["seq"].as_u64(), Some(capture.seq));
        assert_eq!(line["status"].as_u64(), Some(u64::from(capture.status)));
        assert_eq!(line["path"].as_str(), Some(capture.path.as_str()));
        assert_eq!(line["platform"], "wns");
        let body = match line["encoding"].as_str().unwrap() {
            "utf8" => line["body"].as_str().unwrap().as_bytes().to_vec(),
            _ => base64_decode(line["body"].as_str().unwrap()),
        };
        assert_eq!(body, capture.body.as_ref());
    }
    let stats = h.gw.capture_stats();
    assert_eq!((stats.file_written, stats.file_dropped), (4, 0));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn control_counts_tokens_issued_on_every_platform() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    // Two provider tokens, one connection each: two verified.
    for iat in [now(), now() - 1] {
        let jwt = apns_jwt_with(
            &h,
            h.var("PUSHPROOF_APNS_KEY_ID"),
            h.var("PUSHPROOF_APNS_TEAM_ID"),
            iat,
        );
        apns::push(&h, apns_request(&h, &device.handle, &jwt), ALERT).await;
    }
    fcm_access_token(&h).await;
    fcm_access_token(&h).await;
    wns_access_token(&h).await;
    let counters = control(&h, "GET", "/counters", None).await.json();
    assert_eq!(counters["apns"]["tokens_issued"], 2);
    assert_eq!(counters["fcm"]["tokens_issued"], 2);
    assert_eq!(counters["wns"]["tokens_issued"], 1);
}

#[tokio::test]
async fn control_captures_carry_their_verdict() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    let token = wns_access_token(&h).await;
    wns_push(&token, &device, "ok").await;
    wns_push("stale", &device, "refused").await;
    let page = control(&h, "GET", "/captures?kind=push", None).await.json();
    let verdicts: Vec<&str> = page["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["accepted", "rejected"]);
}

#[tokio::test]
async fn control_refuses_an_unencoded_device_handle_with_a_400_that_says_so() {
    let h = Harness::start().await;
    let device = create_device(&h, "wns").await;
    // The WNS handle as is: `http://…/?token=…` in the path.
    let reply = control(
        &h,
        "GET",
        &format!("/devices/{}/inbox", device.handle),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    let message = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(message.contains("percent-encoded"), "{message}");
}

#[tokio::test]
async fn control_refuses_an_expire_fault_without_a_moment() {
    let h = Harness::start().await;
    let rule = json!({ "platform": "apns", "fault": { "kind": "expire" } });
    let reply = control(&h, "POST", "/faults", Some(&rule)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert!(h.gw.faults().is_empty());
}
