//! What a platform handler answers, and the helpers every handler shares:
//! the response type, the verdict on one request ([`Outcome`]), the device
//! a push addresses ([`Addressed`]), response building, bearer tokens and
//! the clock. It sits below the handlers (`apns`, `fcm`, `wns`, `oauth`,
//! `control`) and above nothing of theirs, so that the dispatch in
//! `exchange` and the handlers it calls import in one direction only.

use http::header::{HeaderName, HeaderValue};
use http::StatusCode;

use crate::capture::{CaptureKind, DeviceRef};
use crate::server::ResponseBody;

/// The response type of every gateway.
pub(crate) type Response = http::Response<ResponseBody>;

/// What a platform module decided about one request.
pub(crate) struct Outcome {
    pub(crate) kind: CaptureKind,
    pub(crate) response: Response,
    /// The platform's reason for a rejection; `None` on success.
    pub(crate) reason: Option<String>,
    /// The device handle the request was addressed to.
    pub(crate) device: Option<DeviceRef>,
}

/// The device a push addresses, as fault rules look it up.
pub(crate) struct Addressed {
    /// The device registry key (lowercase APNs token, FCM token, WNS opaque
    /// token), if the request names a device.
    pub(crate) key: Option<String>,
    /// The handle as captures record it.
    pub(crate) device: Option<DeviceRef>,
}

/// A response with a status, headers and a body. Header values built by the
/// gateways are always valid; a value that is not is skipped rather than
/// turned into a panic.
pub(crate) fn response(
    status: StatusCode,
    headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    body: impl Into<bytes::Bytes>,
) -> Response {
    let mut response = http::Response::new(ResponseBody::new(body.into()));
    *response.status_mut() = status;
    let headers = headers.into_iter();
    let map = response.headers_mut();
    // Sized once, not grown header by header.
    map.reserve(headers.size_hint().0);
    for (name, value) in headers {
        map.append(name, value);
    }
    response
}

/// A header value from text the gateway made; falls back to an empty value
/// (never panics) if the text is not a valid header value.
pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Splits `Authorization: <scheme> <credentials>` and returns the
/// credentials when the scheme is `bearer`, compared case-insensitively
/// (clients send both `bearer` and `Bearer`).
pub(crate) fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let text = std::str::from_utf8(value.as_bytes()).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A JWT NumericDate (RFC 7519 §2: "A JSON numeric value representing the
/// number of seconds from 1970-01-01T00:00:00Z UTC … non-integer values
/// can be represented") as whole seconds, rounded down; `None` for a value
/// that is not a JSON number, or beyond `i64`.
pub(crate) fn numeric_date(value: &serde_json::Value) -> Option<i64> {
    let number = value.as_number()?;
    if let Some(secs) = number.as_i64() {
        return Some(secs);
    }
    let secs = number.as_f64()?.floor();
    // `as` saturates; the range check keeps out what would saturate.
    (secs.is_finite() && secs >= i64::MIN as f64 && secs < i64::MAX as f64).then_some(secs as i64)
}

/// [`numeric_date`] as a serde field deserializer.
pub(crate) fn deserialize_numeric_date<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
    numeric_date(&value).ok_or_else(|| serde::de::Error::custom("a NumericDate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_take_fractions_and_refuse_strings() {
        let date = |json: &str| numeric_date(&serde_json::from_str(json).unwrap_or_default());
        assert_eq!(date("1796114635"), Some(1_796_114_635));
        assert_eq!(date("1796114635.771"), Some(1_796_114_635));
        assert_eq!(date("1.7e9"), Some(1_700_000_000));
        assert_eq!(date("-1.5"), Some(-2));
        assert_eq!(date("\"1796114635\""), None);
        assert_eq!(date("1e300"), None);
        assert_eq!(date("null"), None);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            bearer_token(&HeaderValue::from_static("bearer abc")),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&HeaderValue::from_static("Bearer  abc ")),
            Some("abc")
        );
        assert_eq!(bearer_token(&HeaderValue::from_static("Basic abc")), None);
        assert_eq!(bearer_token(&HeaderValue::from_static("bearer")), None);
    }
}
