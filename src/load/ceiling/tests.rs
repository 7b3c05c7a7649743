//! The bare server's routes against real in-process gateways: the
//! profile's journey works, and the checks it keeps refuse what they must.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use pushproof_mocks::{GatewayConfig, Gateways, Platform};
use serde_json::{json, Value};

use super::push::Pushers;
use super::routes::State;

async fn call(
    state: &State,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = state.handle(request).await;
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn sign_in(state: &State, tenant: &str, user: &str) -> String {
    let credentials = json!({ "username": user, "password": "pw", "tenant": tenant });
    let (status, _) = call(state, Method::POST, "/api/users", None, credentials.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = call(state, Method::POST, "/api/login", None, credentials).await;
    assert_eq!(status, StatusCode::OK);
    answer["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn notifies_every_registration_and_answers_the_recipient_only() {
    let gateways = Gateways::start(GatewayConfig::default()).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let env = gateways.write_credentials(work.path()).unwrap().vars;
    let state = State::new(Pushers::start(&env, Duration::from_secs(5)).await.unwrap());

    let alice = sign_in(&state, "acme", "alice").await;
    let bob = sign_in(&state, "acme", "bob").await;
    let other_alice = sign_in(&state, "globex", "alice").await;
    // A second sign-up of one account is a conflict, a wrong password a 401.
    let again = json!({ "username": "alice", "password": "pw", "tenant": "acme" });
    let (status, _) = call(&state, Method::POST, "/api/users", None, again).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let wrong = json!({ "username": "alice", "password": "nope", "tenant": "acme" });
    let (status, _) = call(&state, Method::POST, "/api/login", None, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // One device of alice's on each platform.
    let mut devices = Vec::new();
    for platform in Platform::ALL {
        let device = gateways.register_device(platform);
        let handle: String = form_urlencoded::byte_serialize(device.handle.as_bytes()).collect();
        let (status, id) = call(
            &state,
            Method::POST,
            &format!("/api/register?handle={handle}"),
            Some(&alice),
            Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let id = id.as_str().unwrap().to_owned();
        let update =
            json!({ "Platform": platform.to_string(), "Handle": device.handle, "Tags": [] });
        // Nobody but its owner changes a registration.
        let (status, _) = call(
            &state,
            Method::PUT,
            &format!("/api/register/{id}"),
            Some(&bob),
            update.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(
            &state,
            Method::PUT,
            &format!("/api/register/{id}"),
            Some(&alice),
            update,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        devices.push(device);
    }

    // Bob notifies alice: a push lands on each of her devices, carrying
    // the id where the reference profile reads it.
    let (status, answer) = call(
        &state,
        Method::POST,
        "/api/notifications?to_tag=alice",
        Some(&bob),
        json!("the secret"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "pushed": 3, "failed": 0 }));
    let mut ids = Vec::new();
    for device in &devices {
        let push = gateways.inbox(device).unwrap().try_recv().unwrap();
        let id = match device.platform {
            Platform::Apns => {
                let body: Value = serde_json::from_slice(&push.body).unwrap();
                assert_eq!(body["aps"]["content-available"], 1);
                body["secureId"].as_str().unwrap().to_owned()
            }
            Platform::Fcm => {
                let body: Value = serde_json::from_slice(&push.body).unwrap();
                assert_eq!(body["android"]["priority"], "HIGH");
                body["data"]["secureId"].as_str().unwrap().to_owned()
            }
            Platform::Wns => String::from_utf8(push.body.to_vec()).unwrap(),
        };
        assert!(!String::from_utf8_lossy(&push.body).contains("the secret"));
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one notification, one id: {ids:?}");
    let fetch = format!("/api/notifications/{}", ids[0]);

    // Only alice reads it; bob, the same name in another tenant, nobody
    // signed in and an unknown token are refused.
    let (status, answer) = call(&state, Method::GET, &fetch, Some(&alice), Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Payload"], "the secret");
    assert_eq!(answer["Id"], ids[0]);
    let (status, answer) = call(&state, Method::GET, &fetch, Some(&bob), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!answer.to_string().contains("the secret"));
    let (status, _) = call(&state, Method::GET, &fetch, Some(&other_alice), Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&state, Method::GET, &fetch, None, Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&state, Method::GET, &fetch, Some("forged"), Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A send filtered to one platform pushes to that one only; a user
    // without registrations gets nothing pushed.
    let (_, answer) = call(
        &state,
        Method::POST,
        "/api/notifications?to_tag=alice&pns=wns",
        Some(&bob),
        json!("x"),
    )
    .await;
    assert_eq!(answer, json!({ "pushed": 1, "failed": 0 }));
    let (_, answer) = call(
        &state,
        Method::POST,
        "/api/notifications?to_tag=carol",
        Some(&bob),
        json!("x"),
    )
    .await;
    assert_eq!(answer, json!({ "pushed": 0, "failed": 0 }));
    let (status, _) = call(&state, Method::DELETE, &fetch, Some(&alice), Value::Null).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_platform_the_contract_leaves_out_is_refused_at_start() {
    let error = super::BareServer::start(Vec::new(), Duration::from_secs(1), &[Platform::Apns])
        .await
        .err()
        .unwrap();
    assert!(error.contains("apns"), "{error}");
    // Served over HTTP once configured, on a loopback port of its own.
    let gateways = Gateways::start(GatewayConfig::default()).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let env = gateways.write_credentials(work.path()).unwrap().vars;
    let server = super::BareServer::start(env, Duration::from_secs(5), &Platform::ALL)
        .await
        .unwrap();
    let client = crate::load::http::Client::connect(
        server.origin(),
        crate::load::http::Protocol::Auto,
        1,
        Duration::from_secs(5),
    )
    .await;
    // It answers h2c, as the reference backend does.
    assert_eq!(client.protocol(), crate::load::http::Protocol::H2c);
    let (status, _) = client
        .call_with(
            Method::GET,
            "/api/notifications/x",
            &[],
            Bytes::new(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
