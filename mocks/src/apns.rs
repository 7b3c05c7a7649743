//! Mock Apple APNs provider API: `POST /3/device/{token}` over HTTP/2, with
//! Pushy's validation order, Apple's status codes and reason strings,
//! ES256 provider-token (JWT) authentication with APNs's per-connection
//! rules (`auth`), and APNs's stream limits: one concurrent stream until a
//! push is accepted, and back to one after every rejected push.

mod auth;
mod connection;

use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use rand::Rng as _;

use crate::capture::{CaptureKind, DeviceRef};
use crate::config::ApnsEnvironment;
use crate::devices::Pending;
use crate::fault::table::Answer;
use crate::packed::Packed;
use crate::platform::Platform;
use crate::reply::{response, unix_now, Addressed, Outcome, Response};
use crate::server::RequestBody;
use crate::state::Shared;

use auth::ConnectionAuth;
pub(crate) use connection::Connection;

/// Largest payload for every push type but VoIP.
const PAYLOAD_LIMIT: usize = 4096;
/// Largest VoIP payload.
const VOIP_PAYLOAD_LIMIT: usize = 5120;
const DEVICE_PATH: &str = "/3/device/";

static APNS_ID: HeaderName = HeaderName::from_static("apns-id");
static APNS_UNIQUE_ID: HeaderName = HeaderName::from_static("apns-unique-id");
static APNS_TOPIC: HeaderName = HeaderName::from_static("apns-topic");
static APNS_COLLAPSE_ID: HeaderName = HeaderName::from_static("apns-collapse-id");
static APNS_PRIORITY: HeaderName = HeaderName::from_static("apns-priority");
static APNS_PUSH_TYPE: HeaderName = HeaderName::from_static("apns-push-type");
static APNS_EXPIRATION: HeaderName = HeaderName::from_static("apns-expiration");

/// Why APNs rejected a push: Apple's reason strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    DuplicateHeaders,
    BadMessageId,
    MethodNotAllowed,
    MissingTopic,
    BadCollapseId,
    BadPriority,
    InvalidPushType,
    BadExpirationDate,
    MissingDeviceToken,
    BadDeviceToken,
    BadPath,
    MissingProviderToken,
    InvalidProviderToken,
    ExpiredProviderToken,
    TooManyProviderTokenUpdates,
    DeviceTokenNotForTopic,
    PayloadEmpty,
    PayloadTooLarge,
    IdleTimeout,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::DuplicateHeaders => "DuplicateHeaders",
            Reason::BadMessageId => "BadMessageId",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::MissingTopic => "MissingTopic",
            Reason::BadCollapseId => "BadCollapseId",
            Reason::BadPriority => "BadPriority",
            Reason::InvalidPushType => "InvalidPushType",
            Reason::BadExpirationDate => "BadExpirationDate",
            Reason::MissingDeviceToken => "MissingDeviceToken",
            Reason::BadDeviceToken => "BadDeviceToken",
            Reason::BadPath => "BadPath",
            Reason::MissingProviderToken => "MissingProviderToken",
            Reason::InvalidProviderToken => "InvalidProviderToken",
            Reason::ExpiredProviderToken => "ExpiredProviderToken",
            Reason::TooManyProviderTokenUpdates => "TooManyProviderTokenUpdates",
            Reason::DeviceTokenNotForTopic => "DeviceTokenNotForTopic",
            Reason::PayloadEmpty => "PayloadEmpty",
            Reason::PayloadTooLarge => "PayloadTooLarge",
            Reason::IdleTimeout => "IdleTimeout",
        }
    }

    pub(crate) fn status(self) -> StatusCode {
        match self {
            Reason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Reason::BadPath => StatusCode::NOT_FOUND,
            Reason::MissingProviderToken
            | Reason::InvalidProviderToken
            | Reason::ExpiredProviderToken => StatusCode::FORBIDDEN,
            Reason::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::TooManyProviderTokenUpdates => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// The `apns-push-type` values APNs knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PushType {
    Alert,
    Background,
    Voip,
    Complication,
    FileProvider,
    Mdm,
    Location,
    LiveActivity,
    PushToTalk,
    Controls,
}

impl PushType {
    fn parse(value: &[u8]) -> Option<PushType> {
        Some(match value {
            b"alert" => PushType::Alert,
            b"background" => PushType::Background,
            b"voip" => PushType::Voip,
            b"complication" => PushType::Complication,
            b"fileprovider" => PushType::FileProvider,
            b"mdm" => PushType::Mdm,
            b"location" => PushType::Location,
            b"liveactivity" => PushType::LiveActivity,
            b"pushtotalk" => PushType::PushToTalk,
            b"controls" => PushType::Controls,
            _ => return None,
        })
    }

    /// The suffix the topic carries for this push type, appended to the
    /// bundle id.
    fn topic_suffix(self) -> &'static str {
        match self {
            PushType::Voip => ".voip",
            PushType::Complication => ".complication",
            PushType::FileProvider => ".pushkit.fileprovider",
            PushType::Location => ".location-query",
            PushType::LiveActivity => ".push-type.liveactivity",
            PushType::PushToTalk => ".voip-ptt",
            PushType::Alert | PushType::Background | PushType::Mdm | PushType::Controls => "",
        }
    }
}

