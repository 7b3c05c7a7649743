//! The backend's hot paths, opened to its criterion benchmarks
//! (`cargo bench -p pushproof-backend --bench hot_paths`). Not an API:
//! hidden from the documentation, and free to change with the internals it
//! wraps. Each function is one step a notification takes, as the backend
//! runs it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::auth::{self, Auth, Clock};
use crate::push::{self, Platform, Push};
use crate::store::{NewNotification, Routing, Store, StoreError};

/// The body of a push carrying only `id` to `handle` on `platform`
/// (`apns`, `fcm` or `wns`), living a day as a send's pushes do; `None`
/// for an unknown platform.
pub fn push_body(platform: &str, handle: &str, id: &str) -> Option<Bytes> {
    let platform: Platform = platform.parse().ok()?;
    Some(push::body(
        platform,
        Push {
            handle,
            id,
            leaked: None,
            ttl_s: Some(86_400),
        },
    ))
}

/// A fresh notification id (128 random bits, hex).
pub fn notification_id() -> String {
    auth::random_id()
}

/// A fresh bearer token (256 random bits, base64url).
pub fn bearer_token() -> String {
    auth::new_token()
}

/// The SHA-256 a session is kept under.
pub fn token_hash(token: &str) -> [u8; 32] {
    auth::session_key(token)
}

/// A store and the session layer over it, on a real database file.
pub struct Bench {
    store: Store,
    auth: Auth,
}

impl Bench {
    /// Opens (creates) the database in `dir` with one user, `alice`.
    pub async fn open(dir: &Path) -> Result<Bench, StoreError> {
        let store = Store::open(&dir.join("hot-paths.db"))?;
        let auth = Auth::new(
            store.clone(),
            Clock::system(),
            Duration::from_secs(3600),
            false,
        );
        auth.create_user("alice", "pw").await?;
        Ok(Bench { store, auth })
    }

    /// Logs alice in; the `Authorization` header value for her new token.
    pub async fn login(&self) -> Result<String, StoreError> {
        let session = self.auth.login("alice", "pw", None).await?;
        Ok(format!(
            "Bearer {}",
            session.map(|s| s.token).unwrap_or_default()
        ))
    }

    /// Authenticates a request's `Authorization` header: parsing, hashing
    /// and the session cache (a table read on a miss).
    pub async fn authenticate(&self, header: &str) -> Result<bool, StoreError> {
        Ok(self.auth.authenticate(Some(header)).await?.is_some())
    }

    /// Stores a notification for alice (committed when this returns), as a
    /// send does; its id.
    pub async fn store_notification(&self, payload: &str) -> Result<String, StoreError> {
        let id = auth::random_id();
        self.store
            .create_notification(
                NewNotification {
                    id: id.as_str().into(),
                    recipient: "alice".into(),
                    sender: "bob".to_owned(),
                    payload: Arc::from(payload),
                    platform: None,
                    created_at_ms: 0,
                    expires_at_ms: i64::MAX,
                },
                Routing::Owner,
            )
            .await?;
        Ok(id)
    }

    /// Fetches a notification as alice would: whether it was found.
    pub async fn fetch(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .fetch_notification(id, Some("alice"), 0)
            .await?
            .is_some())
    }
}
