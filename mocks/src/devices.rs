//! Simulated devices as the gateways know them: the handles the mocks issue
//! (APNs device tokens, FCM registration tokens, WNS channel URIs) and each
//! device's bounded inbox of accepted pushes.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use rand::RngCore as _;
use tokio::sync::Notify;

use crate::packed::Packed;

pub(crate) mod feed;

use crate::platform::Platform;
use feed::Feed;

/// A device as addressed by a backend: the platform and the handle the
/// gateway issued for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeviceHandle {
    /// The gateway that issued the handle.
    pub platform: Platform,
    /// APNs: 64 lowercase hex characters; FCM: a registration token;
    /// WNS: the full channel URI `{wns_url}/?token=<url-encoded opaque>`.
    pub handle: String,
}

/// A push as the app on the device would see it.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The gateway that accepted it.
    pub platform: Platform,
    /// APNs: the `apns-*` request headers; FCM: none; WNS: `content-type`
    /// and `x-wns-type`. Lowercase names.
    pub headers: Vec<(String, String)>,
    /// APNs: the JSON payload; FCM: the JSON of the `message` object as
    /// sent; WNS: the request body.
    pub body: Bytes,
    /// When the gateway accepted it.
    pub received_at: Instant,
}

impl Delivery {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A delivery as an inbox holds it: the headers packed in one buffer
/// ([`Packed`]), turned into text pairs only when the device side reads the
/// inbox, so the gateway's request path makes two allocations rather than
/// two per header.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) platform: Platform,
    pub(crate) headers: Packed,
    pub(crate) body: Bytes,
    pub(crate) received_at: Instant,
}

impl Pending {
    pub(crate) fn into_delivery(self) -> Delivery {
        Delivery {
            platform: self.platform,
            headers: self.headers.header_pairs(),
            body: self.body,
            received_at: self.received_at,
        }
    }
}

struct InboxInner {
    queue: Mutex<VecDeque<Pending>>,
    notify: Notify,
    capacity: usize,
    dropped: AtomicU64,
    /// A device registered on a feed: its deliveries go there, tagged.
    feed: Option<(Feed, u64)>,
}

