//! Mock Firebase Cloud Messaging HTTP v1: `POST
//! /v1/projects/{project}/messages:send` with OAuth2 bearer tokens from the
//! mock token endpoint, FCM's message validation (with the `android` and
//! `webpush` checks of [`blocks`]), and google.rpc.Status error bodies
//! carrying FcmError and BadRequest details.

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::request::Parts;
use http::{Method, StatusCode};
use rand::Rng as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::capture::{CaptureKind, DeviceRef};
use crate::devices::{Inbox, Pending};
use crate::oauth;
use crate::packed::Packed;
use crate::platform::Platform;
use crate::reply::{bearer_token, response, Addressed, Outcome};
use crate::server::RequestBody;
use crate::state::Shared;
use crate::tokens::TokenState;

mod blocks;
mod error;
mod fast;
mod request;

pub(crate) use error::fault_outcome;
use error::GoogleError;

/// Path of the mock OAuth token endpoint on the FCM server.
pub(crate) const TOKEN_PATH: &str = "/token";

/// Largest message (data and notification keys and values).
const MESSAGE_LIMIT: usize = 4096;
/// Largest topic message.
const TOPIC_MESSAGE_LIMIT: usize = 2048;

/// The fields of `Message` in the v1 API (both JSON spellings).
const MESSAGE_FIELDS: &[&str] = &[
    "name",
    "data",
    "notification",
    "android",
    "webpush",
    "apns",
    "fcm_options",
    "fcmOptions",
    "token",
    "topic",
    "condition",
    "fid",
];

/// Data keys FCM reserves (compared ASCII-case-insensitively).
fn is_reserved_data_key(key: &str) -> bool {
    let starts = |prefix: &str| {
        key.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    key.eq_ignore_ascii_case("from")
        || key.eq_ignore_ascii_case("message_type")
        || starts("google")
        || starts("gcm")
}

/// The device a send addresses, for the fault rules; `None` for token
/// requests, which faults leave alone. Only `message.token` is read here:
/// the full validation comes later, if no fault answers first.
pub(crate) fn addressed(parts: &Parts, body: &RequestBody) -> Option<Addressed> {
    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        message: Option<ProbeMessage<'a>>,
    }
    #[derive(Deserialize)]
    struct ProbeMessage<'a> {
        #[serde(borrow)]
        token: Option<Cow<'a, str>>,
        #[serde(borrow)]
        fid: Option<Cow<'a, str>>,
    }
    if parts.uri.path() == TOKEN_PATH {
        return None;
    }
    let token = serde_json::from_slice::<Probe<'_>>(body.bytes())
        .ok()
        .and_then(|probe| probe.message.and_then(|m| m.token.or(m.fid)))
        .map(Cow::into_owned);
    Some(Addressed {
        key: token.clone(),
        device: token.map(DeviceRef::from),
    })
}

/// Answers one request to the FCM gateway.
pub(crate) fn handle(shared: &Shared, parts: &Parts, body: &RequestBody) -> Outcome {
    let path = parts.uri.path();
    if path == TOKEN_PATH {
        return oauth::fcm_token(shared, parts, body);
    }
    let Some(project) = send_path_project(path) else {
        return GoogleError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested URL was not found on this server.",
        )
        .into_outcome(None);
    };
    match send(shared, parts, body, project) {
        Ok(sent) => sent,
        Err((error, device)) => error.into_outcome(device.map(DeviceRef::from)),
    }
}

/// The project of `/v1/projects/{project}/messages:send` (the colon may
/// arrive percent-encoded).
fn send_path_project(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1/projects/")?;
    let project = rest
        .strip_suffix("/messages:send")
        .or_else(|| rest.strip_suffix("/messages%3Asend"))
        .or_else(|| rest.strip_suffix("/messages%3asend"))?;
    (!project.is_empty() && !project.contains('/')).then_some(project)
}

type Rejection = (GoogleError, Option<String>);

