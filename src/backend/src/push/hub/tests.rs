//! The hub client against scripted answers (wiremock): the REST shapes of
//! installations and sends, the SAS header, the service's XML errors, and
//! one retry with a new token after a 401. Its signatures are checked
//! against the mock hub's own verification in the harness's tests
//! (`tests/hub_mode.rs`), since this crate knows nothing of the mocks.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_json, body_string, header, header_regex, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

const KEY: &str = "a2V5LXRleHQtb2YtdGhlLWZ1bGwtcnVsZS0wMTIzNDU2Nzg5";

fn hub(server: &MockServer) -> Hub {
    let config = HubConfig::parse(
        &format!(
            "Endpoint={}/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey={KEY}",
            server.uri()
        ),
        "pushproof-hub",
    )
    .unwrap();
    Hub::new(&config, Duration::from_secs(5), &Trust::default())
}

fn push(id: &str) -> Push<'_> {
    Push {
        handle: "",
        id,
        leaked: None,
        ttl_s: Some(60),
    }
}

/// Every call: the api-version, x-ms-version and a SAS token for the
/// namespace URL.
fn signed(mock: wiremock::MockBuilder) -> wiremock::MockBuilder {
    mock.and(query_param("api-version", "2020-06"))
        .and(header("x-ms-version", "2020-06"))
        .and(header_regex(
            "authorization",
            r"^SharedAccessSignature sr=http%3A%2F%2F127\.0\.0\.1%3A\d+%2F&sig=[A-Za-z0-9%]+&se=\d+&skn=DefaultFullSharedAccessSignature$",
        ))
}

#[tokio::test]
async fn an_installation_is_put_under_the_handles_digest_and_deleted_again() {
    let server = MockServer::start().await;
    let handle = "https://127.0.0.1:9/?token=abc";
    let id = installation_id(handle);
    assert_eq!(id.len(), 64);
    signed(Mock::given(method("PUT")))
        .and(path(format!("/pushproof-hub/installations/{id}")))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "installationId": id,
            "platform": "wns",
            "pushChannel": handle,
            "tags": ["username:alice", "team:x"],
        })))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    signed(Mock::given(method("DELETE")))
        .and(path(format!("/pushproof-hub/installations/{id}")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let hub = hub(&server);
    let tags = ["username:alice".to_owned(), "team:x".to_owned()];
    hub.put_installation(Platform::Wns, handle, &tags)
        .await
        .unwrap();
    hub.delete_installation(handle).await.unwrap();
}

#[tokio::test]
async fn a_refused_installation_names_the_hubs_detail() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            "<Error><Code>400</Code><Detail>Installation validation failed: tags.</Detail></Error>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let hub = hub(&server);
    let error = hub
        .put_installation(Platform::Apns, "abcd", &[])
        .await
        .unwrap_err();
    match error {
        PushError::Rejected { status, reason } => {
            assert_eq!(status, 400);
            assert_eq!(reason, "Installation validation failed: tags.");
        }
        other => panic!("{other:?}"),
    }
    // A device the hub does not have is as good as deleted.
    hub.delete_installation("abcd").await.unwrap();
}

#[tokio::test]
async fn each_platform_is_one_native_send_to_the_users_tag() {
    let server = MockServer::start().await;
    // A send of `format` to bob's tag, answered 201 once.
    let send = |format: &str| {
        signed(Mock::given(method("POST")))
            .and(path("/pushproof-hub/messages/"))
            .and(header("servicebusnotification-format", format))
            .and(header("servicebusnotification-tags", "username:bob"))
    };
    let created = || ResponseTemplate::new(201);
    send("apple")
        .and(header("apns-push-type", "background"))
        .and(header("apns-priority", "5"))
        .and(wiremock::matchers::header_exists("apns-expiration"))
        .and(body_json(
            json!({ "aps": { "content-available": 1 }, "secureId": "n1" }),
        ))
        .respond_with(created())
        .expect(1)
        .mount(&server)
        .await;
    send("fcmv1")
        .and(body_json(json!({
            "message": {
                "data": { "secureId": "n1" },
                "android": { "priority": "HIGH", "ttl": "60s" }
            }
        })))
        .respond_with(created())
        .expect(1)
        .mount(&server)
        .await;
    send("windows")
        .and(header("x-wns-type", "wns/raw"))
        .and(header("x-wns-ttl", "60"))
        .and(header("content-type", "application/octet-stream"))
        .and(body_string("n1"))
        .respond_with(created())
        .expect(1)
        .mount(&server)
        .await;
    let hub = hub(&server);
    for platform in [Platform::Apns, Platform::Fcm, Platform::Wns] {
        let outcome = hub.send(platform, "username:bob", push("n1")).await;
        assert!(
            matches!(outcome, PushOutcome::Delivered),
            "{platform}: {outcome:?}"
        );
    }
    // One token served all three.
    let requests = server.received_requests().await.unwrap();
    let tokens: std::collections::BTreeSet<_> = requests
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(tokens.len(), 1);
}

#[tokio::test]
async fn a_send_the_hub_refuses_is_a_failed_push() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string("<Error><Code>403</Code><Detail>Quota exceeded.</Detail></Error>"),
        )
        .mount(&server)
        .await;
    let outcome = hub(&server)
        .send(Platform::Apns, "username:bob", push("n1"))
        .await;
    assert!(
        matches!(
            &outcome,
            PushOutcome::Failed(PushError::Rejected { status: 403, reason }) if reason == "Quota exceeded."
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_401_gets_one_new_token_and_one_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(
            "<Error><Code>401</Code><Detail>ExpiredToken: The token is expired.</Detail></Error>",
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = hub(&server)
        .send(Platform::Fcm, "username:bob", push("n1"))
        .await;
    assert!(matches!(outcome, PushOutcome::Delivered), "{outcome:?}");

    // Twice refused: a failed push naming the hub's reason.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(
            "<Error><Code>401</Code><Detail>40103: Invalid authorization token signature.</Detail></Error>",
        ))
        .expect(2)
        .mount(&server)
        .await;
    let outcome = hub(&server)
        .send(Platform::Fcm, "username:bob", push("n1"))
        .await;
    assert!(
        matches!(
            &outcome,
            PushOutcome::Failed(PushError::Rejected { status: 401, reason }) if reason.starts_with("40103")
        ),
        "{outcome:?}"
    );
}

#[test]
fn the_leaked_message_travels_only_under_the_flaw() {
    let plain: serde_json::Value = serde_json::from_slice(&fcm_body("n", None, None)).unwrap();
    assert!(plain["message"]["data"].get("message").is_none());
    assert!(plain["message"].get("token").is_none(), "the hub adds it");
    let flawed = Flawed {
        fcm_data: vec![("message", "\",\"x\":1".to_owned())],
        ..Flawed::default()
    };
    let leaked: serde_json::Value =
        serde_json::from_slice(&fcm_body("n", Some(&flawed), None)).unwrap();
    assert_eq!(leaked["message"]["data"]["message"], "\",\"x\":1");
    assert_eq!(detail(b"<html>oops</html>"), "<html>oops</html>");
}
