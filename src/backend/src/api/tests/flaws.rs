//! Each deliberate flaw of the authorization and token checks does what its
//! doc says, and only that.

use super::*;

/// A server with `flaws`, alice (the sender), bob with a WNS channel `b1`,
/// and one notification for bob: (server, alice, bob, id).
async fn with_one(flaws: &[Flaw], message: &str) -> (Server, String, String, String) {
    let server = start(flaws).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.register(&bob, "b1").await;
    server.send(&alice, "bob", message).await;
    let id = server.pushed_to("b1").await.remove(0);
    (server, alice, bob, id)
}

#[tokio::test]
async fn flaw_token_prefix_match_accepts_a_token_changed_after_its_prefix() {
    for (flaws, accepted) in [(&[][..], false), (&[Flaw::TokenPrefixMatch][..], true)] {
        let (server, _, bob, id) = with_one(flaws, "m").await;
        let mut changed = bob.clone().into_bytes();
        let last = changed.len() - 1;
        changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).unwrap();
        let answer = server
            .call("GET", &notification_path(&id), Some(&changed), None)
            .await;
        assert_eq!(answer.status.is_success(), accepted, "{flaws:?}");
        let mut first = bob.into_bytes();
        first[0] = if first[0] == b'A' { b'B' } else { b'A' };
        let first = String::from_utf8(first).unwrap();
        let answer = server
            .call("GET", &notification_path(&id), Some(&first), None)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{flaws:?}");
    }
}

#[tokio::test]
async fn flaw_bola_case_variant_serves_another_case_of_the_id_to_anyone() {
    for (flaws, leaked) in [(&[][..], false), (&[Flaw::BolaCaseVariant][..], true)] {
        let (server, alice, bob, id) = with_one(flaws, "canary-case").await;
        let upper = server
            .call(
                "GET",
                &notification_path(&id.to_uppercase()),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(upper.status.is_success(), leaked, "{flaws:?}");
        let exact = server
            .call("GET", &notification_path(&id), Some(&alice), None)
            .await;
        assert_eq!(exact.status, StatusCode::NOT_FOUND, "{flaws:?}");
        let own = server
            .call("GET", &notification_path(&id), Some(&bob), None)
            .await;
        assert_eq!(own.json()["Payload"], "canary-case");
    }
}

#[tokio::test]
async fn flaw_cross_tenant_fetch_lets_the_same_name_of_another_tenant_read() {
    let server = start(&[Flaw::CrossTenantFetch]).await;
    let login = |name: &'static str, tenant: &'static str| {
        let server = &server;
        async move {
            let credentials = json!({ "username": name, "password": "pw", "tenant": tenant });
            server
                .call("POST", "/api/users", None, Some(credentials.clone()))
                .await;
            let login = server
                .call("POST", "/api/login", None, Some(credentials))
                .await;
            login.json()["token"].as_str().unwrap().to_owned()
        }
    };
    let acme = login("bob", "acme").await;
    let globex = login("bob", "globex").await;
    let carol = login("carol", "globex").await;
    server.register(&acme, "acme-bob").await;
    let sender = login("alice", "acme").await;
    server.send(&sender, "bob", "canary-tenant").await;
    let id = server.pushed_to("acme-bob").await.remove(0);
    let stolen = server
        .call("GET", &notification_path(&id), Some(&globex), None)
        .await;
    assert_eq!(stolen.json()["Payload"], "canary-tenant");
    let other = server
        .call("GET", &notification_path(&id), Some(&carol), None)
        .await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "other names still refused"
    );
}

#[tokio::test]
async fn flaw_cached_authz_serves_a_logged_out_token_what_it_read_before() {
    for (flaws, served) in [(&[][..], false), (&[Flaw::CachedAuthz][..], true)] {
        let (server, alice, bob, id) = with_one(flaws, "canary-cache").await;
        let first = server
            .call("GET", &notification_path(&id), Some(&bob), None)
            .await;
        assert_eq!(first.status, StatusCode::OK);
        let logout = server.call("POST", "/api/logout", Some(&bob), None).await;
        assert_eq!(logout.status, StatusCode::NO_CONTENT);
        let again = server
            .call("GET", &notification_path(&id), Some(&bob), None)
            .await;
        assert_eq!(again.status.is_success(), served, "{flaws:?}");
        // What the old token never read is refused either way.
        server.send(&alice, "bob", "m2").await;
        let other = server
            .call(
                "GET",
                &notification_path(&crate::auth::random_id()),
                Some(&bob),
                None,
            )
            .await;
        assert_eq!(other.status, StatusCode::UNAUTHORIZED, "{flaws:?}");
    }
}

