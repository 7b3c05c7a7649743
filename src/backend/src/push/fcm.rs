//! FCM HTTP v1 client: OAuth2 service-account flow (an RS256 assertion
//! exchanged at `token_uri` for an access token, cached and renewed by one
//! caller at a time) and data-only messages.
//!
//! Sends go over HTTP/2 ([`H2Pool`]), as Google's own Admin SDKs send them:
//! every push in flight shares a connection or a few, instead of one
//! HTTP/1.1 connection each. Over `http://` that is h2c with prior
//! knowledge, which the mock gateway (like any HTTP/2 server that accepts
//! h2c) serves. The token endpoint, visited once an hour, keeps the
//! general-purpose client.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Uri};
use jsonwebtoken::Header;
use serde_json::json;

use super::flawed::Flawed;
use super::h2pool::{H2Pool, Limits};
use super::http::HttpClient;
use super::token::{self, TokenCache};
use super::{unix_now, Push, PushError, PushOutcome};
use crate::config::{FcmConfig, Trust};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

pub(crate) struct Fcm {
    /// For the token endpoint.
    http: HttpClient,
    /// For the sends.
    pool: H2Pool,
    config: FcmConfig,
    /// `{url}/v1/projects/{project}/messages:send`, if that is a URI.
    send_url: Result<Uri, String>,
    token: TokenCache,
}

impl Fcm {
    pub(crate) fn new(config: FcmConfig, timeout: Duration, trust: &Trust) -> Fcm {
        let send_url = format!(
            "{}/v1/projects/{}/messages:send",
            config.url, config.project_id
        );
        Fcm {
            http: HttpClient::http1_or_2(timeout, trust),
            pool: H2Pool::new(&config.url, trust, timeout, Limits::default()),
            send_url: send_url
                .parse()
                .map_err(|e| format!("send URL {send_url:?}: {e}")),
            config,
            token: TokenCache::default(),
        }
    }

    pub(crate) async fn send(&self, push: Push<'_>) -> PushOutcome {
        match self.try_send(push).await {
            Ok(outcome) => outcome,
            Err(error) => PushOutcome::Failed(error),
        }
    }

    async fn access_token(&self) -> Result<std::sync::Arc<str>, PushError> {
        self.token
            .get(|| async {
                let assertion = self.assertion(unix_now())?;
                token::fetch(
                    &self.http,
                    &self.config.credentials.token_uri,
                    &[("grant_type", GRANT_TYPE), ("assertion", &assertion)],
                )
                .await
            })
            .await
    }

    fn assertion(&self, now: u64) -> Result<String, PushError> {
        let account = &self.config.credentials;
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        if !account.private_key_id.is_empty() {
            header.kid = Some(account.private_key_id.clone());
        }
        let claims = json!({
            "iss": account.client_email,
            "scope": SCOPE,
            "aud": account.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        account.key.sign(header, &claims).map_err(PushError::Auth)
    }

    async fn try_send(&self, push: Push<'_>) -> Result<PushOutcome, PushError> {
        let body = body(push.handle, push.id, push.leaked, push.ttl_s);
        // One retry, after a 401, with a fresh token.
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let url = self
                .send_url
                .as_ref()
                .map_err(|e| PushError::Transport(e.clone()))?;
            let mut headers = HeaderMap::with_capacity(2);
            let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| PushError::Auth(format!("access token: {e}")))?;
            headers.insert(header::AUTHORIZATION, bearer);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            let reply = self.pool.post(url, &headers, body.clone()).await?;
            let status = reply.status.as_u16();
            match status {
                200 => return Ok(PushOutcome::Delivered),
                401 if attempt == 0 => {
                    self.token.invalidate(&token);
                    continue;
                }
                _ => {}
            }
            let (code, message) = error_of(&reply.body);
            if status == 404 && code == "UNREGISTERED" {
                return Ok(PushOutcome::Gone {
                    status,
                    reason: code,
                });
            }
            let reason = if code.is_empty() { message } else { code };
            return Ok(PushOutcome::Failed(PushError::Rejected { status, reason }));
        }
        Ok(PushOutcome::Failed(PushError::Auth(
            "access token refused twice".into(),
        )))
    }
}

/// A data-only message with high Android priority, carrying the id (plus
/// what a push flaw adds), stored by FCM for an offline device at most
/// `ttl_s` seconds (FCM's default is four weeks).
pub(crate) fn body(token: &str, id: &str, flawed: Option<&Flawed>, ttl_s: Option<u64>) -> Bytes {
    match flawed {
        None => sound_body(token, id, ttl_s),
        Some(_) => {
            Bytes::from(json!({ "message": message(Some(token), id, flawed, ttl_s) }).to_string())
        }
    }
}

