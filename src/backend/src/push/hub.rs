//! The Azure Notification Hub's REST API (api-version 2020-06), as the
//! tutorial's backend uses it: one installation per device handle, tagged
//! `username:<user>` (`PUT` and `DELETE /{hub}/installations/{id}`), and
//! one native send per platform to that tag (`POST /{hub}/messages/` with
//! `ServiceBusNotification-Format` and `ServiceBusNotification-Tags`),
//! which the hub fans out to the user's devices of that platform with its
//! own APNs, FCM and WNS credentials.
//!
//! The payloads are the ones this backend sends directly (only the id,
//! unless the `leak-payload` flaw is on): APNs background pushes with
//! their `apns-push-type` and `apns-priority` headers passed through,
//! FCM v1 data messages wrapped as `{"message":{…}}` without a token (the
//! hub adds each device's), WNS raw pushes with `X-WNS-Type`. A send the
//! hub answers 201 is a pushed notification: the hub, not this backend,
//! learns which devices took it and drops the dead ones.
//!
//! Every call carries a SAS token ([`sas`]) reused for most of an hour,
//! over the backend's pooled client (HTTP/2 by ALPN over TLS).

mod sas;

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request};
use http_body_util::Full;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::flawed::Flawed;
use super::http::{HttpClient, Reply};
use super::{apns, fcm, unix_now, wns, Platform, Push, PushError, PushOutcome};
use crate::config::{HubConfig, Trust};

/// The REST API version, as `@azure/notification-hubs` 2.x sends it.
const API_VERSION: &str = "2020-06";

/// An installation as this backend writes it: the device's handle on its
/// platform and the tags that route pushes to it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Installation<'a> {
    pub installation_id: &'a str,
    pub platform: &'static str,
    pub push_channel: &'a str,
    pub tags: &'a [String],
}

/// The installation id for a device handle: one installation per device,
/// whichever registration of the backend names it. A SHA-256 of the
/// handle, so it is a safe path segment and says nothing of the handle.
pub(crate) fn installation_id(handle: &str) -> String {
    hex::encode(Sha256::digest(handle.as_bytes()))
}

/// The hub's name for a platform in installations.
fn installation_platform(platform: Platform) -> &'static str {
    match platform {
        Platform::Apns => "apns",
        Platform::Fcm => "fcmv1",
        Platform::Wns => "wns",
    }
}

/// A client of one hub.
pub(crate) struct Hub {
    http: HttpClient,
    /// `https://host/{hub}`: every path starts here.
    base: String,
    signer: sas::Signer,
}

impl Hub {
    pub(crate) fn new(config: &HubConfig, timeout: Duration, trust: &Trust) -> Hub {
        Hub {
            http: HttpClient::http1_or_2(timeout, trust),
            base: format!("{}/{}", config.origin, config.hub),
            signer: sas::Signer::new(
                format!("{}/", config.origin),
                config.key_name.clone(),
                config.key.clone(),
            ),
        }
    }

