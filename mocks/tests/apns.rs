//! Mock APNs over h2c: the success path and each rejection, with Apple's
//! status codes and reason strings, in Pushy's validation order.

#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future as _;

use http::{Request, StatusCode};
use pushproof_mocks::{CaptureKind, Platform};
use support::*;

const APNS_ID: &str = "123E4567-E89B-12D3-A456-426614174000";

async fn push(h: &Harness, request: http::request::Builder, payload: &str) -> Reply {
    let mut client = h2_connect(h.var("PUSHPROOF_APNS_URL")).await;
    h2_send(&mut client, request.body(body(payload.to_owned())).unwrap()).await
}

/// Asserts an APNs error: status, `{"reason":…}` JSON and an apns-id.
fn assert_rejected(reply: &Reply, status: StatusCode, reason: &str) {
    assert_eq!(reply.status, status, "body: {:?}", reply.body);
    assert_eq!(reply.reason(), reason);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("apns-id").map(str::len), Some(36));
}

#[tokio::test]
async fn apns_accepts_valid_push_and_delivers_to_device() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let request = apns_request(&h, &device.handle, &jwt)
        .header("apns-id", APNS_ID)
        .header("apns-priority", "10");
    let reply = push(&h, request, ALERT).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.ended_on_headers, "a success must be HEADERS only");
    assert!(reply.body.is_empty());
    assert_eq!(reply.header("apns-id"), Some(APNS_ID));
    assert_eq!(reply.header("apns-unique-id").map(str::len), Some(36));

    let delivery = h.gw.inbox(&device).unwrap().try_recv().unwrap();
    assert_eq!(delivery.platform, Platform::Apns);
    assert_eq!(delivery.body.as_ref(), ALERT.as_bytes());
    assert_eq!(delivery.header("apns-topic"), Some("com.example.pushproof"));
    assert_eq!(delivery.header("apns-id"), Some(APNS_ID));
    assert!(delivery.header("authorization").is_none());

    let captures = h.gw.captures();
    assert_eq!(captures.len(), 1);
    let capture = &captures[0];
    assert_eq!(capture.platform, Platform::Apns);
    assert_eq!(capture.kind, CaptureKind::Push);
    assert_eq!(capture.status, 200);
    assert_eq!(capture.reason, None);
    assert_eq!(capture.device.as_deref(), Some(device.handle.as_str()));
    assert_eq!(capture.path, format!("/3/device/{}", device.handle));
    assert_eq!(capture.body.as_ref(), ALERT.as_bytes());
}

#[tokio::test]
async fn apns_generates_a_canonical_apns_id_when_absent() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let reply = push(&h, apns_request(&h, &device.handle, &apns_jwt(&h)), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK);
    let id = reply.header("apns-id").unwrap();
    assert!(uuid::Uuid::try_parse(id).is_ok() && id.len() == 36, "{id}");
}

#[tokio::test]
async fn apns_accepts_uppercase_device_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let token = device.handle.to_ascii_uppercase();
    let reply = push(&h, apns_request(&h, &token, &apns_jwt(&h)), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
}

#[tokio::test]
async fn apns_rejects_malformed_apns_id() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request = apns_request(&h, &device.handle, &apns_jwt(&h))
        .header("apns-id", "123e4567e89b12d3a456426614174000");
    let reply = push(&h, request, ALERT).await;
    assert_rejected(&reply, StatusCode::BAD_REQUEST, "BadMessageId");
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn apns_rejects_methods_other_than_post() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request = apns_request(&h, &device.handle, &apns_jwt(&h)).method("GET");
    assert_rejected(
        &push(&h, request, "").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
    );
}

#[tokio::test]
async fn apns_rejects_missing_topic() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
        .header("authorization", format!("bearer {}", apns_jwt(&h)));
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "MissingTopic",
    );
}

