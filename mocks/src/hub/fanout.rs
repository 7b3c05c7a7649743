//! Fan-out: each target a send resolves to becomes the native push the
//! service would send with the hub's stored platform credentials (an
//! ES256 provider token and the app's topic for APNs, an OAuth access
//! token for FCM HTTP v1 and WNS), handed in-process to the gateway's own
//! request path (`exchange::forward`): its fault rules, its validation,
//! its delivery to the device's inbox and its capture, exactly as if the
//! push had come over a connection. No loopback HTTP hop, so the hub
//! costs a send little beyond what the gateways cost.
//!
//! A handle the gateway answers as gone (APNs 410 `Unregistered`, FCM
//! 404 `UNREGISTERED`, WNS 404/410) is dropped from the hub, as the
//! service does with PNS feedback.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::exchange::{self, ConnectionState};
use crate::oauth::{FCM_TOKEN_TTL, WNS_TOKEN_TTL};
use crate::platform::Platform;
use crate::reply::unix_now;
use crate::server::RequestBody;
use crate::state::Shared;

use super::channel::{Channel, Format};
use super::registry::{Registry, Target};
use super::template::{expand, Properties};

/// A provider token is renewed after this long: APNs refuses one older
/// than an hour and a new one sooner than 20 minutes after the last.
const APNS_TOKEN_RENEW_SECS: i64 = 40 * 60;
/// Access tokens are renewed this long before they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// What every native push of one send shares.
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) format: Format,
    /// The native payload, or for a template send the properties' JSON.
    pub(crate) payload: Bytes,
    /// The `apns-*` and `X-WNS-*` headers of the send, passed through.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    /// A template send's properties.
    pub(crate) properties: Option<Properties>,
}

/// What one target's push came to: the gateway's status (0: the
/// connection was dropped by a fault), or why it could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    Answered(u16),
    Undeliverable(String),
}

impl Delivery {
    pub(crate) fn ok(&self) -> bool {
        matches!(self, Delivery::Answered(s) if (200..300).contains(s))
    }
}

/// A cached credential and when it must be renewed.
type Cached = Mutex<Option<(Arc<str>, Instant)>>;

/// The hub's platform credentials and its "connection" to each gateway.
pub(crate) struct Forwarder {
    shared: Arc<Shared>,
    /// APNs binds provider-token state to a connection: the hub keeps one.
    apns_conn: Arc<ConnectionState>,
    other_conn: Arc<ConnectionState>,
    apns_key: Option<EncodingKey>,
    apns_token: Mutex<Option<(Arc<str>, i64)>>,
    fcm_token: Cached,
    wns_token: Cached,
}

impl Forwarder {
    pub(crate) fn new(shared: Arc<Shared>) -> Forwarder {
        let apns_key = EncodingKey::from_ec_pem(shared.credentials.apns.pkcs8_pem.as_bytes()).ok();
        Forwarder {
            shared,
            apns_conn: Arc::new(ConnectionState::default()),
            other_conn: Arc::new(ConnectionState::default()),
            apns_key,
            apns_token: Mutex::new(None),
            fcm_token: Mutex::new(None),
            wns_token: Mutex::new(None),
        }
    }