fn send(
    shared: &Shared,
    parts: &Parts,
    body: &RequestBody,
    project: &str,
) -> Result<Outcome, Rejection> {
    if parts.method != Method::POST {
        return Err((
            GoogleError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested URL was not found on this server.",
            ),
            None,
        ));
    }
    let missing = || (GoogleError::unauthenticated(true), None);
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
    let token = bearer_token(header).ok_or_else(|| (GoogleError::unauthenticated(false), None))?;
    if shared.fcm_tokens.check(token) != TokenState::Valid {
        return Err((GoogleError::unauthenticated(false), None));
    }
    if project != shared.config.fcm_project_id {
        // The caller's token belongs to the configured project.
        let mut error = GoogleError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            format!(
                "Permission 'cloudmessaging.messages.create' denied on resource \
                 '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
            ),
        );
        error.fcm_error = Some(Cow::Borrowed("SENDER_ID_MISMATCH"));
        return Err((error, None));
    }
    let bytes = match body {
        RequestBody::Complete(bytes) => bytes,
        RequestBody::TooLarge(_) => {
            let mut error = GoogleError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                "Request payload size exceeds the limit.",
            );
            error.fcm_error = Some(Cow::Borrowed("INVALID_ARGUMENT"));
            return Err((error, None));
        }
        RequestBody::TimedOut(_) | RequestBody::Broken(_) => {
            return Err((
                GoogleError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_ARGUMENT",
                    "The request body could not be read.",
                ),
                None,
            ))
        }
    };
    let request = request::parse(bytes).map_err(|e| (e, None))?;
    let raw = request.message.ok_or_else(|| {
        (
            GoogleError::invalid_argument(
                "Request contains an invalid argument.",
                "message",
                "Message must be set.",
            ),
            None,
        )
    })?;
    // Declared here so that a target found by the full validation can
    // borrow from it.
    let message: Map<String, Value>;
    let target = match fast::validate(raw.get()) {
        Some(target) => target,
        None => {
            message = serde_json::from_str(raw.get()).map_err(|_| {
                (
                    GoogleError::invalid_json(
                        "message",
                        "Invalid value at 'message' (type.googleapis.com/google.firebase.fcm.v1.Message)"
                            .to_owned(),
                    ),
                    None,
                )
            })?;
            let device = ["token", "fid"]
                .into_iter()
                .find_map(|field| message.get(field).and_then(Value::as_str))
                .map(str::to_owned);
            validate_message(&message).map_err(|e| (e, device))?
        }
    };
    // A valid message names a device exactly when its target is one.
    let device = match target {
        Target::Device(handle, _) => Some(DeviceRef::in_body(bytes, handle)),
        Target::Topic | Target::Condition => None,
    };
    let inbox = match target {
        Target::Device(handle, key) => Some(
            shared
                .devices
                .lookup(Platform::Fcm, handle)
                .ok_or_else(|| {
                    let mut error = key.unknown();
                    error.fcm_error = Some(Cow::Borrowed("INVALID_ARGUMENT"));
                    (error, Some(handle.to_owned()))
                })?,
        ),
        Target::Topic | Target::Condition => None,
    };
    let validate_only = request.validate_only.unwrap_or(false);
    let body = if validate_only {
        send_response(project, None)
    } else {
        if let Some(inbox) = inbox {
            deliver(&inbox, bytes, raw);
        }
        send_response(project, Some(MessageId::new()))
    };
    Ok(Outcome {
        kind: CaptureKind::Push,
        response: response(
            StatusCode::OK,
            [(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=UTF-8"),
            )],
            body,
        ),
        reason: None,
        device,
    })
}

/// The body of a successful send, `{"name":"projects/…/messages/<id>"}`;
/// a dry run (`validate_only`) names `fake_message_id`, as FCM does. Built
/// in one buffer: it is every accepted push's answer.
fn send_response(project: &str, id: Option<MessageId>) -> String {
    use std::fmt::Write as _;
    let mut body = String::with_capacity(64 + project.len());
    body.push_str("{\"name\":\"projects/");
    if project
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        body.push_str(project);
    } else {
        // The project comes from the path: escaped as JSON when it needs
        // it. Serializing a string cannot fail.
        let quoted = serde_json::to_string(project).unwrap_or_default();
        body.push_str(quoted.trim_matches('"'));
    }
    body.push_str("/messages/");
    match id {
        Some(MessageId { millis, tag }) => {
            let _ = write!(body, "0:{millis}%{tag:016x}");
        }
        None => body.push_str("fake_message_id"),
    }
    body.push_str("\"}");
    body
}

