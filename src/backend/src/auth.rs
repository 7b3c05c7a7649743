//! Users, passwords and bearer sessions.
//!
//! Passwords are stored as SHA-256 over a per-user random salt and the
//! password. That is deliberately cheap: the pattern under test is the push
//! path, and a production backend would use a memory-hard hash such as
//! argon2, whose cost (tens of milliseconds per login) would dominate the
//! dispatch benchmark. Tokens are 256-bit CSPRNG values sent as base64url;
//! the database keeps only their SHA-256, so a leaked database yields no
//! usable token. Sessions are read through an in-memory cache
//! ([`sessions`]), so an authenticated request costs a SHA-256 and a hash
//! lookup, not a database read.

mod sessions;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::store::{Store, StoreError};
use sessions::{CachedSession, SessionCache, SessionKey};

/// Length of a token as sent: 32 bytes in unpadded base64url.
const TOKEN_LEN: usize = 43;

/// Wall-clock milliseconds since the epoch; controllable in tests.
#[derive(Clone)]
pub(crate) struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub(crate) fn system() -> Clock {
        Clock(None)
    }

    /// A clock that only moves when told to.
    #[cfg(test)]
    pub(crate) fn manual(start_ms: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(start_ms))))
    }

    #[cfg(test)]
    pub(crate) fn advance(&self, by: Duration) {
        if let Some(now) = &self.0 {
            let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            now.fetch_add(by, Ordering::SeqCst);
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(now) => now.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub username: Arc<str>,
    /// Identifies the session (for logout and for the registrations made
    /// with it): the token's SHA-256, never the token itself.
    session: SessionKey,
}

impl Caller {
    /// The session's key as stored in the database (lowercase hex).
    pub(crate) fn token_hash(&self) -> String {
        hex::encode(self.session)
    }
}

/// A token just issued by a login.
#[derive(Debug)]
pub(crate) struct Session {
    pub token: String,
    pub expires_in: Duration,
}

/// Username rule: 1..=64 of `[A-Za-z0-9_.@-]`.
pub(crate) fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
}

/// Password rule: 1..=1024 bytes.
pub(crate) fn valid_password(password: &str) -> bool {
    (1..=1024).contains(&password.len())
}