    /// Creates or replaces the installation of `handle` (200).
    pub(crate) async fn put_installation(
        &self,
        platform: Platform,
        handle: &str,
        tags: &[String],
    ) -> Result<(), PushError> {
        let id = installation_id(handle);
        let body = serde_json::to_vec(&Installation {
            installation_id: &id,
            platform: installation_platform(platform),
            push_channel: handle,
            tags,
        })
        .map_err(|e| PushError::Transport(format!("encoding the installation: {e}")))?;
        let reply = self
            .call(
                Method::PUT,
                &format!("/installations/{id}"),
                vec![(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                Bytes::from(body),
            )
            .await?;
        match reply.status.as_u16() {
            200 | 201 => Ok(()),
            status => Err(rejected(status, &reply)),
        }
    }

    /// Deletes the installation of `handle` (204; one that is not there
    /// is as good as deleted).
    pub(crate) async fn delete_installation(&self, handle: &str) -> Result<(), PushError> {
        let id = installation_id(handle);
        let reply = self
            .call(
                Method::DELETE,
                &format!("/installations/{id}"),
                Vec::new(),
                Bytes::new(),
            )
            .await?;
        match reply.status.as_u16() {
            200 | 204 | 404 => Ok(()),
            status => Err(rejected(status, &reply)),
        }
    }

    /// Sends `push` to every device of `platform` tagged `tag` (201).
    pub(crate) async fn send(&self, platform: Platform, tag: &str, push: Push<'_>) -> PushOutcome {
        // Passed through to the gateway, with the push's lifetime as each
        // names it (APNs and WNS headers; FCM's is in the message).
        let mut extra: Vec<(&'static str, HeaderValue)> = Vec::new();
        let (format, content_type, body) = match platform {
            Platform::Apns => {
                // A silent background push.
                extra.push(("apns-push-type", HeaderValue::from_static("background")));
                extra.push(("apns-priority", HeaderValue::from_static("5")));
                if let Some(ttl) = push.ttl_s {
                    let expires = super::unix_now().saturating_add(ttl) / 60 * 60;
                    extra.push(("apns-expiration", HeaderValue::from(expires)));
                }
                (
                    "apple",
                    "application/json;charset=utf-8",
                    apns::body(push.id, push.leaked),
                )
            }
            Platform::Fcm => (
                "fcmv1",
                "application/json;charset=utf-8",
                fcm_body(push.id, push.leaked, push.ttl_s),
            ),
            Platform::Wns => {
                extra.push(("x-wns-type", HeaderValue::from_static("wns/raw")));
                match push.ttl_s {
                    Some(ttl) => extra.push(("x-wns-ttl", HeaderValue::from(ttl))),
                    None => extra.push(("x-wns-cache-policy", HeaderValue::from_static("cache"))),
                }
                (
                    "windows",
                    "application/octet-stream",
                    wns::body(push.id, push.leaked.and_then(|f| f.wns_tail.as_deref())),
                )
            }
        };
        let Ok(tag) = HeaderValue::from_str(tag) else {
            return PushOutcome::Failed(PushError::BadHandle("the tag is not a header value"));
        };
        let mut headers = vec![
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::HeaderName::from_static("servicebusnotification-format"),
                HeaderValue::from_static(format),
            ),
            (
                header::HeaderName::from_static("servicebusnotification-tags"),
                tag,
            ),
        ];
        for (name, value) in extra {
            headers.push((header::HeaderName::from_static(name), value));
        }
        let collapse_id = push.leaked.and_then(|f| f.apns_collapse_id.as_deref());
        if let (Platform::Apns, Some(id)) = (platform, collapse_id) {
            if let Ok(value) = HeaderValue::from_str(id) {
                headers.push((header::HeaderName::from_static("apns-collapse-id"), value));
            }
        }
        match self.call(Method::POST, "/messages/", headers, body).await {
            Ok(reply) if reply.status.as_u16() == 201 => PushOutcome::Delivered,
            Ok(reply) => PushOutcome::Failed(rejected(reply.status.as_u16(), &reply)),
            Err(error) => PushOutcome::Failed(error),
        }
    }

    /// One call, signed; a 401 (a token the hub calls expired, say) gets
    /// one new token and one retry.
    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: Vec<(header::HeaderName, HeaderValue)>,
        body: Bytes,
    ) -> Result<Reply, PushError> {
        let uri = format!("{}{path}?api-version={API_VERSION}", self.base);
        let mut reply = None;
        for attempt in 0..2 {
            let token = self.signer.token(unix_now());
            let mut request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .header(header::AUTHORIZATION, &*token)
                .header("x-ms-version", API_VERSION);
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            let request = request
                .body(Full::new(body.clone()))
                .map_err(|e| PushError::Transport(format!("building the request: {e}")))?;
            let answer = self.http.send(request).await?;
            if answer.status.as_u16() == 401 && attempt == 0 {
                self.signer.refused(&token);
                reply = Some(answer);
                continue;
            }
            return Ok(answer);
        }
        reply.ok_or_else(|| PushError::Auth("no answer".into()))
    }
}

/// An FCM v1 data message as the hub takes it: wrapped in `message`,
/// without a token (the hub sets each device's).
fn fcm_body(id: &str, leaked: Option<&Flawed>, ttl_s: Option<u64>) -> Bytes {
    let value = json!({ "message": fcm::message(None, id, leaked, ttl_s) });
    Bytes::from(value.to_string())
}

/// The hub's refusal: its status and the `<Detail>` of its XML error body.
fn rejected(status: u16, reply: &Reply) -> PushError {
    PushError::Rejected {
        status,
        reason: detail(&reply.body),
    }
}

/// The text of `<Detail>…</Detail>` in the hub's `<Error>` body, or a
/// printable prefix of whatever came back.
fn detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let inner = text
        .split_once("<Detail>")
        .and_then(|(_, rest)| rest.split_once("</Detail>"))
        .map_or(&*text, |(detail, _)| detail);
    inner
        .chars()
        .take(200)
        .filter(|c| !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests;
