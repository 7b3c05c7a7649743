//! Mock Windows Push Notification Services: pushes are POSTed straight to a
//! channel URI `/?token=<opaque>` with a bearer token from the mock
//! `/accesstoken.srf` or the mock Azure AD `/{tenant}/oauth2/v2.0/token`;
//! WNS's header rules, size limit, status codes and `X-WNS-*` response
//! headers.

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use rand::Rng as _;

use crate::capture::{CaptureKind, DeviceRef};
use crate::devices::{wns_token_from_query, Inbox, Pending};
use crate::fault::table::Answer;
use crate::oauth;
use crate::packed::Packed;
use crate::platform::Platform;
use crate::reply::{bearer_token, header_value, response, Addressed, Outcome};
use crate::server::RequestBody;
use crate::state::Shared;
use crate::tokens::TokenState;

/// Path of the mock OAuth token endpoint on the WNS server.
pub(crate) const TOKEN_PATH: &str = "/accesstoken.srf";
/// What follows the tenant in the path of the mock Azure AD token endpoint,
/// `/{tenant}/oauth2/v2.0/token`.
pub(crate) const AAD_TOKEN_SUFFIX: &str = "/oauth2/v2.0/token";

/// Largest notification body.
const PAYLOAD_LIMIT: usize = 5000;

static X_WNS_TYPE: HeaderName = HeaderName::from_static("x-wns-type");
static X_WNS_STATUS: HeaderName = HeaderName::from_static("x-wns-status");
static X_WNS_NOTIFICATION_STATUS: HeaderName = HeaderName::from_static("x-wns-notificationstatus");
static X_WNS_MSG_ID: HeaderName = HeaderName::from_static("x-wns-msg-id");
static X_WNS_DEBUG_TRACE: HeaderName = HeaderName::from_static("x-wns-debug-trace");
static X_WNS_ERROR_DESCRIPTION: HeaderName = HeaderName::from_static("x-wns-error-description");
static X_WNS_DEVICE_CONNECTION_STATUS: HeaderName =
    HeaderName::from_static("x-wns-deviceconnectionstatus");
static X_WNS_REQUEST_FOR_STATUS: HeaderName = HeaderName::from_static("x-wns-requestforstatus");
static X_WNS_CACHE_POLICY: HeaderName = HeaderName::from_static("x-wns-cache-policy");
static X_WNS_TAG: HeaderName = HeaderName::from_static("x-wns-tag");
static X_WNS_GROUP: HeaderName = HeaderName::from_static("x-wns-group");
static X_WNS_TTL: HeaderName = HeaderName::from_static("x-wns-ttl");
static X_WNS_SUPPRESS_POPUP: HeaderName = HeaderName::from_static("x-wns-suppresspopup");
static MS_CV: HeaderName = HeaderName::from_static("ms-cv");
static X_WNS_CONTINUE_AFTER: HeaderName = HeaderName::from_static("x-wns-continue-after");

/// The notification types and the content type each requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NotificationType {
    Toast,
    Tile,
    Badge,
    Raw,
}

impl NotificationType {
    fn parse(value: &[u8]) -> Option<NotificationType> {
        let value = std::str::from_utf8(value).ok()?.trim();
        [
            ("wns/toast", NotificationType::Toast),
            ("wns/tile", NotificationType::Tile),
            ("wns/badge", NotificationType::Badge),
            ("wns/raw", NotificationType::Raw),
        ]
        .into_iter()
        .find(|(name, _)| value.eq_ignore_ascii_case(name))
        .map(|(_, t)| t)
    }

    fn content_type(self) -> &'static str {
        match self {
            NotificationType::Raw => "application/octet-stream",
            NotificationType::Toast | NotificationType::Tile | NotificationType::Badge => {
                "text/xml"
            }
        }
    }
}

/// A rejection: status and the `X-WNS-Error-Description` text.
struct Rejection {
    status: StatusCode,
    description: Cow<'static, str>,
}

const fn reject(status: StatusCode, description: &'static str) -> Rejection {
    Rejection {
        status,
        description: Cow::Borrowed(description),
    }
}

