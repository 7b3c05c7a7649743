//! API tests in-process over a real socket, with WNS pointed at wiremock
//! (its raw push body is the notification id, which is how a device learns
//! it).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderMap;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::config::WnsConfig;

struct Server {
    addr: SocketAddr,
    clock: Clock,
    wns: MockServer,
    client: Client<HttpConnector, Full<Bytes>>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn start(flaws: &[Flaw]) -> Server {
    let wns = MockServer::start().await;
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "wt", "token_type": "bearer", "expires_in": 86400
        })))
        .mount(&wns)
        .await;
    Mock::given(path("/c/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&wns)
        .await;
    Mock::given(path("/c/slow"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&wns)
        .await;
    Mock::given(wiremock::matchers::path_regex("^/c/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&wns)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path().join("api.db"));
    config.token_ttl = Duration::from_secs(60);
    config.flaws = flaws.to_vec();
    config.wns = Some(WnsConfig {
        token_url: format!("{}/token", wns.uri()),
        client_id: "id".into(),
        client_secret: "secret".into(),
    });
    let clock = Clock::manual(1_700_000_000_000);
    let app = App::open(config, clock.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(crate::run(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        clock,
        wns,
        client: Client::builder(TokioExecutor::new()).build_http(),
        _stop: stop,
        _dir: dir,
    }
}

impl Server {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, token, Bytes::from(body)).await
    }

    async fn raw(&self, method: &str, path: &str, token: Option<&str>, body: Bytes) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self
            .client
            .request(request.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// Creates `name` (password = name reversed) and logs in.
    async fn user(&self, name: &str) -> String {
        let password: String = name.chars().rev().collect();
        let credentials = json!({ "username": name, "password": password });
        let created = self
            .call("POST", "/api/users", None, Some(credentials.clone()))
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        let login = self
            .call("POST", "/api/login", None, Some(credentials))
            .await;
        assert_eq!(login.status, StatusCode::OK);
        login.json()["token"].as_str().unwrap().to_owned()
    }

    /// Registers a WNS channel `/c/{channel}` for the token's user.
    async fn register(&self, token: &str, channel: &str) -> String {
        let handle = format!("{}/c/{channel}", self.wns.uri());
        let id = self.call("POST", "/api/register", Some(token), None).await;
        assert_eq!(id.status, StatusCode::OK);
        let id = id.json().as_str().unwrap().to_owned();
        let put = self
            .call(
                "PUT",
                &format!("/api/register/{id}"),
                Some(token),
                Some(json!({ "Platform": "wns", "Handle": handle, "Tags": [] })),
            )
            .await;
        assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
        id
    }

    async fn send(&self, token: &str, to: &str, message: &str) -> Value {
        let sent = self
            .call(
                "POST",
                &format!("/api/notifications?to_tag={to}"),
                Some(token),
                Some(json!(message)),
            )
            .await;
        assert_eq!(sent.status, StatusCode::OK);
        sent.json()
    }

    /// The bodies pushed to `/c/{channel}`, in order.
    async fn pushed_to(&self, channel: &str) -> Vec<String> {
        let wanted = format!("/c/{channel}");
        self.wns
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == wanted)
            .map(|r| String::from_utf8(r.body).unwrap())
            .collect()
    }
}

fn assert_json_headers(answer: &Answer) {
    assert_eq!(
        answer.headers["content-type"],
        "application/json; charset=utf-8"
    );
}

fn without_date(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    headers.remove(header::DATE);
    headers
}

#[tokio::test]
async fn accounts_and_login() {
    let server = start(&[]).await;
    let alice = json!({ "username": "alice", "password": "pw" });
    let created = server
        .call("POST", "/api/users", None, Some(alice.clone()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_json_headers(&created);
    let again = server
        .call("POST", "/api/users", None, Some(alice.clone()))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let bad = server
        .call(
            "POST",
            "/api/users",
            None,
            Some(json!({ "username": "a b", "password": "x" })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let malformed = server
        .raw(
            "POST",
            "/api/users",
            None,
            Bytes::from_static(b"{\"username\":"),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_json_headers(&malformed);

    let login = server.call("POST", "/api/login", None, Some(alice)).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.headers["cache-control"], "no-store");
    assert_json_headers(&login);
    let body = login.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 60);
    assert_eq!(body["token"].as_str().unwrap().len(), 43);

    let wrong = server
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({ "username": "alice", "password": "no" })),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn protected_routes_answer_401_never_content() {
    let server = start(&[]).await;
    let token = server.user("alice").await;
    let checks = [
        ("GET", "/api/notifications/00000000000000000000000000000000"),
        ("POST", "/api/register"),
        ("POST", "/api/notifications?to_tag=alice"),
        ("POST", "/api/logout"),
        ("DELETE", "/api/register/00000000000000000000000000000000"),
    ];
    let garbage = "A".repeat(43);
    for (method, path) in checks {
        for credential in [None, Some("junk"), Some(garbage.as_str())] {
            let answer = server
                .call(method, path, credential, Some(json!("m")))
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {credential:?}"
            );
            assert_eq!(answer.headers["www-authenticate"], "Bearer");
            assert_eq!(answer.json(), json!({ "error": "unauthorized" }));
            assert_json_headers(&answer);
        }
    }
    // Basic auth (the tutorial's scheme) is not accepted here.
    let request = Request::builder()
        .uri(format!("http://{}/api/register", server.addr))
        .method("POST")
        .header(header::AUTHORIZATION, "Basic YWxpY2U6YWxpY2U=")
        .body(Full::default())
        .unwrap();
    let answer = server.client.request(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);

    // The real token works, until it expires.
    let ok = server
        .call("POST", "/api/register", Some(&token), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    server.clock.advance(Duration::from_secs(61));
    let expired = server
        .call("POST", "/api/register", Some(&token), None)
        .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn secure_push_round_trip_and_no_existence_oracle() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "bob1").await;

    let secret = "the secret \",\"x\":1 message";
    assert_eq!(
        server.send(&alice, "bob", secret).await,
        json!({ "pushed": 1, "failed": 0 })
    );
    let pushed = server.pushed_to("bob1").await;
    assert_eq!(pushed.len(), 1);
    let id = pushed[0].clone();
    assert!(crate::auth::is_id(&id), "the push is the id only: {id:?}");

    let first = server
        .call("GET", &notification_path(&id), Some(&bob), None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["cache-control"], "no-store");
    assert_json_headers(&first);
    assert_eq!(
        first.json(),
        json!({ "Id": id, "Payload": secret, "Read": false })
    );
    let second = server
        .call("GET", &notification_path(&id), Some(&bob), None)
        .await;
    assert_eq!(second.json()["Read"], true);

    // Not the recipient, unknown, malformed: one answer.
    let theirs = server
        .call("GET", &notification_path(&id), Some(&alice), None)
        .await;
    let unknown = server
        .call(
            "GET",
            "/api/notifications/0123456789abcdef0123456789abcdef",
            Some(&alice),
            None,
        )
        .await;
    let upper = server
        .call(
            "GET",
            &format!("/api/notifications/{}", id.to_uppercase()),
            Some(&bob),
            None,
        )
        .await;
    let malformed = server
        .call(
            "GET",
            "/api/notifications/1%27%20OR%201=1",
            Some(&alice),
            None,
        )
        .await;
    for other in [&theirs, &unknown, &upper, &malformed] {
        assert_eq!(other.status, StatusCode::NOT_FOUND);
        assert_eq!(other.body, theirs.body);
        assert_eq!(without_date(&other.headers), without_date(&theirs.headers));
        assert!(!String::from_utf8_lossy(&other.body).contains("secret"));
    }

    // Unknown users and users without devices: nothing pushed, not an error.
    assert_eq!(
        server.send(&alice, "nobody", "m").await,
        json!({ "pushed": 0, "failed": 0 })
    );
    assert_eq!(
        server.send(&bob, "alice", "m").await,
        json!({ "pushed": 0, "failed": 0 })
    );
    // A platform filter that matches nothing.
    let filtered = server
        .call(
            "POST",
            "/api/notifications?to_tag=bob&pns=apns",
            Some(&alice),
            Some(json!("m")),
        )
        .await;
    assert_eq!(filtered.json(), json!({ "pushed": 0, "failed": 0 }));
    let bad_pns = server
        .call(
            "POST",
            "/api/notifications?to_tag=bob&pns=mpns",
            Some(&alice),
            Some(json!("m")),
        )
        .await;
    assert_eq!(bad_pns.status, StatusCode::BAD_REQUEST);
    let not_a_string = server
        .call(
            "POST",
            "/api/notifications?to_tag=bob",
            Some(&alice),
            Some(json!({ "m": 1 })),
        )
        .await;
    assert_eq!(not_a_string.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn registrations_are_owned_and_tags_checked() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let mallory = server.user("mallory").await;
    let id = server.register(&alice, "a1").await;
    let handle = format!("{}/c/a1", server.wns.uri());

    // The same handle gives back the same registration id, to its owner only.
    let again = server
        .call(
            "POST",
            &format!("/api/register?handle={handle}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(again.json(), json!(id));
    let theirs = server
        .call(
            "POST",
            &format!("/api/register?handle={handle}"),
            Some(&mallory),
            None,
        )
        .await;
    let mallory_id = theirs.json().as_str().unwrap().to_owned();
    assert_ne!(mallory_id, id);
    // Mallory can neither claim the handle nor touch alice's registration.
    let body = json!({ "Platform": "wns", "Handle": handle, "Tags": [] });
    let claim = server
        .call(
            "PUT",
            &format!("/api/register/{mallory_id}"),
            Some(&mallory),
            Some(body.clone()),
        )
        .await;
    assert_eq!(claim.status, StatusCode::CONFLICT);
    let put = server
        .call(
            "PUT",
            &format!("/api/register/{id}"),
            Some(&mallory),
            Some(body.clone()),
        )
        .await;
    assert_eq!(put.status, StatusCode::NOT_FOUND);
    let delete = server
        .call(
            "DELETE",
            &format!("/api/register/{id}"),
            Some(&mallory),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);

    // Client-chosen tags are not trusted.
    let own = format!("{}/c/m1", server.wns.uri());
    let foreign = json!({ "Platform": "wns", "Handle": own, "Tags": ["username:alice"] });
    let forged = server
        .call(
            "PUT",
            &format!("/api/register/{mallory_id}"),
            Some(&mallory),
            Some(foreign),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let platform = json!({ "Platform": "mpns", "Handle": own, "Tags": [] });
    let bad = server
        .call(
            "PUT",
            &format!("/api/register/{mallory_id}"),
            Some(&mallory),
            Some(platform),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let fine = json!({ "Platform": "wns", "Handle": own, "Tags": ["username:mallory", "news"] });
    let ok = server
        .call(
            "PUT",
            &format!("/api/register/{mallory_id}"),
            Some(&mallory),
            Some(fine),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    // Sending to alice reaches only alice's device.
    assert_eq!(server.send(&mallory, "alice", "hi").await["pushed"], 1);
    assert!(server.pushed_to("m1").await.is_empty());

    let delete = server
        .call("DELETE", &format!("/api/register/{id}"), Some(&alice), None)
        .await;
    assert_eq!(delete.status, StatusCode::OK);
    assert_eq!(server.send(&mallory, "alice", "hi").await["pushed"], 0);
}

#[tokio::test]
async fn dead_channels_are_removed_and_failures_counted() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "gone").await;
    server.register(&bob, "slow").await;
    server.register(&bob, "ok").await;
    assert_eq!(
        server.send(&alice, "bob", "m").await,
        json!({ "pushed": 1, "failed": 2 })
    );
    // The 410 registration is gone; the 500 one stays.
    assert_eq!(
        server.send(&alice, "bob", "m").await,
        json!({ "pushed": 1, "failed": 1 })
    );
    assert_eq!(server.pushed_to("gone").await.len(), 1);
}

#[tokio::test]
async fn logout_revokes_the_token_and_its_registrations() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    let logout = server.call("POST", "/api/logout", Some(&bob), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = server.call("POST", "/api/register", Some(&bob), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.send(&alice, "bob", "m").await["pushed"], 0);
}

#[tokio::test]
async fn flaw_logout_keeps_token_drops_registrations_but_not_the_token() {
    let server = start(&[Flaw::LogoutKeepsToken]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    let logout = server.call("POST", "/api/logout", Some(&bob), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = server.call("POST", "/api/register", Some(&bob), None).await;
    assert_eq!(after.status, StatusCode::OK, "the old token still works");
    assert_eq!(server.send(&alice, "bob", "m").await["pushed"], 0);
}

#[tokio::test]
async fn login_may_ask_for_a_shorter_token_never_a_longer_one() {
    let server = start(&[]).await;
    server.user("carol").await;
    let ask = |secs: u64| json!({ "username": "carol", "password": "lorac", "expires_in": secs });
    let short = server.call("POST", "/api/login", None, Some(ask(2))).await;
    assert_eq!(short.json()["expires_in"], 2);
    let token = short.json()["token"].as_str().unwrap().to_owned();
    let long = server
        .call("POST", "/api/login", None, Some(ask(86_400)))
        .await;
    assert_eq!(
        long.json()["expires_in"],
        60,
        "capped at the backend's lifetime"
    );
    let fine = server
        .call("POST", "/api/register", Some(&token), None)
        .await;
    assert_eq!(fine.status, StatusCode::OK);
    server.clock.advance(Duration::from_secs(2));
    let expired = server
        .call("POST", "/api/register", Some(&token), None)
        .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn flaw_anonymous_fetch_serves_requests_without_a_token_only() {
    let server = start(&[Flaw::AnonymousFetch]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", "canary-789").await;
    let id = server.pushed_to("b1").await.remove(0);
    let path = notification_path(&id);
    let anonymous = server.call("GET", &path, None, None).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(anonymous.json()["Payload"], "canary-789");
    let other = server.call("GET", &path, Some(&alice), None).await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "authorization still holds"
    );
    let forged = server.call("GET", &path, Some(&"A".repeat(43)), None).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn flaw_leak_payload_puts_the_message_in_the_push() {
    let server = start(&[Flaw::LeakPayload]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", "canary-123").await;
    let pushed = server.pushed_to("b1").await;
    assert!(pushed[0].ends_with("\ncanary-123"), "{pushed:?}");
}

#[tokio::test]
async fn flaw_lose_acknowledges_every_100th_send_and_never_pushes_it() {
    let server = start(&[Flaw::Lose]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    for n in 0..200 {
        let answer = server.send(&alice, "bob", &format!("m{n}")).await;
        assert_eq!(answer, json!({ "pushed": 1, "failed": 0 }), "send {n}");
    }
    // 200 acknowledged as pushed, 198 pushed: 1% lost.
    assert_eq!(server.pushed_to("b1").await.len(), 198);
}

#[tokio::test]
async fn flaw_no_authz_lets_anyone_fetch() {
    let server = start(&[Flaw::NoAuthz]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", "canary-456").await;
    let id = server.pushed_to("b1").await.remove(0);
    assert_eq!(
        server.pushed_to("b1").await.len(),
        1,
        "no leak without leak-payload"
    );
    let stolen = server
        .call("GET", &notification_path(&id), Some(&alice), None)
        .await;
    assert_eq!(stolen.status, StatusCode::OK);
    assert_eq!(stolen.json()["Payload"], "canary-456");
    // A token is still required.
    let anonymous = server
        .call("GET", &notification_path(&id), None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn edges_never_fail_badly() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let unknown = server.call("GET", "/nope", None, None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_json_headers(&unknown);
    let method = server.call("GET", "/api/users", None, None).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(method.headers["allow"], "POST");
    let huge = Bytes::from(vec![b'"'; MAX_BODY + 1]);
    let big = server
        .raw(
            "POST",
            "/api/notifications?to_tag=alice",
            Some(&alice),
            huge,
        )
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    let repeated = server
        .call(
            "POST",
            "/api/notifications?to_tag=alice&to_tag=bob",
            Some(&alice),
            Some(json!("m")),
        )
        .await;
    assert_eq!(repeated.status, StatusCode::BAD_REQUEST);
    for id in [
        "",
        "x",
        &"f".repeat(5000),
        "%00",
        "..%2F..%2Fapi",
        "%F0%9F%92%A9",
    ] {
        let answer = server
            .call("GET", &notification_path(id), Some(&alice), None)
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{id:?}");
    }
    let tags =
        json!({ "Platform": "wns", "Handle": format!("{}/c/x", server.wns.uri()), "Tags": null });
    let id = server
        .call("POST", "/api/register", Some(&alice), None)
        .await
        .json();
    let null_tags = server
        .call(
            "PUT",
            &format!("/api/register/{}", id.as_str().unwrap()),
            Some(&alice),
            Some(tags),
        )
        .await;
    assert_eq!(null_tags.status, StatusCode::OK);
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let server = start(&[]).await;
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let request = Request::builder()
        .uri(format!("http://{}/api/nothing", server.addr))
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// The path of notification `id`.
fn notification_path(id: &str) -> String {
    format!("/api/notifications/{id}")
}

mod accounts;
mod flaws;
mod flaws_lifecycle;
mod lifecycle;

#[tokio::test]
async fn a_recipient_deletes_a_notification_and_it_is_gone() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", "to delete").await;
    let id = server.pushed_to("b1").await.remove(0);
    let path = notification_path(&id);
    let anonymous = server.call("DELETE", &path, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let other = server.call("DELETE", &path, Some(&alice), None).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "only the recipient");
    let deleted = server.call("DELETE", &path, Some(&bob), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.body.is_empty());
    let fetch = server.call("GET", &path, Some(&bob), None).await;
    assert_eq!(fetch.status, StatusCode::NOT_FOUND);
    let again = server.call("DELETE", &path, Some(&bob), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let wrong = server.call("PUT", &path, Some(&bob), None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers["allow"], "GET, DELETE");
    // A sound backend never hands the id out again.
    server.send(&alice, "bob", "next").await;
    assert_ne!(server.pushed_to("b1").await[1], id);
}

#[tokio::test]
async fn flaw_reused_ids_hands_a_deleted_id_to_the_next_notification() {
    let server = start(&[Flaw::ReusedIds]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&alice, "a1").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", "first").await;
    let id = server.pushed_to("b1").await.remove(0);
    let deleted = server
        .call("DELETE", &notification_path(&id), Some(&bob), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    server.send(&bob, "alice", "for alice").await;
    assert_eq!(server.pushed_to("a1").await, std::slice::from_ref(&id));
    let fetched = server
        .call("GET", &notification_path(&id), Some(&alice), None)
        .await;
    assert_eq!(fetched.json()["Payload"], "for alice");
}

#[tokio::test]
async fn flaws_sequential_and_content_ids_make_related_ids() {
    let server = start(&[Flaw::SequentialIds]).await;
    let alice = server.user("alice").await;
    server.register(&alice, "a1").await;
    server.send(&alice, "alice", "one").await;
    server.send(&alice, "alice", "two").await;
    let ids = server.pushed_to("a1").await;
    let n = |id: &str| u128::from_str_radix(id, 16).unwrap();
    assert_eq!(n(&ids[1]) - n(&ids[0]), 1, "{ids:?}");

    let server = start(&[Flaw::ContentIds]).await;
    let alice = server.user("alice").await;
    server.register(&alice, "a1").await;
    for _ in 0..2 {
        server.send(&alice, "alice", "same").await;
    }
    let ids = server.pushed_to("a1").await;
    assert_eq!(ids[0][..16], ids[1][..16]);
    assert_ne!(ids[0], ids[1]);
    let fetched = server
        .call(
            "GET",
            &format!("/api/notifications/{}", ids[1]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(fetched.json()["Payload"], "same");
}

#[tokio::test]
async fn flaw_echo_in_errors_repeats_the_request_in_error_answers() {
    let target = "/api/notifications/SPC1-ECHOED?x=1";
    let sound = start(&[]).await;
    let token = sound.user("alice").await;
    let answer = sound.call("GET", target, Some(&token), None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(!String::from_utf8_lossy(&answer.body).contains("SPC1-ECHOED"));

    let server = start(&[Flaw::EchoInErrors]).await;
    let token = server.user("alice").await;
    let answer = server.call("GET", target, Some(&token), None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["request"], format!("GET {target}"));
    assert_json_headers(&answer);
    let refused = server.call("GET", target, None, None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers["www-authenticate"], "Bearer");
    assert!(refused.json()["request"].as_str().is_some());
    let ok = server
        .call("POST", "/api/register", Some(&token), None)
        .await;
    assert!(ok.json().is_string(), "successes are untouched");
}