    /// Sends every target's push and drops the handles found gone.
    pub(crate) async fn fan_out(
        self: &Arc<Self>,
        registry: &Registry,
        targets: Vec<Target>,
        message: Arc<Message>,
    ) -> Vec<(Target, Delivery)> {
        // With a fault rule set, pushes may be delayed: send them at once
        // rather than one after another. Without (the usual case), the
        // gateways' path is synchronous and a loop is cheapest.
        let concurrent = Platform::ALL.into_iter().any(|p| self.shared.faults.any(p));
        let results = if concurrent {
            let mut set = tokio::task::JoinSet::new();
            for (n, target) in targets.into_iter().enumerate() {
                let me = self.clone();
                let message = message.clone();
                set.spawn(async move {
                    let delivery = me.push(&target, &message).await;
                    (n, target, delivery)
                });
            }
            let mut results = Vec::with_capacity(set.len());
            while let Some(joined) = set.join_next().await {
                if let Ok(result) = joined {
                    results.push(result);
                }
            }
            results.sort_by_key(|(n, _, _)| *n);
            results.into_iter().map(|(_, t, d)| (t, d)).collect()
        } else {
            let mut results = Vec::with_capacity(targets.len());
            for target in targets {
                let delivery = self.push(&target, &message).await;
                results.push((target, delivery));
            }
            results
        };
        for (target, delivery) in &results {
            if gone(target.channel, delivery) {
                registry.expire_handle(target.channel, &target.handle);
            }
        }
        results
    }

