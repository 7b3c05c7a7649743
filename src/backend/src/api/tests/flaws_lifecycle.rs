//! The deliberate flaws of the enumeration, lifecycle, registration and
//! gateway-error checks: each breaks its property, over the API, and leaves
//! the rest of the backend as it was.

use super::*;

/// A user `bob` with a WNS channel `b1`, a notification from `alice`, and
/// the id its push carried: `(alice's token, bob's token, id)`.
async fn one_notification(server: &Server) -> (String, String, String) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", "for bob").await;
    let id = server.pushed_to("b1").await.remove(0);
    (alice, bob, id)
}

#[tokio::test]
async fn flaw_forbidden_oracle_tells_someone_elses_id_from_an_unknown_one() {
    let server = start(&[Flaw::ForbiddenOracle]).await;
    let (alice, bob, id) = one_notification(&server).await;
    let theirs = server
        .call("GET", &notification_path(&id), Some(&alice), None)
        .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    assert!(!String::from_utf8_lossy(&theirs.body).contains("for bob"));
    let unknown = server
        .call(
            "GET",
            &format!("/api/notifications/{:032x}", 1),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let own = server
        .call("GET", &notification_path(&id), Some(&bob), None)
        .await;
    assert_eq!(own.json()["Payload"], "for bob");
}

#[tokio::test]
async fn flaw_timing_oracle_answers_alike_but_later_for_ids_that_exist() {
    let server = start(&[Flaw::TimingOracle]).await;
    let (alice, _bob, id) = one_notification(&server).await;
    let timed = |path: String| {
        let (server, alice) = (&server, &alice);
        async move {
            let started = std::time::Instant::now();
            let answer = server.call("GET", &path, Some(alice), None).await;
            (answer, started.elapsed())
        }
    };
    let (theirs, slow) = timed(notification_path(&id)).await;
    let (unknown, _) = timed(format!("/api/notifications/{:032x}", 1)).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.body, unknown.body);
    assert!(slow >= TIMING_ORACLE_DELAY, "{slow:?}");
}

