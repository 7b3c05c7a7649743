//! The reference backend in hub mode, against the mock Notification Hub:
//! its SAS tokens pass the hub's own verification (plaintext and TLS) and
//! a wrong key is refused there; a registered device becomes an
//! installation tagged with its user, moves when its registration moves,
//! and leaves the hub on delete and on logout; a send reaches exactly the
//! recipient's devices through the hub's fan-out. Then the conformance
//! gate in hub mode: the sound backend passes and every flaw still fails
//! exactly its checks.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use pushproof::client::BackendClient;
use pushproof::conformance::Verdict;
use pushproof::target::{Delivery, TargetSpec};
use pushproof_backend::Flaw;
use pushproof_mocks::{CaptureKind, DeviceHandle, GatewayConfig, Gateways, Platform, TlsSettings};
use serde_json::{json, Value};
use sha2::Digest as _;

/// A reference backend serving on a port of its own.
struct Backend {
    client: BackendClient,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), pushproof_backend::BackendError>>,
    _dir: tempfile::TempDir,
}

impl Backend {
    async fn start(env: &HashMap<String, String>) -> Backend {
        let dir = tempfile::tempdir().expect("tempdir");
        let config =
            pushproof_backend::Config::from_vars(dir.path().join("b.db"), |n| env.get(n).cloned())
                .expect("backend config");
        assert!(config.hub.is_some(), "hub mode");
        assert!(config.apns.is_none() && config.fcm.is_none() && config.wns.is_none());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(pushproof_backend::serve(listener, config, async {
            let _ = stopped.await;
        }));
        Backend {
            client: BackendClient::new(&origin, Duration::from_secs(10)),
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(token) = token {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        let exchange = self.client.raw(method, path, headers, body).await;
        let status = exchange
            .status()
            .unwrap_or_else(|| panic!("{}", exchange.describe()));
        (status, exchange.json().unwrap_or(Value::Null))
    }

    /// A user, signed up and logged in: their token.
    async fn user(&self, name: &str) -> String {
        let credentials = json!({ "username": name, "password": "pw-of-the-test" });
        let (status, _) = self
            .call(Method::POST, "/api/users", None, credentials.clone())
            .await;
        assert_eq!(status, 201);
        let (status, answer) = self
            .call(Method::POST, "/api/login", None, credentials)
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Registers `handle` on `platform`: the registration id.
    async fn register(&self, token: &str, platform: &str, handle: &str) -> String {
        let (status, id) = self
            .call(Method::POST, "/api/register", Some(token), Value::Null)
            .await;
        assert_eq!(status, 200, "{id}");
        let id = id.as_str().expect("an id").to_owned();
        let (status, answer) = self.update(token, &id, platform, handle).await;
        assert_eq!(status, 200, "{answer}");
        id
    }

    async fn update(&self, token: &str, id: &str, platform: &str, handle: &str) -> (u16, Value) {
        let body = json!({ "Platform": platform, "Handle": handle, "Tags": [] });
        self.call(
            Method::PUT,
            &format!("/api/register/{id}"),
            Some(token),
            body,
        )
        .await
    }

    async fn notify(&self, token: &str, to: &str, message: &str) -> Value {
        let (status, outcome) = self
            .call(
                Method::POST,
                &format!("/api/notifications?to_tag={to}"),
                Some(token),
                json!(message),
            )
            .await;
        assert_eq!(status, 200, "{outcome}");
        outcome
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task
            .await
            .expect("backend task")
            .expect("backend stopped cleanly");
    }
}

/// Gateways, and the hub half of the contract they wrote.
async fn mocks(tls: bool) -> (Gateways, HashMap<String, String>, tempfile::TempDir) {
    let gateways = Gateways::start(GatewayConfig {
        tls: tls.then(TlsSettings::default),
        ..GatewayConfig::default()
    })
    .await
    .expect("gateways");
    let keys = tempfile::tempdir().expect("tempdir");
    let vars = gateways
        .write_credentials(keys.path())
        .expect("credentials")
        .vars;
    let env = Delivery::Hub
        .contract(&vars)
        .expect("the hub's variables")
        .into_iter()
        .collect();
    (gateways, env, keys)
}

/// The installation id the backend gives a handle.
fn installation_of(gateways: &Gateways, handle: &str) -> Option<Value> {
    let id = hex::encode(sha2::Sha256::digest(handle.as_bytes()));
    gateways.hub().installation(&id)
}

/// The id the push in `device`'s inbox carries (the hub delivered it
/// before it answered the send, so it is there now or never; an FCM
/// device sees the message object).
fn pushed_id(gateways: &Gateways, device: &DeviceHandle) -> Option<String> {
    let delivery = gateways.inbox(device).expect("an inbox").try_recv()?;
    let body = String::from_utf8_lossy(&delivery.body).into_owned();
    Some(match device.platform {
        Platform::Wns => body,
        Platform::Apns => serde_json::from_str::<Value>(&body).expect("JSON")["secureId"]
            .as_str()
            .expect("secureId")
            .to_owned(),
        Platform::Fcm => serde_json::from_str::<Value>(&body).expect("JSON")["data"]["secureId"]
            .as_str()
            .expect("secureId")
            .to_owned(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backends_tokens_pass_the_hubs_verification_and_its_pushes_reach_only_the_recipient() {
    for tls in [false, true] {
        let (gateways, env, _keys) = mocks(tls).await;
        assert_eq!(env.contains_key("PUSHPROOF_CA_FILE"), tls);
        let backend = Backend::start(&env).await;
        let alice = backend.user("alice").await;
        let bob = backend.user("bob").await;
        let devices: Vec<DeviceHandle> = Platform::ALL
            .iter()
            .map(|p| gateways.register_device(*p))
            .collect();
        for device in &devices {
            backend
                .register(&alice, device.platform.as_str(), &device.handle)
                .await;
            let installation = installation_of(&gateways, &device.handle).expect("installed");
            assert_eq!(
                installation["tags"],
                json!(["username:alice"]),
                "{installation}"
            );
            assert_eq!(installation["pushChannel"], device.handle.as_str());
        }
        let bobs = gateways.register_device(Platform::Apns);
        backend.register(&bob, "apns", &bobs.handle).await;

        let outcome = backend.notify(&bob, "alice", "for alice only").await;
        assert_eq!(outcome, json!({ "pushed": 3, "failed": 0 }), "tls {tls}");
        for device in &devices {
            let id = pushed_id(&gateways, device)
                .unwrap_or_else(|| panic!("tls {tls}: no push on {}", device.platform));
            let (status, fetched) = backend
                .call(
                    Method::GET,
                    &format!("/api/notifications/{id}"),
                    Some(&alice),
                    Value::Null,
                )
                .await;
            assert_eq!(status, 200);
            assert_eq!(fetched["Payload"], "for alice only");
        }
        assert!(
            pushed_id(&gateways, &bobs).is_none(),
            "bob got alice's push"
        );

        // Every hub request was verified and served: installations 200,
        // sends 201; the pushes all came from the hub's fan-out.
        let captures = gateways.captures();
        let hub: Vec<_> = captures
            .iter()
            .filter(|c| c.kind == CaptureKind::Hub)
            .collect();
        assert_eq!(hub.len(), 4 + 3, "four installations, three sends");
        for capture in &hub {
            assert!(
                capture.status == 200 || capture.status == 201,
                "tls {tls}: {} {} answered {} ({:?})",
                capture.method,
                capture.path,
                capture.status,
                capture.reason
            );
        }
        let sends = hub.iter().filter(|c| c.path.contains("/messages/")).count();
        assert_eq!(sends, 3);
        backend.stop().await;
        gateways.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_with_a_wrong_key_is_refused_by_the_hub() {
    let (gateways, mut env, _keys) = mocks(false).await;
    let cs = env["PUSHPROOF_NH_CONNECTION_STRING"].clone();
    let (head, rest) = cs.split_once("SharedAccessKey=").expect("a key");
    let (key, tail) = rest.split_once(';').unwrap_or((rest, ""));
    let wrong: String = key.chars().rev().collect();
    assert_ne!(wrong, key);
    env.insert(
        "PUSHPROOF_NH_CONNECTION_STRING".into(),
        format!("{head}SharedAccessKey={wrong};{tail}"),
    );
    let backend = Backend::start(&env).await;
    let alice = backend.user("alice").await;
    let device = gateways.register_device(Platform::Fcm);
    let (status, id) = backend
        .call(Method::POST, "/api/register", Some(&alice), Value::Null)
        .await;
    assert_eq!(status, 200);
    let (status, answer) = backend
        .update(&alice, id.as_str().expect("id"), "fcm", &device.handle)
        .await;
    assert_eq!(status, 502, "{answer}");
    let refused: Vec<_> = gateways
        .captures()
        .into_iter()
        .filter(|c| c.kind == CaptureKind::Hub)
        .collect();
    // Refused, then refused again with a new token.
    assert_eq!(refused.len(), 2);
    for capture in &refused {
        assert_eq!(capture.status, 401);
        let reason = capture.reason.as_deref().unwrap_or_default();
        assert!(reason.starts_with("40103"), "{reason}");
    }
    assert!(installation_of(&gateways, &device.handle).is_none());
    backend.stop().await;
    gateways.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_follows_its_registration_and_leaves_on_delete_and_logout() {
    let (gateways, env, _keys) = mocks(false).await;
    let backend = Backend::start(&env).await;
    let alice = backend.user("alice").await;
    let sender = backend.user("sender").await;

    // A registration that moves to a new handle takes its installation.
    let old = gateways.register_device(Platform::Wns);
    let new = gateways.register_device(Platform::Wns);
    let id = backend.register(&alice, "wns", &old.handle).await;
    assert!(installation_of(&gateways, &old.handle).is_some());
    let (status, _) = backend.update(&alice, &id, "wns", &new.handle).await;
    assert_eq!(status, 200);
    assert!(installation_of(&gateways, &old.handle).is_none());
    assert!(installation_of(&gateways, &new.handle).is_some());
    backend.notify(&sender, "alice", "one").await;
    assert!(pushed_id(&gateways, &new).is_some());
    assert!(
        pushed_id(&gateways, &old).is_none(),
        "the old handle is gone"
    );

    // Deleted: no installation, no push.
    let (status, _) = backend
        .call(
            Method::DELETE,
            &format!("/api/register/{id}"),
            Some(&alice),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200);
    assert!(installation_of(&gateways, &new.handle).is_none());

    // Logged out: the session's device leaves the hub.
    let device = gateways.register_device(Platform::Apns);
    backend.register(&alice, "apns", &device.handle).await;
    assert!(installation_of(&gateways, &device.handle).is_some());
    let (status, _) = backend
        .call(Method::POST, "/api/logout", Some(&alice), Value::Null)
        .await;
    assert_eq!(status, 204);
    assert!(installation_of(&gateways, &device.handle).is_none());
    let outcome = backend.notify(&sender, "alice", "two").await;
    assert_eq!(
        outcome,
        json!({ "pushed": 0, "failed": 0 }),
        "no device left"
    );
    assert!(pushed_id(&gateways, &device).is_none());
    assert!(pushed_id(&gateways, &new).is_none());
    backend.stop().await;
    gateways.shutdown().await;
}

fn hub_plan(flaws: Vec<Flaw>, dir: &std::path::Path) -> pushproof::runner::Plan {
    let mut plan = support::plan(flaws, dir);
    plan.target = plan.target.clone().with_delivery(Delivery::Hub);
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_passes_the_reference_backend_in_hub_mode_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let finished = support::run(&hub_plan(vec![], dir.path())).await;
    let report = &finished.report;
    support::assert_sound(report);
    assert_eq!(report.run.delivery.as_deref(), Some("hub"));
    assert!(
        report
            .target
            .description
            .ends_with("through the Notification Hub"),
        "{}",
        report.target.description
    );
    // The scanner saw what the backend handed the hub.
    let leak = support::record(report, "SP-LEAK-01");
    assert!(
        leak.summary.contains("requests to the hub"),
        "{}",
        leak.summary
    );

    let direct = support::run(&support::plan(vec![], dir.path()))
        .await
        .report;
    assert_eq!(direct.run.delivery.as_deref(), Some("direct"));
    let leak = support::record(&direct, "SP-LEAK-01");
    assert!(!leak.summary.contains("hub"), "{}", leak.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flaw_still_fails_exactly_its_checks_in_hub_mode() {
    let cases = [
        (
            Flaw::LeakPayload,
            &["SP-FLOW-01", "SP-LEAK-01", "SP-LEAK-06", "SP-LEAK-07"][..],
        ),
        // As in direct mode (tests/check.rs), with the checks each shares.
        (
            Flaw::NoAuthz,
            &[
                "SP-AUTHZ-03",
                "SP-AUTHZ-04",
                "SP-AUTHZ-05",
                "SP-ENUM-01",
                "SP-ENUM-02",
            ][..],
        ),
        (Flaw::LogoutKeepsToken, &["SP-AUTHZ-06", "SP-TOK-02"][..]),
        (Flaw::AnonymousFetch, &["SP-AUTHZ-01", "SP-TOK-04"][..]),
        (Flaw::CrossTenantFetch, &["SP-AUTHZ-05"][..]),
        // The hub passes the apns-* headers through.
        (Flaw::LeakCollapseId, &["SP-LEAK-02", "SP-REG-03"][..]),
        (Flaw::LeakEncoded, &["SP-LEAK-03", "SP-LEAK-07"][..]),
        (Flaw::SequentialIds, &["SP-ID-01"][..]),
    ];
    for (flaw, expected) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let report = support::run(&hub_plan(vec![flaw], dir.path())).await.report;
        assert_eq!(
            support::broken(&report),
            support::ids(expected),
            "{flaw}: {:#?}",
            report.checks
        );
        assert!(support::with(&report, Verdict::Error).is_empty(), "{flaw}");
        assert_eq!(report.exit_code, 1);
    }
}

#[test]
fn a_url_target_keeps_the_environment_it_was_started_with() {
    let url = TargetSpec::Url {
        url: "http://127.0.0.1:1".into(),
        ready_path: "/".into(),
    };
    assert_eq!(url.clone().with_delivery(Delivery::Hub).delivery(), None);
    let embedded = TargetSpec::embedded(vec![]);
    assert_eq!(embedded.delivery(), Some(Delivery::Direct));
    assert_eq!(
        embedded.with_delivery(Delivery::Hub).delivery(),
        Some(Delivery::Hub)
    );
}