/// FCM's longest `android.ttl`, four weeks in seconds.
const MAX_TTL_S: u64 = 2_419_200;

/// [`body`] without a flaw: typed, so serde writes it straight out (no map
/// built per push); the device token comes from a user and is escaped like
/// every other string. Fields in the order serde_json's maps print them,
/// so the bytes are those of [`message`]'s value.
fn sound_body(token: &str, id: &str, ttl_s: Option<u64>) -> Bytes {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        message: Message<'a>,
    }
    #[derive(serde::Serialize)]
    struct Message<'a> {
        android: Android,
        data: Data<'a>,
        token: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Android {
        priority: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        ttl: Option<String>,
    }
    #[derive(serde::Serialize)]
    struct Data<'a> {
        #[serde(rename = "secureId")]
        secure_id: &'a str,
    }
    let body = Body {
        message: Message {
            android: Android {
                priority: "HIGH",
                ttl: ttl_s.map(|ttl| format!("{}s", ttl.min(MAX_TTL_S))),
            },
            data: Data { secure_id: id },
            token,
        },
    };
    // Plain data always serializes.
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// The `message` object of [`body`], addressed to `token` (the hub, which
/// addresses each device itself, takes it without).
pub(crate) fn message(
    token: Option<&str>,
    id: &str,
    flawed: Option<&Flawed>,
    ttl_s: Option<u64>,
) -> serde_json::Value {
    let mut data = json!({ "secureId": id });
    let mut android = json!({ "priority": "HIGH" });
    if let Some(ttl) = ttl_s {
        // FCM takes at most four weeks.
        android["ttl"] = json!(format!("{}s", ttl.min(MAX_TTL_S)));
    }
    let mut notification = None;
    if let Some(flawed) = flawed {
        for (key, extra) in &flawed.fcm_data {
            data[*key] = json!(extra);
        }
        if let Some(key) = &flawed.fcm_collapse_key {
            android["collapse_key"] = json!(key);
        }
        notification = flawed.fcm_notification.clone();
    }
    let mut message = json!({ "data": data, "android": android });
    if let Some(token) = token {
        message["token"] = json!(token);
    }
    if let Some(notification) = notification {
        message["notification"] = notification;
    }
    message
}

