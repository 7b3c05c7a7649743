//! Mock FCM HTTP v1 and its OAuth token endpoint: the service-account flow,
//! the send path and each rejection with Google's status and error body.

#![allow(clippy::unwrap_used)]

mod support;

use http::{Request, StatusCode};
use pushproof_mocks::{CaptureKind, Platform};
use serde_json::{json, Value};
use support::*;

// ------------------------------------------------------------ token endpoint

#[tokio::test]
async fn fcm_token_endpoint_issues_access_token_for_valid_assertion() {
    let h = Harness::start().await;
    let reply = fcm_token_request(&h, &assertion_form(&fcm_assertion(&h, &fcm_claims(&h)))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let json = reply.json();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3599);
    assert!(json["access_token"].as_str().unwrap().len() > 20);
    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(
        (capture.platform, capture.kind, capture.status),
        (Platform::Fcm, CaptureKind::Token, 200)
    );
}

#[tokio::test]
async fn fcm_token_endpoint_accepts_cloud_platform_scope() {
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["scope"] = json!("https://www.googleapis.com/auth/cloud-platform");
    let reply = fcm_token_request(&h, &assertion_form(&fcm_assertion(&h, &claims))).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn fcm_token_endpoint_accepts_googles_own_token_url_as_audience() {
    // google-auth-library signs for Google's URL whatever token_uri says.
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["aud"] = json!("https://oauth2.googleapis.com/token");
    let reply = fcm_token_request(&h, &assertion_form(&fcm_assertion(&h, &claims))).await;
    assert_eq!(reply.status, StatusCode::OK);
}

async fn assert_grant_error(h: &Harness, form: &str, error: &str) {
    let reply = fcm_token_request(h, form).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.body);
    assert_eq!(reply.json()["error"], error);
    assert!(reply.json()["error_description"].is_string());
    assert_eq!(
        h.gw.captures().pop().unwrap().reason.as_deref(),
        Some(error)
    );
}

