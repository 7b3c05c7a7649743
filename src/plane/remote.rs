//! A mock plane over HTTP: the control API (`/__pushproof/…`) of a
//! `pushproof mocks` running elsewhere. Inboxes are long-polled by one
//! background task per device into a local queue, so waiting on an inbox
//! can be cancelled without losing a delivery; captures are read a page at
//! a time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use pushproof_mocks::{
    Capture, CaptureKind, CaptureStats, Delivery, DeviceHandle, FaultRule, Platform,
};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::PlaneError;
use crate::client::{BackendClient, Exchange};

/// Longest single inbox long-poll; the control API caps it at 60 s.
const POLL_WAIT: Duration = Duration::from_secs(20);
/// Captures per page (the control API's maximum).
const PAGE: usize = 1000;

/// The control API of remote mocks.
pub struct Remote {
    url: String,
    client: BackendClient,
    /// For long polls, which outlast an ordinary request's deadline.
    poller: BackendClient,
}

impl Remote {
    pub(super) async fn connect(url: &str, timeout: Duration) -> Result<Remote, PlaneError> {
        let url = url
            .trim_end_matches('/')
            .trim_end_matches("/__pushproof")
            .to_owned();
        let remote = Remote {
            client: BackendClient::new(&url, timeout),
            poller: BackendClient::new(&url, POLL_WAIT + timeout),
            url,
        };
        remote.get("/counters").await?;
        Ok(remote)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(&self, problem: impl Into<String>) -> PlaneError {
        PlaneError::Control {
            url: self.url.clone(),
            problem: problem.into(),
        }
    }

    fn answer(&self, exchange: Exchange, expected: &[u16]) -> Result<Value, PlaneError> {
        match &exchange.outcome {
            Ok(reply) if expected.contains(&reply.status.as_u16()) => reply
                .json()
                .ok_or_else(|| self.error(format!("{} did not answer JSON", exchange.url))),
            _ => Err(self.error(exchange.describe())),
        }
    }

    async fn call(
        &self,
        client: &BackendClient,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: &[u16],
    ) -> Result<Value, PlaneError> {
        let mut headers = Vec::new();
        let body = match body {
            Some(body) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let exchange = client
            .raw(method, &format!("/__pushproof{path}"), headers, body)
            .await;
        self.answer(exchange, expected)
    }

    async fn get(&self, path: &str) -> Result<Value, PlaneError> {
        self.call(&self.client, Method::GET, path, None, &[200])
            .await
    }

    pub(super) async fn register_device(
        &self,
        platform: Platform,
    ) -> Result<DeviceHandle, PlaneError> {
        let answer = self
            .call(
                &self.client,
                Method::POST,
                "/devices",
                Some(json!({ "platform": platform })),
                &[201],
            )
            .await?;
        let handle = answer["handle"]
            .as_str()
            .ok_or_else(|| self.error("POST /devices answered without a handle"))?;
        Ok(DeviceHandle {
            platform,
            handle: handle.to_owned(),
        })
    }

    pub(super) async fn unregister_device(
        &self,
        device: &DeviceHandle,
    ) -> Result<bool, PlaneError> {
        let path = format!(
            "/devices/{}?platform={}",
            encode(&device.handle),
            device.platform
        );
        match self
            .call(&self.client, Method::DELETE, &path, None, &[200])
            .await
        {
            Ok(_) => Ok(true),
            Err(_) => Ok(false),
        }
    }

    /// Takes up to a page of deliveries, waiting up to `wait` for one.
    async fn poll_inbox(
        &self,
        device: &DeviceHandle,
        wait: Duration,
    ) -> Result<Vec<Delivery>, PlaneError> {
        let path = format!(
            "/devices/{}/inbox?wait={}&limit=100&platform={}",
            encode(&device.handle),
            wait.as_secs_f64(),
            device.platform
        );
        let answer = self
            .call(&self.poller, Method::GET, &path, None, &[200])
            .await?;
        let now = Instant::now();
        let deliveries = answer["deliveries"].as_array().cloned().unwrap_or_default();
        deliveries
            .iter()
            .map(|d| {
                let age = Duration::from_millis(d["age_ms"].as_u64().unwrap_or(0));
                Ok(Delivery {
                    platform: device.platform,
                    headers: header_pairs(&d["headers"]),
                    body: body_bytes(&d["body"], &d["encoding"])
                        .ok_or_else(|| self.error("a delivery body is not valid base64"))?,
                    received_at: now.checked_sub(age).unwrap_or(now),
                })
            })
            .collect()
    }

    pub(super) async fn captures_after(
        &self,
        after: Option<u64>,
    ) -> Result<Vec<Capture>, PlaneError> {
        let mut captures = Vec::new();
        let mut cursor = after;
        loop {
            let path = match cursor {
                Some(seq) => format!("/captures?after={seq}&limit={PAGE}"),
                None => format!("/captures?limit={PAGE}"),
            };
            let page = self.get(&path).await?;
            for c in page["captures"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                captures.push(self.capture(c)?);
            }
            let next = page["next"].as_u64();
            if !page["more"].as_bool().unwrap_or(false) || next.is_none() || next == cursor {
                return Ok(captures);
            }
            cursor = next;
        }
    }

    fn capture(&self, c: &Value) -> Result<Capture, PlaneError> {
        let bad = |what: &str| self.error(format!("a capture has no valid {what}"));
        let platform: Platform =
            serde_json::from_value(c["platform"].clone()).map_err(|_| bad("platform"))?;
        let kind = match c["kind"].as_str() {
            Some("push") => CaptureKind::Push,
            Some("token") => CaptureKind::Token,
            Some("hub") => CaptureKind::Hub,
            _ => return Err(bad("kind")),
        };
        Ok(Capture {
            seq: c["seq"].as_u64().ok_or_else(|| bad("seq"))?,
            platform,
            kind,
            at: UNIX_EPOCH + Duration::from_millis(c["at_unix_ms"].as_u64().unwrap_or(0)),
            method: c["method"].as_str().unwrap_or_default().to_owned(),
            path: c["path"].as_str().unwrap_or_default().to_owned(),
            headers: header_pairs(&c["headers"]),
            body: body_bytes(&c["body"], &c["encoding"]).ok_or_else(|| bad("body"))?,
            status: u16::try_from(c["status"].as_u64().unwrap_or(0)).unwrap_or(0),
            reason: c["reason"].as_str().map(str::to_owned),
            device: c["device"].as_str().map(str::to_owned),
        })
    }

    pub(super) async fn capture_stats(&self) -> Result<CaptureStats, PlaneError> {
        let counters = self.counters().await?;
        let c = &counters["captures"];
        Ok(CaptureStats {
            total: c["total"].as_u64().unwrap_or(0),
            kept: usize::try_from(c["kept"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX),
            evicted: c["evicted"].as_u64().unwrap_or(0),
            file_written: c["file_written"].as_u64().unwrap_or(0),
            file_dropped: c["file_dropped"].as_u64().unwrap_or(0),
        })
    }

    pub(super) async fn counters(&self) -> Result<Value, PlaneError> {
        self.get("/counters").await
    }

    pub(super) async fn set_fault(&self, rule: &FaultRule) -> Result<u64, PlaneError> {
        let body = serde_json::to_value(rule).map_err(|e| PlaneError::Fault(e.to_string()))?;
        let answer = self
            .call(&self.client, Method::POST, "/faults", Some(body), &[201])
            .await?;
        answer["ids"][0]
            .as_u64()
            .ok_or_else(|| self.error("POST /faults answered without an id"))
    }

    pub(super) async fn remove_fault(&self, id: u64) -> Result<(), PlaneError> {
        self.call(
            &self.client,
            Method::DELETE,
            &format!("/faults/{id}"),
            None,
            &[200],
        )
        .await
        .map(|_| ())
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(crate) fn header_pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn body_bytes(body: &Value, encoding: &Value) -> Option<Bytes> {
    let text = body.as_str().unwrap_or_default();
    match encoding.as_str() {
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .map(Bytes::from),
        _ => Some(Bytes::copy_from_slice(text.as_bytes())),
    }
}

/// A remote device's inbox: a background task long-polls the control API
/// into a local queue until the inbox is dropped.
pub struct RemoteInbox {
    shared: Arc<Queue>,
    task: tokio::task::JoinHandle<()>,
}

struct Queue {
    deliveries: Mutex<VecDeque<Delivery>>,
    notify: Notify,
    /// Set when the control API stopped answering for good.
    closed: std::sync::atomic::AtomicBool,
}

impl RemoteInbox {
    pub(super) fn spawn(remote: Arc<Remote>, device: DeviceHandle) -> RemoteInbox {
        let shared = Arc::new(Queue {
            deliveries: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        let queue = shared.clone();
        let task = tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                match remote.poll_inbox(&device, POLL_WAIT).await {
                    Ok(deliveries) => {
                        failures = 0;
                        if !deliveries.is_empty() {
                            queue
                                .deliveries
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .extend(deliveries);
                            queue.notify.notify_waiters();
                        }
                    }
                    Err(error) => {
                        failures += 1;
                        tracing::warn!(%error, handle = %device.handle, failures, "inbox poll failed");
                        if failures >= 5 {
                            queue
                                .closed
                                .store(true, std::sync::atomic::Ordering::SeqCst);
                            queue.notify.notify_waiters();
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
                    }
                }
            }
        });
        RemoteInbox { shared, task }
    }

    pub(super) fn try_recv(&self) -> Option<Delivery> {
        self.shared
            .deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    pub(super) async fn recv(&self) -> Option<Delivery> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(delivery) = self.try_recv() {
                return Some(delivery);
            }
            if self.shared.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            notified.await;
        }
    }
}

impl Drop for RemoteInbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}