/// Answers one request to the APNs gateway.
pub(crate) fn handle(
    shared: &Shared,
    conn: &Connection,
    parts: &Parts,
    body: &RequestBody,
) -> Outcome {
    let device = path_token(parts).map(|token| DeviceRef::InPath {
        start: DEVICE_PATH.len(),
        end: DEVICE_PATH.len() + token.len(),
    });
    let apns_id = conn.one_off(response_apns_id(parts));
    let verdict = validate(shared, &conn.auth, parts, body);
    conn.limit_streams(verdict.is_ok());
    match verdict {
        Ok(accepted) => {
            accepted.inbox.push(Pending {
                platform: Platform::Apns,
                headers: apns_headers(&parts.headers),
                body: accepted.payload,
                received_at: Instant::now(),
            });
            let unique_id = (conn.environment(shared.config.apns_environment)
                == ApnsEnvironment::Development)
                .then(|| (APNS_UNIQUE_ID.clone(), conn.one_off(new_uuid_header())));
            let headers = std::iter::once((APNS_ID.clone(), apns_id)).chain(unique_id);
            Outcome {
                kind: CaptureKind::Push,
                // An empty `Full` ends the stream on the HEADERS frame: no
                // DATA frame, as real APNs answers a success.
                response: response(StatusCode::OK, headers, Bytes::new()),
                reason: None,
                device,
            }
        }
        Err(reason) => Outcome {
            kind: CaptureKind::Push,
            response: rejection(reason, apns_id),
            reason: Some(reason.as_str().to_owned()),
            device,
        },
    }
}

/// The token of a `/3/device/{token}` path, if there is one.
fn path_token(parts: &Parts) -> Option<&str> {
    parts
        .uri
        .path()
        .strip_prefix(DEVICE_PATH)
        .filter(|t| !t.is_empty())
}

/// Apple echoes a well-formed apns-id and makes one up otherwise.
fn response_apns_id(parts: &Parts) -> HeaderValue {
    parts
        .headers
        .get(&APNS_ID)
        .filter(|v| is_canonical_uuid(v.as_bytes()))
        .cloned()
        .unwrap_or_else(new_uuid_header)
}

/// The device a request addresses, for the fault rules: every APNs request
/// is a push.
pub(crate) fn addressed(parts: &Parts) -> Addressed {
    let device = path_token(parts);
    Addressed {
        key: device.map(str::to_ascii_lowercase),
        device: device.map(|t| DeviceRef::Handle(t.to_owned())),
    }
}

