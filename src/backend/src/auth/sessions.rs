//! The in-memory session cache in front of the `sessions` table.
//!
//! Every authenticated request needs its session: reading it from SQLite
//! costs a hop to a reader thread and back, twice per notification (the
//! sender's send, the device's fetch). Sessions are tiny and read far more
//! often than written, so they are kept here, keyed by the token's SHA-256
//! (never the token), after a login or a first read from the table.
//!
//! The table stays the truth. What the cache must never do is accept a
//! token the table no longer holds:
//! - **expiry**: an entry carries its expiry and is checked against the
//!   backend's [`Clock`](super::Clock) on every hit, exactly as a table read
//!   is;
//! - **logout**: [`SessionCache::revoke`] removes the entry once the
//!   table's delete has committed. A request that missed the cache may have
//!   read the session from the table *before* that commit and be about to
//!   cache it; to keep it from bringing a revoked session back, every
//!   revocation bumps an epoch, and a read-through insert only lands if no
//!   revocation happened since its read began ([`SessionCache::epoch`]).
//!   Such a racing request itself is served: it was concurrent with the
//!   logout.
//! - **account disable**: the sessions the table's delete revoked are
//!   removed the same way ([`SessionCache::revoke_all`]), one epoch bump
//!   for all of them.
//!
//! The cache is bounded; when full it first drops expired entries, then
//! starts over empty (every miss reads the table again, so that is only a
//! cost, never a change of answer).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The SHA-256 of a token: the key of a session, in memory and (as hex) in
/// the table.
pub(crate) type SessionKey = [u8; 32];

/// Sessions kept at most (about 100 bytes each).
const CAPACITY: usize = 256 * 1024;

/// A cached session: whose it is and until when (ms since the epoch).
#[derive(Debug, Clone)]
pub(crate) struct CachedSession {
    pub username: Arc<str>,
    pub expires_at: i64,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<SessionKey, CachedSession>,
    /// Bumped by every revocation; see the module documentation.
    epoch: u64,
}

/// Sessions by token hash, bounded; cheap to share behind an `Arc`.
pub(crate) struct SessionCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache::with_capacity(CAPACITY)
    }
}

impl SessionCache {
    pub(crate) fn with_capacity(capacity: usize) -> SessionCache {
        SessionCache {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated
        // in a way that matters (each operation is one insert or remove),
        // so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session of `key` if it is cached and unexpired at `now_ms`. An
    /// expired entry is dropped.
    pub(crate) fn get(&self, key: &SessionKey, now_ms: i64) -> Option<CachedSession> {
        let mut inner = self.lock();
        let session = inner.sessions.get(key)?;
        if now_ms >= session.expires_at {
            inner.sessions.remove(key);
            return None;
        }
        Some(session.clone())
    }

    /// The current revocation epoch: read it before reading a session from
    /// the table, and hand it to [`insert_read`](Self::insert_read).
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Caches a session just created by a login (no revocation can concern
    /// a token nobody has seen yet).
    pub(crate) fn insert_new(&self, key: SessionKey, session: CachedSession, now_ms: i64) {
        let mut inner = self.lock();
        self.make_room(&mut inner, now_ms);
        inner.sessions.insert(key, session);
    }

    /// Caches a session read from the table, unless a revocation happened
    /// since `epoch` was read (it might have been this one).
    pub(crate) fn insert_read(
        &self,
        epoch: u64,
        key: SessionKey,
        session: CachedSession,
        now_ms: i64,
    ) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        self.make_room(&mut inner, now_ms);
        inner.sessions.insert(key, session);
    }

    /// Forgets a session whose row has been deleted.
    pub(crate) fn revoke(&self, key: &SessionKey) {
        let mut inner = self.lock();
        inner.sessions.remove(key);
        inner.epoch = inner.epoch.wrapping_add(1);
    }

    /// Forgets every session in `keys` (rows deleted together, as when an
    /// account is disabled); one epoch bump for all of them.
    pub(crate) fn revoke_all(&self, keys: &[SessionKey]) {
        if keys.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for key in keys {
            inner.sessions.remove(key);
        }
        inner.epoch = inner.epoch.wrapping_add(1);
    }

    fn make_room(&self, inner: &mut Inner, now_ms: i64) {
        if inner.sessions.len() < self.capacity {
            return;
        }
        inner.sessions.retain(|_, s| now_ms < s.expires_at);
        if inner.sessions.len() >= self.capacity {
            inner.sessions.clear();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().sessions.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn session(name: &str, expires_at: i64) -> CachedSession {
        CachedSession {
            username: name.into(),
            expires_at,
        }
    }

    #[test]
    fn hits_until_expiry_then_forgets() {
        let cache = SessionCache::default();
        cache.insert_new([1; 32], session("alice", 1_000), 0);
        assert_eq!(&*cache.get(&[1; 32], 999).unwrap().username, "alice");
        assert!(cache.get(&[1; 32], 1_000).is_none());
        assert_eq!(cache.len(), 0, "the expired entry is dropped");
        assert!(cache.get(&[2; 32], 0).is_none());
    }

    #[test]
    fn a_read_racing_a_revocation_is_not_cached() {
        let cache = SessionCache::default();
        // A request misses, notes the epoch and reads the table...
        let epoch = cache.epoch();
        // ...while the logout commits and revokes...
        cache.revoke(&[1; 32]);
        // ...then the request tries to cache what it read: refused.
        cache.insert_read(epoch, [1; 32], session("alice", i64::MAX), 0);
        assert!(cache.get(&[1; 32], 0).is_none());

        // Without a revocation in between, the read is cached.
        let epoch = cache.epoch();
        cache.insert_read(epoch, [1; 32], session("alice", i64::MAX), 0);
        assert!(cache.get(&[1; 32], 0).is_some());
        cache.revoke(&[1; 32]);
        assert!(cache.get(&[1; 32], 0).is_none());
    }

    #[test]
    fn revoking_an_account_forgets_its_sessions_and_bumps_the_epoch() {
        let cache = SessionCache::default();
        cache.insert_new([1; 32], session("alice", i64::MAX), 0);
        cache.insert_new([2; 32], session("alice", i64::MAX), 0);
        cache.insert_new([3; 32], session("bob", i64::MAX), 0);
        let epoch = cache.epoch();
        cache.revoke_all(&[[1; 32], [2; 32]]);
        assert!(cache.get(&[1; 32], 0).is_none());
        assert!(cache.get(&[2; 32], 0).is_none());
        assert!(cache.get(&[3; 32], 0).is_some());
        cache.insert_read(epoch, [1; 32], session("alice", i64::MAX), 0);
        assert!(cache.get(&[1; 32], 0).is_none(), "a racing read stays out");
        let epoch = cache.epoch();
        cache.revoke_all(&[]);
        assert_eq!(cache.epoch(), epoch, "nothing revoked, nothing bumped");
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first() {
        let cache = SessionCache::with_capacity(2);
        cache.insert_new([1; 32], session("old", 10), 0);
        cache.insert_new([2; 32], session("live", 100), 0);
        cache.insert_new([3; 32], session("new", 100), 50);
        assert!(cache.get(&[1; 32], 50).is_none());
        assert!(cache.get(&[2; 32], 50).is_some());
        assert!(cache.get(&[3; 32], 50).is_some());
        // Full of live sessions: starts over rather than grow.
        cache.insert_new([4; 32], session("newer", 100), 50);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&[4; 32], 50).is_some());
    }
}
