//! The gateways as the load driver reaches them: in this process, or a
//! `pushproof mocks` elsewhere (`--mocks-url`) through its control API.
//! Either way the run's devices are registered on one delivery feed
//! ([`pushproof_mocks::Feed`]), tagged with their index, and the driver
//! takes every push from that one queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, StatusCode};
use pushproof_mocks::{Delivery, Feed, Gateways, Platform, Tagged};
use serde_json::{json, Value};

use crate::plane::remote::{body_bytes, header_pairs};

use super::http::{Client, Protocol};

/// Deliveries a feed holds before dropping the oldest.
const FEED_CAPACITY: usize = 200_000;
/// Longest long poll of a remote feed.
const POLL_WAIT: Duration = Duration::from_secs(1);
/// Devices per registration request to remote mocks.
const BATCH: u64 = 1000;

#[derive(Debug, thiserror::Error)]
#[error("mocks control API {url}: {problem}")]
pub struct PlaneError {
    pub url: String,
    pub problem: String,
}

/// The run's devices on the gateways.
#[derive(Clone)]
pub enum Plane {
    Local { gateways: Arc<Gateways>, feed: Feed },
    Remote(Arc<Remote>),
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Remote mocks: a feed of theirs, read over HTTP.
pub struct Remote {
    url: String,
    client: Client,
    feed: u64,
    timeout: Duration,
}

impl Plane {
    pub fn local(gateways: Arc<Gateways>) -> Plane {
        Plane::Local {
            gateways,
            feed: Feed::new(FEED_CAPACITY),
        }
    }

    /// Creates a feed on the mocks whose control API is at `url`.
    pub async fn remote(url: &str, timeout: Duration) -> Result<Plane, PlaneError> {
        let url = url
            .trim_end_matches('/')
            .trim_end_matches("/__pushproof")
            .to_owned();
        let client = Client::connect(&url, Protocol::Http1, 1, timeout).await;
        let mut remote = Remote {
            url,
            client,
            feed: 0,
            timeout,
        };
        let answer = remote
            .call(
                Method::POST,
                "/feeds",
                Some(json!({ "capacity": FEED_CAPACITY })),
                StatusCode::CREATED,
            )
            .await?;
        remote.feed = answer["feed"]
            .as_u64()
            .ok_or_else(|| remote.error("POST /feeds answered without a feed id"))?;
        Ok(Plane::Remote(Arc::new(remote)))
    }

    /// The same gateways as a conformance run's plane, with a feed of
    /// their own for this run's devices.
    pub async fn of(
        plane: &crate::plane::MockPlane,
        timeout: Duration,
    ) -> Result<Plane, PlaneError> {
        match plane {
            crate::plane::MockPlane::Local(gateways) => Ok(Plane::local(gateways.clone())),
            crate::plane::MockPlane::Remote(remote) => Plane::remote(remote.url(), timeout).await,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Plane::Local { .. } => "in-process".to_owned(),
            Plane::Remote(r) => r.url.clone(),
        }
    }

    /// Registers devices `first_tag..first_tag + count` on `platform`;
    /// their handles in order.
    pub async fn register(
        &self,
        platform: Platform,
        first_tag: u64,
        count: u64,
    ) -> Result<Vec<String>, PlaneError> {
        match self {
            Plane::Local { gateways, feed } => Ok((first_tag..first_tag + count)
                .map(|tag| gateways.register_feed_device(platform, feed, tag).handle)
                .collect()),
            Plane::Remote(remote) => {
                let mut handles = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
                let mut tag = first_tag;
                while tag < first_tag + count {
                    let n = BATCH.min(first_tag + count - tag);
                    let answer = remote
                        .call(
                            Method::POST,
                            &format!("/feeds/{}/devices", remote.feed),
                            Some(json!({ "platform": platform, "count": n, "first_tag": tag })),
                            StatusCode::CREATED,
                        )
                        .await?;
                    let page = answer["handles"]
                        .as_array()
                        .ok_or_else(|| remote.error("registration answered without handles"))?;
                    if page.len() as u64 != n {
                        return Err(
                            remote.error("registration answered the wrong number of handles")
                        );
                    }
                    handles.extend(page.iter().filter_map(|h| h.as_str().map(str::to_owned)));
                    tag += n;
                }
                Ok(handles)
            }
        }
    }