#[tokio::test]
async fn flaw_verbose_fetch_adds_the_senders_account_record() {
    for (flaws, verbose) in [(&[][..], false), (&[Flaw::VerboseFetch][..], true)] {
        let (server, _, bob, id) = with_one(flaws, "m").await;
        let answer = server
            .call("GET", &notification_path(&id), Some(&bob), None)
            .await
            .json();
        assert_eq!(answer.get("Sender").is_some(), verbose, "{answer}");
        if verbose {
            assert_eq!(answer["Sender"]["Username"], "alice");
        } else {
            assert_eq!(answer.as_object().unwrap().len(), 3, "{answer}");
        }
    }
}

#[tokio::test]
async fn flaw_ignore_expiry_accepts_expired_tokens() {
    for (flaws, accepted) in [(&[][..], false), (&[Flaw::IgnoreExpiry][..], true)] {
        let (server, _, bob, id) = with_one(flaws, "m").await;
        server.clock.advance(Duration::from_secs(61));
        let answer = server
            .call("GET", &notification_path(&id), Some(&bob), None)
            .await;
        assert_eq!(answer.status.is_success(), accepted, "{flaws:?}");
    }
}

#[tokio::test]
async fn flaw_disabled_still_valid_keeps_the_tokens_but_refuses_logins() {
    let (server, alice, bob, id) = with_one(&[Flaw::DisabledStillValid], "m").await;
    let disabled = server
        .call("POST", "/api/account/disable", Some(&bob), None)
        .await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT);
    let answer = server
        .call("GET", &notification_path(&id), Some(&bob), None)
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "the flaw: the token still works"
    );
    let login = json!({ "username": "bob", "password": "bob".chars().rev().collect::<String>() });
    let login = server.call("POST", "/api/login", None, Some(login)).await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.send(&alice, "bob", "m").await["pushed"], 0);
}

#[tokio::test]
async fn flaw_token_in_query_accepts_access_token_without_a_header() {
    for (flaws, accepted) in [(&[][..], false), (&[Flaw::TokenInQuery][..], true)] {
        let (server, _, bob, id) = with_one(flaws, "canary-query").await;
        let target = format!("{}?access_token={bob}", notification_path(&id));
        let answer = server.call("GET", &target, None, None).await;
        assert_eq!(answer.status.is_success(), accepted, "{flaws:?}");
        if !accepted {
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        }
    }
}

#[tokio::test]
async fn flaw_refresh_as_access_accepts_a_refresh_token_as_a_bearer_token() {
    for (flaws, accepted) in [(&[][..], false), (&[Flaw::RefreshAsAccess][..], true)] {
        let (server, _, _, id) = with_one(flaws, "m").await;
        let login =
            json!({ "username": "bob", "password": "bob".chars().rev().collect::<String>() });
        let login = server
            .call("POST", "/api/login", None, Some(login))
            .await
            .json();
        let refresh = login["refresh_token"].as_str().unwrap();
        let answer = server
            .call("GET", &notification_path(&id), Some(refresh), None)
            .await;
        assert_eq!(answer.status.is_success(), accepted, "{flaws:?}");
    }
}

#[tokio::test]
async fn flaw_cacheable_fetch_lets_caches_keep_the_content() {
    for (flaws, header) in [
        (&[][..], "no-store"),
        (&[Flaw::CacheableFetch][..], "private, max-age=300"),
    ] {
        let (server, _, bob, id) = with_one(flaws, "m").await;
        let answer = server
            .call("GET", &notification_path(&id), Some(&bob), None)
            .await;
        assert_eq!(answer.headers["cache-control"], header);
        let refused = server
            .call("GET", &notification_path(&id), None, None)
            .await;
        assert_eq!(refused.headers["cache-control"], "no-store", "{flaws:?}");
    }
}

#[tokio::test]
async fn flaw_no_charset_drops_the_charset_of_every_answer() {
    let (server, _, bob, id) = with_one(&[Flaw::NoCharset], "m").await;
    for answer in [
        server
            .call("GET", &notification_path(&id), Some(&bob), None)
            .await,
        server
            .call("GET", &notification_path(&id), None, None)
            .await,
    ] {
        assert_eq!(answer.headers["content-type"], "application/json");
    }
}