/// A fault's answer in APNs's shape: `{"reason"}` (with the `timestamp` in
/// milliseconds on a 410 `Unregistered`) and the `apns-id`.
pub(crate) fn fault_outcome(
    parts: &Parts,
    conn: &Connection,
    answer: &Answer,
    device: Option<DeviceRef>,
) -> Outcome {
    // A fault answers as APNs rejecting the push, with the same effect on
    // the connection's stream limit.
    conn.limit_streams(false);
    let (status, reason, timestamp, retry_after) = match answer {
        Answer::Status {
            status,
            reason,
            retry_after_secs,
        } => {
            let reason = reason.as_deref().unwrap_or(default_reason(*status));
            let timestamp = (*status == 410 && reason == "Unregistered")
                .then(|| u64::try_from(unix_now()).unwrap_or(0) * 1000);
            (*status, reason, timestamp, *retry_after_secs)
        }
        Answer::Throttled { .. } => (429, "TooManyRequests", None, None),
        Answer::Expired { at_unix_ms } => (410, "Unregistered", Some(*at_unix_ms), None),
    };
    let mut body = serde_json::json!({ "reason": reason });
    if let Some(ms) = timestamp {
        body["timestamp"] = ms.into();
    }
    let mut headers = vec![
        (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (APNS_ID.clone(), conn.one_off(response_apns_id(parts))),
    ];
    if let Some(secs) = retry_after {
        headers.push((RETRY_AFTER, HeaderValue::from(secs)));
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Outcome {
        kind: CaptureKind::Push,
        response: response(status, headers, body.to_string()),
        reason: Some(reason.to_owned()),
        device,
    }
}

/// The reason APNs gives most often with a status.
fn default_reason(status: u16) -> &'static str {
    match status {
        400 => "BadDeviceToken",
        403 => "Forbidden",
        404 => "BadPath",
        405 => "MethodNotAllowed",
        410 => "Unregistered",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

struct Accepted {
    inbox: crate::devices::Inbox,
    payload: Bytes,
}

fn validate(
    shared: &Shared,
    auth: &ConnectionAuth,
    parts: &Parts,
    body: &RequestBody,
) -> Result<Accepted, Reason> {
    let headers = &parts.headers;
    if has_duplicate_apns_header(headers) {
        return Err(Reason::DuplicateHeaders);
    }
    if let Some(id) = headers.get(&APNS_ID) {
        if !is_canonical_uuid(id.as_bytes()) {
            return Err(Reason::BadMessageId);
        }
    }
    if parts.method != Method::POST {
        return Err(Reason::MethodNotAllowed);
    }
    let topic = headers
        .get(&APNS_TOPIC)
        .filter(|t| !t.is_empty())
        .ok_or(Reason::MissingTopic)?;
    if headers.get(&APNS_COLLAPSE_ID).is_some_and(|c| c.len() > 64) {
        return Err(Reason::BadCollapseId);
    }
    let priority = match headers.get(&APNS_PRIORITY).map(HeaderValue::as_bytes) {
        None | Some(b"10") => 10,
        Some(b"5") => 5,
        Some(b"1") => 1,
        Some(_) => return Err(Reason::BadPriority),
    };
    let push_type = match headers.get(&APNS_PUSH_TYPE) {
        None => PushType::Alert,
        Some(value) => PushType::parse(value.as_bytes()).ok_or(Reason::InvalidPushType)?,
    };
    if let Some(expiration) = headers.get(&APNS_EXPIRATION) {
        let valid = std::str::from_utf8(expiration.as_bytes())
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some();
        if !valid {
            return Err(Reason::BadExpirationDate);
        }
    }
    let inbox = device_inbox(shared, parts.uri.path())?;
    auth::authorize(shared, auth, headers, unix_now())?;
    if !topic_matches(topic.as_bytes(), &shared.config.apns_topic, push_type) {
        return Err(Reason::DeviceTokenNotForTopic);
    }
    if push_type == PushType::Background && priority != 5 {
        return Err(Reason::BadPriority);
    }
    let payload = match body {
        RequestBody::Complete(bytes) => bytes,
        RequestBody::TooLarge(_) => return Err(Reason::PayloadTooLarge),
        RequestBody::TimedOut(_) => return Err(Reason::IdleTimeout),
        // The client reset the stream mid-upload, or sent more or fewer
        // bytes than its content-length (h2 resets such a stream): APNs has
        // no payload to take, and nothing reaches the client. The capture
        // says so as a 400 with APNs's reason for a missing payload, as FCM
        // and WNS record such an upload, not as a fault of the gateway.
        RequestBody::Broken(_) => return Err(Reason::PayloadEmpty),
    };
    if payload.is_empty() {
        return Err(Reason::PayloadEmpty);
    }
    let limit = if push_type == PushType::Voip {
        VOIP_PAYLOAD_LIMIT
    } else {
        PAYLOAD_LIMIT
    };
    if payload.len() > limit {
        return Err(Reason::PayloadTooLarge);
    }
    if !is_json_object(payload) {
        // APNs documents no reason for a body that is not a JSON
        // dictionary; PayloadEmpty ("the message payload is empty") is the
        // closest: such a body carries no notification payload.
        return Err(Reason::PayloadEmpty);
    }
    Ok(Accepted {
        inbox,
        payload: payload.clone(),
    })
}

/// The inbox a `/3/device/{token}` path addresses.
fn device_inbox(shared: &Shared, path: &str) -> Result<crate::devices::Inbox, Reason> {
    let Some(token) = path.strip_prefix(DEVICE_PATH) else {
        return Err(Reason::BadPath);
    };
    if token.is_empty() {
        return Err(Reason::MissingDeviceToken);
    }
    // Hex of any length: Live Activity tokens are longer than 64.
    if !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Reason::BadDeviceToken);
    }
    let found = if token.bytes().any(|b| b.is_ascii_uppercase()) {
        shared
            .devices
            .lookup(Platform::Apns, &token.to_ascii_lowercase())
    } else {
        shared.devices.lookup(Platform::Apns, token)
    };
    found.ok_or(Reason::BadDeviceToken)
}

/// Whether an `apns-*` header appears more than once (`DuplicateHeaders`).
/// Almost every request has no repeated header at all: one comparison.
fn has_duplicate_apns_header(headers: &HeaderMap) -> bool {
    headers.len() != headers.keys_len()
        && headers
            .keys()
            .filter(|name| name.as_str().starts_with("apns-"))
            .any(|name| headers.get_all(name).iter().nth(1).is_some())
}

/// Whether a payload is a JSON object, as APNs requires (an `aps`
/// dictionary plus custom keys). Parsed without building a value.
fn is_json_object(payload: &[u8]) -> bool {
    let start = payload.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| payload[i] == b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_ok()
}

/// Whether `topic` is the bundle id with the push type's suffix.
fn topic_matches(topic: &[u8], bundle: &str, push_type: PushType) -> bool {
    let suffix = push_type.topic_suffix();
    topic.len() == bundle.len() + suffix.len()
        && topic.starts_with(bundle.as_bytes())
        && topic.ends_with(suffix.as_bytes())
}

/// `8-4-4-4-12` hex digits, the only form APNs accepts.
fn is_canonical_uuid(value: &[u8]) -> bool {
    value.len() == 36
        && value.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A random (v4) UUID in Apple's uppercase canonical form. Uses the
/// thread-local generator rather than a syscall per push.
fn new_uuid_header() -> HeaderValue {
    let uuid = uuid::Builder::from_random_bytes(rand::thread_rng().gen()).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid.hyphenated().encode_upper(&mut buf);
    HeaderValue::from_str(text)
        .unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-0000-0000-000000000000"))
}

/// The `apns-*` headers of a request, as the app's delivery carries them.
fn apns_headers(headers: &HeaderMap) -> Packed {
    Packed::new("", || {
        headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("apns-"))
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
    })
}

/// An error response: JSON `{"reason":…}` in one DATA frame, with apns-id.
fn rejection(reason: Reason, apns_id: HeaderValue) -> Response {
    let body = format!("{{\"reason\":\"{}\"}}", reason.as_str());
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (APNS_ID.clone(), apns_id),
    ];
    response(reason.status(), headers, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuid_requires_hyphens_in_place() {
        assert!(is_canonical_uuid(b"123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_canonical_uuid(b"123E4567-E89B-12D3-A456-426614174000"));
        assert!(!is_canonical_uuid(b"123e4567e89b12d3a456426614174000"));
        assert!(!is_canonical_uuid(b"{123e4567-e89b-12d3-a456-42661417400}"));
        assert!(!is_canonical_uuid(b"123e4567-e89b-12d3-a456-42661417400g"));
    }

    #[test]
    fn new_uuid_header_is_canonical() {
        assert!(is_canonical_uuid(new_uuid_header().as_bytes()));
    }

    #[test]
    fn topic_suffix_follows_push_type() {
        let bundle = "com.example.app";
        assert!(topic_matches(b"com.example.app", bundle, PushType::Alert));
        assert!(topic_matches(
            b"com.example.app.voip",
            bundle,
            PushType::Voip
        ));
        assert!(!topic_matches(b"com.example.app", bundle, PushType::Voip));
        assert!(!topic_matches(
            b"com.example.other",
            bundle,
            PushType::Alert
        ));
    }

    #[test]
    fn duplicate_apns_headers_are_found() {
        let mut headers = HeaderMap::new();
        headers.append("apns-topic", HeaderValue::from_static("a"));
        headers.append("accept", HeaderValue::from_static("a"));
        headers.append("accept", HeaderValue::from_static("b"));
        assert!(!has_duplicate_apns_header(&headers));
        headers.append("apns-topic", HeaderValue::from_static("b"));
        assert!(has_duplicate_apns_header(&headers));
    }

    #[test]
    fn payload_must_be_a_json_object() {
        assert!(is_json_object(br#" {"aps":{}} "#));
        assert!(!is_json_object(b"[1]"));
        assert!(!is_json_object(b"\"x\""));
        assert!(!is_json_object(br#"{"aps":"#));
        assert!(!is_json_object(b"xxxx"));
    }
}