/// Answers one request to the WNS gateway.
pub(crate) fn handle(shared: &Shared, parts: &Parts, body: &RequestBody) -> Outcome {
    let path = parts.uri.path();
    if path == TOKEN_PATH {
        return oauth::wns_token(shared, parts, body);
    }
    if let Some(tenant) = aad_tenant(path) {
        return oauth::wns_aad_token(shared, parts, body, tenant);
    }
    let opaque = if path == "/" {
        parts.uri.query().and_then(wns_token_from_query)
    } else {
        None
    };
    let verdict = validate(shared, parts, opaque.as_deref(), body);
    // The decoded token moves into the capture (no second copy).
    let device = opaque.map(|o| wns_device(shared, o));
    let headers = &parts.headers;
    match verdict {
        Ok((inbox, payload)) => {
            inbox.push(Pending {
                platform: Platform::Wns,
                headers: device_headers(headers),
                body: payload,
                received_at: Instant::now(),
            });
            let mut out = vec![
                (X_WNS_STATUS.clone(), HeaderValue::from_static("received")),
                (
                    X_WNS_NOTIFICATION_STATUS.clone(),
                    HeaderValue::from_static("received"),
                ),
                (X_WNS_MSG_ID.clone(), new_msg_id()),
                (
                    X_WNS_DEBUG_TRACE.clone(),
                    HeaderValue::from_static("PUSHPROOF-MOCK-WNS"),
                ),
            ];
            if headers
                .get(&X_WNS_REQUEST_FOR_STATUS)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
            {
                out.push((
                    X_WNS_DEVICE_CONNECTION_STATUS.clone(),
                    HeaderValue::from_static("connected"),
                ));
            }
            echo_correlation_vector(headers, &mut out);
            Outcome {
                kind: CaptureKind::Push,
                response: response(StatusCode::OK, out, Bytes::new()),
                reason: None,
                device,
            }
        }
        Err(rejection) => rejection.into_outcome(headers, Vec::new(), device),
    }
}

impl Rejection {
    /// The error answer: status, `X-WNS-Error-Description`, `extra` headers.
    fn into_outcome(
        self,
        request_headers: &HeaderMap,
        mut out: Vec<(HeaderName, HeaderValue)>,
        device: Option<DeviceRef>,
    ) -> Outcome {
        out.push((
            X_WNS_ERROR_DESCRIPTION.clone(),
            header_value(&self.description),
        ));
        out.push((
            X_WNS_DEBUG_TRACE.clone(),
            HeaderValue::from_static("PUSHPROOF-MOCK-WNS"),
        ));
        if self.status == StatusCode::UNAUTHORIZED {
            out.push((
                WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer error=\"invalid_request\",error_description=\"Invalid token\"",
                ),
            ));
        }
        echo_correlation_vector(request_headers, &mut out);
        Outcome {
            kind: CaptureKind::Push,
            response: response(self.status, out, Bytes::new()),
            reason: Some(self.description.into_owned()),
            device,
        }
    }
}

/// The device a push addresses, for the fault rules; `None` for token
/// requests, which faults leave alone.
pub(crate) fn addressed(shared: &Shared, parts: &Parts) -> Option<Addressed> {
    let path = parts.uri.path();
    if path == TOKEN_PATH || aad_tenant(path).is_some() {
        return None;
    }
    let key = if path == "/" {
        parts.uri.query().and_then(wns_token_from_query)
    } else {
        None
    };
    let device = key.as_deref().map(|k| wns_device(shared, Cow::Borrowed(k)));
    Some(Addressed {
        key: key.map(Cow::into_owned),
        device,
    })
}

/// The tenant of an Azure AD token path, `/{tenant}/oauth2/v2.0/token`:
/// any non-empty segment (a GUID, a domain, `common`), as the mock has one
/// directory. `None` for every other path, at once for a push's `/`.
fn aad_tenant(path: &str) -> Option<&str> {
    let tenant = path.strip_suffix(AAD_TOKEN_SUFFIX)?.strip_prefix('/')?;
    (!tenant.is_empty() && !tenant.contains('/')).then_some(tenant)
}

/// The channel a push addresses, as captures name it; the URI itself is
/// built only when a capture is read.
fn wns_device(shared: &Shared, opaque: Cow<'_, str>) -> DeviceRef {
    DeviceRef::WnsChannel {
        base: shared.urls.wns_channels.clone(),
        token: opaque.into_owned(),
    }
}

