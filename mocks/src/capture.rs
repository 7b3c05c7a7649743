//! The capture store: every request a gateway receives (pushes and token
//! requests), with the verdict it got, kept in a bounded ring (by count and
//! by bytes) so that a long benchmark cannot exhaust memory; per-platform
//! counters of verdicts; paged reads for the control API; and optional
//! streaming of every capture to a JSON-lines file ([`file`]). The
//! harness's leak scanner reads it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use std::borrow::Cow;

use bytes::Bytes;
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Method, Uri};
use serde::Serialize;

use crate::packed::Packed;
use crate::platform::Platform;

pub(crate) mod file;
mod json;

pub(crate) use json::{body_text, CaptureJson};

/// Most bytes (bodies, paths, headers) the ring keeps: at the default
/// 500,000 captures of small pushes this never binds, but a peer sending
/// 64 KiB bodies must not make the mock hold 30 GB.
const KEPT_BYTES_LIMIT: usize = 256 * 1024 * 1024;
/// Bookkeeping per capture counted against the byte limit.
const CAPTURE_OVERHEAD: usize = 160;

/// What kind of request a capture records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureKind {
    /// A push (or an attempt at one) addressed to a device.
    Push,
    /// A request to an OAuth token endpoint (FCM or WNS).
    Token,
    /// A request to the mock Notification Hub (a registration, an
    /// installation or a send), filed under the platform it concerns; one
    /// that concerns none (a registration id, a template send) under
    /// [`Platform::Apns`], the first. Counted apart, in
    /// [`Counters::hub`], not as a gateway's push.
    Hub,
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
    /// The request body (at most the read limit), in a buffer of its own.
    pub body: Bytes,
    /// The HTTP status answered; 0 when a drop fault closed the connection
    /// without an answer.
    pub status: u16,
    /// The platform's reason for a rejection (APNs reason, FCM error code,
    /// WNS error description, OAuth error), `None` on success.
    pub reason: Option<String>,
    /// The device handle the request was addressed to, if any.
    pub device: Option<String>,
}

impl Capture {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the gateway accepted it (a 2xx answer).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A capture as the store keeps it: the method, the path and headers packed
/// in one buffer ([`Packed`]: dropping an evicted capture frees a few blocks
/// rather than two per header), the body as read, and the weight computed
/// once. The public [`Capture`] is built from it only
/// when someone reads the store.
#[derive(Debug)]
pub(crate) struct Stored {
    seq: u64,
    platform: Platform,
    kind: CaptureKind,
    at: SystemTime,
    method: Method,
    /// The path and query, then the headers.
    text: Packed,
    body: Bytes,
    status: u16,
    reason: Option<String>,
    device: Option<DeviceRef>,
    /// Approximate memory held, for the store's byte limit.
    weight: usize,
}

impl Stored {
    /// Builds a capture from a request's parts; `seq` is assigned by the
    /// store. `body` must be a buffer of its own, as
    /// [`crate::server::read_body`] returns: the capture may outlive the
    /// request by hours and must not keep a larger read buffer alive.
    pub(crate) fn new(
        platform: Platform,
        kind: CaptureKind,
        parts: Parts,
        body: Bytes,
        status: u16,
        reason: Option<String>,
        device: Option<DeviceRef>,
    ) -> Stored {
        let headers = &parts.headers;
        let text = Packed::new(path_of(&parts.uri), || {
            headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
        });
        let weight =
            CAPTURE_OVERHEAD + body.len() + text.len() + device.as_ref().map_or(0, DeviceRef::len);
        Stored {
            seq: 0,
            platform,
            kind,
            at: SystemTime::now(),
            method: parts.method,
            text,
            body,
            status,
            reason,
            device,
            weight,
        }
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn platform(&self) -> Platform {
        self.platform
    }

    pub(crate) fn kind(&self) -> CaptureKind {
        self.kind
    }

    pub(crate) fn at(&self) -> SystemTime {
        self.at
    }

    pub(crate) fn method(&self) -> &str {
        self.method.as_str()
    }

    /// Path and query, as sent.
    pub(crate) fn path(&self) -> Cow<'_, str> {
        self.text.prefix()
    }