#[tokio::test]
async fn apns_rejects_collapse_id_over_64_bytes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let ok = apns_request(&h, &device.handle, &jwt).header("apns-collapse-id", "c".repeat(64));
    assert_eq!(push(&h, ok, ALERT).await.status, StatusCode::OK);
    let long = apns_request(&h, &device.handle, &jwt).header("apns-collapse-id", "c".repeat(65));
    assert_rejected(
        &push(&h, long, ALERT).await,
        StatusCode::BAD_REQUEST,
        "BadCollapseId",
    );
}

#[tokio::test]
async fn apns_rejects_priority_other_than_10_5_or_1() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request = apns_request(&h, &device.handle, &apns_jwt(&h)).header("apns-priority", "7");
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "BadPriority",
    );
}

#[tokio::test]
async fn apns_rejects_unknown_push_type() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
        .header("authorization", format!("bearer {}", apns_jwt(&h)))
        .header("apns-topic", "com.example.pushproof")
        .header("apns-push-type", "popup");
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "InvalidPushType",
    );
}

#[tokio::test]
async fn apns_rejects_non_numeric_expiration() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request =
        apns_request(&h, &device.handle, &apns_jwt(&h)).header("apns-expiration", "tomorrow");
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "BadExpirationDate",
    );
}

#[tokio::test]
async fn apns_rejects_missing_device_token() {
    let h = Harness::start().await;
    let request = apns_request(&h, "", &apns_jwt(&h));
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "MissingDeviceToken",
    );
}

#[tokio::test]
async fn apns_rejects_non_hex_device_token() {
    let h = Harness::start().await;
    let request = apns_request(&h, &"z".repeat(64), &apns_jwt(&h));
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "BadDeviceToken",
    );
}

#[tokio::test]
async fn apns_rejects_unregistered_device_token() {
    let h = Harness::start().await;
    let request = apns_request(&h, &"ab".repeat(32), &apns_jwt(&h));
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "BadDeviceToken",
    );
}

#[tokio::test]
async fn apns_rejects_device_forgotten_by_unregister() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    assert!(h.gw.unregister_device(&device));
    let request = apns_request(&h, &device.handle, &apns_jwt(&h));
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "BadDeviceToken",
    );
}

#[tokio::test]
async fn apns_rejects_unknown_path() {
    let h = Harness::start().await;
    let request = Request::post(format!("{}/3/devices/abc", h.gw.apns_url()))
        .header("authorization", format!("bearer {}", apns_jwt(&h)))
        .header("apns-topic", "com.example.pushproof");
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::NOT_FOUND,
        "BadPath",
    );
}

#[tokio::test]
async fn apns_rejects_missing_provider_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
        .header("apns-topic", "com.example.pushproof");
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::FORBIDDEN,
        "MissingProviderToken",
    );
}

#[tokio::test]
async fn apns_rejects_provider_token_signed_with_another_key() {
    let h = Harness::start().await;
    let other = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    // Same kid and team, but the other run's key.
    let jwt = apns_jwt(&other);
    let reply = push(&h, apns_request(&h, &device.handle, &jwt), ALERT).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "InvalidProviderToken");
}

#[tokio::test]
async fn apns_rejects_provider_token_with_wrong_key_id() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt_with(&h, "WRONGKEY01", h.var("PUSHPROOF_APNS_TEAM_ID"), now());
    let reply = push(&h, apns_request(&h, &device.handle, &jwt), ALERT).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "InvalidProviderToken");
}

#[tokio::test]
async fn apns_rejects_provider_token_of_another_team() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt_with(&h, h.var("PUSHPROOF_APNS_KEY_ID"), "OTHERTEAM1", now());
    let reply = push(&h, apns_request(&h, &device.handle, &jwt), ALERT).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "InvalidProviderToken");
}

#[tokio::test]
async fn apns_rejects_unparsable_provider_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let reply = push(&h, apns_request(&h, &device.handle, "not.a.jwt"), ALERT).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "InvalidProviderToken");
}

