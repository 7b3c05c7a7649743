//! Recently stored notifications, kept in memory so that the fetch which
//! follows a push is answered without touching SQLite.
//!
//! In the secure-push pattern nearly every notification is fetched once,
//! within moments of being stored: the device fetches as soon as the push
//! lands. Serving that fetch from the table would cost a trip to the
//! writer thread (a fetch marks the notification read, so it is a write)
//! for data the backend had in its hands milliseconds earlier.
//!
//! So every notification is also put here once its row has committed, and
//! while it is here this entry is the truth about it:
//! - its recipient decides who may fetch it, exactly as the row would;
//! - its `read` flag answers `Read` and is flipped by the first fetch,
//!   under the lock, so two concurrent fetches cannot both see "unread";
//! - the flip is written behind ([`super::Marks`]): the `UPDATE` rides in
//!   the writer's next group commit, off the fetch's path.
//!
//! The cache is bounded by count and by payload bytes and evicts the
//! oldest first. A fetch of an evicted notification goes to the table (a
//! writer job, as before), and still sees its read mark: the mark's job was
//! queued to the writer before the entry could be evicted (the flip and
//! the queueing happen under this lock), and the writer runs jobs in order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Notifications kept at most: several seconds of traffic at 10 000/s.
const MAX_ENTRIES: usize = 100_000;
/// Payload bytes kept at most.
const MAX_BYTES: usize = 64 * 1024 * 1024;
/// What an entry costs beyond its payload, for the byte budget.
const ENTRY_OVERHEAD: usize = 128;

struct Entry {
    recipient: Arc<str>,
    payload: Arc<str>,
    read: bool,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<Arc<str>, Entry>,
    /// Ids in insertion order, oldest first, for eviction.
    order: VecDeque<Arc<str>>,
    bytes: usize,
}

/// What the cache knows about a fetch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Not here: ask the table.
    Miss,
    /// Here, and not the caller's: the same answer as an unknown id.
    NotYours,
    /// Here and the caller's. `was_read`: fetched before this fetch.
    Hit { payload: Arc<str>, was_read: bool },
}

/// The bounded map of recent notifications; share it behind an `Arc`.
pub(crate) struct Recent {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
}

impl Default for Recent {
    fn default() -> Self {
        Recent::with_limits(MAX_ENTRIES, MAX_BYTES)
    }
}

impl Recent {
    pub(crate) fn with_limits(max_entries: usize, max_bytes: usize) -> Recent {
        Recent {
            inner: Mutex::new(Inner::default()),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every operation leaves the map and the queue consistent before it
        // can panic, so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers a notification whose row has committed.
    pub(crate) fn insert(&self, id: Arc<str>, recipient: Arc<str>, payload: Arc<str>) {
        let cost = payload.len() + ENTRY_OVERHEAD;
        let mut inner = self.lock();
        let entry = Entry {
            recipient,
            payload,
            read: false,
        };
        if let Some(old) = inner.by_id.insert(Arc::clone(&id), entry) {
            // Ids are 128-bit random; a repeat can only be a caller's
            // mistake, and the committed row won, so the old entry goes.
            inner.bytes -= old.payload.len() + ENTRY_OVERHEAD;
            inner.order.retain(|queued| *queued != id);
        }
        inner.order.push_back(id);
        inner.bytes += cost;
        while inner.by_id.len() > self.max_entries || inner.bytes > self.max_bytes {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.by_id.remove(&oldest) {
                inner.bytes -= old.payload.len() + ENTRY_OVERHEAD;
            }
        }
    }

    /// Looks `id` up for `recipient` (`None`: anyone, the `no-authz`
    /// flaw). On the first hit the entry turns read, and `on_first_read`
    /// runs before the lock is let go (it queues the write-behind mark).
    pub(crate) fn fetch(
        &self,
        id: &str,
        recipient: Option<&str>,
        on_first_read: impl FnOnce(&Arc<str>),
    ) -> Lookup {
        let mut inner = self.lock();
        let (key, payload, was_read) = match inner.by_id.get_key_value(id) {
            None => return Lookup::Miss,
            Some((_, entry)) if recipient.is_some_and(|r| r != &*entry.recipient) => {
                return Lookup::NotYours;
            }
            Some((key, entry)) => (Arc::clone(key), Arc::clone(&entry.payload), entry.read),
        };
        if !was_read {
            on_first_read(&key);
            if let Some(entry) = inner.by_id.get_mut(id) {
                entry.read = true;
            }
        }
        Lookup::Hit { payload, was_read }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(payload: &str, was_read: bool) -> Lookup {
        Lookup::Hit {
            payload: payload.into(),
            was_read,
        }
    }

    #[test]
    fn first_fetch_is_unread_and_marks_once() {
        let recent = Recent::default();
        recent.insert("n1".into(), "alice".into(), "secret".into());
        let mut marks = Vec::new();
        let mut mark = |id: &Arc<str>| marks.push(id.to_string());
        assert_eq!(recent.fetch("n1", Some("bob"), &mut mark), Lookup::NotYours);
        assert_eq!(
            recent.fetch("n1", Some("alice"), &mut mark),
            hit("secret", false)
        );
        assert_eq!(recent.fetch("n1", None, &mut mark), hit("secret", true));
        assert_eq!(recent.fetch("n2", None, &mut mark), Lookup::Miss);
        assert_eq!(marks, ["n1"]);
    }

    #[test]
    fn oldest_go_first_by_count_and_by_bytes() {
        let recent = Recent::with_limits(2, usize::MAX);
        for id in ["a", "b", "c"] {
            recent.insert(id.into(), "u".into(), "m".into());
        }
        assert_eq!(recent.fetch("a", None, |_| {}), Lookup::Miss);
        assert_eq!(recent.len(), 2);

        let recent = Recent::with_limits(100, 2 * (ENTRY_OVERHEAD + 10));
        recent.insert("a".into(), "u".into(), "x".repeat(10).into());
        recent.insert("b".into(), "u".into(), "x".repeat(10).into());
        recent.insert("c".into(), "u".into(), "x".repeat(10).into());
        assert_eq!(recent.fetch("a", None, |_| {}), Lookup::Miss);
        assert!(matches!(
            recent.fetch("c", None, |_| {}),
            Lookup::Hit { .. }
        ));
        // A payload over the whole budget is not kept at all (and pushes
        // everything else out).
        recent.insert("big".into(), "u".into(), "x".repeat(1000).into());
        assert_eq!(recent.fetch("big", None, |_| {}), Lookup::Miss);
    }
}