/// A device's inbox: bounded, the oldest delivery is dropped (and counted)
/// when full. Cheap to clone; all clones share one queue.
#[derive(Clone)]
pub struct Inbox {
    inner: Arc<InboxInner>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("len", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Inbox {
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> Inbox {
        Inbox::with_feed(capacity, None)
    }

    fn with_feed(capacity: usize, feed: Option<(Feed, u64)>) -> Inbox {
        Inbox {
            inner: Arc::new(InboxInner {
                queue: Mutex::new(VecDeque::new()),
                notify: Notify::new(),
                capacity: capacity.max(1),
                dropped: AtomicU64::new(0),
                feed,
            }),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        // Every mutation is one push/pop: a poisoned queue is still consistent.
        self.inner.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, delivery: Pending) {
        if let Some((feed, tag)) = &self.inner.feed {
            feed.push(*tag, delivery);
            return;
        }
        let dropped = {
            let mut queue = self.queue();
            let dropped = if queue.len() >= self.inner.capacity {
                queue.pop_front()
            } else {
                None
            };
            queue.push_back(delivery);
            dropped
        };
        if dropped.is_some() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.notify.notify_one();
    }

    /// Waits for the next delivery.
    pub async fn recv(&self) -> Delivery {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register interest before looking, so a push between the look
            // and the wait is not missed.
            notified.as_mut().enable();
            if let Some(delivery) = self.try_recv() {
                return delivery;
            }
            notified.await;
        }
    }

    /// The next delivery, if one is waiting.
    pub fn try_recv(&self) -> Option<Delivery> {
        // Converted after the lock is released.
        let pending = self.queue().pop_front();
        pending.map(Pending::into_delivery)
    }

    /// Deliveries waiting.
    pub fn len(&self) -> usize {
        self.queue().len()
    }

    /// Whether no delivery is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deliveries dropped because the inbox was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Takes up to `limit` waiting deliveries, oldest first.
    pub(crate) fn take(&self, limit: usize) -> Vec<Delivery> {
        let taken: Vec<Pending> = {
            let mut queue = self.queue();
            let n = limit.min(queue.len());
            queue.drain(..n).collect()
        };
        taken.into_iter().map(Pending::into_delivery).collect()
    }

    /// Forgets every waiting delivery.
    fn clear(&self) {
        let old = std::mem::take(&mut *self.queue());
        drop(old);
    }
}

/// The devices each gateway knows, keyed by the string the gateway sees in
/// a request: the lowercase hex token (APNs), the registration token (FCM),
/// the decoded opaque channel token (WNS).
pub(crate) struct Devices {
    inbox_capacity: usize,
    registries: [RwLock<HashMap<String, Inbox>>; 3],
}

impl Devices {
    pub(crate) fn new(inbox_capacity: usize) -> Devices {
        Devices {
            inbox_capacity,
            registries: Default::default(),
        }
    }

    fn registry(&self, platform: Platform) -> &RwLock<HashMap<String, Inbox>> {
        &self.registries[platform.index()]
    }

    /// Issues a fresh key for `platform` and registers its inbox.
    pub(crate) fn register(&self, platform: Platform) -> String {
        self.register_inbox(platform, None)
    }

    /// Issues a fresh key for `platform` whose deliveries go to `feed`
    /// with `tag`.
    pub(crate) fn register_on_feed(&self, platform: Platform, feed: &Feed, tag: u64) -> String {
        self.register_inbox(platform, Some((feed.clone(), tag)))
    }

    fn register_inbox(&self, platform: Platform, feed: Option<(Feed, u64)>) -> String {
        let mut map = self
            .registry(platform)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            let key = new_key(platform);
            if !map.contains_key(&key) {
                map.insert(key.clone(), Inbox::with_feed(self.inbox_capacity, feed));
                return key;
            }
        }
    }

    /// The inbox of a registered device.
    pub(crate) fn lookup(&self, platform: Platform, key: &str) -> Option<Inbox> {
        self.registry(platform)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Forgets a device: later pushes to it are rejected as unknown.
    pub(crate) fn unregister(&self, platform: Platform, key: &str) -> bool {
        self.registry(platform)
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .is_some()
    }

    /// Empties every inbox; the devices stay registered.
    pub(crate) fn clear_inboxes(&self) {
        for platform in Platform::ALL {
            // Clone the inboxes out so no registry lock is held while each
            // inbox's own lock is taken.
            let inboxes: Vec<Inbox> = self
                .registry(platform)
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned()
                .collect();
            for inbox in inboxes {
                inbox.clear();
            }
        }
    }
}

/// The registry key of a handle as a backend holds it: the lowercase APNs
/// token, the FCM registration token, or the opaque token in a WNS channel
/// URI's query. `None` for a WNS handle without one.
pub(crate) fn device_key(platform: Platform, handle: &str) -> Option<String> {
    match platform {
        Platform::Apns => Some(handle.to_ascii_lowercase()),
        Platform::Fcm => Some(handle.to_owned()),
        Platform::Wns => {
            let (_, query) = handle.split_once('?')?;
            wns_token_from_query(query).map(Cow::into_owned)
        }
    }
}

/// A new random device key in the platform's usual shape.
fn new_key(platform: Platform) -> String {
    let mut rng = rand::thread_rng();
    match platform {
        // 32 random bytes as 64 lowercase hex characters, like an iOS token.
        Platform::Apns => {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            hex::encode(bytes)
        }
        // "<22-char instance id>:APA91b<134 base64url chars>", the shape of
        // a real registration token (~163 characters).
        Platform::Fcm => {
            let mut id = [0u8; 17];
            rng.fill_bytes(&mut id);
            let mut tail = [0u8; 101];
            rng.fill_bytes(&mut tail);
            let mut id = URL_SAFE_NO_PAD.encode(id);
            id.truncate(22);
            let mut tail = URL_SAFE_NO_PAD.encode(tail);
            tail.truncate(134);
            format!("{id}:APA91b{tail}")
        }
        // Standard base64 like WNS's opaque tokens, so that '+', '/' and
        // '=' test that backends keep the channel URI's encoding intact.
        Platform::Wns => {
            let mut bytes = [0u8; 96];
            rng.fill_bytes(&mut bytes);
            let mut key = String::from("AwYAAAD");
            key.push_str(&STANDARD.encode(bytes));
            key
        }
    }
}

/// The channel URI of a WNS opaque token.
pub(crate) fn wns_channel_uri(wns_url: &str, opaque: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(opaque.as_bytes()).collect();
    format!("{wns_url}/?token={encoded}")
}

/// The opaque token of a WNS channel URI's query (`token=<url-encoded>`),
/// decoded as `application/x-www-form-urlencoded` (the first `token`
/// parameter wins). Only that one parameter is decoded, and only when it
/// needs to be: a token without `%` or `+` is borrowed from the query.
pub(crate) fn wns_token_from_query(query: &str) -> Option<Cow<'_, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let plain = |s: &str| !s.contains(['%', '+']);
        if plain(key) {
            if key != "token" {
                return None;
            }
            if plain(value) {
                return Some(Cow::Borrowed(value));
            }
            // The usual case for a real channel: a base64 token with `%2B`,
            // `%2F`, `%3D`. Decoded in one pass into one buffer.
            return Some(Cow::Owned(form_decode(value)));
        }
        // An encoded name or value: the form decoder, on this pair alone.
        form_urlencoded::parse(pair.as_bytes())
            .next()
            .filter(|(k, _)| k == "token")
            .map(|(_, v)| Cow::Owned(v.into_owned()))
    })
}