    /// One target's push; an access token the gateway refused (expired
    /// by the control API, say) is renewed and the push sent once more.
    async fn push(&self, target: &Target, message: &Message) -> Delivery {
        let mut delivery = Delivery::Undeliverable(String::new());
        for attempt in 0..2 {
            let (parts, body) = match self.native(target, message) {
                Ok(native) => native,
                Err(why) => return Delivery::Undeliverable(why),
            };
            let platform = target.channel.gateway();
            let conn = if platform == Platform::Apns {
                &self.apns_conn
            } else {
                &self.other_conn
            };
            let status = match exchange::forward(
                platform,
                &self.shared,
                conn,
                parts,
                RequestBody::Complete(body),
            )
            .await
            {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            delivery = Delivery::Answered(status);
            if status != 401 || attempt == 1 || platform == Platform::Apns {
                break;
            }
            let cache = if platform == Platform::Fcm {
                &self.fcm_token
            } else {
                &self.wns_token
            };
            *lock(cache) = None;
        }
        delivery
    }

    /// The native request for one target.
    fn native(&self, target: &Target, message: &Message) -> Result<(Parts, Bytes), String> {
        let (payload, template_headers): (Bytes, &[(String, String)]) =
            match (&target.template, &message.properties) {
                (Some((body, headers)), Some(props)) => (Bytes::from(expand(body, props)), headers),
                _ => (message.payload.clone(), &[]),
            };
        let mut headers: Vec<(HeaderName, HeaderValue)> = message.headers.clone();
        for (name, value) in template_headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                headers.push((n, v));
            }
        }
        let has = |headers: &[(HeaderName, HeaderValue)], name: &str| {
            headers.iter().any(|(n, _)| n == name)
        };
        let config = &self.shared.config;
        let (uri, body) = match target.channel {
            Channel::Apns => {
                // The hub sets the topic from its stored credentials: a
                // send cannot override it (Azure docs, "APNs headers").
                headers.retain(|(n, _)| n != "apns-topic");
                headers.push((hn("apns-topic"), hv(&config.apns_topic)));
                if !has(&headers, "apns-push-type") {
                    let push_type = guess_push_type(&payload);
                    headers.push((hn("apns-push-type"), HeaderValue::from_static(push_type)));
                    if push_type == "background" && !has(&headers, "apns-priority") {
                        headers.push((hn("apns-priority"), HeaderValue::from_static("5")));
                    }
                }
                headers.push((AUTHORIZATION, hv(&format!("bearer {}", self.apns_token()?))));
                let token = target.handle.trim();
                if token.is_empty() || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err("the device token is not a valid APNs token".to_owned());
                }
                (format!("/3/device/{token}"), payload)
            }
            Channel::FcmV1 | Channel::Gcm => {
                let body = fcm_body(target.channel, &payload, target.handle.trim())?;
                headers.retain(|(n, _)| {
                    !n.as_str().starts_with("apns-") && !n.as_str().starts_with("x-wns-")
                });
                headers.push((
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=UTF-8"),
                ));
                let token = self.access_token(Platform::Fcm)?;
                headers.push((AUTHORIZATION, hv(&format!("Bearer {token}"))));
                (
                    format!("/v1/projects/{}/messages:send", config.fcm_project_id),
                    Bytes::from(body),
                )
            }
            Channel::Wns => {
                let uri: http::Uri = target
                    .handle
                    .trim()
                    .parse()
                    .map_err(|_| "the channel URI is not a URI".to_owned())?;
                let path = uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .ok_or_else(|| "the channel URI has no path".to_owned())?;
                headers.retain(|(n, _)| !n.as_str().starts_with("apns-"));
                if !has(&headers, "x-wns-type") {
                    headers.push((
                        hn("x-wns-type"),
                        HeaderValue::from_static(guess_wns_type(&payload)),
                    ));
                }
                let raw = headers.iter().any(|(n, v)| {
                    n == "x-wns-type" && v.as_bytes().eq_ignore_ascii_case(b"wns/raw")
                });
                let content_type = if raw {
                    "application/octet-stream"
                } else {
                    "text/xml"
                };
                headers.push((CONTENT_TYPE, HeaderValue::from_static(content_type)));
                let token = self.access_token(Platform::Wns)?;
                headers.push((AUTHORIZATION, hv(&format!("Bearer {token}"))));
                (path, payload)
            }
        };
        let mut builder = http::Request::builder()
            .method(Method::POST)
            .uri(uri.as_str());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(())
            .map_err(|e| format!("the native request is not valid: {e}"))?;
        Ok((request.into_parts().0, body))
    }

    /// The hub's APNs provider token, renewed every 40 minutes.
    fn apns_token(&self) -> Result<Arc<str>, String> {
        let now = unix_now();
        let mut cached = self.apns_token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, iat)) = cached.as_ref() {
            if now - iat < APNS_TOKEN_RENEW_SECS {
                return Ok(token.clone());
            }
        }
        let key = self.apns_key.as_ref().ok_or("the APNs key is unusable")?;
        let config = &self.shared.config;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(config.apns_key_id.clone());
        let claims = serde_json::json!({ "iss": config.apns_team_id, "iat": now });
        let token: Arc<str> = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| format!("signing the APNs provider token: {e}"))?
            .into();
        *cached = Some((token.clone(), now));
        Ok(token)
    }

    /// An FCM or WNS access token, issued by the gateway's token store
    /// as its token endpoint would and kept until near its expiry.
    fn access_token(&self, platform: Platform) -> Result<Arc<str>, String> {
        let (cache, store, prefix, ttl) = match platform {
            Platform::Fcm => (
                &self.fcm_token,
                &self.shared.fcm_tokens,
                "ya29.c.",
                FCM_TOKEN_TTL,
            ),
            _ => (
                &self.wns_token,
                &self.shared.wns_tokens,
                "EgA",
                WNS_TOKEN_TTL,
            ),
        };
        let mut cached = lock(cache);
        if let Some((token, renew)) = cached.as_ref() {
            if Instant::now() < *renew {
                return Ok(token.clone());
            }
        }
        let token: Arc<str> = store.issue(prefix, ttl).into();
        *cached = Some((
            token.clone(),
            Instant::now() + ttl.saturating_sub(TOKEN_MARGIN),
        ));
        Ok(token)
    }
}

fn lock(cache: &Cached) -> std::sync::MutexGuard<'_, Option<(Arc<str>, Instant)>> {
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

fn hn(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

fn hv(text: &str) -> HeaderValue {
    crate::reply::header_value(text)
}

/// Whether the gateway said the handle is gone.
fn gone(channel: Channel, delivery: &Delivery) -> bool {
    matches!(
        (channel.gateway(), delivery),
        (Platform::Apns, Delivery::Answered(410))
            | (Platform::Fcm, Delivery::Answered(404))
            | (Platform::Wns, Delivery::Answered(404 | 410))
    )
}

/// The push type the hub picks when a send names none, as the service
/// guesses it (Azure docs, "APNs headers"): background for a payload
/// whose `aps` only asks for `content-available`, alert otherwise.
fn guess_push_type(payload: &[u8]) -> &'static str {
    let aps = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("aps").cloned());
    match aps {
        Some(Value::Object(aps))
            if aps.get("content-available").is_some()
                && !["alert", "badge", "sound"]
                    .iter()
                    .any(|k| aps.contains_key(*k)) =>
        {
            "background"
        }
        _ => "alert",
    }
}