/// The FCM `errorCode` (from `error.details[]`) and `error.message` of a
/// google.rpc.Status body; empty strings when absent or not JSON.
fn error_of(body: &[u8]) -> (String, String) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (String::new(), super::reason_of(body));
    };
    let error = &value["error"];
    let code = error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|detail| detail["errorCode"].as_str())
        .unwrap_or_default();
    let message = error["status"]
        .as_str()
        .or_else(|| error["message"].as_str())
        .unwrap_or_default();
    (code.to_owned(), message.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{test_keys, ServiceAccount, SigningKey};
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn config(server: &MockServer) -> FcmConfig {
        FcmConfig {
            url: server.uri(),
            project_id: "demo".into(),
            credentials: ServiceAccount {
                client_email: "sender@demo.iam.gserviceaccount.com".into(),
                private_key_id: "kid-1".into(),
                token_uri: format!("{}/token", server.uri()),
                key: SigningKey::rs256_from_pem(test_keys::RSA_P8.as_bytes()).unwrap(),
            },
        }
    }

    fn token_reply(token: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": token, "expires_in": 3599, "token_type": "Bearer"
        }))
    }

    fn unregistered() -> ResponseTemplate {
        ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]
        }}))
    }

    #[test]
    fn body_bytes_are_what_serde_json_would_print() {
        let plain = json!({"message": {"token": "t\"", "data": {"secureId": "n1"}, "android": {"priority": "HIGH"}}});
        assert_eq!(body("t\"", "n1", None, None), plain.to_string());
        let lived = json!({"message": {"token": "t", "data": {"secureId": "n1"}, "android": {"priority": "HIGH", "ttl": "60s"}}});
        assert_eq!(body("t", "n1", None, Some(60)), lived.to_string());
        let capped = json!({"message": {"token": "t", "data": {"secureId": "n1"}, "android": {"priority": "HIGH", "ttl": "2419200s"}}});
        assert_eq!(body("t", "n1", None, Some(u64::MAX)), capped.to_string());
        for ttl in [None, Some(5)] {
            let via_message = json!({ "message": message(Some("t"), "n1", None, ttl) }).to_string();
            assert_eq!(body("t", "n1", None, ttl), via_message);
        }
    }

    #[test]
    fn body_shape_and_injection() {
        let plain: serde_json::Value =
            serde_json::from_slice(&body("tok", "n1", None, None)).unwrap();
        assert_eq!(
            plain,
            json!({"message": {"token": "tok", "data": {"secureId": "n1"}, "android": {"priority": "HIGH"}}})
        );
        let evil = "\",\"x\":1";
        let flawed = Flawed {
            fcm_data: vec![("message", evil.to_owned())],
            ..Flawed::default()
        };
        let leaky: serde_json::Value =
            serde_json::from_slice(&body("tok", "n1", Some(&flawed), None)).unwrap();
        assert_eq!(
            leaky["message"]["data"],
            json!({"secureId": "n1", "message": evil})
        );
        assert_eq!(leaky["message"].as_object().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn token_is_fetched_once_and_reused() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(token_reply("at-1"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/projects/demo/messages:send"))
            .and(header("authorization", "Bearer at-1"))
            .and(body_json(json!({"message": {"token": "dev", "data": {"secureId": "n1"}, "android": {"priority": "HIGH"}}})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"name": "projects/demo/messages/1"})))
            .expect(20)
            .mount(&server)
            .await;
        let fcm = std::sync::Arc::new(Fcm::new(
            config(&server),
            Duration::from_secs(5),
            &Trust::default(),
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let fcm = std::sync::Arc::clone(&fcm);
            tasks.spawn(async move {
                fcm.send(Push {
                    handle: "dev",
                    id: "n1",
                    leaked: None,
                    ttl_s: None,
                })
                .await
            });
        }
        while let Some(outcome) = tasks.join_next().await {
            assert!(matches!(outcome.unwrap(), PushOutcome::Delivered));
        }
        // The assertion has the service-account shape.
        let requests = server.received_requests().await.unwrap();
        let form = requests.iter().find(|r| r.url.path() == "/token").unwrap();
        let pairs: std::collections::HashMap<String, String> =
            form_urlencoded::parse(&form.body).into_owned().collect();
        assert_eq!(pairs["grant_type"], GRANT_TYPE);
        use base64::Engine as _;
        let claims = pairs["assertion"].split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], "sender@demo.iam.gserviceaccount.com");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["aud"], format!("{}/token", server.uri()));
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
    }

    #[tokio::test]
    async fn unauthorized_refreshes_once_and_retries() {
        let server = MockServer::start().await;
        Mock::given(path("/token"))
            .respond_with(token_reply("old"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(path("/token"))
            .respond_with(token_reply("new"))
            .mount(&server)
            .await;
        Mock::given(path("/v1/projects/demo/messages:send"))
            .and(header("authorization", "Bearer old"))
            .respond_with(ResponseTemplate::new(401))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(path("/v1/projects/demo/messages:send"))
            .and(header("authorization", "Bearer new"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        let fcm = Fcm::new(config(&server), Duration::from_secs(5), &Trust::default());
        let outcome = fcm
            .send(Push {
                handle: "dev",
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(matches!(outcome, PushOutcome::Delivered), "{outcome:?}");
    }

    #[tokio::test]
    async fn unregistered_is_gone_other_errors_fail() {
        let server = MockServer::start().await;
        Mock::given(path("/token"))
            .respond_with(token_reply("t"))
            .mount(&server)
            .await;
        Mock::given(path("/v1/projects/demo/messages:send"))
            .and(body_json(json!({"message": {"token": "dead", "data": {"secureId": "n"}, "android": {"priority": "HIGH"}}})))
            .respond_with(unregistered())
            .mount(&server)
            .await;
        Mock::given(path("/v1/projects/demo/messages:send"))
            .respond_with(ResponseTemplate::new(503).set_body_string("<html>busy</html>"))
            .mount(&server)
            .await;
        let fcm = Fcm::new(config(&server), Duration::from_secs(5), &Trust::default());
        let outcome = fcm
            .send(Push {
                handle: "dead",
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(
            matches!(outcome, PushOutcome::Gone { status: 404, .. }),
            "{outcome:?}"
        );
        let outcome = fcm
            .send(Push {
                handle: "live",
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(
            matches!(
                outcome,
                PushOutcome::Failed(PushError::Rejected { status: 503, .. })
            ),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_broken_token_endpoint_fails_the_push() {
        let server = MockServer::start().await;
        Mock::given(path("/token"))
            .respond_with(
                ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})),
            )
            .mount(&server)
            .await;
        let fcm = Fcm::new(config(&server), Duration::from_secs(5), &Trust::default());
        let outcome = fcm
            .send(Push {
                handle: "dev",
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(
            matches!(outcome, PushOutcome::Failed(PushError::Auth(_))),
            "{outcome:?}"
        );
    }
}
