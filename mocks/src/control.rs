//! The control API under `/__pushproof/`, on every gateway's listener, so
//! the mocks can serve a vendor's own integration tests when run
//! standalone: create devices and read their inboxes (long-poll), page
//! through captures, set and clear fault rules, read counters, reset.
//! JSON in and out; errors are `{"error": "…"}` with 400, 404, 405 or 413.
//! Control requests are not pushes: they are never captured or faulted.

use std::time::{Duration, Instant};

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::request::Parts;
use http::{Method, StatusCode};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::capture::{body_text, CaptureJson, CaptureKind, Filter};
use crate::devices::{device_key, Delivery, DeviceHandle};
use crate::fault::{FaultError, FaultRule};
use crate::platform::Platform;
use crate::reply::{response, Response};
use crate::server::RequestBody;
use crate::state::Shared;

mod feed;

const PREFIX: &str = "/__pushproof";

/// Longest inbox long-poll, so a peer cannot hold a request forever.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Largest page of captures or deliveries.
const MAX_LIMIT: usize = 1000;
/// Page size when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;
/// Captures looked at per page request, so the store's lock (which the
/// request path takes too) is held briefly even with a selective filter.
const SCAN_LIMIT: usize = 20_000;
/// Body bytes per page of captures, so one response stays a few MiB.
const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Whether a request is for the control API.
pub(crate) fn is_control_path(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A control-API failure, answered as `{"error": "…"}`.
struct ApiError {
    status: StatusCode,
    message: String,
    allow: Option<&'static str>,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
        allow: None,
    }
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: message.into(),
        allow: None,
    }
}

fn method_not_allowed(allow: &'static str) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("method not allowed (allowed: {allow})"),
        allow: Some(allow),
    }
}

impl From<FaultError> for ApiError {
    fn from(error: FaultError) -> ApiError {
        bad_request(error.to_string())
    }
}

type ApiResult = Result<(StatusCode, Value), ApiError>;

/// Answers one control-API request.
pub(crate) async fn handle(shared: &Shared, parts: &Parts, body: &RequestBody) -> Response {
    let result = match body {
        RequestBody::Complete(bytes) => route(shared, parts, bytes).await,
        RequestBody::TooLarge(_) => Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: "request body too large".to_owned(),
            allow: None,
        }),
        RequestBody::TimedOut(_) | RequestBody::Broken(_) => {
            Err(bad_request("the request body could not be read"))
        }
    };
    let (status, value, allow) = match result {
        Ok((status, value)) => (status, value, None),
        Err(e) => (e.status, json!({ "error": e.message }), e.allow),
    };
    let mut headers = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    if let Some(allow) = allow {
        headers.push((ALLOW, HeaderValue::from_static(allow)));
    }
    response(status, headers, value.to_string())
}

async fn route(shared: &Shared, parts: &Parts, body: &[u8]) -> ApiResult {
    let path = parts.uri.path();
    let rest = path.strip_prefix(PREFIX).unwrap_or(path);
    let query = parts.uri.query().unwrap_or("");
    let method = &parts.method;
    if let Some(answer) = feed::route(shared, method, rest, query, body).await {
        return answer;
    }
    match rest {
        "/devices" => match *method {
            Method::POST => create_device(shared, body),
            _ => Err(method_not_allowed("POST")),
        },
        "/captures" => match *method {
            Method::GET => captures(shared, query),
            _ => Err(method_not_allowed("GET")),
        },
        "/faults" => match *method {
            Method::GET => Ok((StatusCode::OK, json!({ "rules": shared.faults.list() }))),
            Method::POST => set_faults(shared, body),
            Method::DELETE => {
                shared.faults.clear();
                Ok((StatusCode::OK, json!({ "cleared": true })))
            }
            _ => Err(method_not_allowed("GET, POST, DELETE")),
        },
        "/reset" => match *method {
            Method::POST => {
                shared.reset();
                Ok((StatusCode::OK, json!({ "reset": true })))
            }
            _ => Err(method_not_allowed("POST")),
        },
        "/counters" => match *method {
            Method::GET => Ok((StatusCode::OK, json!(shared.counters()))),
            _ => Err(method_not_allowed("GET")),
        },
        _ => {
            if let Some(id) = rest.strip_prefix("/faults/") {
                return match *method {
                    Method::DELETE => remove_fault(shared, id),
                    _ => Err(method_not_allowed("DELETE")),
                };
            }
            if let Some(device) = rest.strip_prefix("/devices/") {
                let (handle, is_inbox) = match device.strip_suffix("/inbox") {
                    Some(handle) => (handle, true),
                    None => (device, false),
                };
                if handle.is_empty() || handle.contains('/') {
                    // A handle sent as is: a WNS channel URI splits into
                    // path segments and a query, which would otherwise
                    // read as some other endpoint (a misleading 405).
                    return Err(bad_request(
                        "the device handle must be one percent-encoded path segment \
                         (WNS handles are URIs: encode '/', '?', ':', '=' and '%', \
                         e.g. with jq -rn --arg h \"$HANDLE\" '$h|@uri')",
                    ));
                }
                return match (is_inbox, method) {
                    (true, &Method::GET) => inbox(shared, handle, query).await,
                    (true, _) => Err(method_not_allowed("GET")),
                    (false, &Method::DELETE) => delete_device(shared, handle, query),
                    (false, _) => Err(method_not_allowed("DELETE")),
                };
            }
            Err(not_found(format!("no control endpoint {path}")))
        }
    }
}

