//! The control API's delivery feeds, for a load generator elsewhere
//! (`pushproof load --mocks-url`): create a feed, register devices on it in
//! batches, long-poll the pushes of all of them at once, and read the mocks
//! process's own CPU time so the generator can report it apart from its own.
//!
//! - `POST /feeds` `{"capacity": N}` → 201 `{"feed": id}`
//! - `DELETE /feeds/{id}` → 200
//! - `POST /feeds/{id}/devices` `{"platform": "apns", "count": N, "first_tag": T}`
//!   → 201 `{"handles": [...]}`, the device tagged `T + i` at `handles[i]`
//! - `GET /feeds/{id}?wait=S&limit=N` → 200 `{"deliveries": [{"tag", "platform",
//!   "headers", "body", "encoding", "age_us"}], "pushed", "dropped"}`
//!   (`limit=0`: the counters only)
//! - `GET /process` → 200 `{"cpu_us": …, "rss_bytes": …}` (Linux; `null` elsewhere)

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    bad_request, method_not_allowed, not_found, parse, query_pairs, ApiError, ApiResult, MAX_WAIT,
};
use crate::capture::body_text;
use crate::devices::feed::{Feed, Tagged, MAX_FEEDS};
use crate::platform::Platform;
use crate::state::Shared;

/// Devices registered by one request.
const MAX_BATCH: u64 = 1000;
/// Deliveries in one poll's answer.
const MAX_TAKE: usize = 10_000;
/// A feed's default and largest capacity.
const DEFAULT_CAPACITY: usize = 100_000;
const MAX_CAPACITY: usize = 1_000_000;

/// Routes `/feeds…` and `/process`; `None` when the path is neither.
pub(super) async fn route(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &str,
    body: &[u8],
) -> Option<ApiResult> {
    if rest == "/process" {
        return Some(match *method {
            Method::GET => Ok((StatusCode::OK, process())),
            _ => Err(method_not_allowed("GET")),
        });
    }
    if rest == "/feeds" {
        return Some(match *method {
            Method::POST => create(shared, body),
            _ => Err(method_not_allowed("POST")),
        });
    }
    let tail = rest.strip_prefix("/feeds/")?;
    Some(match tail.split_once('/') {
        Some((id, "devices")) => match *method {
            Method::POST => register(shared, id, body),
            _ => Err(method_not_allowed("POST")),
        },
        Some(_) => Err(not_found(format!("no control endpoint /__pushproof{rest}"))),
        None => match *method {
            Method::GET => poll(shared, tail, query).await,
            Method::DELETE => {
                let id: u64 = match parse("feed id", tail) {
                    Ok(id) => id,
                    Err(e) => return Some(Err(e)),
                };
                if shared.feeds.remove(id) {
                    Ok((StatusCode::OK, json!({ "removed": id })))
                } else {
                    Err(not_found(format!("no feed {id}")))
                }
            }
            _ => Err(method_not_allowed("GET, DELETE")),
        },
    })
}

fn create(shared: &Shared, body: &[u8]) -> ApiResult {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct NewFeed {
        capacity: Option<usize>,
    }
    let request: NewFeed = if body.iter().all(u8::is_ascii_whitespace) {
        NewFeed::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| bad_request(format!("expected {{\"capacity\": N}} or no body: {e}")))?
    };
    let capacity = request.capacity.unwrap_or(DEFAULT_CAPACITY);
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(bad_request(format!("capacity must be 1..={MAX_CAPACITY}")));
    }
    let (id, _) = shared
        .feeds
        .create(capacity)
        .ok_or_else(|| bad_request(format!("at most {MAX_FEEDS} feeds; delete one first")))?;
    Ok((
        StatusCode::CREATED,
        json!({ "feed": id, "capacity": capacity }),
    ))
}

fn feed_of(shared: &Shared, id: &str) -> Result<Feed, ApiError> {
    let id: u64 = parse("feed id", id)?;
    shared
        .feeds
        .get(id)
        .ok_or_else(|| not_found(format!("no feed {id}")))
}

fn register(shared: &Shared, id: &str, body: &[u8]) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewDevices {
        platform: Platform,
        count: u64,
        first_tag: u64,
    }
    let feed = feed_of(shared, id)?;
    let request: NewDevices = serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "expected {{\"platform\":\"apns|fcm|wns\",\"count\":N,\"first_tag\":T}}: {e}"
        ))
    })?;
    if !(1..=MAX_BATCH).contains(&request.count) {
        return Err(bad_request(format!("count must be 1..={MAX_BATCH}")));
    }
    if request.first_tag.checked_add(request.count).is_none() {
        return Err(bad_request("first_tag + count overflows"));
    }
    let handles: Vec<String> = (0..request.count)
        .map(|i| {
            shared
                .register_feed_device(request.platform, &feed, request.first_tag + i)
                .handle
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        json!({ "platform": request.platform, "first_tag": request.first_tag, "handles": handles }),
    ))
}

async fn poll(shared: &Shared, id: &str, query: &str) -> ApiResult {
    let feed = feed_of(shared, id)?;
    let mut wait = Duration::ZERO;
    let mut limit = 1000;
    for (name, value) in query_pairs(query, &["wait", "limit"])? {
        if name == "wait" {
            let secs: f64 = parse("wait", &value)?;
            if !(secs.is_finite() && secs >= 0.0) {
                return Err(bad_request("wait must be a number of seconds >= 0"));
            }
            wait = Duration::from_secs_f64(secs.min(MAX_WAIT.as_secs_f64()));
        } else {
            limit = parse("limit", &value)?;
            if limit > MAX_TAKE {
                return Err(bad_request(format!("limit must be 0..={MAX_TAKE}")));
            }
        }
    }
    // `limit=0` reads the counters only.
    let mut taken = feed.try_take(limit);
    if taken.is_empty() && !wait.is_zero() && limit > 0 {
        if let Ok(first) = tokio::time::timeout(wait, feed.take(limit)).await {
            taken = first;
        }
    }
    let now = Instant::now();
    let deliveries: Vec<Value> = taken.iter().map(|t| tagged_json(t, now)).collect();
    Ok((
        StatusCode::OK,
        json!({ "deliveries": deliveries, "pushed": feed.pushed(), "dropped": feed.dropped() }),
    ))
}

fn tagged_json(tagged: &Tagged, now: Instant) -> Value {
    let delivery = &tagged.delivery;
    let (body, encoding) = body_text(&delivery.body);
    let age = now.saturating_duration_since(delivery.received_at);
    json!({
        "tag": tagged.tag,
        "platform": delivery.platform,
        "headers": delivery.headers,
        "body": body,
        "encoding": encoding,
        "age_us": u64::try_from(age.as_micros()).unwrap_or(u64::MAX),
    })
}

/// This process's CPU time (user + system, every thread) and resident
/// memory, from `/proc/self`.
fn process() -> Value {
    json!({ "cpu_us": process_cpu_us(), "rss_bytes": process_rss_bytes() })
}

fn process_cpu_us() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are the 14th and 15th fields overall.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // The kernel reports clock ticks; USER_HZ is 100 on every Linux ABI.
    Some((utime + stime) * 10_000)
}

fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reports_its_cpu_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu_us().is_some());
            assert!(process_rss_bytes().is_some_and(|b| b > 0));
        }
    }
}
