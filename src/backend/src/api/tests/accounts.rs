//! Accounts beyond signup and login: tenants, disabling an account, and
//! refresh tokens.

use super::*;

impl Server {
    /// Creates `name` in `tenant` with `password` and logs in; the login
    /// answer.
    async fn account(&self, name: &str, tenant: &str, password: &str) -> Value {
        let credentials = json!({ "username": name, "password": password, "tenant": tenant });
        let created = self
            .call("POST", "/api/users", None, Some(credentials.clone()))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(created.json()["tenant"], tenant);
        let login = self
            .call("POST", "/api/login", None, Some(credentials))
            .await;
        assert_eq!(login.status, StatusCode::OK);
        login.json()
    }

    async fn fetch(&self, token: &str, id: &str) -> Answer {
        self.call(
            "GET",
            &format!("/api/notifications/{id}"),
            Some(token),
            None,
        )
        .await
    }
}

fn token(login: &Value) -> String {
    login["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tenants_keep_same_named_accounts_and_their_notifications_apart() {
    let server = start(&[]).await;
    let acme = token(&server.account("alice", "acme", "pw-acme").await);
    let globex = token(&server.account("alice", "globex", "pw-globex").await);
    let again = json!({ "username": "alice", "password": "x", "tenant": "acme" });
    let taken = server.call("POST", "/api/users", None, Some(again)).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let wrong = json!({ "username": "alice", "password": "pw-globex", "tenant": "acme" });
    let wrong = server.call("POST", "/api/login", None, Some(wrong)).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNAUTHORIZED,
        "passwords per tenant"
    );
    let bad = json!({ "username": "x", "password": "x", "tenant": "a/b" });
    let bad_signup = server
        .call("POST", "/api/users", None, Some(bad.clone()))
        .await;
    assert_eq!(bad_signup.status, StatusCode::BAD_REQUEST);
    let bad_login = server.call("POST", "/api/login", None, Some(bad)).await;
    assert_eq!(bad_login.status, StatusCode::UNAUTHORIZED);

    server.register(&acme, "acme-alice").await;
    let bob = token(&server.account("bob", "acme", "pw-bob").await);
    // The same name in another tenant is another user: nothing reaches
    // acme's alice from globex.
    assert_eq!(server.send(&globex, "alice", "m").await["pushed"], 0);
    assert!(server.pushed_to("acme-alice").await.is_empty());
    assert_eq!(
        server.send(&bob, "alice", "for acme alice").await["pushed"],
        1
    );
    let id = server.pushed_to("acme-alice").await.remove(0);
    assert_eq!(
        server.fetch(&globex, &id).await.status,
        StatusCode::NOT_FOUND
    );
    let own = server.fetch(&acme, &id).await;
    assert_eq!(own.json()["Payload"], "for acme alice");
    // An account of the unnamed tenant is yet another alice.
    let plain = server.user("alice").await;
    assert_eq!(
        server.fetch(&plain, &id).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn disabling_an_account_revokes_its_tokens_logins_and_registrations() {
    let server = start(&[]).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let credentials =
        json!({ "username": "bob", "password": "bob".chars().rev().collect::<String>() });
    let second = server
        .call("POST", "/api/login", None, Some(credentials.clone()))
        .await
        .json();
    server.register(&bob, "b1").await;
    let anonymous = server
        .call("POST", "/api/account/disable", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let disabled = server
        .call("POST", "/api/account/disable", Some(&bob), None)
        .await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT);
    assert!(disabled.body.is_empty());
    for token in [bob.clone(), token(&second)] {
        let after = server
            .call("POST", "/api/register", Some(&token), None)
            .await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    }
    let login = server
        .call("POST", "/api/login", None, Some(credentials.clone()))
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    let refresh =
        json!({ "grant_type": "refresh_token", "refresh_token": second["refresh_token"] });
    let refreshed = server.call("POST", "/api/token", None, Some(refresh)).await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST);
    assert_eq!(refreshed.json()["error"], "invalid_grant");
    let signup = server
        .call("POST", "/api/users", None, Some(credentials))
        .await;
    assert_eq!(signup.status, StatusCode::CONFLICT, "the name stays taken");
    assert_eq!(server.send(&alice, "bob", "m").await["pushed"], 0);
    assert_eq!(
        server
            .call("POST", "/api/register", Some(&alice), None)
            .await
            .status,
        StatusCode::OK,
        "other accounts are untouched"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_are_revoked_by_logout_and_are_never_access_tokens() {
    let server = start(&[]).await;
    server.user("carol").await;
    let credentials = json!({ "username": "carol", "password": "lorac" });
    let login = server
        .call("POST", "/api/login", None, Some(credentials.clone()))
        .await
        .json();
    let refresh_token = login["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh_token.len(), 43);
    assert_ne!(refresh_token, token(&login));
    let as_access = server
        .call("POST", "/api/register", Some(&refresh_token), None)
        .await;
    assert_eq!(as_access.status, StatusCode::UNAUTHORIZED);

    let grant = |t: &str| json!({ "grant_type": "refresh_token", "refresh_token": t });
    let renewed = server
        .call("POST", "/api/token", None, Some(grant(&refresh_token)))
        .await;
    assert_eq!(renewed.status, StatusCode::OK);
    assert_json_headers(&renewed);
    assert_eq!(renewed.headers["cache-control"], "no-store");
    let renewed = renewed.json();
    assert_eq!(renewed["token_type"], "Bearer");
    assert_eq!(renewed["expires_in"], 60);
    let works = server
        .call("POST", "/api/register", Some(&token(&renewed)), None)
        .await;
    assert_eq!(works.status, StatusCode::OK);
    let spent = server
        .call("POST", "/api/token", None, Some(grant(&refresh_token)))
        .await;
    assert_eq!(spent.status, StatusCode::BAD_REQUEST, "single use");
    let wrong_grant = json!({ "grant_type": "password", "refresh_token": refresh_token });
    let wrong_grant = server
        .call("POST", "/api/token", None, Some(wrong_grant))
        .await;
    assert_eq!(wrong_grant.json()["error"], "unsupported_grant_type");

    // Logout ends the session and the refresh token issued with it.
    let next = renewed["refresh_token"].as_str().unwrap();
    let logout = server
        .call("POST", "/api/logout", Some(&token(&renewed)), None)
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = server
        .call("POST", "/api/token", None, Some(grant(next)))
        .await;
    assert_eq!(after.status, StatusCode::BAD_REQUEST);

    // A refresh token expires.
    let login = server
        .call("POST", "/api/login", None, Some(credentials))
        .await
        .json();
    server
        .clock
        .advance(crate::auth::REFRESH_TTL + Duration::from_secs(1));
    let stale = server
        .call(
            "POST",
            "/api/token",
            None,
            Some(grant(login["refresh_token"].as_str().unwrap())),
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
}