fn create_device(shared: &Shared, body: &[u8]) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewDevice {
        platform: Platform,
    }
    let request: NewDevice = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("expected {{\"platform\":\"apns|fcm|wns\"}}: {e}")))?;
    let device = shared.register_device(request.platform);
    Ok((
        StatusCode::CREATED,
        json!({ "platform": device.platform, "handle": device.handle }),
    ))
}

/// The query's pairs, refusing names outside `allowed` (a typo should not
/// silently widen a filter).
fn query_pairs(query: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(bad_request(format!(
            "unknown query parameter {k:?} (known: {})",
            allowed.join(", ")
        ))),
        None => Ok(pairs),
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ApiError> {
    value
        .parse()
        .map_err(|_| bad_request(format!("invalid {name} {value:?}")))
}

fn parse_limit(value: &str) -> Result<usize, ApiError> {
    let limit: usize = parse("limit", value)?;
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(bad_request(format!("limit must be 1..={MAX_LIMIT}")))
    }
}

/// The device a percent-encoded handle in a path names, on `platform` or
/// on whichever gateway knows it.
fn find_device(
    shared: &Shared,
    encoded: &str,
    platform: Option<Platform>,
) -> Result<DeviceHandle, ApiError> {
    let handle = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| bad_request("the device handle is not UTF-8 once percent-decoded"))?;
    let platforms = platform
        .as_ref()
        .map_or(&Platform::ALL[..], std::slice::from_ref);
    platforms
        .iter()
        .find(|p| {
            device_key(**p, &handle).is_some_and(|key| shared.devices.lookup(**p, &key).is_some())
        })
        .map(|p| DeviceHandle {
            platform: *p,
            handle: handle.clone().into_owned(),
        })
        .ok_or_else(|| not_found(format!("no device {handle:?}")))
}

async fn inbox(shared: &Shared, encoded: &str, query: &str) -> ApiResult {
    let mut wait = Duration::ZERO;
    let mut limit = DEFAULT_LIMIT;
    let mut platform = None;
    for (name, value) in query_pairs(query, &["wait", "limit", "platform"])? {
        match name.as_str() {
            "wait" => {
                let secs: f64 = parse("wait", &value)?;
                if !(secs.is_finite() && secs >= 0.0) {
                    return Err(bad_request("wait must be a number of seconds >= 0"));
                }
                wait = Duration::from_secs_f64(secs.min(MAX_WAIT.as_secs_f64()));
            }
            "limit" => limit = parse_limit(&value)?,
            _ => platform = Some(parse::<Platform>("platform", &value)?),
        }
    }
    let device = find_device(shared, encoded, platform)?;
    let inbox = shared
        .inbox(&device)
        .ok_or_else(|| not_found("the device is gone"))?;
    let mut deliveries = inbox.take(limit);
    if deliveries.is_empty() && !wait.is_zero() {
        if let Ok(first) = tokio::time::timeout(wait, inbox.recv()).await {
            deliveries.push(first);
            deliveries.extend(inbox.take(limit - 1));
        }
    }
    let now = Instant::now();
    let deliveries: Vec<Value> = deliveries.iter().map(|d| delivery_json(d, now)).collect();
    Ok((
        StatusCode::OK,
        json!({
            "platform": device.platform,
            "handle": device.handle,
            "deliveries": deliveries,
            "dropped": inbox.dropped(),
        }),
    ))
}