    /// Headers in arrival order; values that are not UTF-8 are decoded
    /// lossily.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
        self.text.headers()
    }

    pub(crate) fn body(&self) -> &Bytes {
        &self.body
    }

    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    pub(crate) fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The device handle as captures show it.
    pub(crate) fn device(&self) -> Option<Cow<'_, str>> {
        Some(match self.device.as_ref()? {
            DeviceRef::Handle(handle) => Cow::Borrowed(handle.as_str()),
            DeviceRef::InPath { start, end } => match self.text.prefix() {
                Cow::Borrowed(p) => Cow::Borrowed(p.get(*start..*end).unwrap_or_default()),
                Cow::Owned(p) => Cow::Owned(p.get(*start..*end).unwrap_or_default().to_owned()),
            },
            DeviceRef::InBody { start, end } => {
                String::from_utf8_lossy(self.body.get(*start..*end).unwrap_or_default())
            }
            DeviceRef::WnsChannel { base, token } => {
                Cow::Owned(crate::devices::wns_channel_uri(base, token))
            }
        })
    }

    /// Whether the capture names `handle`: APNs tokens compared
    /// case-insensitively (so does APNs), WNS channels without building
    /// their URI.
    fn names_device(&self, handle: &str) -> bool {
        match &self.device {
            None => false,
            Some(DeviceRef::WnsChannel { base, token }) => channel_uri_eq(base, token, handle),
            Some(_) if self.platform == Platform::Apns => self
                .device()
                .is_some_and(|d| d.eq_ignore_ascii_case(handle)),
            Some(_) => self.device().is_some_and(|d| d == handle),
        }
    }

    pub(crate) fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The public form, with headers as text.
    pub(crate) fn to_capture(&self) -> Capture {
        Capture {
            seq: self.seq,
            platform: self.platform,
            kind: self.kind,
            at: self.at,
            method: self.method.as_str().to_owned(),
            path: self.path().into_owned(),
            headers: self.text.header_pairs(),
            body: self.body.clone(),
            status: self.status,
            reason: self.reason.clone(),
            device: self.device().map(Cow::into_owned),
        }
    }
}

/// Path and query of a request URI, as sent.
fn path_of(uri: &Uri) -> &str {
    uri.path_and_query()
        .map_or_else(|| uri.path(), PathAndQuery::as_str)
}

/// The device a capture names, in the form the gateway already had: WNS
/// channel URIs are built (the token re-encoded) only when a capture is
/// read, not on every push.
#[derive(Clone, Debug)]
pub(crate) enum DeviceRef {
    /// The handle as text (APNs token as sent, FCM registration token).
    Handle(String),
    /// `path[start..end]` of the capture's own request path (an APNs
    /// token), which the capture keeps anyway: no copy per push.
    InPath { start: usize, end: usize },
    /// `body[start..end]` of the capture's own body (an FCM token).
    InBody { start: usize, end: usize },
    /// A WNS channel, `{base}/?token=<token, form-encoded>`.
    WnsChannel {
        /// Origin of the issued channel URIs, shared by every capture.
        base: Arc<str>,
        /// The decoded opaque token.
        token: String,
    },
}

/// What separates a WNS origin from the encoded token in a channel URI.
const WNS_TOKEN_QUERY: &str = "/?token=";