#[tokio::test]
async fn apns_rejects_provider_token_older_than_one_hour() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt_with(
        &h,
        h.var("PUSHPROOF_APNS_KEY_ID"),
        h.var("PUSHPROOF_APNS_TEAM_ID"),
        now() - 3700,
    );
    let reply = push(&h, apns_request(&h, &device.handle, &jwt), ALERT).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "ExpiredProviderToken");
}

#[tokio::test]
async fn apns_accepts_bearer_scheme_in_any_case() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for scheme in ["bearer", "Bearer", "BEARER"] {
        let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
            .header("authorization", format!("{scheme} {jwt}"))
            .header("apns-topic", "com.example.pushproof")
            .body(body(ALERT))
            .unwrap();
        assert_eq!(
            h2_send(&mut client, request).await.status,
            StatusCode::OK,
            "{scheme}"
        );
    }
}

#[tokio::test]
async fn apns_rejects_topic_of_another_app() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
        .header("authorization", format!("bearer {}", apns_jwt(&h)))
        .header("apns-topic", "com.example.other");
    assert_rejected(
        &push(&h, request, ALERT).await,
        StatusCode::BAD_REQUEST,
        "DeviceTokenNotForTopic",
    );
}

#[tokio::test]
async fn apns_requires_voip_topic_suffix_and_allows_5120_bytes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let payload = format!(r#"{{"aps":{{}},"pad":"{}"}}"#, "x".repeat(5000));
    let voip = |topic: &str| {
        Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-push-type", "voip")
            .header("apns-topic", topic.to_owned())
    };
    let wrong = push(&h, voip("com.example.pushproof"), &payload).await;
    assert_rejected(&wrong, StatusCode::BAD_REQUEST, "DeviceTokenNotForTopic");
    let right = push(&h, voip("com.example.pushproof.voip"), &payload).await;
    assert_eq!(right.status, StatusCode::OK);
}

#[tokio::test]
async fn apns_rejects_background_push_without_priority_5() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let background = |priority: &str| {
        Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", "com.example.pushproof")
            .header("apns-push-type", "background")
            .header("apns-priority", priority.to_owned())
    };
    let payload = r#"{"aps":{"content-available":1},"secureId":"42"}"#;
    assert_rejected(
        &push(&h, background("10"), payload).await,
        StatusCode::BAD_REQUEST,
        "BadPriority",
    );
    assert_eq!(
        push(&h, background("5"), payload).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn apns_rejects_empty_payload() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let reply = push(&h, apns_request(&h, &device.handle, &apns_jwt(&h)), "").await;
    assert_rejected(&reply, StatusCode::BAD_REQUEST, "PayloadEmpty");
}

