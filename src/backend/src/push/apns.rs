//! APNs provider API client: HTTP/2, token (JWT ES256) authentication.
//!
//! Pushes go over a small pool of HTTP/2 connections ([`H2Pool`]) that
//! obeys the stream limit APNs announces: one stream until a push is
//! accepted, then its higher limit, and back to one after a rejection.
//!
//! The provider token is signed once and reused: APNs rejects tokens older
//! than an hour and answers `TooManyProviderTokenUpdates` to a client that
//! renews more often than every 20 minutes, so a token per push (a classic
//! bug) breaks under load. This client renews after 40 minutes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Uri};
use jsonwebtoken::Header;
use serde_json::json;

use super::flawed::Flawed;
use super::h2pool::{H2Pool, Limits};
use super::{reason_of, unix_now, Push, PushError, PushOutcome};
use crate::config::{ApnsConfig, Trust};

/// Renew the provider token once it is this old.
const RENEW_AFTER: u64 = 40 * 60;
/// Never renew a token younger than this, even when APNs calls it expired.
const MIN_RENEW_INTERVAL: u64 = 20 * 60;

pub(crate) struct Apns {
    pool: H2Pool,
    config: ApnsConfig,
    /// The headers every push carries but `authorization`, built once.
    headers: HeaderMap,
    jwt: JwtCache,
}