/// Whether `text` is the channel URI `{base}/?token=<token, form-encoded>`,
/// without building it.
fn channel_uri_eq(base: &str, token: &str, text: &str) -> bool {
    let Some(mut rest) = text
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix(WNS_TOKEN_QUERY))
    else {
        return false;
    };
    for chunk in form_urlencoded::byte_serialize(token.as_bytes()) {
        match rest.strip_prefix(chunk) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

impl DeviceRef {
    /// Approximate bytes held.
    fn len(&self) -> usize {
        match self {
            DeviceRef::Handle(handle) => handle.len(),
            DeviceRef::InPath { .. } | DeviceRef::InBody { .. } => 0,
            DeviceRef::WnsChannel { token, .. } => token.len(),
        }
    }

    /// `handle` as a range of `body` when it is a slice of it (a token
    /// read without copying from the request body), else a copy.
    pub(crate) fn in_body(body: &[u8], handle: &str) -> DeviceRef {
        let offset = (handle.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
        if offset <= body.len() && handle.len() <= body.len() - offset {
            DeviceRef::InBody {
                start: offset,
                end: offset + handle.len(),
            }
        } else {
            DeviceRef::Handle(handle.to_owned())
        }
    }
}

impl From<String> for DeviceRef {
    fn from(handle: String) -> DeviceRef {
        DeviceRef::Handle(handle)
    }
}

/// Counters of the capture store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// Requests captured since start or the last reset (`seq` goes on
    /// across a reset, so cursors stay valid).
    pub total: u64,
    /// Captures currently kept.
    pub kept: usize,
    /// Captures evicted because the store was full.
    pub evicted: u64,
    /// Lines written to the capture file.
    pub file_written: u64,
    /// Captures not written to the capture file because the writer fell
    /// behind or the disk failed.
    pub file_dropped: u64,
}

/// What one gateway answered, since start or the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlatformCounters {
    /// Pushes answered 2xx.
    pub accepted: u64,
    /// Pushes not accepted, by status (0: dropped by a fault).
    pub rejected: BTreeMap<u16, u64>,
    /// Requests to the platform's OAuth token endpoint.
    pub token_requests: u64,
    /// Access tokens granted (FCM, WNS); for APNs, whose provider tokens
    /// the client mints, the provider tokens verified (once per token per
    /// connection). A backend that takes a new token per push shows here.
    pub tokens_issued: u64,
    /// Captures of this gateway kept.
    pub captures_kept: u64,
    /// Captures of this gateway evicted.
    pub captures_evicted: u64,
}

/// Counters of every gateway and of the capture store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Mock APNs.
    pub apns: PlatformCounters,
    /// Mock FCM.
    pub fcm: PlatformCounters,
    /// Mock WNS.
    pub wns: PlatformCounters,
    /// The mock Notification Hub: its requests answered 2xx (`accepted`)
    /// and not (`rejected`).
    pub hub: PlatformCounters,
    /// The capture store as a whole.
    pub captures: CaptureStats,
}

/// Which captures a page holds.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub(crate) platform: Option<Platform>,
    pub(crate) kind: Option<CaptureKind>,
    pub(crate) accepted: Option<bool>,
    pub(crate) device: Option<String>,
}

impl Filter {
    fn matches(&self, c: &Stored) -> bool {
        self.platform.is_none_or(|p| p == c.platform)
            && self.kind.is_none_or(|k| k == c.kind)
            && self.accepted.is_none_or(|a| a == c.accepted())
            && self.device.as_deref().is_none_or(|d| c.names_device(d))
    }
}

/// One page of captures, oldest first.
pub(crate) struct Page {
    pub(crate) captures: Vec<Arc<Stored>>,
    /// The last `seq` looked at: the `after` of the next page.
    pub(crate) next: Option<u64>,
    /// Whether captures after `next` are kept.
    pub(crate) more: bool,
}

struct Ring {
    buf: VecDeque<Arc<Stored>>,
    next_seq: u64,
    /// `next_seq` at the last reset: `total` counts from there.
    reset_at: u64,
    evicted: u64,
    bytes: usize,
    /// One per gateway, then the hub's ([`slot`]).
    counters: [PlatformCounters; 4],
}

/// The counters a capture counts in: its gateway's, or the hub's.
fn slot(c: &Stored) -> usize {
    match c.kind {
        CaptureKind::Hub => 3,
        CaptureKind::Push | CaptureKind::Token => c.platform.index(),
    }
}

/// A bounded ring of captures: the oldest is evicted (and counted) when
/// full, by count or by bytes.
pub(crate) struct CaptureStore {
    capacity: usize,
    ring: Mutex<Ring>,
    file: Option<file::CaptureFile>,
}

