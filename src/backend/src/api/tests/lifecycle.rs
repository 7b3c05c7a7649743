//! The content's lifecycle over the API: it expires (a send may ask for a
//! shorter lifetime, never a longer one), the recipient's acknowledgement
//! deletes it, pushes carry the same lifetime, and a user whose fetches
//! keep failing is throttled without touching anyone else.

use super::*;

/// The pushes to `/c/{channel}` as wiremock saw them.
async fn requests_to(server: &Server, channel: &str) -> Vec<wiremock::Request> {
    let wanted = format!("/c/{channel}");
    server
        .wns
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == wanted)
        .collect()
}

/// A new session of an existing user made by [`Server::user`].
async fn login(server: &Server, name: &str) -> String {
    let password: String = name.chars().rev().collect();
    let credentials = json!({ "username": name, "password": password });
    let login = server
        .call("POST", "/api/login", None, Some(credentials))
        .await;
    assert_eq!(login.status, StatusCode::OK);
    login.json()["token"].as_str().unwrap().to_owned()
}

/// `GET /api/notifications/{id}` with `token`.
async fn get(server: &Server, id: &str, token: &str) -> Answer {
    let path = notification_path(id);
    server.call("GET", &path, Some(token), None).await
}

#[tokio::test]
async fn content_expires_and_a_send_may_ask_for_a_shorter_life_never_a_longer_one() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    let send = |ttl: &str| {
        let path = format!("/api/notifications?to_tag=bob{ttl}");
        let (server, alice) = (&server, &alice);
        async move {
            server
                .call("POST", &path, Some(alice), Some(json!("m")))
                .await
        }
    };
    assert_eq!(send("&ttl=2").await.status, StatusCode::OK);
    assert_eq!(send("&ttl=999999999").await.status, StatusCode::OK);
    assert_eq!(send("").await.status, StatusCode::OK);
    for bad in ["&ttl=0", "&ttl=-1", "&ttl=soon"] {
        assert_eq!(send(bad).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let pushes = requests_to(&server, "b1").await;
    let ids: Vec<String> = pushes
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    // The push lives as long as the content: 2 s, then the backend's day.
    let ttls: Vec<&str> = pushes
        .iter()
        .map(|r| r.headers["x-wns-ttl"].to_str().unwrap())
        .collect();
    assert_eq!(ttls, ["2", "86400", "86400"]);
    assert_eq!(get(&server, &ids[0], &bob).await.status, StatusCode::OK);
    server.clock.advance(Duration::from_secs(2));
    assert_eq!(
        get(&server, &ids[0], &bob).await.status,
        StatusCode::NOT_FOUND,
        "expired"
    );
    assert_eq!(
        get(&server, &ids[1], &bob).await.status,
        StatusCode::OK,
        "capped, not refused"
    );
    server.clock.advance(Duration::from_secs(86_398));
    let bob = login(&server, "bob").await;
    assert_eq!(
        get(&server, &ids[1], &bob).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&server, &ids[2], &bob).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_recipients_acknowledgement_deletes_the_content_for_good() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", "read me once").await;
    let id = server.pushed_to("b1").await.remove(0);
    let path = notification_path(&id);
    // Until acknowledged it can be fetched again (a lost answer, a second
    // device); `Read` says it was.
    assert_eq!(
        server.call("GET", &path, Some(&bob), None).await.status,
        StatusCode::OK
    );
    let again = server.call("GET", &path, Some(&bob), None).await;
    assert_eq!(again.json()["Read"], true);
    // Only the recipient acknowledges: anyone else gets the 404 of an
    // unknown id, and the content stays.
    let theirs = server.call("DELETE", &path, Some(&alice), None).await;
    let unknown = server
        .call(
            "DELETE",
            "/api/notifications/0123456789abcdef0123456789abcdef",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(theirs.body, unknown.body);
    assert_eq!(
        server.call("DELETE", &path, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let acked = server.call("DELETE", &path, Some(&bob), None).await;
    assert_eq!(acked.status, StatusCode::NO_CONTENT);
    assert!(acked.body.is_empty());
    assert_eq!(
        server.call("GET", &path, Some(&bob), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.call("DELETE", &path, Some(&bob), None).await.status,
        StatusCode::NOT_FOUND
    );
    let put = server.call("PUT", &path, Some(&bob), None).await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.headers["allow"], "GET, DELETE");
}

#[tokio::test]
async fn failed_fetches_are_throttled_per_user_for_the_window() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let mallory = server.user("mallory").await;
    let mallory_again = login(&server, "mallory").await;
    server.register(&alice, "a1").await;
    server.register(&mallory, "m1").await;
    server.send(&mallory, "alice", "alice's").await;
    server.send(&alice, "mallory", "mallory's").await;
    let alices = server.pushed_to("a1").await.remove(0);
    let mallorys = server.pushed_to("m1").await.remove(0);
    // Fetching one's own never counts.
    for _ in 0..150 {
        assert_eq!(
            get(&server, &mallorys, &mallory).await.status,
            StatusCode::OK
        );
    }
    let limit = crate::config::FetchThrottle::default().failures;
    for n in 0..limit {
        let id = if n % 2 == 0 {
            alices.clone()
        } else {
            format!("{n:032x}")
        };
        assert_eq!(
            get(&server, &id, &mallory).await.status,
            StatusCode::NOT_FOUND,
            "{n}"
        );
    }
    let throttled = get(&server, &format!("{:032x}", 7), &mallory).await;
    assert_eq!(
        throttled.status,
        StatusCode::NOT_FOUND,
        "the limit itself is allowed"
    );
    let throttled = get(&server, &alices, &mallory).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers["retry-after"], "2");
    assert_json_headers(&throttled);
    // Every fetch of that user, with any of its sessions, own ids too.
    assert_eq!(
        get(&server, &mallorys, &mallory_again).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Nobody else.
    assert_eq!(get(&server, &alices, &alice).await.status, StatusCode::OK);
    server.clock.advance(Duration::from_millis(1_500));
    assert_eq!(
        get(&server, &mallorys, &mallory).await.headers["retry-after"],
        "1"
    );
    server.clock.advance(Duration::from_millis(500));
    assert_eq!(
        get(&server, &mallorys, &mallory).await.status,
        StatusCode::OK,
        "the window is over"
    );
}
