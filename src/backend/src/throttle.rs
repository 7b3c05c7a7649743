//! The throttle on failed fetches: a user whose fetches keep missing (ids
//! that do not exist, or are someone else's) is scanning, not reading their
//! notifications. Past the configured number of failures within a window,
//! every fetch of that user is answered 429 with `Retry-After` until the
//! window ends.
//!
//! Counted per user, over all their sessions, so a fresh login does not
//! reset the count, and never by the id asked for, so no one can lock a
//! victim out by fetching the victim's ids. Fetches that succeed cost
//! nothing here: one atomic load says whether anyone is blocked at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use super::config::FetchThrottle;

/// Users tracked at most; past it, users whose window has ended are
/// forgotten first, then (under a flood of distinct users) all of them:
/// the throttle fails open rather than grow without bound.
const MAX_TRACKED: usize = 100_000;

/// One user's current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started_ms: i64,
    failures: u32,
}

/// Failed-fetch windows by user.
pub(crate) struct Throttle {
    limit: FetchThrottle,
    window_ms: i64,
    windows: Mutex<HashMap<String, Window>>,
    /// The latest moment until which anyone is blocked: before it the map
    /// must be asked, after it no one is blocked.
    blocked_until_ms: AtomicI64,
}

impl Throttle {
    pub(crate) fn new(limit: FetchThrottle) -> Throttle {
        Throttle {
            limit,
            window_ms: i64::try_from(limit.window.as_millis())
                .unwrap_or(i64::MAX)
                .max(1),
            windows: Mutex::new(HashMap::new()),
            blocked_until_ms: AtomicI64::new(i64::MIN),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // Every update leaves the map consistent, so a poisoned lock is
        // still usable.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Some(seconds)` to wait when `user` is blocked at `now_ms`.
    pub(crate) fn blocked(&self, user: &str, now_ms: i64) -> Option<u64> {
        if now_ms >= self.blocked_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let windows = self.lock();
        let window = windows.get(user)?;
        let ends = window.started_ms.saturating_add(self.window_ms);
        (window.failures > self.limit.failures && now_ms < ends).then(|| {
            // Whole seconds, rounded up: a client that waits that long
            // finds the window over.
            u64::try_from((ends - now_ms + 999) / 1000)
                .unwrap_or(1)
                .max(1)
        })
    }

    /// Counts a failed fetch of `user` at `now_ms`.
    pub(crate) fn failed(&self, user: &str, now_ms: i64) {
        let mut windows = self.lock();
        if windows.len() >= MAX_TRACKED && !windows.contains_key(user) {
            let window_ms = self.window_ms;
            windows.retain(|_, w| now_ms < w.started_ms.saturating_add(window_ms));
            if windows.len() >= MAX_TRACKED {
                windows.clear();
            }
        }
        let window = windows.entry(user.to_owned()).or_insert(Window {
            started_ms: now_ms,
            failures: 0,
        });
        if now_ms >= window.started_ms.saturating_add(self.window_ms) {
            *window = Window {
                started_ms: now_ms,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
        if window.failures > self.limit.failures {
            let ends = window.started_ms.saturating_add(self.window_ms);
            self.blocked_until_ms.fetch_max(ends, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn throttle() -> Throttle {
        Throttle::new(FetchThrottle {
            failures: 3,
            window: Duration::from_secs(2),
        })
    }

    #[test]
    fn past_the_limit_a_user_waits_out_the_window_and_others_never_do() {
        let t = throttle();
        for at in [0, 10, 20] {
            t.failed("mallory", at);
            assert_eq!(t.blocked("mallory", at), None, "{at}");
        }
        t.failed("mallory", 30);
        assert_eq!(t.blocked("mallory", 30), Some(2));
        assert_eq!(t.blocked("mallory", 1_001), Some(1));
        assert_eq!(t.blocked("alice", 30), None);
        assert_eq!(t.blocked("mallory", 2_000), None, "the window is over");
        // A new window starts from the next failure.
        t.failed("mallory", 2_500);
        assert_eq!(t.blocked("mallory", 2_500), None);
    }

    #[test]
    fn failures_spread_over_windows_never_block() {
        let t = throttle();
        for n in 0..20 {
            t.failed("bob", n * 700);
            assert_eq!(t.blocked("bob", n * 700), None, "{n}");
        }
    }

    #[test]
    fn the_map_stays_bounded() {
        let t = throttle();
        for n in 0..(MAX_TRACKED + 10) {
            t.failed(&format!("u{n}"), 0);
        }
        assert!(t.lock().len() <= MAX_TRACKED);
    }
}