/// An `application/x-www-form-urlencoded` value decoded: `+` is a space,
/// `%XX` a byte, a `%` without two hex digits itself; bytes that are not
/// UTF-8 become U+FFFD, as the form decoder does.
fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&h| char::from(h).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits: at most 0xFF.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn form_values_decode_as_the_form_decoder_does() {
        for value in [
            "AwYAAAD%2bB%2fc%3d",
            "a+b",
            "%",
            "%4",
            "%zz1",
            "%41%42",
            "%FF%fe",
            "%C3%A9t%C3%A9",
            "100%25",
        ] {
            let expected: String = form_urlencoded::parse(format!("k={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap();
            assert_eq!(form_decode(value), expected, "{value}");
        }
    }

    fn delivery(n: u8) -> Pending {
        Pending {
            platform: Platform::Wns,
            headers: Packed::default(),
            body: Bytes::from(vec![n]),
            received_at: Instant::now(),
        }
    }

    #[test]
    fn inbox_drops_oldest_when_full_and_counts() {
        let inbox = Inbox::new(2);
        for n in 0..3 {
            inbox.push(delivery(n));
        }
        assert_eq!(inbox.len(), 2);
        assert_eq!(inbox.dropped(), 1);
        assert_eq!(inbox.try_recv().unwrap().body.as_ref(), &[1]);
    }

    #[tokio::test]
    async fn recv_wakes_on_a_later_push() {
        let inbox = Inbox::new(4);
        let waiter = tokio::spawn({
            let inbox = inbox.clone();
            async move { inbox.recv().await }
        });
        tokio::task::yield_now().await;
        inbox.push(delivery(7));
        assert_eq!(waiter.await.unwrap().body.as_ref(), &[7]);
    }

    #[test]
    fn apns_keys_are_64_lowercase_hex() {
        let key = new_key(Platform::Apns);
        assert_eq!(key.len(), 64);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn fcm_keys_look_like_registration_tokens() {
        let key = new_key(Platform::Fcm);
        let (id, rest) = key.split_once(':').unwrap();
        assert_eq!(id.len(), 22);
        assert!(rest.starts_with("APA91b"));
        assert_eq!(rest.len(), 140);
    }

    #[test]
    fn wns_channel_uri_round_trips_the_opaque_token() {
        let key = new_key(Platform::Wns);
        let uri = wns_channel_uri("http://127.0.0.1:1", &key);
        let query = uri.split_once('?').unwrap().1;
        assert_eq!(wns_token_from_query(query).unwrap(), key);
        assert!(matches!(
            wns_token_from_query("a=1&token=abc&token=x"),
            Some(Cow::Borrowed("abc"))
        ));
        assert_eq!(wns_token_from_query("%74oken=a%2Bb+c").unwrap(), "a+b c");
        assert_eq!(wns_token_from_query("token").unwrap(), "");
        assert!(wns_token_from_query("tokens=1&").is_none());
        assert!(!query.contains('+'), "'+' must be percent-encoded");
    }

    #[test]
    fn registry_registers_looks_up_and_forgets() {
        let devices = Devices::new(4);
        let key = devices.register(Platform::Fcm);
        assert!(devices.lookup(Platform::Fcm, &key).is_some());
        assert!(devices.lookup(Platform::Apns, &key).is_none());
        assert!(devices.unregister(Platform::Fcm, &key));
        assert!(devices.lookup(Platform::Fcm, &key).is_none());
    }
}