    /// Pushes put on the feed and dropped from it, so far.
    pub async fn feed_counters(&self) -> Result<(u64, u64), PlaneError> {
        match self {
            Plane::Local { feed, .. } => Ok((feed.pushed(), feed.dropped())),
            Plane::Remote(remote) => {
                let answer = remote
                    .call(
                        Method::GET,
                        &format!("/feeds/{}?limit=0", remote.feed),
                        None,
                        StatusCode::OK,
                    )
                    .await?;
                Ok((
                    answer["pushed"].as_u64().unwrap_or(0),
                    answer["dropped"].as_u64().unwrap_or(0),
                ))
            }
        }
    }

    /// The gateways' verdict counters (JSON, as the control API gives).
    pub async fn counters(&self) -> Option<Value> {
        match self {
            Plane::Local { gateways, .. } => serde_json::to_value(gateways.counters()).ok(),
            Plane::Remote(remote) => remote
                .call(Method::GET, "/counters", None, StatusCode::OK)
                .await
                .ok(),
        }
    }

    /// CPU microseconds of a remote mocks process (`None` in-process: its
    /// threads are measured with the harness's, by name).
    pub async fn remote_cpu_us(&self) -> Option<u64> {
        match self {
            Plane::Local { .. } => None,
            Plane::Remote(remote) => remote
                .call(Method::GET, "/process", None, StatusCode::OK)
                .await
                .ok()?["cpu_us"]
                .as_u64(),
        }
    }

    /// Deletes a remote feed (its devices stay registered, pushing into
    /// nothing).
    pub async fn close(&self) {
        if let Plane::Remote(remote) = self {
            let _ = remote
                .call(
                    Method::DELETE,
                    &format!("/feeds/{}", remote.feed),
                    None,
                    StatusCode::OK,
                )
                .await;
        }
    }
}

impl Remote {
    fn error(&self, problem: impl Into<String>) -> PlaneError {
        PlaneError {
            url: self.url.clone(),
            problem: problem.into(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<Value, PlaneError> {
        let (headers, body) = match body {
            Some(body) => (
                vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                Bytes::from(body.to_string()),
            ),
            None => (Vec::new(), Bytes::new()),
        };
        let wait = self.timeout + POLL_WAIT;
        let (status, answer) = self
            .client
            .call_with(
                method.clone(),
                &format!("/__pushproof{path}"),
                &headers,
                body,
                wait,
            )
            .await
            .map_err(|e| self.error(format!("{method} {path}: {e}")))?;
        if status != expected {
            return Err(self.error(format!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(300)])
            )));
        }
        serde_json::from_slice(&answer)
            .map_err(|_| self.error(format!("{method} {path} did not answer JSON")))
    }

    /// Waits up to about a second for deliveries and takes up to `limit`,
    /// with the instant each was accepted at the gateway. Empty on time-out.
    /// (An in-process feed is read directly: [`Feed::take`].)
    pub async fn take(&self, limit: usize) -> Result<Vec<Tagged>, PlaneError> {
        let path = format!(
            "/feeds/{}?wait={}&limit={limit}",
            self.feed,
            POLL_WAIT.as_secs_f64()
        );
        let answer = self.call(Method::GET, &path, None, StatusCode::OK).await?;
        let now = Instant::now();
        let deliveries = answer["deliveries"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        deliveries
            .iter()
            .map(|d| {
                let platform: Platform = serde_json::from_value(d["platform"].clone())
                    .map_err(|_| self.error("a delivery without a platform"))?;
                let age = Duration::from_micros(d["age_us"].as_u64().unwrap_or(0));
                Ok(Tagged {
                    tag: d["tag"]
                        .as_u64()
                        .ok_or_else(|| self.error("a delivery without a tag"))?,
                    delivery: Delivery {
                        platform,
                        headers: header_pairs(&d["headers"]),
                        body: body_bytes(&d["body"], &d["encoding"])
                            .ok_or_else(|| self.error("a delivery body is not valid base64"))?,
                        received_at: now.checked_sub(age).unwrap_or(now),
                    },
                })
            })
            .collect()
    }
}