impl Apns {
    pub(crate) fn new(config: ApnsConfig, timeout: Duration, trust: &Trust) -> Apns {
        let mut headers = HeaderMap::with_capacity(5);
        // A topic that is not a valid header value cannot be sent at all;
        // APNs then answers MissingTopic, which is what the push reports.
        if let Ok(topic) = HeaderValue::from_str(&config.topic) {
            headers.insert("apns-topic", topic);
        }
        headers.insert("apns-push-type", HeaderValue::from_static("background"));
        headers.insert("apns-priority", HeaderValue::from_static("5"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Apns {
            pool: H2Pool::new(&config.url, trust, timeout, Limits::default()),
            config,
            headers,
            jwt: JwtCache::default(),
        }
    }

    pub(crate) async fn send(&self, push: Push<'_>) -> PushOutcome {
        match self.try_send(push).await {
            Ok(outcome) => outcome,
            Err(error) => PushOutcome::Failed(error),
        }
    }

    async fn try_send(&self, push: Push<'_>) -> Result<PushOutcome, PushError> {
        // The token goes into the path: never let anything but hex in.
        if !super::Platform::Apns.valid_handle(push.handle) {
            return Err(PushError::BadHandle("APNs device token must be hex"));
        }
        let jwt = self
            .jwt
            .get(&self.config, unix_now())
            .map_err(PushError::Auth)?;
        let uri: Uri = format!("{}/3/device/{}", self.config.url, push.handle)
            .parse()
            .map_err(|e| PushError::Transport(format!("building the request: {e}")))?;
        let mut headers = self.headers.clone();
        let bearer = HeaderValue::from_str(&format!("bearer {jwt}"))
            .map_err(|e| PushError::Auth(format!("provider token: {e}")))?;
        headers.insert(header::AUTHORIZATION, bearer);
        if let Some(ttl) = push.ttl_s {
            // Absolute epoch seconds (without it APNs stores the push),
            // rounded down to the minute: never later than the content's
            // expiry, and the same on pushes sent moments apart, so the
            // header says nothing about when each was sent.
            let expires = unix_now().saturating_add(ttl) / 60 * 60;
            headers.insert("apns-expiration", HeaderValue::from(expires));
        }
        if let Some(collapse_id) = push.leaked.and_then(|f| f.apns_collapse_id.as_deref()) {
            // The flaw's 64 bytes of message; one that is no header value
            // (a control character) goes without the header.
            if let Ok(value) = HeaderValue::from_str(collapse_id) {
                headers.insert("apns-collapse-id", value);
            }
        }
        let reply = self
            .pool
            .post(&uri, &headers, body(push.id, push.leaked))
            .await?;
        let status = reply.status.as_u16();
        Ok(match status {
            200 => PushOutcome::Delivered,
            410 => PushOutcome::Gone {
                status,
                reason: reason_of(&reply.body),
            },
            _ => {
                let reason = reason_of(&reply.body);
                if status == 403 && reason == "ExpiredProviderToken" {
                    self.jwt.refused(&jwt, unix_now());
                }
                PushOutcome::Failed(PushError::Rejected { status, reason })
            }
        })
    }
}

/// A background push carrying only the id (plus what a push flaw adds).
pub(crate) fn body(id: &str, flawed: Option<&Flawed>) -> Bytes {
    let Some(flawed) = flawed else {
        return sound_body(id);
    };
    let mut aps = json!({ "content-available": 1 });
    if let Some(alert) = &flawed.apns_alert {
        aps["alert"] = alert.clone();
    }
    if let Some(thread) = &flawed.apns_thread_id {
        aps["thread-id"] = json!(thread);
    }
    let mut value = json!({ "aps": aps, "secureId": id });
    for (key, extra) in &flawed.apns_data {
        value[*key] = json!(extra);
    }
    Bytes::from(value.to_string())
}

/// The sound push, `{"aps":{"content-available":1},"secureId":id}`: typed,
/// so serde writes it straight out (no map built per push), still escaped
/// by serde, byte for byte what the map would print.
fn sound_body(id: &str) -> Bytes {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        aps: Aps,
        #[serde(rename = "secureId")]
        secure_id: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Aps {
        #[serde(rename = "content-available")]
        content_available: u8,
    }
    let body = Body {
        aps: Aps {
            content_available: 1,
        },
        secure_id: id,
    };
    // Plain data always serializes.
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// The current provider token and when it was issued.
#[derive(Default)]
struct JwtCache {
    current: Mutex<Option<(Arc<str>, u64)>>,
}

impl JwtCache {
    /// The cached token, or a new one if it is [`RENEW_AFTER`] old (or the
    /// clock went backwards).
    fn get(&self, config: &ApnsConfig, now: u64) -> Result<Arc<str>, String> {
        let mut current = self.current.lock().map_err(|_| "token cache poisoned")?;
        if let Some((token, iat)) = current.as_ref() {
            if *iat <= now && now - iat < RENEW_AFTER {
                return Ok(Arc::clone(token));
            }
        }
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(config.key_id.clone());
        header.typ = None;
        let claims = json!({ "iss": config.team_id, "iat": now });
        let token: Arc<str> = config.key.sign(header, &claims)?.into();
        *current = Some((Arc::clone(&token), now));
        Ok(token)
    }

    /// APNs refused `token` as expired: drop it, unless it is too young to
    /// renew without being throttled.
    fn refused(&self, token: &str, now: u64) {
        if let Ok(mut current) = self.current.lock() {
            if let Some((cached, iat)) = current.as_ref() {
                if &**cached == token && now.saturating_sub(*iat) >= MIN_RENEW_INTERVAL {
                    *current = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::{test_keys, SigningKey};
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn config(url: &str) -> ApnsConfig {
        ApnsConfig {
            url: url.to_owned(),
            key: SigningKey::es256_from_pem(test_keys::EC_P8.as_bytes()).unwrap(),
            key_id: "KEYID12345".into(),
            team_id: "TEAM123456".into(),
            topic: "com.example.app".into(),
        }
    }

    fn claims_of(jwt: &str) -> (serde_json::Value, serde_json::Value) {
        use base64::Engine as _;
        let decode = |part: &str| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        let mut parts = jwt.split('.');
        (decode(parts.next().unwrap()), decode(parts.next().unwrap()))
    }

    #[test]
    fn body_carries_only_the_id() {
        let body: serde_json::Value = serde_json::from_slice(&body("abc", None)).unwrap();
        assert_eq!(
            body,
            json!({ "aps": { "content-available": 1 }, "secureId": "abc" })
        );
    }

    #[test]
    fn body_bytes_are_what_serde_json_would_print() {
        let plain = json!({ "aps": { "content-available": 1 }, "secureId": "abc" });
        assert_eq!(body("abc", None), plain.to_string());
        let leaky = json!({
            "aps": { "content-available": 1, "alert": { "body": "hi \"x\"" } },
            "secureId": "abc",
        });
        let flawed = Flawed {
            apns_alert: Some(json!({ "body": "hi \"x\"" })),
            ..Flawed::default()
        };
        assert_eq!(body("abc", Some(&flawed)), leaky.to_string());
    }

    #[test]
    fn leaked_message_cannot_inject_keys() {
        let evil = "\",\"x\":1";
        let flawed = Flawed {
            apns_alert: Some(json!({ "body": evil })),
            ..Flawed::default()
        };
        let body: serde_json::Value = serde_json::from_slice(&body("abc", Some(&flawed))).unwrap();
        assert_eq!(body["aps"]["alert"]["body"], evil);
        assert!(body.get("x").is_none());
        assert_eq!(body.as_object().unwrap().len(), 2);
    }

    #[test]
    fn provider_token_is_reused_then_renewed() {
        let config = config("http://unused");
        let cache = JwtCache::default();
        let t0 = 1_700_000_000;
        let first = cache.get(&config, t0).unwrap();
        let (header, claims) = claims_of(&first);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEYID12345");
        assert_eq!(claims, json!({ "iss": "TEAM123456", "iat": t0 }));
        assert_eq!(cache.get(&config, t0 + RENEW_AFTER - 1).unwrap(), first);
        let second = cache.get(&config, t0 + RENEW_AFTER).unwrap();
        assert_ne!(second, first);

        // A refusal of a young token does not trigger a renewal storm.
        cache.refused(&second, t0 + RENEW_AFTER + 60);
        assert_eq!(cache.get(&config, t0 + RENEW_AFTER + 60).unwrap(), second);
        cache.refused(&second, t0 + RENEW_AFTER + MIN_RENEW_INTERVAL);
        assert_ne!(
            cache
                .get(&config, t0 + RENEW_AFTER + MIN_RENEW_INTERVAL)
                .unwrap(),
            second
        );
    }

    #[tokio::test]
    async fn sends_over_h2_with_the_tutorial_shape() {
        let server = MockServer::start().await;
        let token = "ab".repeat(32);
        Mock::given(method("POST"))
            .and(path(format!("/3/device/{token}")))
            .and(header("apns-topic", "com.example.app"))
            .and(header("apns-push-type", "background"))
            .and(header("apns-priority", "5"))
            .and(body_json(
                json!({ "aps": { "content-available": 1 }, "secureId": "n1" }),
            ))
            .respond_with(ResponseTemplate::new(200))
            .expect(2)
            .mount(&server)
            .await;
        let apns = Apns::new(
            config(&server.uri()),
            Duration::from_secs(5),
            &Trust::default(),
        );
        for _ in 0..2 {
            let push = Push {
                handle: &token,
                id: "n1",
                leaked: None,
                ttl_s: None,
            };
            assert!(matches!(apns.send(push).await, PushOutcome::Delivered));
        }
        // The client is HTTP/2-only with prior knowledge, so these answers
        // came over h2c.
        let requests = server.received_requests().await.unwrap();
        let auth: Vec<_> = requests
            .iter()
            .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
            .collect();
        assert!(auth[0].starts_with("bearer "));
        assert_eq!(auth[0], auth[1], "the provider token is reused");
    }

    #[tokio::test]
    async fn unregistered_is_gone_and_errors_are_failures() {
        let server = MockServer::start().await;
        let gone = "aa".repeat(32);
        let bad = "bb".repeat(32);
        Mock::given(path(format!("/3/device/{gone}")))
            .respond_with(
                ResponseTemplate::new(410)
                    .set_body_json(json!({"reason":"Unregistered","timestamp":1})),
            )
            .mount(&server)
            .await;
        Mock::given(path(format!("/3/device/{bad}")))
            .respond_with(
                ResponseTemplate::new(500).set_body_json(json!({"reason":"InternalServerError"})),
            )
            .mount(&server)
            .await;
        let apns = Apns::new(
            config(&server.uri()),
            Duration::from_secs(5),
            &Trust::default(),
        );
        let outcome = apns
            .send(Push {
                handle: &gone,
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(
            matches!(outcome, PushOutcome::Gone { status: 410, ref reason } if reason == "Unregistered")
        );
        let outcome = apns
            .send(Push {
                handle: &bad,
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(matches!(
            outcome,
            PushOutcome::Failed(PushError::Rejected { status: 500, .. })
        ));
        let outcome = apns
            .send(Push {
                handle: "zz/../x",
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(matches!(
            outcome,
            PushOutcome::Failed(PushError::BadHandle(_))
        ));
    }

    #[tokio::test]
    async fn a_stalled_gateway_times_out() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let apns = Apns::new(
            config(&server.uri()),
            Duration::from_millis(200),
            &Trust::default(),
        );
        let outcome = apns
            .send(Push {
                handle: "abcd",
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await;
        assert!(
            matches!(outcome, PushOutcome::Failed(PushError::Timeout(_))),
            "{outcome:?}"
        );
    }
}
