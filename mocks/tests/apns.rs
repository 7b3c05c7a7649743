//! Mock APNs over h2c: the success path and each rejection, with Apple's
//! status codes and reason strings, in Pushy's validation order.

#![allow(clippy::unwrap_used)]

mod support;

use http::{Request, StatusCode};
use pushproof_mocks::{ApnsEnvironment, CaptureKind, GatewayConfig, Platform};
use support::apns::*;
use support::*;

const APNS_ID: &str = "123E4567-E89B-12D3-A456-426614174000";

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
    // Production, the default, has no delivery log to point into.
    assert_eq!(reply.header("apns-unique-id"), None);

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
async fn apns_development_answers_with_an_apns_unique_id() {
    let h = Harness::with_config(GatewayConfig {
        apns_environment: ApnsEnvironment::Development,
        ..GatewayConfig::default()
    })
    .await;
    let device = h.gw.register_device(Platform::Apns);
    let reply = push(&h, apns_request(&h, &device.handle, &apns_jwt(&h)), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK);
    let unique = reply.header("apns-unique-id").unwrap();
    assert!(
        uuid::Uuid::try_parse(unique).is_ok() && unique.len() == 36,
        "{unique}"
    );
    assert_ne!(Some(unique), reply.header("apns-id"));
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
async fn apns_accepts_a_fractional_iat() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt_float_iat(&h, now() as f64 + 0.771);
    let reply = push(&h, apns_request(&h, &device.handle, &jwt), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // Still aged by it: a fractional iat over an hour old is expired.
    let old = apns_jwt_float_iat(&h, now() as f64 - 3700.5);
    let reply = push(&h, apns_request(&h, &device.handle, &old), ALERT).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "ExpiredProviderToken");
}

#[tokio::test]
async fn apns_captures_an_aborted_upload_as_400_payload_empty() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let stream = tokio::net::TcpStream::connect(h.gw.addr(Platform::Apns))
        .await
        .unwrap();
    let (send, conn) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(conn);
    let mut send = send.ready().await.unwrap();
    let request = apns_request(&h, &device.handle, &apns_jwt(&h))
        .header("content-length", "100")
        .body(())
        .unwrap();
    let (_response, mut upload) = send.send_request(request, false).unwrap();
    upload
        .send_data(bytes::Bytes::from_static(b"{\"aps\":"), false)
        .unwrap();
    upload.send_reset(h2::Reason::CANCEL);
    let capture = eventually(|| h.gw.captures().into_iter().next()).await;
    assert_eq!(capture.status, 400);
    assert_eq!(capture.reason.as_deref(), Some("PayloadEmpty"));
    assert_eq!(capture.body.as_ref(), b"{\"aps\":");
    assert!(h.gw.inbox(&device).unwrap().is_empty());
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