#[tokio::test]
async fn apns_rejects_payload_over_4096_bytes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    // A JSON object of exactly 4096 bytes: `{"p":"xx…"}`.
    let exactly = format!(r#"{{"p":"{}"}}"#, "x".repeat(4096 - 8));
    assert_eq!(exactly.len(), 4096);
    assert_eq!(
        push(&h, apns_request(&h, &device.handle, &jwt), &exactly)
            .await
            .status,
        StatusCode::OK
    );
    let over = "x".repeat(4097);
    let reply = push(&h, apns_request(&h, &device.handle, &jwt), &over).await;
    assert_rejected(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    // Far beyond the read limit: still the same verdict, no hang.
    let huge = "x".repeat(200_000);
    let reply = push(&h, apns_request(&h, &device.handle, &jwt), &huge).await;
    assert_rejected(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
}

#[tokio::test]
async fn apns_validates_in_pushy_order() {
    let h = Harness::start().await;
    // Bad apns-id beats everything, even a wrong method and no topic.
    let request = Request::get(format!("{}/nowhere", h.gw.apns_url())).header("apns-id", "nope");
    assert_rejected(
        &push(&h, request, "").await,
        StatusCode::BAD_REQUEST,
        "BadMessageId",
    );
    // Method before topic.
    let request = Request::get(format!("{}/nowhere", h.gw.apns_url()));
    assert_rejected(
        &push(&h, request, "").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
    );
    // Header checks before the path.
    let request = Request::post(format!("{}/nowhere", h.gw.apns_url()));
    assert_rejected(
        &push(&h, request, "").await,
        StatusCode::BAD_REQUEST,
        "MissingTopic",
    );
    // The path before auth: an unknown device is reported without a token.
    let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), "ab".repeat(32)))
        .header("apns-topic", "com.example.pushproof");
    assert_rejected(
        &push(&h, request, "").await,
        StatusCode::BAD_REQUEST,
        "BadDeviceToken",
    );
    // Auth before the topic match and the payload.
    let device = h.gw.register_device(Platform::Apns);
    let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
        .header("apns-topic", "com.example.other");
    assert_rejected(
        &push(&h, request, "").await,
        StatusCode::FORBIDDEN,
        "MissingProviderToken",
    );
    // Topic match before the payload.
    let request = Request::post(format!("{}/3/device/{}", h.gw.apns_url(), device.handle))
        .header("authorization", format!("bearer {}", apns_jwt(&h)))
        .header("apns-topic", "com.example.other");
    assert_rejected(
        &push(&h, request, "").await,
        StatusCode::BAD_REQUEST,
        "DeviceTokenNotForTopic",
    );
    // Every rejection was captured with its reason.
    let reasons: Vec<_> =
        h.gw.captures()
            .into_iter()
            .map(|c| c.reason.unwrap())
            .collect();
    assert_eq!(
        reasons,
        [
            "BadMessageId",
            "MethodNotAllowed",
            "MissingTopic",
            "BadDeviceToken",
            "MissingProviderToken",
            "DeviceTokenNotForTopic"
        ]
    );
}