fn password_hash(salt: &[u8], password: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().to_vec()
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh bearer token: 256 bits from the OS-seeded CSPRNG, unpadded
/// base64url ([`TOKEN_LEN`] characters).
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 of a token: its session key.
pub(crate) fn session_key(token: &str) -> SessionKey {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh random identifier: 128 bits from the OS-seeded CSPRNG, as 32
/// lowercase hex digits. Used for notification and registration ids.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether `id` has the shape [`random_id`] produces; anything else cannot
/// exist, so it is answered without a lookup.
pub(crate) fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The token in an `Authorization: Bearer <token>` header value, if the
/// header has that shape (scheme compared case-insensitively).
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    let shaped = token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (scheme.eq_ignore_ascii_case("bearer") && shaped).then_some(token)
}

/// Accounts and sessions over the store.
#[derive(Clone)]
pub(crate) struct Auth {
    store: Store,
    sessions: Arc<SessionCache>,
    clock: Clock,
    ttl: Duration,
    /// The `logout-keeps-token` flaw.
    keep_tokens: bool,
}

impl Auth {
    pub(crate) fn new(store: Store, clock: Clock, ttl: Duration, keep_tokens: bool) -> Auth {
        Auth {
            store,
            sessions: Arc::new(SessionCache::default()),
            clock,
            ttl,
            keep_tokens,
        }
    }

    /// Creates a user; `false` if the name is taken. Inputs are validated by
    /// the caller.
    pub(crate) async fn create_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<bool, StoreError> {
        let mut salt = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let hash = password_hash(&salt, password);
        self.store
            .create_user(username.to_owned(), salt, hash, self.clock.now_ms())
            .await
    }

    /// Checks the password and opens a session; `None` on bad credentials
    /// (unknown user and wrong password are not told apart). `shorter`
    /// asks for a lifetime below the configured one (at least a second).
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &str,
        shorter: Option<Duration>,
    ) -> Result<Option<Session>, StoreError> {
        let stored = if valid_username(username) {
            self.store.credentials(username.to_owned()).await?
        } else {
            None
        };
        let ok = match &stored {
            Some((salt, hash)) => constant_time_eq(&password_hash(salt, password), hash),
            None => {
                // Same work as a real check, so timing does not tell whether
                // the user exists.
                let _ = password_hash(&[0u8; 16], password);
                false
            }
        };
        if !ok {
            return Ok(None);
        }
        let token = new_token();
        let now = self.clock.now_ms();
        let ttl = shorter.map_or(self.ttl, |asked| {
            asked.clamp(Duration::from_secs(1), self.ttl.max(Duration::from_secs(1)))
        });
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let key = session_key(&token);
        let expires_at = now.saturating_add(ttl_ms);
        self.store
            .create_session(hex::encode(key), username.to_owned(), expires_at, now)
            .await?;
        // Committed: from here on the table knows it, and so may the cache.
        let session = CachedSession {
            username: username.into(),
            expires_at,
        };
        self.sessions.insert_new(key, session, now);
        Ok(Some(Session {
            token,
            expires_in: ttl,
        }))
    }

    /// The caller behind an `Authorization` header value, if it carries a
    /// known, unexpired, not logged-out token.
    pub(crate) async fn authenticate(
        &self,
        header: Option<&str>,
    ) -> Result<Option<Caller>, StoreError> {
        let Some(token) = header.and_then(bearer_token) else {
            return Ok(None);
        };
        let key = session_key(token);
        if let Some(session) = self.sessions.get(&key, self.clock.now_ms()) {
            return Ok(Some(Caller {
                username: session.username,
                session: key,
            }));
        }
        // Not cached (or expired): the table decides. The epoch is read
        // first so that a logout committing meanwhile cannot be undone by
        // caching what this read saw.
        let epoch = self.sessions.epoch();
        let Some((username, expires_at)) = self.store.session(hex::encode(key)).await? else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        if now >= expires_at {
            return Ok(None);
        }
        let username: Arc<str> = username.into();
        let session = CachedSession {
            username: Arc::clone(&username),
            expires_at,
        };
        self.sessions.insert_read(epoch, key, session, now);
        Ok(Some(Caller {
            username,
            session: key,
        }))
    }

    /// Ends the caller's session and drops the registrations made with it.
    pub(crate) async fn logout(&self, caller: &Caller) -> Result<(), StoreError> {
        if self.keep_tokens {
            // The flaw: the registrations go, the session (and so its
            // cache entry) stays.
            return self
                .store
                .delete_session_registrations(caller.token_hash())
                .await;
        }
        self.store.delete_session(caller.token_hash()).await?;
        // Committed: no read of the table can find the session any more.
        self.sessions.revoke(&caller.session);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["a", "alice", "a.b-c_d@e", &"x".repeat(64)] {
            assert!(valid_username(ok), "{ok}");
        }
        for bad in ["", "a b", "a:b", "ünï", &"x".repeat(65), "a/b", "a\n"] {
            assert!(!valid_username(bad), "{bad:?}");
        }
    }

    #[test]
    fn bearer_header_parsing() {
        let token = "A".repeat(TOKEN_LEN);
        assert_eq!(
            bearer_token(&format!("Bearer {token}")),
            Some(token.as_str())
        );
        assert_eq!(
            bearer_token(&format!("bearer {token}")),
            Some(token.as_str())
        );
        assert_eq!(
            bearer_token(&format!("BEARER   {token} ")),
            Some(token.as_str())
        );
        assert_eq!(bearer_token(&format!("Basic {token}")), None);
        assert_eq!(bearer_token(&token), None);
        assert_eq!(bearer_token("Bearer short"), None);
        assert_eq!(bearer_token(&format!("Bearer {}", "A+".repeat(22))), None);
        assert_eq!(bearer_token(""), None);
    }

    #[test]
    fn ids_are_random_and_shaped() {
        let a = random_id();
        assert!(is_id(&a));
        assert_ne!(a, random_id());
        assert!(!is_id(&a.to_uppercase()));
        assert!(!is_id("0"));
        assert!(!is_id(&format!("{a}0")));
    }

    #[tokio::test]
    async fn sessions_read_from_the_table_are_cached_and_still_revoked_and_expire() {
        let (_dir, auth, clock) = auth(Duration::from_secs(60)).await;
        auth.create_user("alice", "pw").await.unwrap();
        let header = bearer(&auth, "alice").await;
        // A backend started afresh on the same database: an empty cache.
        let fresh = Auth::new(auth.store.clone(), clock.clone(), auth.ttl, false);
        assert_eq!(fresh.sessions.len(), 0);
        let caller = fresh.authenticate(Some(&header)).await.unwrap().unwrap();
        assert_eq!(&*caller.username, "alice");
        assert_eq!(fresh.sessions.len(), 1, "read through into the cache");
        // The cached entry expires with the session.
        clock.advance(Duration::from_secs(60));
        assert!(fresh.authenticate(Some(&header)).await.unwrap().is_none());

        let header = bearer(&auth, "alice").await;
        let caller = fresh.authenticate(Some(&header)).await.unwrap().unwrap();
        fresh.logout(&caller).await.unwrap();
        assert!(fresh.authenticate(Some(&header)).await.unwrap().is_none());
        // And the table agrees: a cache-less reader refuses it too.
        let other = Auth::new(auth.store.clone(), clock.clone(), auth.ttl, false);
        assert!(other.authenticate(Some(&header)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_logout_keeps_token_flaw_keeps_the_cached_session() {
        let (_dir, sound, clock) = auth(Duration::from_secs(60)).await;
        let flawed = Auth::new(sound.store.clone(), clock, sound.ttl, true);
        flawed.create_user("alice", "pw").await.unwrap();
        let header = bearer(&flawed, "alice").await;
        let caller = flawed.authenticate(Some(&header)).await.unwrap().unwrap();
        flawed.logout(&caller).await.unwrap();
        assert!(flawed.authenticate(Some(&header)).await.unwrap().is_some());
    }

    /// Logs `user` in with the password `pw`: the `Authorization` value.
    async fn bearer(auth: &Auth, user: &str) -> String {
        let session = auth.login(user, "pw", None).await.unwrap().unwrap();
        format!("Bearer {}", session.token)
    }

    async fn auth(ttl: Duration) -> (tempfile::TempDir, Auth, Clock) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.db")).unwrap();
        let clock = Clock::manual(1_700_000_000_000);
        (dir, Auth::new(store, clock.clone(), ttl, false), clock)
    }

    #[tokio::test]
    async fn login_checks_the_password_and_tokens_expire() {
        let (_dir, auth, clock) = auth(Duration::from_secs(60)).await;
        assert!(auth.create_user("alice", "pw").await.unwrap());
        assert!(!auth.create_user("alice", "other").await.unwrap());
        assert!(auth.login("alice", "wrong", None).await.unwrap().is_none());
        assert!(auth.login("nobody", "pw", None).await.unwrap().is_none());
        assert!(auth.login("bad name", "pw", None).await.unwrap().is_none());

        let session = auth.login("alice", "pw", None).await.unwrap().unwrap();
        assert_eq!(session.expires_in, Duration::from_secs(60));
        let header = format!("Bearer {}", session.token);
        let caller = auth.authenticate(Some(&header)).await.unwrap().unwrap();
        assert_eq!(&*caller.username, "alice");
        assert_ne!(caller.token_hash(), session.token);
        assert_eq!(
            caller.token_hash(),
            hex::encode(session_key(&session.token))
        );

        clock.advance(Duration::from_secs(59));
        assert!(auth.authenticate(Some(&header)).await.unwrap().is_some());
        clock.advance(Duration::from_secs(1));
        assert!(auth.authenticate(Some(&header)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn logout_revokes_only_that_token() {
        let (_dir, auth, _clock) = auth(Duration::from_secs(60)).await;
        auth.create_user("alice", "pw").await.unwrap();
        let one = bearer(&auth, "alice").await;
        let two = bearer(&auth, "alice").await;
        let caller = auth.authenticate(Some(&one)).await.unwrap().unwrap();
        auth.logout(&caller).await.unwrap();
        assert!(auth.authenticate(Some(&one)).await.unwrap().is_none());
        assert!(auth.authenticate(Some(&two)).await.unwrap().is_some());
        assert!(auth.authenticate(None).await.unwrap().is_none());
        let forged = format!("Bearer {}", "A".repeat(TOKEN_LEN));
        assert!(auth.authenticate(Some(&forged)).await.unwrap().is_none());
    }
}