/// The WNS type of a template payload without `X-WNS-Type`: from its
/// root element, raw when it is not XML.
fn guess_wns_type(payload: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(payload);
    let text = text.trim_start();
    if text.starts_with("<toast") {
        "wns/toast"
    } else if text.starts_with("<tile") {
        "wns/tile"
    } else if text.starts_with("<badge") {
        "wns/badge"
    } else {
        "wns/raw"
    }
}

/// The FCM HTTP v1 body for one device: an `fcmv1` payload is already
/// `{"message":{…}}` and gets the token; a legacy `gcm` payload's `data`
/// (values as strings, as v1 requires) and `notification` are moved into
/// a v1 message, as the service does since GCM's retirement.
fn fcm_body(channel: Channel, payload: &[u8], token: &str) -> Result<Vec<u8>, String> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|_| "the payload is not JSON".to_owned())?;
    let Value::Object(mut outer) = value else {
        return Err("the payload is not a JSON object".to_owned());
    };
    let mut message = match channel {
        Channel::FcmV1 => match outer.remove("message") {
            Some(Value::Object(m)) => m,
            _ => return Err("an FcmV1 payload must be {\"message\":{…}}".to_owned()),
        },
        _ => {
            let mut m = Map::new();
            if let Some(Value::Object(data)) = outer.remove("data") {
                let data: Map<String, Value> = data
                    .into_iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, Value::String(text))
                    })
                    .collect();
                m.insert("data".to_owned(), Value::Object(data));
            }
            if let Some(Value::Object(n)) = outer.remove("notification") {
                let n: Map<String, Value> = n
                    .into_iter()
                    .filter(|(k, v)| {
                        ["title", "body", "image"].contains(&k.as_str()) && v.is_string()
                    })
                    .collect();
                m.insert("notification".to_owned(), Value::Object(n));
            }
            m
        }
    };
    message.remove("topic");
    message.remove("condition");
    message.insert("token".to_owned(), Value::String(token.to_owned()));
    let mut out = Map::new();
    out.insert("message".to_owned(), Value::Object(message));
    serde_json::to_vec(&Value::Object(out)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fcm_bodies_get_the_token_and_legacy_ones_become_v1() {
        let v1 = fcm_body(
            Channel::FcmV1,
            br#"{"message":{"data":{"a":"b"},"topic":"t"}}"#,
            "tok",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&v1).unwrap();
        assert_eq!(v["message"]["token"], "tok");
        assert!(v["message"].get("topic").is_none());
        assert!(fcm_body(Channel::FcmV1, br#"{"data":{}}"#, "tok").is_err());
        let legacy = fcm_body(Channel::Gcm, br#"{"data":{"secureId":7,"s":"x"}}"#, "tok").unwrap();
        let v: Value = serde_json::from_slice(&legacy).unwrap();
        assert_eq!(v["message"]["data"]["secureId"], "7");
        assert_eq!(v["message"]["token"], "tok");
    }

    #[test]
    fn push_types_and_wns_types_are_guessed() {
        assert_eq!(
            guess_push_type(br#"{"aps":{"content-available":1},"secureId":"1"}"#),
            "background"
        );
        assert_eq!(guess_push_type(br#"{"aps":{"alert":"x"}}"#), "alert");
        assert_eq!(guess_wns_type(b" <toast/>"), "wns/toast");
        assert_eq!(guess_wns_type(b"12"), "wns/raw");
    }
}
