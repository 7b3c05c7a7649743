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
//!
//! Accounts live in tenants (organisations): a user name is unique within
//! its tenant, and an account's key is its name in the unnamed tenant, or
//! `tenant/name` in a named one (`/` is in neither alphabet, so two
//! accounts never share a key). A token acts only as its account, so
//! everything it does stays in that tenant.
//!
//! A login also issues a refresh token (as long-lived as
//! [`REFRESH_TTL`], single-use: each refresh rotates it), which only
//! `POST /api/token` accepts: it is never an access token.

mod sessions;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::flaw::Flaw;
use super::store::{Store, StoreError};
use sessions::{CachedSession, SessionCache, SessionKey};

/// Length of a token as sent: 32 bytes in unpadded base64url.
const TOKEN_LEN: usize = 43;

/// How long a refresh token can be redeemed.
pub(crate) const REFRESH_TTL: Duration = Duration::from_secs(30 * 86_400);

/// The characters of a token that identify its session under the
/// `token-prefix-match` flaw.
const FLAWED_PREFIX: usize = 16;

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

impl Caller {
    /// The tenant the caller's account belongs to (`None`: the unnamed one).
    pub(crate) fn tenant(&self) -> Option<&str> {
        self.username.split_once('/').map(|(tenant, _)| tenant)
    }

    /// The caller's user name within its tenant.
    pub(crate) fn name(&self) -> &str {
        self.username
            .split_once('/')
            .map_or(&*self.username, |(_, name)| name)
    }
}

/// A token just issued by a login or a refresh.
#[derive(Debug)]
pub(crate) struct Session {
    pub token: String,
    pub expires_in: Duration,
    /// Redeemable once at `POST /api/token` for a new pair.
    pub refresh_token: String,
}

/// Tenant rule: 1..=64 of `[A-Za-z0-9_.-]`.
pub(crate) fn valid_tenant(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The key of the account `username` names in `tenant` (`None`: the
/// unnamed tenant). Both are validated by the caller.
pub(crate) fn account_key(tenant: Option<&str>, username: &str) -> String {
    match tenant {
        None => username.to_owned(),
        Some(tenant) => format!("{tenant}/{username}"),
    }
}

/// An account key as it goes into a `username:` tag: a tag has no `/`, so
/// `tenant/name` is written `tenant:name` (neither alphabet has `:`, so
/// it is still one account's).
pub(crate) fn tag_name(key: &str) -> String {
    key.replacen('/', ":", 1)
}

/// Whether `key` is an account key [`account_key`] can give.
fn valid_account_key(key: &str) -> bool {
    match key.split_once('/') {
        None => valid_username(key),
        Some((tenant, name)) => valid_tenant(tenant) && valid_username(name),
    }
}

/// Whether `token` has the shape [`new_token`] gives.
fn token_shaped(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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

/// The stored form of a token (its SHA-256 in lowercase hex).
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(session_key(token))
}

/// The session key a stored (hex) token hash spells, if it is one.
fn key_of_hex(hash: &str) -> Option<SessionKey> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hash, &mut key).ok()?;
    Some(key)
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
    (scheme.eq_ignore_ascii_case("bearer") && token_shaped(token)).then_some(token)
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
    /// The other flaws of accounts and sessions.
    flaws: AuthFlaws,
}

/// The flaws [`Auth`] can be started with, each read once.
#[derive(Clone, Copy, Default)]
struct AuthFlaws {
    /// `token-prefix-match`: sessions keyed by a token's first characters.
    prefix_only: bool,
    /// `ignore-expiry`.
    ignore_expiry: bool,
    /// `disabled-still-valid`: disabling keeps the account's sessions.
    keep_sessions_on_disable: bool,
    /// `refresh-as-access`.
    refresh_as_access: bool,
    /// `logout-keeps-registrations`.
    keep_registrations: bool,
}

impl Auth {
    pub(crate) fn new(store: Store, clock: Clock, ttl: Duration, keep_tokens: bool) -> Auth {
        Auth {
            store,
            sessions: Arc::new(SessionCache::default()),
            clock,
            ttl,
            keep_tokens,
            flaws: AuthFlaws::default(),
        }
    }

    /// Switches on the flaws among `flaws` that concern accounts and
    /// sessions.
    pub(crate) fn with_flaws(mut self, flaws: &[Flaw]) -> Auth {
        self.flaws = AuthFlaws {
            prefix_only: flaws.contains(&Flaw::TokenPrefixMatch),
            ignore_expiry: flaws.contains(&Flaw::IgnoreExpiry),
            keep_sessions_on_disable: flaws.contains(&Flaw::DisabledStillValid),
            refresh_as_access: flaws.contains(&Flaw::RefreshAsAccess),
            keep_registrations: flaws.contains(&Flaw::LogoutKeepsRegistrations),
        };
        self
    }

    /// The key of an access token's session, in memory and (as hex) in
    /// the table: under `token-prefix-match` only its first characters
    /// count, for the cache as for the table.
    fn session_key(&self, token: &str) -> SessionKey {
        match token.get(..FLAWED_PREFIX) {
            Some(prefix) if self.flaws.prefix_only => session_key(prefix),
            _ => session_key(token),
        }
    }