/// Hands the `message` object, byte for byte as sent, to the device.
fn deliver(inbox: &Inbox, body: &Bytes, raw: &RawValue) {
    let text = raw.get().as_bytes();
    let start = body.as_ptr() as usize;
    let inner = text.as_ptr() as usize;
    // A borrowed RawValue is a slice of the body: share it, don't copy.
    let message = if inner >= start && inner + text.len() <= start + body.len() {
        body.slice_ref(text)
    } else {
        Bytes::copy_from_slice(text)
    };
    inbox.push(Pending {
        platform: Platform::Fcm,
        headers: Packed::default(),
        body: message,
        received_at: Instant::now(),
    });
}

/// Where a message goes.
enum Target<'a> {
    /// One device, by registration token or installation id.
    Device(&'a str, DeviceKey),
    Topic,
    Condition,
}

impl Target<'_> {
    /// The largest message (data and notification text) FCM takes for it.
    fn size_limit(&self) -> usize {
        match self {
            Target::Topic => TOPIC_MESSAGE_LIMIT,
            Target::Device(..) | Target::Condition => MESSAGE_LIMIT,
        }
    }
}

/// A topic name FCM accepts: 1 to 900 of `[a-zA-Z0-9-_.~%]`.
fn is_valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 900
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b))
}

/// A condition FCM would parse; the mock only refuses a blank one.
fn is_valid_condition(condition: &str) -> bool {
    !condition.trim().is_empty()
}

/// How a message names its device. A mock device's handle works as
/// either: to the gateway both are opaque ids of one app instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeviceKey {
    /// `message.token`, a registration token.
    Token,
    /// `message.fid`, a Firebase installation id, which the v1 API takes
    /// in place of a token (newer Admin SDKs send it, and deprecate tokens).
    Fid,
}

impl DeviceKey {
    /// The answer to a device FCM does not know.
    fn unknown(self) -> GoogleError {
        match self {
            DeviceKey::Token => GoogleError::invalid_argument(
                "The registration token is not a valid FCM registration token",
                "message.token",
                "Invalid registration token",
            ),
            DeviceKey::Fid => GoogleError::invalid_argument(
                "The Firebase installation ID is not valid",
                "message.fid",
                "Invalid Firebase installation ID",
            ),
        }
    }
}

fn validate_message(message: &Map<String, Value>) -> Result<Target<'_>, GoogleError> {
    if let Some(unknown) = message
        .keys()
        .find(|k| !MESSAGE_FIELDS.contains(&k.as_str()))
    {
        return Err(GoogleError::invalid_json(
            "message",
            format!("Invalid JSON payload received. Unknown name \"{unknown}\" at 'message': Cannot find field."),
        ));
    }
    let mut target = None;
    for field in ["token", "topic", "condition", "fid"] {
        match message.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(value)) => {
                if let Some(previous) = target.replace((field, value.as_str())) {
                    return Err(GoogleError::invalid_json(
                        "message",
                        format!(
                            "Invalid JSON payload received. Oneof field 'target' is already set. Cannot set '{field}' \
                             (already set '{}')",
                            previous.0
                        ),
                    ));
                }
            }
            Some(other) => {
                return Err(GoogleError::invalid_json(
                    "message",
                    format!("Invalid value at 'message.{field}' (TYPE_STRING), {other}"),
                ))
            }
        }
    }
    let Some((kind, value)) = target else {
        return Err(GoogleError::invalid_argument(
            "Recipient of the message is not set.",
            "message",
            "Recipient of the message is not set.",
        ));
    };
    let target = match kind {
        "token" => Target::Device(value, DeviceKey::Token),
        "fid" => Target::Device(value, DeviceKey::Fid),
        "topic" => {
            if !is_valid_topic(value) {
                return Err(GoogleError::invalid_argument(
                    "Request contains an invalid argument.",
                    "message.topic",
                    "Invalid topic name",
                ));
            }
            Target::Topic
        }
        _ => {
            if !is_valid_condition(value) {
                return Err(GoogleError::invalid_argument(
                    "Request contains an invalid argument.",
                    "message.condition",
                    "Invalid condition expression",
                ));
            }
            Target::Condition
        }
    };
    let mut size = check_data(&MESSAGE_DATA, message.get("data"))?;
    match message.get("notification") {
        None | Some(Value::Null) => {}
        Some(Value::Object(notification)) => {
            size += notification
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum::<usize>();
        }
        Some(other) => {
            return Err(GoogleError::invalid_json(
                "message.notification",
                format!("Invalid value at 'message.notification' (type.googleapis.com/google.firebase.fcm.v1.Notification), {other}"),
            ))
        }
    }
    blocks::validate(message)?;
    let limit = target.size_limit();
    if size > limit {
        let mut error = GoogleError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Message is too big",
        );
        error.fcm_error = Some(Cow::Borrowed("INVALID_ARGUMENT"));
        return Err(error);
    }
    Ok(target)
}

