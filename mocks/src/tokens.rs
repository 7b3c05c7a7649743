//! The access tokens the mock token endpoints issued (FCM's OAuth endpoint,
//! WNS's Live and Azure AD endpoints), with their expiry, in a store of
//! bounded size: a backend that mints a token per push must not grow the
//! mock's memory. How many were issued is counted with the captures
//! (`tokens_issued` in the counters), so a check can still flag it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::credentials::random_token;

/// Tokens kept per store. A backend that caches its token (as Google and
/// Microsoft ask) holds one or a few; past this many, the oldest issued is
/// forgotten and answers as unknown (401), as a revoked token would.
pub(crate) const MAX_TOKENS: usize = 65_536;

/// Whether an access token may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenState {
    Valid,
    Expired,
    Unknown,
}

/// Access tokens issued by one token endpoint, with their expiry.
pub(crate) struct TokenStore {
    capacity: usize,
    inner: RwLock<Tokens>,
}

#[derive(Default)]
struct Tokens {
    expiry: HashMap<Arc<str>, Instant>,
    /// Issue order, oldest first: what is forgotten first.
    order: VecDeque<Arc<str>>,
}

impl Default for TokenStore {
    fn default() -> TokenStore {
        TokenStore::with_capacity(MAX_TOKENS)
    }
}

impl TokenStore {
    pub(crate) fn with_capacity(capacity: usize) -> TokenStore {
        TokenStore {
            capacity: capacity.max(1),
            inner: RwLock::new(Tokens::default()),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tokens> {
        // Every mutation keeps map and queue consistent before it can
        // panic (it cannot): a poisoned lock is still usable.
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Issues a new token valid for `ttl`.
    pub(crate) fn issue(&self, prefix: &str, ttl: Duration) -> String {
        let token = format!("{prefix}{}", random_token(96));
        let shared: Arc<str> = Arc::from(token.as_str());
        let now = Instant::now();
        let mut tokens = self.write();
        // Expired tokens at the front go first, then the oldest if full.
        while let Some(oldest) = tokens.order.front() {
            let expired = tokens.expiry.get(oldest).is_none_or(|e| *e <= now);
            if !expired && tokens.order.len() < self.capacity {
                break;
            }
            if let Some(oldest) = tokens.order.pop_front() {
                tokens.expiry.remove(&oldest);
            }
        }
        tokens.expiry.insert(shared.clone(), now + ttl);
        tokens.order.push_back(shared);
        token
    }

    pub(crate) fn check(&self, token: &str) -> TokenState {
        match self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .expiry
            .get(token)
        {
            None => TokenState::Unknown,
            Some(expires) if *expires <= Instant::now() => TokenState::Expired,
            Some(_) => TokenState::Valid,
        }
    }

    /// Tokens kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .order
            .len()
    }

    /// Makes every token issued so far expired, as if a day had passed.
    /// They stay known, so a backend using one is told it expired.
    pub(crate) fn expire_all(&self) {
        let now = Instant::now();
        for expires in self.write().expiry.values_mut() {
            *expires = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_tells_valid_expired_and_unknown_tokens_apart() {
        let store = TokenStore::default();
        let token = store.issue("t.", Duration::from_secs(60));
        assert_eq!(store.check(&token), TokenState::Valid);
        assert_eq!(store.check("nope"), TokenState::Unknown);
        store.expire_all();
        assert_eq!(store.check(&token), TokenState::Expired);
    }

    #[test]
    fn token_store_is_bounded_and_forgets_the_oldest() {
        let store = TokenStore::with_capacity(3);
        let tokens: Vec<String> = (0..5)
            .map(|_| store.issue("t.", Duration::from_secs(60)))
            .collect();
        assert_eq!(store.len(), 3);
        assert_eq!(store.check(&tokens[0]), TokenState::Unknown);
        assert_eq!(store.check(&tokens[1]), TokenState::Unknown);
        for token in &tokens[2..] {
            assert_eq!(store.check(token), TokenState::Valid);
        }
    }

    #[test]
    fn expired_tokens_are_dropped_first() {
        let store = TokenStore::with_capacity(10);
        let old = store.issue("t.", Duration::ZERO);
        let kept = store.issue("t.", Duration::from_secs(60));
        assert_eq!(store.len(), 1, "the expired one went when the next came");
        assert_eq!(store.check(&old), TokenState::Unknown);
        assert_eq!(store.check(&kept), TokenState::Valid);
    }
}
