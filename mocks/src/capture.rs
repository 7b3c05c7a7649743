//! The capture store: every request a gateway receives (pushes and token
//! requests), with the verdict it got, kept in a bounded ring so that a long
//! benchmark cannot exhaust memory. The harness's leak scanner reads it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use bytes::Bytes;
use http::request::Parts;

use crate::platform::Platform;

/// What kind of request a capture records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaptureKind {
    /// A push (or an attempt at one) addressed to a device.
    Push,
    /// A request to an OAuth token endpoint (FCM or WNS).
    Token,
}

/// One request as the gateway saw it, and the verdict it got.
#[derive(Clone, Debug)]
pub struct Capture {
    /// Position in the stream of all captures, from 0, without gaps.
    pub seq: u64,
    /// The gateway that received it.
    pub platform: Platform,
    /// Push or token request.
    pub kind: CaptureKind,
    /// When the request was answered.
    pub at: SystemTime,
    /// The HTTP method.
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Request headers in arrival order, lowercase names; values that are
    /// not UTF-8 are decoded lossily.
    pub headers: Vec<(String, String)>,
    /// The request body (at most the read limit).
    pub body: Bytes,
    /// The HTTP status answered.
    pub status: u16,
    /// The platform's reason for a rejection (APNs reason, FCM error code,
    /// WNS error description, OAuth error), `None` on success.
    pub reason: Option<String>,
    /// The device handle the request was addressed to, if any.
    pub device: Option<String>,
}

impl Capture {
    /// Builds a capture from a request's parts; `seq` is assigned by the store.
    pub(crate) fn from_request(
        platform: Platform,
        kind: CaptureKind,
        parts: &Parts,
        body: Bytes,
        status: u16,
        reason: Option<String>,
        device: Option<String>,
    ) -> Capture {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = match value.to_str() {
                    Ok(v) => v.to_owned(),
                    Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                };
                (name.as_str().to_owned(), value)
            })
            .collect();
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
        Capture {
            seq: 0,
            platform,
            kind,
            at: SystemTime::now(),
            method: parts.method.as_str().to_owned(),
            path,
            headers,
            body,
            status,
            reason,
            device,
        }
    }

    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Counters of the capture store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Requests captured since start.
    pub total: u64,
    /// Captures currently kept.
    pub kept: usize,
    /// Captures evicted because the store was full.
    pub evicted: u64,
}

struct Ring {
    buf: VecDeque<Capture>,
    next_seq: u64,
    evicted: u64,
}

/// A bounded ring of captures: the oldest is evicted (and counted) when full.
pub(crate) struct CaptureStore {
    capacity: usize,
    ring: Mutex<Ring>,
}

impl CaptureStore {
    pub(crate) fn new(capacity: usize) -> CaptureStore {
        CaptureStore {
            capacity,
            ring: Mutex::new(Ring {
                // Grow on demand: a 500k-entry preallocation would cost
                // memory for runs that capture little.
                buf: VecDeque::with_capacity(capacity.min(1024)),
                next_seq: 0,
                evicted: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding this lock cannot leave the ring inconsistent
        // (every mutation is a single push/pop), so poisoning is ignored.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a capture and returns its sequence number.
    pub(crate) fn record(&self, mut capture: Capture) -> u64 {
        let (seq, evicted) = {
            let mut ring = self.lock();
            let seq = ring.next_seq;
            ring.next_seq += 1;
            capture.seq = seq;
            if self.capacity == 0 {
                ring.evicted += 1;
                (seq, Some(capture))
            } else {
                let evicted = if ring.buf.len() >= self.capacity {
                    ring.evicted += 1;
                    ring.buf.pop_front()
                } else {
                    None
                };
                ring.buf.push_back(capture);
                (seq, evicted)
            }
        };
        // Free the evicted capture outside the lock.
        drop(evicted);
        seq
    }

    /// A snapshot of the captures kept, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Capture> {
        self.lock().buf.iter().cloned().collect()
    }

    /// The captures kept whose `seq` is at least `from`, oldest first.
    pub(crate) fn since(&self, from: u64) -> Vec<Capture> {
        let ring = self.lock();
        let first = ring.buf.front().map_or(ring.next_seq, |c| c.seq);
        let skip = usize::try_from(from.saturating_sub(first)).unwrap_or(usize::MAX);
        ring.buf.iter().skip(skip).cloned().collect()
    }

    pub(crate) fn stats(&self) -> CaptureStats {
        let ring = self.lock();
        CaptureStats {
            total: ring.next_seq,
            kept: ring.buf.len(),
            evicted: ring.evicted,
        }
    }

    pub(crate) fn clear(&self) {
        let old = std::mem::take(&mut self.lock().buf);
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn capture(n: u8) -> Capture {
        let (parts, ()) = http::Request::builder()
            .method("POST")
            .uri("/3/device/ab?x=1")
            .header("apns-topic", "t")
            .body(())
            .unwrap()
            .into_parts();
        Capture::from_request(
            Platform::Apns,
            CaptureKind::Push,
            &parts,
            Bytes::from(vec![n]),
            200,
            None,
            None,
        )
    }

    #[test]
    fn store_evicts_oldest_beyond_capacity_and_counts() {
        let store = CaptureStore::new(2);
        for n in 0..5 {
            store.record(capture(n));
        }
        let kept = store.snapshot();
        assert_eq!(kept.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(kept[1].body.as_ref(), &[4]);
        assert_eq!(
            store.stats(),
            CaptureStats {
                total: 5,
                kept: 2,
                evicted: 3
            }
        );
    }

    #[test]
    fn since_returns_only_newer_captures() {
        let store = CaptureStore::new(10);
        for n in 0..4 {
            store.record(capture(n));
        }
        assert_eq!(store.since(2).len(), 2);
        assert_eq!(store.since(0).len(), 4);
        assert!(store.since(9).is_empty());
    }

    #[test]
    fn capture_keeps_path_query_and_lowercase_headers() {
        let c = capture(1);
        assert_eq!(c.path, "/3/device/ab?x=1");
        assert_eq!(c.header("apns-topic"), Some("t"));
        assert_eq!(c.method, "POST");
    }

    #[test]
    fn zero_capacity_keeps_nothing_but_counts() {
        let store = CaptureStore::new(0);
        store.record(capture(1));
        assert_eq!(store.stats().total, 1);
        assert_eq!(store.stats().kept, 0);
    }
}