fn delivery_json(delivery: &Delivery, now: Instant) -> Value {
    let (body, encoding) = body_text(&delivery.body);
    let age = now.saturating_duration_since(delivery.received_at);
    json!({
        "platform": delivery.platform,
        "headers": delivery.headers,
        "body": body,
        "encoding": encoding,
        "age_ms": u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
    })
}

fn delete_device(shared: &Shared, encoded: &str, query: &str) -> ApiResult {
    let mut platform = None;
    for (_, value) in query_pairs(query, &["platform"])? {
        platform = Some(parse::<Platform>("platform", &value)?);
    }
    let device = find_device(shared, encoded, platform)?;
    shared.unregister_device(&device);
    Ok((
        StatusCode::OK,
        json!({ "platform": device.platform, "handle": device.handle, "removed": true }),
    ))
}

fn captures(shared: &Shared, query: &str) -> ApiResult {
    let mut after = None;
    let mut limit = DEFAULT_LIMIT;
    let mut filter = Filter::default();
    let known = ["after", "limit", "device", "verdict", "platform", "kind"];
    for (name, value) in query_pairs(query, &known)? {
        match name.as_str() {
            "after" => after = Some(parse::<u64>("after", &value)?),
            "limit" => limit = parse_limit(&value)?,
            "device" => filter.device = Some(value),
            "verdict" => {
                filter.accepted = Some(match value.as_str() {
                    "accepted" => true,
                    "rejected" => false,
                    _ => return Err(bad_request("verdict must be accepted or rejected")),
                });
            }
            "platform" => filter.platform = Some(parse::<Platform>("platform", &value)?),
            _ => {
                filter.kind = Some(match value.as_str() {
                    "push" => CaptureKind::Push,
                    "token" => CaptureKind::Token,
                    "hub" => CaptureKind::Hub,
                    _ => return Err(bad_request("kind must be push, token or hub")),
                });
            }
        }
    }
    let page = shared
        .captures
        .page(after, &filter, limit, SCAN_LIMIT, PAGE_BYTES);
    let captures: Vec<CaptureJson<'_>> =
        page.captures.iter().map(|c| CaptureJson::new(c)).collect();
    Ok((
        StatusCode::OK,
        json!({ "captures": captures, "next": page.next, "more": page.more }),
    ))
}

/// `POST /faults`: one rule object, or an array of them (all or none).
fn set_faults(shared: &Shared, body: &[u8]) -> ApiResult {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON: {e}")))?;
    let rules: Vec<FaultRule> = match value {
        Value::Array(_) => serde_json::from_value(value),
        _ => serde_json::from_value(value).map(|rule| vec![rule]),
    }
    .map_err(|e| bad_request(format!("invalid fault rule: {e}")))?;
    let ids = shared.faults.add(rules)?;
    Ok((StatusCode::CREATED, json!({ "ids": ids })))
}

fn remove_fault(shared: &Shared, id: &str) -> ApiResult {
    let id: u64 = parse("fault id", id)?;
    if shared.faults.remove(id) {
        Ok((StatusCode::OK, json!({ "removed": id })))
    } else {
        Err(not_found(format!("no fault rule {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_paths_are_the_prefix_and_below() {
        assert!(is_control_path("/__pushproof"));
        assert!(is_control_path("/__pushproof/devices"));
        assert!(!is_control_path("/__pushproofx"));
        assert!(!is_control_path("/3/device/__pushproof"));
    }

    #[test]
    fn unknown_query_parameters_are_refused() {
        assert!(query_pairs("after=1&limt=2", &["after", "limit"]).is_err());
        assert_eq!(
            query_pairs("after=1", &["after"]).ok().map(|p| p.len()),
            Some(1)
        );
    }
}