/// A fault's answer in WNS's shape: the status with
/// `X-WNS-Error-Description`; a throttle is 406 with `X-WNS-CONTINUE-AFTER`.
pub(crate) fn fault_outcome(parts: &Parts, answer: &Answer, device: Option<DeviceRef>) -> Outcome {
    let mut out = Vec::new();
    let rejection = match answer {
        Answer::Status {
            status,
            reason,
            retry_after_secs,
        } => {
            if let Some(secs) = retry_after_secs {
                out.push((RETRY_AFTER, HeaderValue::from(*secs)));
            }
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Rejection {
                status,
                description: reason.as_deref().map_or_else(
                    || Cow::Borrowed(default_description(status)),
                    |r| Cow::Owned(r.to_owned()),
                ),
            }
        }
        Answer::Throttled { retry_after_secs } => {
            out.push((
                X_WNS_CONTINUE_AFTER.clone(),
                HeaderValue::from(*retry_after_secs),
            ));
            out.push((
                X_WNS_STATUS.clone(),
                HeaderValue::from_static("channelthrottled"),
            ));
            reject(StatusCode::NOT_ACCEPTABLE, "The channel is throttled.")
        }
        Answer::Expired { .. } => reject(StatusCode::GONE, "The channel expired."),
    };
    rejection.into_outcome(&parts.headers, out, device)
}

/// The error description WNS gives with a status.
fn default_description(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request is malformed.",
        401 => "Token validation failed",
        403 => "The token does not match the channel's app.",
        404 => "The channel URI is not valid.",
        405 => "Only POST is allowed.",
        406 => "The channel is throttled.",
        410 => "The channel expired.",
        413 => "The notification payload exceeds 5000 bytes.",
        503 => "The service is unavailable.",
        _ => "Internal server error.",
    }
}

fn validate(
    shared: &Shared,
    parts: &Parts,
    opaque: Option<&str>,
    body: &RequestBody,
) -> Result<(Inbox, Bytes), Rejection> {
    let headers = &parts.headers;
    if parts.uri.path() != "/" {
        return Err(reject(
            StatusCode::NOT_FOUND,
            "The channel URI is not valid.",
        ));
    }
    if parts.method != Method::POST {
        return Err(reject(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only POST is allowed.",
        ));
    }
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(reject(
            StatusCode::UNAUTHORIZED,
            "The authentication token is missing.",
        ));
    };
    let token = bearer_token(value).ok_or(reject(
        StatusCode::UNAUTHORIZED,
        "The authentication token is malformed.",
    ))?;
    match shared.wns_tokens.check(token) {
        TokenState::Valid => {}
        TokenState::Expired => return Err(reject(StatusCode::UNAUTHORIZED, "Token expired")),
        TokenState::Unknown => {
            return Err(reject(StatusCode::UNAUTHORIZED, "Token validation failed"))
        }
    }
    let kind = headers.get(&X_WNS_TYPE).ok_or(reject(
        StatusCode::BAD_REQUEST,
        "The X-WNS-Type header is missing.",
    ))?;
    let kind = NotificationType::parse(kind.as_bytes()).ok_or(reject(
        StatusCode::BAD_REQUEST,
        "The X-WNS-Type header value is not valid.",
    ))?;
    let content_type_ok = headers
        .get(CONTENT_TYPE)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|essence| essence.eq_ignore_ascii_case(kind.content_type()));
    if !content_type_ok {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "The Content-Type header does not match the X-WNS-Type.",
        ));
    }
    check_optional_headers(headers, kind)?;
    let payload = match body {
        RequestBody::Complete(bytes) if bytes.len() <= PAYLOAD_LIMIT => bytes.clone(),
        RequestBody::Complete(_) | RequestBody::TooLarge(_) => {
            return Err(reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The notification payload exceeds 5000 bytes.",
            ))
        }
        RequestBody::TimedOut(_) | RequestBody::Broken(_) => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            ))
        }
    };
    let inbox = opaque
        .and_then(|o| shared.devices.lookup(Platform::Wns, o))
        .ok_or(reject(
            StatusCode::NOT_FOUND,
            "The channel URI is not valid.",
        ))?;
    Ok((inbox, payload))
}

/// Whether header `name` is absent or one of `choices`, compared
/// ASCII-case-insensitively.
fn choice_or_absent(headers: &HeaderMap, name: &HeaderName, choices: &[&str]) -> bool {
    headers.get(name).is_none_or(|value| {
        choices
            .iter()
            .any(|choice| value.as_bytes().eq_ignore_ascii_case(choice.as_bytes()))
    })
}