#[tokio::test]
async fn apns_serves_many_concurrent_streams_on_one_connection() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let client = h2_connect(&h.gw.apns_url()).await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let mut client = client.clone();
        let request = apns_request(&h, &device.handle, &jwt)
            .body(body(format!(r#"{{"aps":{{}},"n":{n}}}"#)))
            .unwrap();
        tasks.push(tokio::spawn(async move {
            h2_send(&mut client, request).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 200);
    assert_eq!(h.gw.capture_stats().total, 200);
}

// ------------------------------------------------ per-connection rules

/// A provider token for the mock's key, of `team`, issued at `iat`.
fn jwt_of(h: &Harness, team: &str, iat: i64) -> String {
    apns_jwt_with(h, h.var("PUSHPROOF_APNS_KEY_ID"), team, iat)
}

async fn send_on(
    h: &Harness,
    client: &mut hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    token: &str,
    jwt: &str,
) -> Reply {
    let request = apns_request(h, token, jwt).body(body(ALERT)).unwrap();
    h2_send(client, request).await
}

#[tokio::test]
async fn apns_rejects_token_refresh_within_20_minutes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let team = h.var("PUSHPROOF_APNS_TEAM_ID");
    let first = jwt_of(&h, team, now() - 60);
    let second = jwt_of(&h, team, now());
    let mut client = h2_connect(&h.gw.apns_url()).await;
    assert_eq!(
        send_on(&h, &mut client, &device.handle, &first)
            .await
            .status,
        StatusCode::OK
    );
    let reply = send_on(&h, &mut client, &device.handle, &second).await;
    assert_rejected(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyProviderTokenUpdates",
    );
    // The connection keeps its token; another connection takes the new one.
    assert_eq!(
        send_on(&h, &mut client, &device.handle, &first)
            .await
            .status,
        StatusCode::OK
    );
    let reply = push(&h, apns_request(&h, &device.handle, &second), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn apns_allows_token_refresh_after_20_minutes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let team = h.var("PUSHPROOF_APNS_TEAM_ID");
    // Back-dated `iat`s stand in for a clock: the first token is 21
    // minutes old when the second replaces it.
    let old = jwt_of(&h, team, now() - 21 * 60);
    let fresh = jwt_of(&h, team, now());
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for jwt in [&old, &fresh, &fresh] {
        let reply = send_on(&h, &mut client, &device.handle, jwt).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    // Going back to the old token is another update, too soon after the
    // fresh one.
    let reply = send_on(&h, &mut client, &device.handle, &old).await;
    assert_rejected(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyProviderTokenUpdates",
    );
}

#[tokio::test]
async fn apns_binds_one_team_per_connection() {
    let config = pushproof_mocks::GatewayConfig {
        apns_extra_team_ids: vec!["PPTEAM5678".to_owned()],
        ..Default::default()
    };
    let h = Harness::with_config(config).await;
    let device = h.gw.register_device(Platform::Apns);
    let first = jwt_of(&h, h.var("PUSHPROOF_APNS_TEAM_ID"), now() - 30 * 60);
    let other = jwt_of(&h, "PPTEAM5678", now());
    let mut client = h2_connect(&h.gw.apns_url()).await;
    assert_eq!(
        send_on(&h, &mut client, &device.handle, &first)
            .await
            .status,
        StatusCode::OK
    );
    // Late enough to refresh, but another team: refused on this connection.
    let reply = send_on(&h, &mut client, &device.handle, &other).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "InvalidProviderToken");
    // The other team is valid on a connection of its own.
    let reply = push(&h, apns_request(&h, &device.handle, &other), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK);
}

// ------------------------------------------------ headers and payload

#[tokio::test]
async fn apns_rejects_duplicate_apns_headers() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    let twice = apns_request(&h, &device.handle, &jwt)
        .header("apns-priority", "10")
        .header("apns-priority", "10")
        .body(body(ALERT))
        .unwrap();
    assert_rejected(
        &h2_send(&mut client, twice).await,
        StatusCode::BAD_REQUEST,
        "DuplicateHeaders",
    );
    // Other headers may repeat.
    let other = apns_request(&h, &device.handle, &jwt)
        .header("accept", "application/json")
        .header("accept", "*/*")
        .body(body(ALERT))
        .unwrap();
    assert_eq!(h2_send(&mut client, other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn apns_rejects_payload_that_is_not_a_json_object() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for payload in ["hello", r#"["aps"]"#, r#"{"aps":{"alert":"cut"#] {
        let request = apns_request(&h, &device.handle, &jwt)
            .body(body(payload))
            .unwrap();
        let reply = h2_send(&mut client, request).await;
        assert_rejected(&reply, StatusCode::BAD_REQUEST, "PayloadEmpty");
    }
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn apns_accepts_expiration_as_absolute_epoch_seconds() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for expiration in [(now() + 3600).to_string(), "0".to_owned()] {
        let request = apns_request(&h, &device.handle, &jwt)
            .header("apns-expiration", expiration.as_str())
            .body(body(ALERT))
            .unwrap();
        let reply = h2_send(&mut client, request).await;
        assert_eq!(reply.status, StatusCode::OK, "{expiration}");
    }
    let request = apns_request(&h, &device.handle, &jwt)
        .header("apns-expiration", "-1")
        .body(body(ALERT))
        .unwrap();
    assert_rejected(
        &h2_send(&mut client, request).await,
        StatusCode::BAD_REQUEST,
        "BadExpirationDate",
    );
}

// ------------------------------------------------ HTTP/2 frames

/// A raw h2 client, driven by the test's own task so the SETTINGS the
/// server sent can be read between requests.
struct RawClient {
    send: h2::client::SendRequest<bytes::Bytes>,
    conn: h2::client::Connection<tokio::net::TcpStream, bytes::Bytes>,
}

impl RawClient {
    async fn connect(h: &Harness) -> RawClient {
        let stream = tokio::net::TcpStream::connect(h.gw.addr(Platform::Apns))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let (send, conn) = h2::client::handshake(stream).await.unwrap();
        RawClient { send, conn }
    }

    /// Runs `future` while driving the connection.
    async fn drive<T>(
        conn: &mut h2::client::Connection<tokio::net::TcpStream, bytes::Bytes>,
        future: impl std::future::Future<Output = T>,
    ) -> T {
        let mut future = std::pin::pin!(future);
        let run = std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(value) = future.as_mut().poll(cx) {
                return std::task::Poll::Ready(value);
            }
            if let std::task::Poll::Ready(result) = std::pin::Pin::new(&mut *conn).poll(cx) {
                panic!("the connection ended: {result:?}");
            }
            std::task::Poll::Pending
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .expect("no progress within 10 s")
    }

    /// The MAX_CONCURRENT_STREAMS the server announced last.
    fn limit(&self) -> usize {
        self.conn.max_concurrent_send_streams()
    }

    /// Drives the connection until the announced limit is `limit`.
    async fn until_limit(&mut self, limit: usize) {
        let conn = &mut self.conn;
        let reached = std::future::poll_fn(|cx| {
            let _ = std::pin::Pin::new(&mut *conn).poll(cx);
            if conn.max_concurrent_send_streams() == limit {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), reached)
            .await
            .unwrap_or_else(|_| panic!("the limit stayed {}, not {limit}", self.limit()));
    }

    /// Sends a push and returns its status; the SETTINGS the push caused
    /// precede its response, so they are applied by then.
    async fn push(&mut self, request: http::request::Builder, payload: &str) -> StatusCode {
        let send = self.send.clone();
        let mut send = Self::drive(&mut self.conn, send.ready()).await.unwrap();
        let (response, mut stream) = send.send_request(request.body(()).unwrap(), false).unwrap();
        stream
            .send_data(bytes::Bytes::from(payload.to_owned()), true)
            .unwrap();
        let response = Self::drive(&mut self.conn, response).await.unwrap();
        let status = response.status();
        let mut body = response.into_body();
        while let Some(chunk) = Self::drive(&mut self.conn, body.data()).await {
            let chunk = chunk.unwrap();
            body.flow_control().release_capacity(chunk.len()).unwrap();
        }
        status
    }
}

#[tokio::test]
async fn apns_allows_one_stream_until_a_valid_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let mut client = RawClient::connect(&h).await;
    client.until_limit(1).await;
    let forged = apns_request(&h, &device.handle, "not.a.jwt");
    assert_eq!(client.push(forged, ALERT).await, StatusCode::FORBIDDEN);
    assert_eq!(client.limit(), 1);
    let valid = apns_request(&h, &device.handle, &apns_jwt(&h));
    assert_eq!(client.push(valid, ALERT).await, StatusCode::OK);
    client.until_limit(1000).await;
}

#[tokio::test]
async fn apns_announces_one_stream_after_a_rejected_push() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = RawClient::connect(&h).await;
    let valid = || apns_request(&h, &device.handle, &jwt);
    assert_eq!(client.push(valid(), ALERT).await, StatusCode::OK);
    client.until_limit(1000).await;
    for _ in 0..2 {
        let rejected = valid().header("apns-priority", "7");
        assert_eq!(client.push(rejected, ALERT).await, StatusCode::BAD_REQUEST);
        client.until_limit(1).await;
        // The next accepted push restores the limit.
        assert_eq!(client.push(valid(), ALERT).await, StatusCode::OK);
        client.until_limit(1000).await;
    }
}

#[tokio::test]
async fn apns_sends_goaway_on_shutdown() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let mut client = RawClient::connect(&h).await;
    let valid = apns_request(&h, &device.handle, &apns_jwt(&h));
    assert_eq!(client.push(valid, ALERT).await, StatusCode::OK);
    let Harness { gw, .. } = h;
    let shutdown = tokio::spawn(gw.shutdown());
    // The server says goodbye and closes; the connection ends cleanly.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), &mut client.conn).await;
    ended.expect("the server closed the connection").unwrap();
    let request = Request::post("http://localhost/3/device/00")
        .body(())
        .unwrap();
    let error = client.send.send_request(request, true).unwrap_err();
    assert!(error.is_go_away() && error.is_remote(), "{error:?}");
    assert_eq!(error.reason(), Some(h2::Reason::NO_ERROR));
    shutdown.await.unwrap();
}