    /// Whether sessions go through the cache. Not under `ignore-expiry`:
    /// the table keeps an expired session only until the next login
    /// sweeps it, which a cache that ignored expiry would outlive, so the
    /// flawed backend asks the table every time, as it always did.
    fn cached(&self) -> bool {
        !self.flaws.ignore_expiry
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
        let stored = if valid_account_key(username) {
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
        let ttl = shorter.map_or(self.ttl, |asked| {
            asked.clamp(Duration::from_secs(1), self.ttl.max(Duration::from_secs(1)))
        });
        self.open_session(username, ttl).await.map(Some)
    }

    /// Issues an access token that lives `ttl` and a refresh token.
    async fn open_session(&self, username: &str, ttl: Duration) -> Result<Session, StoreError> {
        let token = new_token();
        let refresh_token = new_token();
        let now = self.clock.now_ms();
        let ms = |d: Duration| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let key = self.session_key(&token);
        let expires_at = ms(ttl);
        self.store
            .create_session_with_refresh(
                hex::encode(key),
                username.to_owned(),
                expires_at,
                now,
                (token_hash(&refresh_token), ms(REFRESH_TTL)),
            )
            .await?;
        // Committed: from here on the table knows it, and so may the cache.
        if self.cached() {
            let session = CachedSession {
                username: username.into(),
                expires_at,
            };
            self.sessions.insert_new(key, session, now);
        }
        Ok(Session {
            token,
            expires_in: ttl,
            refresh_token,
        })
    }

    /// Redeems a refresh token for a new access token (of the configured
    /// lifetime) and a new refresh token; the old one is spent. `None` for
    /// an unknown, spent, expired or revoked one.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Result<Option<Session>, StoreError> {
        if !token_shaped(refresh_token) {
            return Ok(None);
        }
        let spent = self
            .store
            .take_refresh_token(token_hash(refresh_token), self.clock.now_ms())
            .await?;
        match spent {
            Some(username) => self.open_session(&username, self.ttl).await.map(Some),
            None => Ok(None),
        }
    }

    /// Disables the caller's account: no login any more, every session and
    /// refresh token revoked, every registration dropped (its devices stop
    /// getting pushes). The name stays taken.
    pub(crate) async fn disable(&self, caller: &Caller) -> Result<(), StoreError> {
        let revoke = !self.flaws.keep_sessions_on_disable;
        let revoked = self
            .store
            .disable_user(caller.username.to_string(), revoke, self.clock.now_ms())
            .await?;
        // Committed: the table has no such session any more, nor may the
        // cache (under `disabled-still-valid` nothing was revoked, and the
        // cached sessions stay valid exactly as their rows do).
        let keys: Vec<SessionKey> = revoked.iter().filter_map(|hash| key_of_hex(hash)).collect();
        self.sessions.revoke_all(&keys);
        Ok(())
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
        let key = self.session_key(token);
        let cached = self.cached();
        if cached {
            if let Some(session) = self.sessions.get(&key, self.clock.now_ms()) {
                return Ok(Some(Caller {
                    username: session.username,
                    session: key,
                }));
            }
        }
        // Not cached (or expired, or a flaw keeps the cache out): the table
        // decides. The epoch is read first so that a logout committing
        // meanwhile cannot be undone by caching what this read saw.
        let epoch = self.sessions.epoch();
        let Some((username, expires_at)) = self.store.session(hex::encode(key)).await? else {
            return self.refresh_as_access(token, key).await;
        };
        let now = self.clock.now_ms();
        if now >= expires_at && !self.flaws.ignore_expiry {
            return Ok(None);
        }
        let username: Arc<str> = username.into();
        if cached {
            let session = CachedSession {
                username: Arc::clone(&username),
                expires_at,
            };
            self.sessions.insert_read(epoch, key, session, now);
        }
        Ok(Some(Caller {
            username,
            session: key,
        }))
    }

    /// The `refresh-as-access` flaw: a token that is no session's is looked
    /// for among the refresh tokens. Without the flaw: no caller.
    async fn refresh_as_access(
        &self,
        token: &str,
        session: SessionKey,
    ) -> Result<Option<Caller>, StoreError> {
        if !self.flaws.refresh_as_access {
            return Ok(None);
        }
        let found = self
            .store
            .refresh_owner(token_hash(token), self.clock.now_ms())
            .await?;
        // Never cached: a refresh token is no session, so each use asks
        // the table again, as the flaw's lookup does.
        Ok(found.map(|username| Caller {
            username: username.into(),
            session,
        }))
    }

