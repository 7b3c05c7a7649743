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
//! - its recipient decides who may fetch it, exactly as the row would
//!   (only content is served from here: the store sends a refusal on to
//!   the table, so that "not yours" costs what an unknown id costs and
//!   its timing tells nothing);
//! - its expiry too: an entry expired at the fetch's instant is never
//!   served (the flaw `no-payload-ttl` asks as of the beginning of time,
//!   for the table as for this cache);
//! - a deleted notification (the recipient's acknowledgement) leaves the
//!   cache once its row's delete has committed, before the delete is
//!   answered ([`Recent::remove`]);
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
    /// Ms since the epoch from which it is gone for everyone.
    expires_at: i64,
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
    /// Here, and not the caller's: the same answer as an unknown id (which
    /// the store gets from the table, at an unknown id's cost).
    NotYours,
    /// Here, and expired: gone for everyone (the row is too, or soon will
    /// be swept), so the entry is dropped.
    Expired,
    /// Here and the caller's. `was_read`: fetched before this fetch.
    Hit {
        id: Arc<str>,
        payload: Arc<str>,
        was_read: bool,
    },
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
    pub(crate) fn insert(
        &self,
        id: Arc<str>,
        recipient: Arc<str>,
        payload: Arc<str>,
        expires_at: i64,
    ) {
        let cost = payload.len() + ENTRY_OVERHEAD;
        let mut inner = self.lock();
        let entry = Entry {
            recipient,
            payload,
            expires_at,
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

    /// Looks `id` up at `now_ms` for a caller who may read it if
    /// `allowed(recipient)` (the recipient check, or a flaw's). On the
    /// first hit the entry turns read, and `on_first_read` runs before the
    /// lock is let go (it queues the write-behind mark).
    pub(crate) fn fetch(
        &self,
        id: &str,
        now_ms: i64,
        allowed: impl FnOnce(&str) -> bool,
        on_first_read: impl FnOnce(&Arc<str>),
    ) -> Lookup {
        let mut inner = self.lock();
        let (key, payload, was_read) = match inner.by_id.get_key_value(id) {
            None => return Lookup::Miss,
            Some((_, entry)) if now_ms >= entry.expires_at => {
                Self::remove_locked(&mut inner, id);
                return Lookup::Expired;
            }
            Some((_, entry)) if !allowed(&entry.recipient) => return Lookup::NotYours,
            Some((key, entry)) => (Arc::clone(key), Arc::clone(&entry.payload), entry.read),
        };
        if !was_read {
            on_first_read(&key);
            if let Some(entry) = inner.by_id.get_mut(id) {
                entry.read = true;
            }
        }
        Lookup::Hit {
            id: key,
            payload,
            was_read,
        }
    }

    /// Forgets a notification whose row has been deleted.
    pub(crate) fn remove(&self, id: &str) {
        Self::remove_locked(&mut self.lock(), id);
    }

    fn remove_locked(inner: &mut Inner, id: &str) {
        if let Some(old) = inner.by_id.remove(id) {
            inner.bytes -= old.payload.len() + ENTRY_OVERHEAD;
            // Rare (a delete or an expired fetch), so a scan is fine; the
            // newest are at the back, where deletes usually are.
            if let Some(at) = inner.order.iter().rposition(|queued| &**queued == id) {
                inner.order.remove(at);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, payload: &str, was_read: bool) -> Lookup {
        Lookup::Hit {
            id: id.into(),
            payload: payload.into(),
            was_read,
        }
    }

    fn anyone(_: &str) -> bool {
        true
    }

    fn insert(recent: &Recent, id: &str, payload: &str) {
        recent.insert(id.into(), "u".into(), payload.into(), i64::MAX);
    }

    #[test]
    fn first_fetch_is_unread_and_marks_once() {
        let recent = Recent::default();
        recent.insert("n1".into(), "alice".into(), "secret".into(), i64::MAX);
        let mut marks = Vec::new();
        let mut mark = |id: &Arc<str>| marks.push(id.to_string());
        assert_eq!(
            recent.fetch("n1", 0, |r| r == "bob", &mut mark),
            Lookup::NotYours
        );
        assert_eq!(
            recent.fetch("n1", 0, |r| r == "alice", &mut mark),
            hit("n1", "secret", false)
        );
        assert_eq!(
            recent.fetch("n1", 0, anyone, &mut mark),
            hit("n1", "secret", true)
        );
        assert_eq!(recent.fetch("n2", 0, anyone, &mut mark), Lookup::Miss);
        assert_eq!(marks, ["n1"]);
    }

    #[test]
    fn expired_and_removed_entries_are_never_served() {
        let recent = Recent::default();
        recent.insert("n1".into(), "alice".into(), "secret".into(), 1_000);
        recent.insert("n2".into(), "alice".into(), "other".into(), i64::MAX);
        // As of the beginning of time (`no-payload-ttl`) it has not expired.
        assert!(matches!(
            recent.fetch("n1", i64::MIN, anyone, |_| {}),
            Lookup::Hit { .. }
        ));
        assert!(matches!(
            recent.fetch("n1", 999, anyone, |_| {}),
            Lookup::Hit { .. }
        ));
        assert_eq!(recent.fetch("n1", 1_000, anyone, |_| {}), Lookup::Expired);
        assert_eq!(recent.fetch("n1", 0, anyone, |_| {}), Lookup::Miss);
        recent.remove("n2");
        assert_eq!(recent.fetch("n2", 0, anyone, |_| {}), Lookup::Miss);
        assert_eq!(recent.len(), 0);
        // The byte count went back with them: a full budget fits again.
        let recent = Recent::with_limits(100, ENTRY_OVERHEAD + 10);
        insert(&recent, "a", &"x".repeat(10));
        recent.remove("a");
        insert(&recent, "b", &"x".repeat(10));
        assert!(matches!(
            recent.fetch("b", 0, anyone, |_| {}),
            Lookup::Hit { .. }
        ));
    }

    #[test]
    fn oldest_go_first_by_count_and_by_bytes() {
        let recent = Recent::with_limits(2, usize::MAX);
        for id in ["a", "b", "c"] {
            insert(&recent, id, "m");
        }
        assert_eq!(recent.fetch("a", 0, anyone, |_| {}), Lookup::Miss);
        assert_eq!(recent.len(), 2);

        let recent = Recent::with_limits(100, 2 * (ENTRY_OVERHEAD + 10));
        for id in ["a", "b", "c"] {
            insert(&recent, id, &"x".repeat(10));
        }
        assert_eq!(recent.fetch("a", 0, anyone, |_| {}), Lookup::Miss);
        assert!(matches!(
            recent.fetch("c", 0, anyone, |_| {}),
            Lookup::Hit { .. }
        ));
        // A payload over the whole budget is not kept at all (and pushes
        // everything else out).
        insert(&recent, "big", &"x".repeat(1000));
        assert_eq!(recent.fetch("big", 0, anyone, |_| {}), Lookup::Miss);
    }
}
