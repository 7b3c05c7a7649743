//! Delivery feeds: one queue for the pushes of many devices, for a load
//! generator that simulates thousands of them.
//!
//! A device registered on a [`Feed`] (with [`crate::Gateways::register_feed_device`]
//! or `POST /__pushproof/feeds/{id}/devices`) has its accepted pushes put
//! on the feed, tagged with the number its owner gave it, instead of in an
//! inbox of its own. The owner then waits on one queue rather than on one
//! inbox per device: a hundred thousand devices cost a hundred thousand
//! registry entries, not a hundred thousand waiting tasks or long polls.
//!
//! A feed is bounded like an inbox: when full, the oldest delivery is
//! dropped and counted, so a reader that falls behind loses pushes it can
//! account for instead of exhausting the gateways' memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::{Delivery, Pending};

/// A delivery with the tag of the device it was for.
#[derive(Clone, Debug)]
pub struct Tagged {
    /// The number the feed's owner gave the device at registration.
    pub tag: u64,
    pub delivery: Delivery,
}

struct FeedInner {
    queue: Mutex<VecDeque<(u64, Pending)>>,
    notify: Notify,
    capacity: usize,
    /// Deliveries put on the feed since it was created.
    pushed: AtomicU64,
    /// Deliveries dropped because the feed was full.
    dropped: AtomicU64,
}

/// A bounded queue of tagged deliveries; cheap to clone, all clones share
/// one queue.
#[derive(Clone)]
pub struct Feed {
    inner: Arc<FeedInner>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("len", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("pushed", &self.pushed())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Feed {
    /// A feed that holds at most `capacity` deliveries not yet taken.
    pub fn new(capacity: usize) -> Feed {
        Feed {
            inner: Arc::new(FeedInner {
                queue: Mutex::new(VecDeque::new()),
                notify: Notify::new(),
                capacity: capacity.max(1),
                pushed: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Pending)>> {
        // Every mutation is one push or drain: a poisoned queue is consistent.
        self.inner.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, tag: u64, delivery: Pending) {
        let dropped = {
            let mut queue = self.queue();
            let dropped = if queue.len() >= self.inner.capacity {
                queue.pop_front()
            } else {
                None
            };
            queue.push_back((tag, delivery));
            dropped
        };
        self.inner.pushed.fetch_add(1, Ordering::Relaxed);
        if dropped.is_some() {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.notify.notify_one();
    }

    /// Takes up to `limit` waiting deliveries, oldest first, without
    /// waiting.
    pub fn try_take(&self, limit: usize) -> Vec<Tagged> {
        let taken: Vec<(u64, Pending)> = {
            let mut queue = self.queue();
            let n = limit.min(queue.len());
            queue.drain(..n).collect()
        };
        taken
            .into_iter()
            .map(|(tag, pending)| Tagged {
                tag,
                delivery: pending.into_delivery(),
            })
            .collect()
    }

    /// Waits until at least one delivery is waiting, then takes up to
    /// `limit`. Cancel-safe: nothing is taken until it is returned.
    pub async fn take(&self, limit: usize) -> Vec<Tagged> {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Interest first, then look: a push in between is not missed.
            notified.as_mut().enable();
            let taken = self.try_take(limit.max(1));
            if !taken.is_empty() {
                return taken;
            }
            notified.await;
        }
    }

    /// Deliveries waiting.
    pub fn len(&self) -> usize {
        self.queue().len()
    }

    /// Whether no delivery is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deliveries put on the feed since it was created.
    pub fn pushed(&self) -> u64 {
        self.inner.pushed.load(Ordering::Relaxed)
    }

    /// Deliveries dropped because the feed was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Forgets every waiting delivery (counters stay).
    pub(crate) fn clear(&self) {
        let old = std::mem::take(&mut *self.queue());
        drop(old);
    }
}

/// The feeds the control API created, by id.
#[derive(Default)]
pub(crate) struct Feeds {
    next: AtomicU64,
    feeds: Mutex<std::collections::HashMap<u64, Feed>>,
}

/// Most feeds at once over the control API, so a peer cannot grow the
/// table without bound.
pub(crate) const MAX_FEEDS: usize = 1024;

impl Feeds {
    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Feed>> {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new feed and its id, or `None` when [`MAX_FEEDS`] exist.
    pub(crate) fn create(&self, capacity: usize) -> Option<(u64, Feed)> {
        let mut map = self.map();
        if map.len() >= MAX_FEEDS {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let feed = Feed::new(capacity);
        map.insert(id, feed.clone());
        Some((id, feed))
    }

    pub(crate) fn get(&self, id: u64) -> Option<Feed> {
        self.map().get(&id).cloned()
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        self.map().remove(&id).is_some()
    }

    /// Empties every feed's queue.
    pub(crate) fn clear_all(&self) {
        let feeds: Vec<Feed> = self.map().values().cloned().collect();
        for feed in feeds {
            feed.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::packed::Packed;
    use crate::platform::Platform;
    use bytes::Bytes;
    use std::time::Instant;

    fn pending(n: u8) -> Pending {
        Pending {
            platform: Platform::Fcm,
            headers: Packed::default(),
            body: Bytes::from(vec![n]),
            received_at: Instant::now(),
        }
    }

    #[test]
    fn a_full_feed_drops_the_oldest_and_counts() {
        let feed = Feed::new(2);
        for n in 0..3 {
            feed.push(u64::from(n), pending(n));
        }
        assert_eq!((feed.pushed(), feed.dropped(), feed.len()), (3, 1, 2));
        let taken = feed.try_take(10);
        assert_eq!(taken.iter().map(|t| t.tag).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(taken[1].delivery.body.as_ref(), &[2]);
    }

    #[tokio::test]
    async fn take_wakes_on_a_later_push() {
        let feed = Feed::new(8);
        let waiter = tokio::spawn({
            let feed = feed.clone();
            async move { feed.take(4).await }
        });
        tokio::task::yield_now().await;
        feed.push(9, pending(7));
        let taken = waiter.await.unwrap();
        assert_eq!((taken.len(), taken[0].tag), (1, 9));
    }

    #[test]
    fn the_table_is_bounded() {
        let feeds = Feeds::default();
        let (id, _) = feeds.create(4).unwrap();
        assert!(feeds.get(id).is_some());
        for _ in 1..MAX_FEEDS {
            feeds.create(1).unwrap();
        }
        assert!(feeds.create(1).is_none());
        assert!(feeds.remove(id));
        assert!(feeds.create(1).is_some());
    }
}