#[tokio::test]
async fn flaw_no_fetch_throttle_lets_a_scanner_fail_forever() {
    let server = start(&[Flaw::NoFetchThrottle]).await;
    let (alice, _bob, _id) = one_notification(&server).await;
    let limit = crate::config::FetchThrottle::default().failures;
    for n in 0..(limit + 20) {
        let path = format!("/api/notifications/{n:032x}");
        let answer = server.call("GET", &path, Some(&alice), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{n}");
    }
}

#[tokio::test]
async fn flaw_fragile_ids_dumps_an_error_for_escapes_that_decode_badly() {
    let server = start(&[Flaw::FragileIds]).await;
    let (alice, bob, id) = one_notification(&server).await;
    for bad in ["%FF%FE", "abc%00def", "%C0%AE"] {
        let answer = server
            .call(
                "GET",
                &format!("/api/notifications/{bad}"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
        let body = answer.json();
        assert!(body["error"].as_str().unwrap().contains("Error"), "{body}");
        assert!(body["trace"].as_str().is_some(), "{body}");
    }
    // Escapes of plain text, and plain ids, take the sound path.
    for fine in ["%41", "x"] {
        let answer = server
            .call(
                "GET",
                &format!("/api/notifications/{fine}"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{fine}");
    }
    let own = server
        .call("GET", &notification_path(&id), Some(&bob), None)
        .await;
    assert_eq!(own.status, StatusCode::OK);
}

#[tokio::test]
async fn flaw_no_payload_ttl_serves_expired_content() {
    let server = start(&[Flaw::NoPayloadTtl]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    let sent = server
        .call(
            "POST",
            "/api/notifications?to_tag=bob&ttl=2",
            Some(&alice),
            Some(json!("old")),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    let id = server.pushed_to("b1").await.remove(0);
    server.clock.advance(Duration::from_secs(10));
    let late = server
        .call("GET", &notification_path(&id), Some(&bob), None)
        .await;
    assert_eq!(late.json()["Payload"], "old");
}

#[tokio::test]
async fn flaw_soft_delete_answers_success_and_keeps_the_content() {
    let server = start(&[Flaw::SoftDelete]).await;
    let (alice, bob, id) = one_notification(&server).await;
    let path = notification_path(&id);
    assert_eq!(
        server
            .call("DELETE", &path, Some(&alice), None)
            .await
            .status,
        StatusCode::NOT_FOUND,
        "still only the recipient's"
    );
    assert_eq!(
        server.call("DELETE", &path, Some(&bob), None).await.status,
        StatusCode::NO_CONTENT
    );
    let after = server.call("GET", &path, Some(&bob), None).await;
    assert_eq!(after.json()["Payload"], "for bob");
}

#[tokio::test]
async fn flaw_any_ack_lets_anyone_delete_a_notification() {
    let server = start(&[Flaw::AnyAck]).await;
    let (alice, bob, id) = one_notification(&server).await;
    let path = notification_path(&id);
    assert_eq!(
        server
            .call("DELETE", &path, Some(&alice), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.call("GET", &path, Some(&bob), None).await.status,
        StatusCode::NOT_FOUND,
        "gone before its recipient read it"
    );
}

#[tokio::test]
async fn flaw_long_push_ttl_caches_pushes_without_an_expiry() {
    let server = start(&[Flaw::LongPushTtl]).await;
    one_notification(&server).await;
    let push = server
        .wns
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path() == "/c/b1")
        .unwrap();
    assert_eq!(push.headers["x-wns-cache-policy"], "cache");
    assert!(!push.headers.contains_key("x-wns-ttl"));
}

#[tokio::test]
async fn flaw_trust_client_tags_routes_a_victims_pushes_to_a_spy() {
    let server = start(&[Flaw::TrustClientTags]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mallory = server.user("mallory").await;
    server.register(&bob, "b1").await;
    let id = server
        .call("POST", "/api/register", Some(&mallory), None)
        .await;
    let id = id.json().as_str().unwrap().to_owned();
    let handle = format!("{}/c/spy", server.wns.uri());
    let put = server
        .call(
            "PUT",
            &format!("/api/register/{id}"),
            Some(&mallory),
            Some(json!({ "Platform": "wns", "Handle": handle, "Tags": ["username:bob"] })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(server.send(&alice, "bob", "for bob").await["pushed"], 2);
    assert_eq!(server.pushed_to("spy").await.len(), 1);
    // Mallory's own pushes still reach her.
    assert_eq!(server.send(&alice, "mallory", "m").await["pushed"], 1);
}

#[tokio::test]
async fn flaw_any_registration_lets_anyone_redirect_or_delete_a_registration() {
    let server = start(&[Flaw::AnyRegistration]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mallory = server.user("mallory").await;
    let bobs = server.register(&bob, "b1").await;
    let spy = format!("{}/c/spy", server.wns.uri());
    let path = format!("/api/register/{bobs}");
    let put = server
        .call(
            "PUT",
            &path,
            Some(&mallory),
            Some(json!({ "Platform": "wns", "Handle": spy, "Tags": [] })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK);
    server.send(&alice, "bob", "for bob").await;
    assert_eq!(
        server.pushed_to("spy").await.len(),
        1,
        "bob's push went to the spy"
    );
    assert_eq!(
        server
            .call("DELETE", &path, Some(&mallory), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(server.send(&alice, "bob", "m").await["pushed"], 0);
}

#[tokio::test]
async fn flaw_tag_expression_injection_reaches_whoever_the_expression_names() {
    let server = start(&[Flaw::TagExpressionInjection]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    server.register(&bob, "b1").await;
    server.register(&carol, "c1").await;
    let sent = server
        .call(
            "POST",
            "/api/notifications?to_tag=bob%20%7C%7C%20username%3Acarol",
            Some(&alice),
            Some(json!("for bob")),
        )
        .await;
    assert_eq!(sent.json()["pushed"], 2);
    let id = server.pushed_to("c1").await.remove(0);
    // Stored for bob: carol only learned the id.
    let theirs = server
        .call("GET", &notification_path(&id), Some(&carol), None)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn flaw_logout_keeps_registrations_revokes_the_token_only() {
    let server = start(&[Flaw::LogoutKeepsRegistrations]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    let logout = server.call("POST", "/api/logout", Some(&bob), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = server.call("POST", "/api/register", Some(&bob), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.send(&alice, "bob", "m").await["pushed"],
        1,
        "still pushed"
    );
}

/// Bob with a channel `/c/{channel}` the gateway answers with `status`
/// (and `Retry-After: 2`), and a healthy channel `b1`.
async fn refusing_channel(server: &Server, channel: &str, status: u16) -> (String, String) {
    Mock::given(path(format!("/c/{channel}")))
        .respond_with(ResponseTemplate::new(status).insert_header("retry-after", "2"))
        .with_priority(1)
        .mount(&server.wns)
        .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, channel).await;
    server.register(&bob, "b1").await;
    (alice, bob)
}

#[tokio::test]
async fn the_sound_backend_drops_dead_handles_and_never_retries_a_refusal() {
    let server = start(&[]).await;
    let (alice, _bob) = refusing_channel(&server, "busy", 503).await;
    server.register(&server.user("carol").await, "gone").await;
    server.send(&alice, "bob", "m").await;
    server.send(&alice, "carol", "m").await;
    server.send(&alice, "carol", "m").await;
    assert_eq!(server.pushed_to("busy").await.len(), 1);
    assert_eq!(server.pushed_to("gone").await.len(), 1);
}

#[tokio::test]
async fn flaw_keeps_dead_handles_pushes_to_them_again() {
    let server = start(&[Flaw::KeepsDeadHandles]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "gone").await;
    for _ in 0..3 {
        server.send(&alice, "bob", "m").await;
    }
    assert_eq!(server.pushed_to("gone").await.len(), 3);
}

#[tokio::test]
async fn flaw_ignores_retry_after_retries_at_once() {
    let server = start(&[Flaw::IgnoresRetryAfter]).await;
    let (alice, _bob) = refusing_channel(&server, "busy", 503).await;
    server.send(&alice, "bob", "m").await;
    assert_eq!(server.pushed_to("busy").await.len(), 4);
    assert_eq!(server.pushed_to("b1").await.len(), 1);
}

#[tokio::test]
async fn flaw_richer_fallback_resends_a_refused_push_with_the_message() {
    let server = start(&[Flaw::RicherFallback]).await;
    let (alice, _bob) = refusing_channel(&server, "picky", 400).await;
    server.send(&alice, "bob", "the secret").await;
    let pushed = server.pushed_to("picky").await;
    assert_eq!(pushed.len(), 2);
    assert!(!pushed[0].contains("the secret"));
    assert!(pushed[1].ends_with("\nthe secret"), "{pushed:?}");
    assert_eq!(
        server.pushed_to("b1").await.len(),
        1,
        "healthy pushes are plain"
    );
}