#[tokio::test]
async fn fcm_token_endpoint_rejects_assertion_signed_with_another_key() {
    let h = Harness::start().await;
    let other = Harness::start().await;
    // The other run's key, with this run's claims and key id.
    let sa = service_account(&h);
    let other_sa = service_account(&other);
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        other_sa["private_key"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(sa["private_key_id"].as_str().unwrap().to_owned());
    let assertion = jsonwebtoken::encode(&header, &fcm_claims(&h), &key).unwrap();
    assert_grant_error(&h, &assertion_form(&assertion), "invalid_grant").await;
}

#[tokio::test]
async fn fcm_token_endpoint_rejects_wrong_issuer() {
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["iss"] = json!("someone@else.iam.gserviceaccount.com");
    assert_grant_error(
        &h,
        &assertion_form(&fcm_assertion(&h, &claims)),
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn fcm_token_endpoint_rejects_wrong_audience() {
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["aud"] = json!("https://login.example.com/token");
    assert_grant_error(
        &h,
        &assertion_form(&fcm_assertion(&h, &claims)),
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn fcm_token_endpoint_rejects_assertion_without_messaging_scope() {
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["scope"] = json!("https://www.googleapis.com/auth/userinfo.email");
    assert_grant_error(
        &h,
        &assertion_form(&fcm_assertion(&h, &claims)),
        "invalid_scope",
    )
    .await;
}

#[tokio::test]
async fn fcm_token_endpoint_rejects_expired_assertion() {
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["iat"] = json!(now() - 7200);
    claims["exp"] = json!(now() - 3600);
    assert_grant_error(
        &h,
        &assertion_form(&fcm_assertion(&h, &claims)),
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn fcm_token_endpoint_rejects_assertion_lifetime_over_one_hour() {
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["exp"] = json!(now() + 7200);
    assert_grant_error(
        &h,
        &assertion_form(&fcm_assertion(&h, &claims)),
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn fcm_token_endpoint_rejects_other_grant_types() {
    let h = Harness::start().await;
    assert_grant_error(
        &h,
        "grant_type=client_credentials&assertion=x",
        "unsupported_grant_type",
    )
    .await;
    assert_grant_error(&h, "assertion=x", "invalid_request").await;
    let reply = fcm_token_request(&h, "grant_type=client_credentials&assertion=x").await;
    assert_eq!(
        reply.json()["error_description"],
        "Invalid grant_type: client_credentials",
        "Google names the grant type it refused"
    );
}

#[tokio::test]
async fn fcm_token_endpoint_accepts_fractional_iat_and_exp() {
    // Python clients that sign `time.time()` send NumericDates with a
    // fraction; RFC 7519 allows them and Google serves them.
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    let iat = now() as f64 + 0.25;
    claims["iat"] = json!(iat);
    claims["exp"] = json!(iat + 3599.5);
    let reply = fcm_token_request(&h, &assertion_form(&fcm_assertion(&h, &claims))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

#[tokio::test]
async fn fcm_token_endpoint_names_claims_of_the_wrong_type_not_the_signature() {
    let h = Harness::start().await;
    let mut claims = fcm_claims(&h);
    claims["iat"] = json!(now().to_string());
    let reply = fcm_token_request(&h, &assertion_form(&fcm_assertion(&h, &claims))).await;
    assert_eq!(reply.json()["error"], "invalid_grant");
    let description = reply.json()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        description.contains("Check your iat and exp"),
        "{description}"
    );
}

// ------------------------------------------------------------ send

fn message_to(token: &str) -> serde_json::Value {
    json!({ "message": { "token": token, "data": { "secureId": "42" } } })
}

#[tokio::test]
async fn fcm_send_delivers_message_to_device() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    // Sent as raw text to check the device sees the message byte for byte.
    let message = format!(
        r#"{{ "token" : "{}", "data": {{"secureId":"42"}} }}"#,
        device.handle
    );
    let request = Request::post(fcm_send_url(&h))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body(format!(r#"{{"message": {message}}}"#)))
        .unwrap();
    let reply = http1_send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let name = reply.json()["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("projects/pushproof-test/messages/"),
        "{name}"
    );

    let delivery = h.gw.inbox(&device).unwrap().try_recv().unwrap();
    assert_eq!(delivery.platform, Platform::Fcm);
    assert_eq!(delivery.body.as_ref(), message.as_bytes());

    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(capture.kind, CaptureKind::Push);
    assert_eq!(capture.status, 200);
    assert_eq!(capture.device.as_deref(), Some(device.handle.as_str()));
    assert_eq!(capture.path, "/v1/projects/pushproof-test/messages:send");
}

#[tokio::test]
async fn fcm_validate_only_answers_without_delivering() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    for flag in ["validate_only", "validateOnly"] {
        let mut request = message_to(&device.handle);
        request[flag] = json!(true);
        let reply = fcm_send(&h, &token, &request).await;
        assert_eq!(reply.status, StatusCode::OK, "{flag}");
        assert_eq!(
            reply.json()["name"],
            "projects/pushproof-test/messages/fake_message_id"
        );
    }
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn fcm_accepts_topic_and_condition_messages() {
    let h = Harness::start().await;
    let token = fcm_access_token(&h).await;
    let topic = fcm_send(
        &h,
        &token,
        &json!({"message": {"topic": "news", "data": {"a": "b"}}}),
    )
    .await;
    assert_eq!(topic.status, StatusCode::OK);
    let condition = json!({"message": {"condition": "'a' in topics && 'b' in topics"}});
    assert_eq!(
        fcm_send(&h, &token, &condition).await.status,
        StatusCode::OK
    );
}

/// Asserts a google.rpc.Status error body.
fn assert_google_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    let json = reply.json();
    assert_eq!(json["error"]["code"], status.as_u16());
    assert_eq!(json["error"]["status"], code);
    assert!(json["error"]["message"].is_string());
}

#[tokio::test]
async fn fcm_rejects_missing_bearer_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let request = Request::post(fcm_send_url(&h))
        .body(body(message_to(&device.handle).to_string()))
        .unwrap();
    let reply = http1_send(request).await;
    assert_google_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert!(reply.header("www-authenticate").is_some());
}

#[tokio::test]
async fn fcm_rejects_unknown_access_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let reply = fcm_send(&h, "ya29.forged", &message_to(&device.handle)).await;
    assert_google_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn fcm_rejects_expired_access_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    h.gw.expire_access_tokens(Platform::Fcm);
    let reply = fcm_send(&h, &token, &message_to(&device.handle)).await;
    assert_google_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    // A fresh token works again.
    let token = fcm_access_token(&h).await;
    assert_eq!(
        fcm_send(&h, &token, &message_to(&device.handle))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn fcm_rejects_send_to_another_project() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let request = Request::post(format!(
        "{}/v1/projects/someone-else/messages:send",
        h.gw.fcm_url()
    ))
    .header("authorization", format!("Bearer {token}"))
    .body(body(message_to(&device.handle).to_string()))
    .unwrap();
    let reply = http1_send(request).await;
    assert_google_error(&reply, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert_eq!(
        fcm_error_code(&reply).as_deref(),
        Some("SENDER_ID_MISMATCH")
    );
}

#[tokio::test]
async fn fcm_rejects_invalid_json() {
    let h = Harness::start().await;
    let token = fcm_access_token(&h).await;
    let request = Request::post(fcm_send_url(&h))
        .header("authorization", format!("Bearer {token}"))
        .body(body("{\"message\": {"))
        .unwrap();
    assert_google_error(
        &http1_send(request).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn fcm_answers_a_body_that_is_not_an_object_in_googles_words() {
    let h = Harness::start().await;
    let token = fcm_access_token(&h).await;
    let request = Request::post(fcm_send_url(&h))
        .header("authorization", format!("Bearer {token}"))
        .body(body("[]"))
        .unwrap();
    let reply = http1_send(request).await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_eq!(
        reply.json()["error"]["message"],
        "Invalid JSON payload received. Unknown name \"\": Root element must be a message."
    );
}

#[tokio::test]
async fn fcm_takes_the_last_of_a_repeated_request_key() {
    // Google's JSON parser keeps the last value of a repeated key.
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let text = format!(
        r#"{{"validate_only":true,"message":{{"topic":"x"}},"message":{{"token":"{}"}},"validate_only":false}}"#,
        device.handle
    );
    let request = Request::post(fcm_send_url(&h))
        .header("authorization", format!("Bearer {token}"))
        .body(body(text))
        .unwrap();
    let reply = http1_send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1, "not a dry run");
}

#[tokio::test]
async fn fcm_rejects_unknown_message_field() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let reply = fcm_send(
        &h,
        &token,
        &json!({"message": {"token": device.handle, "to": "x"}}),
    )
    .await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Unknown name \"to\""));
}

#[tokio::test]
async fn fcm_rejects_message_without_recipient() {
    let h = Harness::start().await;
    let token = fcm_access_token(&h).await;
    let reply = fcm_send(&h, &token, &json!({"message": {"data": {"a": "b"}}})).await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_eq!(
        reply.json()["error"]["message"],
        "Recipient of the message is not set."
    );
    assert_eq!(fcm_error_code(&reply).as_deref(), Some("INVALID_ARGUMENT"));
}

#[tokio::test]
async fn fcm_rejects_message_with_two_recipients() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let reply = fcm_send(
        &h,
        &token,
        &json!({"message": {"token": device.handle, "topic": "news"}}),
    )
    .await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn fcm_rejects_non_string_data_values() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let reply = fcm_send(
        &h,
        &token,
        &json!({"message": {"token": device.handle, "data": {"secureId": 42}}}),
    )
    .await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let (field, description) = fcm_violation(&reply).unwrap();
    assert_eq!(field, "message.data[0].value");
    assert!(description.contains("TYPE_STRING"), "{description}");
}

#[tokio::test]
async fn fcm_rejects_reserved_data_keys() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    for key in ["from", "message_type", "google.sent_time", "gcm.n.e"] {
        let reply = fcm_send(
            &h,
            &token,
            &json!({"message": {"token": device.handle, "data": {key: "x"}}}),
        )
        .await;
        assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
        assert_eq!(fcm_violation(&reply).unwrap().0, "message.data", "{key}");
    }
}

#[tokio::test]
async fn fcm_rejects_message_over_4096_bytes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let fits = json!({"message": {"token": device.handle, "data": {"k": "x".repeat(4095)}}});
    assert_eq!(fcm_send(&h, &token, &fits).await.status, StatusCode::OK);
    let over = json!({"message": {"token": device.handle, "data": {"k": "x".repeat(4096)}}});
    let reply = fcm_send(&h, &token, &over).await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_eq!(fcm_error_code(&reply).as_deref(), Some("INVALID_ARGUMENT"));
}

#[tokio::test]
async fn fcm_rejects_topic_message_over_2048_bytes() {
    let h = Harness::start().await;
    let token = fcm_access_token(&h).await;
    let over = json!({"message": {"topic": "news", "data": {"k": "x".repeat(2048)}}});
    assert_google_error(
        &fcm_send(&h, &token, &over).await,
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
    );
}

#[tokio::test]
async fn fcm_rejects_unknown_registration_token() {
    let h = Harness::start().await;
    let token = fcm_access_token(&h).await;
    let reply = fcm_send(
        &h,
        &token,
        &message_to("dGhpcyBpcyBub3QgYSB0b2tlbg:APA91bXYZ"),
    )
    .await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_eq!(fcm_error_code(&reply).as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(
        fcm_violation(&reply).unwrap(),
        (
            "message.token".to_owned(),
            "Invalid registration token".to_owned()
        )
    );
    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(capture.reason.as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(
        capture.device.as_deref(),
        Some("dGhpcyBpcyBub3QgYSB0b2tlbg:APA91bXYZ")
    );
}

#[tokio::test]
async fn fcm_accepts_fid_target_and_delivers_to_device() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let message = json!({"message": {"fid": device.handle, "data": {"secureId": "42"}}});
    let reply = fcm_send(&h, &token, &message).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let delivery = h.gw.inbox(&device).unwrap().try_recv().unwrap();
    let delivered: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(delivered["data"]["secureId"], "42");
    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(capture.device.as_deref(), Some(device.handle.as_str()));
}

#[tokio::test]
async fn fcm_rejects_unknown_fid() {
    let h = Harness::start().await;
    let token = fcm_access_token(&h).await;
    let reply = fcm_send(&h, &token, &json!({"message": {"fid": "cR_unknown-fid"}})).await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert_eq!(fcm_violation(&reply).unwrap().0, "message.fid".to_owned());
}

#[tokio::test]
async fn fcm_rejects_token_and_fid_together() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let message = json!({"message": {"token": device.handle, "fid": device.handle}});
    let reply = fcm_send(&h, &token, &message).await;
    assert_google_error(&reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Oneof field 'target' is already set"),
        "{:?}",
        reply.body
    );
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn fcm_rejects_unknown_path() {
    let h = Harness::start().await;
    let request = Request::post(format!("{}/fcm/send", h.gw.fcm_url()))
        .body(body("{}"))
        .unwrap();
    assert_google_error(
        &http1_send(request).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn fcm_serves_http2_prior_knowledge() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let mut client = h2_connect(&h.gw.fcm_url()).await;
    let request = Request::post(fcm_send_url(&h))
        .header("authorization", format!("Bearer {token}"))
        .body(body(message_to(&device.handle).to_string()))
        .unwrap();
    assert_eq!(h2_send(&mut client, request).await.status, StatusCode::OK);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
}

// ------------------------------------------------------------ android, webpush

/// A send to a fresh device of `message` plus the device's token.
async fn send_with(
    h: &Harness,
    extra: serde_json::Value,
) -> (Reply, pushproof_mocks::DeviceHandle) {
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(h).await;
    let mut request = message_to(&device.handle);
    for (key, value) in extra.as_object().unwrap() {
        request["message"][key] = value.clone();
    }
    (fcm_send(h, &token, &request).await, device)
}

/// Asserts a 400 INVALID_ARGUMENT whose field violation names `field`;
/// returns the violation's description.
fn assert_violation(reply: &Reply, field: &str) -> String {
    assert_google_error(reply, StatusCode::BAD_REQUEST, "INVALID_ARGUMENT");
    let (got, description) = fcm_violation(reply).unwrap();
    assert_eq!(got, field);
    description
}

#[tokio::test]
async fn fcm_accepts_valid_android_block() {
    let h = Harness::start().await;
    let (reply, device) = send_with(
        &h,
        json!({"android": {
            "ttl": "3.5s",
            "priority": "HIGH",
            "collapse_key": "chat",
            "data": {"secureId": "42"},
        }}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
    for ttl in ["0s", "2419200s", "86400.000000001s"] {
        let (reply, _) =
            send_with(&h, json!({"android": {"ttl": ttl, "priority": "NORMAL"}})).await;
        assert_eq!(reply.status, StatusCode::OK, "{ttl}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn fcm_rejects_android_block_that_is_not_an_object() {
    let h = Harness::start().await;
    let (reply, device) = send_with(&h, json!({"android": "HIGH"})).await;
    let description = assert_violation(&reply, "message.android");
    assert!(description.contains("AndroidConfig"), "{description}");
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn fcm_rejects_malformed_android_ttl() {
    let h = Harness::start().await;
    for ttl in [
        json!("3600"),
        json!("1.5 s"),
        json!("1.0000000001s"),
        json!(3600),
    ] {
        let (reply, device) = send_with(&h, json!({"android": {"ttl": ttl}})).await;
        let description = assert_violation(&reply, "message.android.ttl");
        assert_eq!(
            description,
            format!(
                "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {ttl}"
            )
        );
        assert_eq!(reply.json()["error"]["message"], description.as_str());
        assert_eq!(fcm_error_code(&reply), None, "{ttl}");
        assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
    }
}

#[tokio::test]
async fn fcm_rejects_android_ttl_outside_four_weeks() {
    let h = Harness::start().await;
    for ttl in ["-1s", "2419200.5s", "2419201s"] {
        let (reply, device) = send_with(&h, json!({"android": {"ttl": ttl}})).await;
        let description = assert_violation(&reply, "message.android.ttl");
        assert!(description.contains("4 weeks"), "{ttl}: {description}");
        assert_eq!(
            reply.json()["error"]["message"],
            "Request contains an invalid argument."
        );
        assert_eq!(fcm_error_code(&reply).as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
    }
}

#[tokio::test]
async fn fcm_accepts_android_priority_in_any_case_as_admin_sdks_send_it() {
    // firebase-admin for Node.js sends `'high' | 'normal'` unchanged.
    let h = Harness::start().await;
    for priority in [json!("high"), json!("normal"), json!("High"), json!(1)] {
        let (reply, device) = send_with(&h, json!({"android": {"priority": priority}})).await;
        assert_eq!(reply.status, StatusCode::OK, "{priority}: {:?}", reply.body);
        assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
    }
}

#[tokio::test]
async fn fcm_rejects_invalid_android_priority() {
    let h = Harness::start().await;
    for priority in [
        json!("urgent"),
        json!("PRIORITY_HIGH"),
        json!(2),
        json!("1"),
    ] {
        let (reply, device) = send_with(&h, json!({"android": {"priority": priority}})).await;
        let description = assert_violation(&reply, "message.android.priority");
        assert_eq!(
            description,
            format!(
                "Invalid value at 'message.android.priority' \
                 (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), {priority}"
            )
        );
        assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
    }
}

#[tokio::test]
async fn fcm_rejects_non_string_android_data_values() {
    let h = Harness::start().await;
    let (reply, _) = send_with(&h, json!({"android": {"data": {"secureId": 42}}})).await;
    let description = assert_violation(&reply, "message.android.data[0].value");
    assert!(description.contains("TYPE_STRING"), "{description}");
    let (reply, _) = send_with(&h, json!({"android": {"data": {"from": "x"}}})).await;
    assert_violation(&reply, "message.android.data");
}

#[tokio::test]
async fn fcm_rejects_webpush_link_that_is_not_https() {
    let h = Harness::start().await;
    for key in ["fcm_options", "fcmOptions"] {
        let (reply, device) = send_with(
            &h,
            json!({"webpush": {key: {"link": "http://example.com/open"}}}),
        )
        .await;
        let description = assert_violation(&reply, "message.webpush.fcm_options.link");
        assert!(description.contains("HTTPS"), "{description}");
        assert_eq!(fcm_error_code(&reply).as_deref(), Some("INVALID_ARGUMENT"));
        assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
    }
    let (reply, _) = send_with(
        &h,
        json!({"webpush": {"fcm_options": {"link": "https://example.com/open"}}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

#[tokio::test]
async fn fcm_checks_android_block_spelled_with_escapes() {
    // The fast path decodes escaped keys; the check must see them too.
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Fcm);
    let token = fcm_access_token(&h).await;
    let request = Request::post(fcm_send_url(&h))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body(format!(
            r#"{{"message":{{"token":"{}","\u0061ndroid":{{"priority":"LOW"}}}}}}"#,
            device.handle
        )))
        .unwrap();
    let reply = http1_send(request).await;
    assert_violation(&reply, "message.android.priority");
}