impl CaptureStore {
    pub(crate) fn new(capacity: usize, file: Option<file::CaptureFile>) -> CaptureStore {
        CaptureStore {
            capacity,
            ring: Mutex::new(Ring {
                // Grow on demand: a 500k-entry preallocation would cost
                // memory for runs that capture little.
                buf: VecDeque::with_capacity(capacity.min(1024)),
                next_seq: 0,
                reset_at: 0,
                evicted: 0,
                bytes: 0,
                counters: Default::default(),
            }),
            file,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding this lock cannot leave the ring unusable
        // (every mutation is a push, a pop or a counter), so poisoning is
        // ignored.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a capture and returns its sequence number.
    pub(crate) fn record(&self, capture: Stored) -> u64 {
        let mut capture = Arc::new(capture);
        let weight = capture.weight;
        // Evictions are freed outside the lock; almost always there is at
        // most one (by count), so no Vec is made for the common case.
        let mut evicted_one = None;
        let mut evicted_more = Vec::new();
        let seq = {
            let mut ring = self.lock();
            let seq = ring.next_seq;
            ring.next_seq += 1;
            if let Some(c) = Arc::get_mut(&mut capture) {
                c.seq = seq;
            }
            let counters = &mut ring.counters[slot(&capture)];
            match capture.kind {
                CaptureKind::Token => {
                    counters.token_requests += 1;
                    if capture.accepted() {
                        counters.tokens_issued += 1;
                    }
                }
                CaptureKind::Push | CaptureKind::Hub if capture.accepted() => {
                    counters.accepted += 1
                }
                CaptureKind::Push | CaptureKind::Hub => {
                    *counters.rejected.entry(capture.status).or_default() += 1
                }
            }
            // Sent under the lock so the file's lines are in `seq` order;
            // `send` never waits.
            if let Some(file) = &self.file {
                file.send(&capture, weight);
            }
            ring.bytes += weight;
            ring.counters[slot(&capture)].captures_kept += 1;
            ring.buf.push_back(capture);
            while ring.buf.len() > self.capacity || ring.bytes > KEPT_BYTES_LIMIT {
                let Some(old) = ring.buf.pop_front() else {
                    break;
                };
                ring.bytes -= old.weight;
                ring.evicted += 1;
                let counters = &mut ring.counters[slot(&old)];
                counters.captures_kept -= 1;
                counters.captures_evicted += 1;
                if evicted_one.is_none() {
                    evicted_one = Some(old);
                } else {
                    evicted_more.push(old);
                }
            }
            seq
        };
        drop(evicted_one);
        drop(evicted_more);
        seq
    }

    /// A snapshot of the captures kept, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Capture> {
        self.since(0)
    }

    /// The captures kept whose `seq` is at least `from`, oldest first.
    pub(crate) fn since(&self, from: u64) -> Vec<Capture> {
        // Only the Arcs are cloned under the lock; the text forms are
        // built after it is released, so readers do not stall pushes.
        let kept: Vec<Arc<Stored>> = {
            let ring = self.lock();
            ring.buf.iter().skip(ring.index_of(from)).cloned().collect()
        };
        kept.iter().map(|c| c.to_capture()).collect()
    }

    /// Up to `limit` captures with `seq > after` that pass `filter`,
    /// looking at no more than `scan` captures and stopping once the page's
    /// bodies exceed `max_bytes`, so that one request holds the lock (and
    /// builds a response) of bounded size.
    pub(crate) fn page(
        &self,
        after: Option<u64>,
        filter: &Filter,
        limit: usize,
        scan: usize,
        max_bytes: usize,
    ) -> Page {
        let ring = self.lock();
        let start = ring.index_of(after.map_or(0, |a| a.saturating_add(1)));
        let mut page = Page {
            captures: Vec::new(),
            next: after,
            more: false,
        };
        let mut bytes = 0;
        for (looked, c) in ring.buf.iter().skip(start).enumerate() {
            if looked >= scan || page.captures.len() >= limit || bytes >= max_bytes {
                page.more = true;
                break;
            }
            page.next = Some(c.seq);
            if filter.matches(c) {
                bytes += c.body.len();
                page.captures.push(c.clone());
            }
        }
        page
    }

    pub(crate) fn stats(&self) -> CaptureStats {
        let (total, kept, evicted) = {
            let ring = self.lock();
            (ring.next_seq - ring.reset_at, ring.buf.len(), ring.evicted)
        };
        let (file_written, file_dropped) = self
            .file
            .as_ref()
            .map_or((0, 0), |f| (f.written(), f.dropped()));
        CaptureStats {
            total,
            kept,
            evicted,
            file_written,
            file_dropped,
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        let [apns, fcm, wns, hub] = self.lock().counters.clone();
        Counters {
            apns,
            fcm,
            wns,
            hub,
            captures: self.stats(),
        }
    }

    /// Drops the captures kept (counters are kept).
    pub(crate) fn clear(&self) {
        let old = {
            let mut ring = self.lock();
            ring.bytes = 0;
            for counters in &mut ring.counters {
                counters.captures_kept = 0;
            }
            std::mem::take(&mut ring.buf)
        };
        drop(old);
    }

    /// Drops the captures kept and zeroes the verdict counters; `seq` goes
    /// on from where it was, so cursors stay valid.
    pub(crate) fn reset(&self) {
        self.clear();
        let mut ring = self.lock();
        ring.evicted = 0;
        ring.reset_at = ring.next_seq;
        ring.counters = Default::default();
    }

    /// Waits until every capture recorded so far is in the capture file.
    pub(crate) async fn flush_file(&self) {
        if let Some(file) = &self.file {
            file.flush().await;
        }
    }
}

impl Ring {
    /// The index in `buf` of the first capture whose `seq` is at least
    /// `seq`: kept captures have consecutive `seq`s.
    fn index_of(&self, seq: u64) -> usize {
        let first = self.buf.front().map_or(self.next_seq, |c| c.seq);
        usize::try_from(seq.saturating_sub(first)).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn capture_with(platform: Platform, status: u16, body: &[u8]) -> Stored {
        let (parts, ()) = http::Request::builder()
            .method("POST")
            .uri("/3/device/ab?x=1")
            .header("apns-topic", "t")
            .body(())
            .unwrap()
            .into_parts();
        Stored::new(
            platform,
            CaptureKind::Push,
            parts,
            Bytes::copy_from_slice(body),
            status,
            None,
            Some(DeviceRef::Handle("AB".into())),
        )
    }

    fn capture(n: u8) -> Stored {
        capture_with(Platform::Apns, 200, &[n])
    }

    #[test]
    fn store_evicts_oldest_beyond_capacity_and_counts() {
        let store = CaptureStore::new(2, None);
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
                evicted: 3,
                ..CaptureStats::default()
            }
        );
        let apns = store.counters().apns;
        assert_eq!((apns.captures_kept, apns.captures_evicted), (2, 3));
    }

    #[test]
    fn store_evicts_by_bytes_too() {
        let store = CaptureStore::new(usize::MAX, None);
        let big = vec![7u8; 1024 * 1024];
        for _ in 0..300 {
            store.record(capture_with(Platform::Wns, 200, &big));
        }
        let stats = store.stats();
        assert!(stats.kept < 300 && stats.kept > 200, "{stats:?}");
        assert_eq!(stats.evicted, 300 - stats.kept as u64);
    }

    #[test]
    fn a_handle_inside_the_body_is_kept_as_a_range() {
        let body = b"{\"token\":\"abc\"}";
        let token = std::str::from_utf8(&body[10..13]).unwrap();
        assert!(matches!(
            DeviceRef::in_body(body, token),
            DeviceRef::InBody { start: 10, end: 13 }
        ));
        let elsewhere = String::from("abc");
        assert!(matches!(
            DeviceRef::in_body(body, &elsewhere),
            DeviceRef::Handle(h) if h == "abc"
        ));
    }

    #[test]
    fn the_public_form_has_text_headers_path_and_device() {
        let store = CaptureStore::new(10, None);
        store.record(capture(1));
        let c = &store.snapshot()[0];
        assert_eq!(
            (c.method.as_str(), c.path.as_str()),
            ("POST", "/3/device/ab?x=1")
        );
        assert_eq!(c.headers, [("apns-topic".to_owned(), "t".to_owned())]);
        assert_eq!(c.header("apns-topic"), Some("t"));
        assert_eq!(c.device.as_deref(), Some("AB"));
        assert_eq!(c.body.as_ref(), &[1]);
    }

    #[test]
    fn wns_channels_are_built_only_when_read_and_filter_without_building() {
        let store = CaptureStore::new(10, None);
        let (parts, ()) = http::Request::post("/?token=a%2Bb")
            .body(())
            .unwrap()
            .into_parts();
        let device = DeviceRef::WnsChannel {
            base: Arc::from("http://127.0.0.1:1"),
            token: "a+b".into(),
        };
        store.record(Stored::new(
            Platform::Wns,
            CaptureKind::Push,
            parts,
            Bytes::new(),
            200,
            None,
            Some(device),
        ));
        let uri = "http://127.0.0.1:1/?token=a%2Bb";
        assert_eq!(store.snapshot()[0].device.as_deref(), Some(uri));
        let filter = |d: &str| Filter {
            device: Some(d.into()),
            ..Filter::default()
        };
        let found = |d: &str| {
            store
                .page(None, &filter(d), 10, 10, usize::MAX)
                .captures
                .len()
        };
        assert_eq!(found(uri), 1);
        assert_eq!(found("http://127.0.0.1:1/?token=a%2B"), 0);
        assert_eq!(found("http://127.0.0.1:1/?token=a%2Bbc"), 0);
        assert_eq!(found("http://127.0.0.1:2/?token=a%2Bb"), 0);
    }

    #[test]
    fn since_returns_only_newer_captures() {
        let store = CaptureStore::new(10, None);
        for n in 0..4 {
            store.record(capture(n));
        }
        assert_eq!(store.since(2).len(), 2);
        assert_eq!(store.since(0).len(), 4);
        assert!(store.since(9).is_empty());
    }

    #[test]
    fn counters_split_verdicts_by_platform_and_status() {
        let store = CaptureStore::new(10, None);
        store.record(capture_with(Platform::Fcm, 200, b""));
        store.record(capture_with(Platform::Fcm, 429, b""));
        store.record(capture_with(Platform::Fcm, 429, b""));
        store.record(capture_with(Platform::Wns, 0, b""));
        let counters = store.counters();
        assert_eq!(counters.fcm.accepted, 1);
        assert_eq!(counters.fcm.rejected.get(&429), Some(&2));
        assert_eq!(counters.wns.rejected.get(&0), Some(&1));
        store.reset();
        assert_eq!(store.counters().fcm, PlatformCounters::default());
        assert_eq!(store.stats().total, 0, "total counts from the reset");
        assert_eq!(store.record(capture(0)), 4, "seq goes on after a reset");
        assert_eq!(store.stats().total, 1);
    }

    #[test]
    fn pages_filter_and_resume_after_the_last_seq_seen() {
        let store = CaptureStore::new(100, None);
        for n in 0..10u8 {
            let platform = if n % 2 == 0 {
                Platform::Apns
            } else {
                Platform::Fcm
            };
            store.record(capture_with(platform, 200, &[n]));
        }
        let filter = Filter {
            platform: Some(Platform::Fcm),
            ..Filter::default()
        };
        let first = store.page(None, &filter, 3, 1000, usize::MAX);
        let seqs: Vec<u64> = first.captures.iter().map(|c| c.seq).collect();
        assert_eq!(
            (seqs, first.next, first.more),
            (vec![1, 3, 5], Some(5), true)
        );
        let second = store.page(first.next, &filter, 3, 1000, usize::MAX);
        let seqs: Vec<u64> = second.captures.iter().map(|c| c.seq).collect();
        assert_eq!(
            (seqs, second.next, second.more),
            (vec![7, 9], Some(9), false)
        );
        let scan_bound = store.page(None, &filter, 100, 4, usize::MAX);
        assert_eq!((scan_bound.captures.len(), scan_bound.next), (2, Some(3)));
        let device = Filter {
            device: Some("ab".into()),
            ..Filter::default()
        };
        assert_eq!(
            store
                .page(None, &device, 100, 100, usize::MAX)
                .captures
                .len(),
            5
        );
    }

    #[test]
    fn zero_capacity_keeps_nothing_but_counts() {
        let store = CaptureStore::new(0, None);
        store.record(capture(1));
        assert_eq!(store.stats().total, 1);
        assert_eq!(store.stats().kept, 0);
    }
}