/// The optional `X-WNS-*` request headers whose values WNS checks.
fn check_optional_headers(headers: &HeaderMap, kind: NotificationType) -> Result<(), Rejection> {
    if !choice_or_absent(headers, &X_WNS_CACHE_POLICY, &["cache", "no-cache"]) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "The X-WNS-Cache-Policy header value is not valid.",
        ));
    }
    if !choice_or_absent(headers, &X_WNS_REQUEST_FOR_STATUS, &["true", "false"]) {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            "The X-WNS-RequestForStatus header value is not valid.",
        ));
    }
    for name in [&X_WNS_TAG, &X_WNS_GROUP] {
        if let Some(value) = headers.get(name) {
            let v = value.as_bytes();
            if v.is_empty() || v.len() > 16 || !v.iter().all(u8::is_ascii_alphanumeric) {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "The X-WNS-Tag or X-WNS-Group header value is not valid.",
                ));
            }
        }
    }
    if headers.contains_key(&X_WNS_SUPPRESS_POPUP) {
        if !choice_or_absent(headers, &X_WNS_SUPPRESS_POPUP, &["true", "false"]) {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "The X-WNS-SuppressPopup header value is not valid.",
            ));
        }
        // Only a toast pops up: the header means nothing on other types,
        // and WNS refuses it there rather than ignore it.
        if kind != NotificationType::Toast {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "The X-WNS-SuppressPopup header is only valid for toast notifications.",
            ));
        }
    }
    if let Some(ttl) = headers.get(&X_WNS_TTL) {
        let valid = std::str::from_utf8(ttl.as_bytes())
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .is_some();
        if !valid {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "The X-WNS-TTL header value is not valid.",
            ));
        }
    }
    Ok(())
}

/// What reaches the device: the content type and the notification type.
fn device_headers(headers: &HeaderMap) -> Packed {
    let content_type = headers.get(CONTENT_TYPE);
    let kind = headers.get(&X_WNS_TYPE);
    Packed::new("", || {
        [
            content_type.map(|v| (CONTENT_TYPE.as_str(), v.as_bytes())),
            kind.map(|v| (X_WNS_TYPE.as_str(), v.as_bytes())),
        ]
        .into_iter()
        .flatten()
    })
}

fn echo_correlation_vector(headers: &HeaderMap, out: &mut Vec<(HeaderName, HeaderValue)>) {
    if let Some(cv) = headers.get(&MS_CV) {
        out.push((MS_CV.clone(), cv.clone()));
    }
}

/// A message id: 16 hex characters, the most WNS sends.
/// A fresh `X-WNS-Msg-ID`: 16 uppercase hex digits, formatted in place
/// (one per accepted push).
fn new_msg_id() -> HeaderValue {
    let id: u64 = rand::thread_rng().gen();
    let mut text = [0u8; 16];
    for (i, digit) in text.iter_mut().enumerate() {
        *digit = b"0123456789ABCDEF"[((id >> (60 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0000000000000000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_ids_are_16_uppercase_hex_digits() {
        let id = new_msg_id();
        let text = id.to_str().unwrap_or_default();
        assert_eq!(text.len(), 16);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        assert_ne!(new_msg_id(), id);
    }

    #[test]
    fn notification_type_names_map_to_content_types() {
        assert_eq!(
            NotificationType::parse(b"wns/raw").map(NotificationType::content_type),
            Some("application/octet-stream")
        );
        assert_eq!(
            NotificationType::parse(b"wns/toast").map(NotificationType::content_type),
            Some("text/xml")
        );
        assert_eq!(NotificationType::parse(b"wns/popup"), None);
        assert_eq!(NotificationType::parse(&[0xff, 0xfe]), None);
    }

    #[test]
    fn aad_token_paths_name_a_tenant() {
        assert_eq!(aad_tenant("/common/oauth2/v2.0/token"), Some("common"));
        assert_eq!(
            aad_tenant("/contoso.onmicrosoft.com/oauth2/v2.0/token"),
            Some("contoso.onmicrosoft.com")
        );
        assert_eq!(aad_tenant("/oauth2/v2.0/token"), None);
        assert_eq!(aad_tenant("//oauth2/v2.0/token"), None);
        assert_eq!(aad_tenant("/a/b/oauth2/v2.0/token"), None);
        assert_eq!(aad_tenant("/"), None);
        assert_eq!(aad_tenant(TOKEN_PATH), None);
    }

    #[test]
    fn msg_id_fits_sixteen_characters() {
        assert_eq!(new_msg_id().len(), 16);
    }
}