    /// Ends the caller's session and drops the registrations made with it.
    pub(crate) async fn logout(&self, caller: &Caller) -> Result<(), StoreError> {
        if self.flaws.keep_registrations {
            self.store.delete_session_only(caller.token_hash()).await?;
            self.sessions.revoke(&caller.session);
            return Ok(());
        }
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
    fn account_keys_keep_tenants_apart_in_keys_and_tags() {
        assert_eq!(account_key(None, "alice"), "alice");
        assert_eq!(account_key(Some("acme"), "alice"), "acme/alice");
        assert_ne!(
            account_key(Some("acme"), "alice"),
            account_key(Some("globex"), "alice")
        );
        assert_eq!(tag_name("acme/alice"), "acme:alice");
        assert_eq!(tag_name("alice"), "alice");
        assert!(valid_account_key("acme/alice") && valid_account_key("alice"));
        for bad in ["a/b/c", "/alice", "acme/", "ac:me/alice", ""] {
            assert!(!valid_account_key(bad), "{bad:?}");
        }
        let caller = Caller {
            username: "acme/alice".into(),
            session: [0; 32],
        };
        assert_eq!((caller.tenant(), caller.name()), (Some("acme"), "alice"));
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

    #[tokio::test]
    async fn disabling_an_account_revokes_its_cached_sessions_unless_flawed() {
        for (flaws, still_valid) in [(vec![], false), (vec![Flaw::DisabledStillValid], true)] {
            let (_dir, sound, clock) = auth(Duration::from_secs(60)).await;
            let auth = Auth::new(sound.store.clone(), clock, sound.ttl, false).with_flaws(&flaws);
            auth.create_user("alice", "pw").await.unwrap();
            auth.create_user("bob", "pw").await.unwrap();
            let (one, two, bob) = (
                bearer(&auth, "alice").await,
                bearer(&auth, "alice").await,
                bearer(&auth, "bob").await,
            );
            let caller = auth.authenticate(Some(&one)).await.unwrap().unwrap();
            assert!(auth.authenticate(Some(&two)).await.unwrap().is_some());
            assert_eq!(auth.sessions.len(), 3, "all three cached");
            auth.disable(&caller).await.unwrap();
            for header in [&one, &two] {
                let found = auth.authenticate(Some(header)).await.unwrap();
                assert_eq!(found.is_some(), still_valid, "{flaws:?}");
            }
            assert!(auth.authenticate(Some(&bob)).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn session_flaws_hold_on_the_cached_path() {
        let (_dir, sound, clock) = auth(Duration::from_secs(60)).await;
        let flawed = |flaw| {
            Auth::new(sound.store.clone(), clock.clone(), sound.ttl, false).with_flaws(&[flaw])
        };
        sound.create_user("alice", "pw").await.unwrap();

        // token-prefix-match: a token changed after its first characters
        // is the same session, cached or not.
        let prefix = flawed(Flaw::TokenPrefixMatch);
        let session = prefix.login("alice", "pw", None).await.unwrap().unwrap();
        let mut changed = session.token.clone();
        let last = if changed.ends_with('A') { "B" } else { "A" };
        changed.replace_range(TOKEN_LEN - 1.., last);
        let changed = format!("Bearer {changed}");
        assert!(prefix.authenticate(Some(&changed)).await.unwrap().is_some());
        assert!(sound.authenticate(Some(&changed)).await.unwrap().is_none());
        let restarted = flawed(Flaw::TokenPrefixMatch);
        assert!(restarted
            .authenticate(Some(&changed))
            .await
            .unwrap()
            .is_some());
        let caller = prefix.authenticate(Some(&changed)).await.unwrap().unwrap();
        prefix.logout(&caller).await.unwrap();
        let original = format!("Bearer {}", session.token);
        assert!(prefix
            .authenticate(Some(&original))
            .await
            .unwrap()
            .is_none());

        // ignore-expiry: a token seen before it expired is accepted after.
        let lax = flawed(Flaw::IgnoreExpiry);
        let header = bearer(&lax, "alice").await;
        assert!(lax.authenticate(Some(&header)).await.unwrap().is_some());
        let strict = bearer(&sound, "alice").await;
        assert!(sound.authenticate(Some(&strict)).await.unwrap().is_some());
        clock.advance(Duration::from_secs(61));
        assert!(lax.authenticate(Some(&header)).await.unwrap().is_some());
        assert!(sound.authenticate(Some(&strict)).await.unwrap().is_none());

        // refresh-as-access: the refresh token works as an access token,
        // every time (never cached as a session), until it is spent.
        let loose = flawed(Flaw::RefreshAsAccess);
        let session = loose.login("alice", "pw", None).await.unwrap().unwrap();
        let refresh = format!("Bearer {}", session.refresh_token);
        for _ in 0..2 {
            assert!(loose.authenticate(Some(&refresh)).await.unwrap().is_some());
        }
        assert!(sound.authenticate(Some(&refresh)).await.unwrap().is_none());
        assert!(loose
            .refresh(&session.refresh_token)
            .await
            .unwrap()
            .is_some());
        assert!(loose.authenticate(Some(&refresh)).await.unwrap().is_none());

        // logout-keeps-registrations still revokes the (cached) token.
        let keeper = flawed(Flaw::LogoutKeepsRegistrations);
        let header = bearer(&keeper, "alice").await;
        let caller = keeper.authenticate(Some(&header)).await.unwrap().unwrap();
        keeper.logout(&caller).await.unwrap();
        assert!(keeper.authenticate(Some(&header)).await.unwrap().is_none());
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