/// A data map (`map<string, string>` in the API) and where it sits.
struct DataField {
    /// The field path errors name, e.g. `message.data`.
    path: &'static str,
    /// The map entry's message type, as Google's JSON errors name it.
    entry_type: &'static str,
}

const MESSAGE_DATA: DataField = DataField {
    path: "message.data",
    entry_type: "google.firebase.fcm.v1.Message.DataEntry",
};

/// Checks a data map: an object of strings without reserved keys. Returns
/// the sum of key and value lengths, which counts toward the size limit.
fn check_data(field: &DataField, data: Option<&Value>) -> Result<usize, GoogleError> {
    let path = field.path;
    let mut size = 0;
    match data {
        None | Some(Value::Null) => {}
        Some(Value::Object(data)) => {
            for (index, (key, value)) in data.iter().enumerate() {
                let Value::String(text) = value else {
                    let description =
                        format!("Invalid value at '{path}[{index}].value' (TYPE_STRING), {value}");
                    let mut error = GoogleError::new(
                        StatusCode::BAD_REQUEST,
                        "INVALID_ARGUMENT",
                        description.clone(),
                    );
                    error
                        .violations
                        .push((format!("{path}[{index}].value").into(), description.into()));
                    return Err(error);
                };
                if is_reserved_data_key(key) {
                    return Err(GoogleError::invalid_argument(
                        "Request contains an invalid argument.",
                        path,
                        format!("Invalid data payload key: {key}"),
                    ));
                }
                size += key.len() + text.len();
            }
        }
        Some(other) => {
            return Err(GoogleError::invalid_json(
                path,
                format!(
                    "Invalid value at '{path}' (type.googleapis.com/{}), {other}",
                    field.entry_type
                ),
            ))
        }
    }
    Ok(size)
}

/// A message id in FCM's `0:<millis>%<hex>` shape.
struct MessageId {
    millis: u128,
    tag: u64,
}

impl MessageId {
    fn new() -> MessageId {
        MessageId {
            millis: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            tag: rand::thread_rng().gen(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn send_response_names_the_message_as_json() {
        let id = MessageId {
            millis: 1_700_000_000_000,
            tag: 0xab,
        };
        let body: Value = serde_json::from_str(&send_response("p-1", Some(id))).unwrap();
        assert_eq!(
            body["name"],
            "projects/p-1/messages/0:1700000000000%00000000000000ab"
        );
        let odd = "a\"b\\c";
        let body: Value = serde_json::from_str(&send_response(odd, None)).unwrap();
        assert_eq!(
            body["name"],
            format!("projects/{odd}/messages/fake_message_id")
        );
    }

    #[test]
    fn send_path_yields_the_project() {
        assert_eq!(
            send_path_project("/v1/projects/p-1/messages:send"),
            Some("p-1")
        );
        assert_eq!(
            send_path_project("/v1/projects/p/messages%3Asend"),
            Some("p")
        );
        assert_eq!(send_path_project("/v1/projects//messages:send"), None);
        assert_eq!(send_path_project("/v1/projects/a/b/messages:send"), None);
    }

    #[test]
    fn reserved_data_keys_are_recognised() {
        for key in [
            "from",
            "message_type",
            "google.x",
            "gcm.notification",
            "GOOGLE",
        ] {
            assert!(is_reserved_data_key(key), "{key}");
        }
        assert!(!is_reserved_data_key("secureId"));
        assert!(!is_reserved_data_key("collapse_key"));
    }

    fn message(json: Value) -> Map<String, Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn message_needs_exactly_one_target() {
        let none = validate_message(&message(serde_json::json!({"data": {}})))
            .err()
            .unwrap();
        assert_eq!(none.message, "Recipient of the message is not set.");
        let two = validate_message(&message(serde_json::json!({"token": "a", "topic": "b"})))
            .err()
            .unwrap();
        assert_eq!(two.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn topic_messages_have_a_smaller_limit() {
        let big = "x".repeat(3000);
        assert!(validate_message(&message(
            serde_json::json!({"topic": "news", "data": {"k": big}})
        ))
        .is_err());
        assert!(validate_message(&message(
            serde_json::json!({"token": "t", "data": {"k": big}})
        ))
        .is_ok());
    }
}
