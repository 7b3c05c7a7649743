//! The reference backend: a correct, fast implementation of the secure-push
//! pattern, used as the embedded default target of the harness and as a
//! model for vendors.
//!
//! A sender posts a secret message; the backend stores it once in SQLite and
//! pushes only an opaque, unguessable notification id through APNs, FCM or
//! WNS. The device fetches the content back with its bearer token, and gets
//! it only if it is the recipient. Deliberate flaws ([`Flaw`]) can be switched
//! on so that every conformance check is shown to fail on the flaw it exists
//! to catch.
//!
//! The crate knows nothing of the harness nor of the mock gateways (it
//! depends on neither): it reads the `PUSHPROOF_*` variables of the backend
//! contract ([`Config::from_vars`]) and talks to the gateways over HTTP with
//! its own types. With `PUSHPROOF_NH_CONNECTION_STRING` and
//! `PUSHPROOF_NH_HUB` set it sends through that Azure Notification Hub
//! instead, as the Notification Hubs tutorial's backend does: devices
//! become hub installations tagged `username:<user>`, and a send is one
//! hub send per platform to that tag (`hub_mode`).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use pushproof_backend::{Backend, Config};
//! let config = Config::from_vars("backend.db".into(), |name| std::env::var(name).ok())?;
//! // Opening the database and building the push clients can fail; nothing
//! // listens until they have worked.
//! let backend = Backend::open(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! backend.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! # HTTP API
//! JSON everywhere (`application/json; charset=utf-8`, `Cache-Control:
//! no-store`); bodies over 64 KiB → 413, malformed JSON → 400.
//!
//! | request | answer |
//! |---|---|
//! | `POST /api/users {"username","password"[,"tenant"]}` | 201; 409 taken; 400 invalid |
//! | `POST /api/login {"username","password"[,"tenant","expires_in"]}` | 200 `{"token","token_type":"Bearer","expires_in","refresh_token"}`; 401 |
//! | `POST /api/token {"grant_type":"refresh_token","refresh_token"}` | 200 a new pair (the refresh token is spent); 400 `invalid_grant` |
//! | `POST /api/logout` | 204; the token, its refresh token and the registrations made with it are gone |
//! | `POST /api/account/disable` | 204; the caller's account can no longer log in, its tokens and registrations are gone |
//! | `POST /api/register[?handle=H]` | 200 a registration id (JSON string) owned by the caller |
//! | `PUT /api/register/{id} {"Platform","Handle","Tags"}` | 200; 400 bad platform/handle/tag; 403 someone else's `username:` tag; 404 not the caller's; 409 handle held by another user |
//! | `DELETE /api/register/{id}` | 200; 404 not the caller's |
//! | `POST /api/notifications?to_tag=U[&pns=P][&ttl=S]` body: a JSON string | 200 `{"pushed","failed"}`; the content lives `S` seconds (at most, and by default, the configured payload lifetime) |
//! | `GET /api/notifications/{id}` | 200 `{"Id","Payload","Read"}` to the recipient until it expires or is acknowledged; else 404, identical for every other case; 429 with `Retry-After` after too many failed fetches |
//! | `DELETE /api/notifications/{id}` | 204: the recipient acknowledges, the content is gone; else 404 |
//!
//! Everything but users, login and token needs `Authorization: Bearer
//! <token>` (an access token: a refresh token is refused); without a valid
//! one: 401 with `WWW-Authenticate: Bearer`. A user name is unique within
//! its tenant (none given: the unnamed tenant); a token acts only in its
//! account's tenant (`to_tag` names a user of the sender's tenant).
//!
//! Requests go `TcpListener → hyper connection → api::App::handle → {auth,
//! dispatch} → store / push`.

mod api;
mod auth;
mod config;
mod dispatch;
mod flaw;
#[doc(hidden)]
pub mod hot_paths;
mod hub_mode;
mod ids;
mod push;
mod store;
mod throttle;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use config::{
    ApnsConfig, Config, ConfigError, FcmConfig, FetchThrottle, HubConfig, ServiceAccount,
    SigningKey, Trust, WnsConfig,
};
pub use flaw::{Flaw, Flaws, UnknownFlaw, LOSE_EVERY, STALL_EVERY, STALL_FOR};

use api::App;
use auth::Clock;

/// How long open connections get to finish their requests after shutdown
/// was requested, before they are cut.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often expired notifications are deleted from the database.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Why the backend could not start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The SQLite database could not be opened or its schema created.
    #[error("cannot open the database {path}: {source}")]
    Store {
        /// The database file.
        path: std::path::PathBuf,
        /// What SQLite said.
        source: store::StoreError,
    },
    /// Accepting connections failed.
    #[error("cannot accept connections: {0}")]
    Accept(#[source] std::io::Error),
}

/// A backend whose database is open and whose push clients are built,
/// ready to serve. Opening first lets a caller report a bad database before
/// it announces an address.
pub struct Backend {
    app: App,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend").finish_non_exhaustive()
    }
}

impl Backend {
    /// Opens (or creates) the database and builds the push clients.
    pub async fn open(config: Config) -> Result<Backend, BackendError> {
        Ok(Backend {
            app: App::open(config, Clock::system()).await?,
        })
    }

    /// Serves the backend's HTTP API (HTTP/1.1, and HTTP/2 prior knowledge)
    /// on `listener` until `shutdown` completes, then lets open connections
    /// finish (up to a few seconds) and returns.
    ///
    /// The caller binds the listener (`PUSHPROOF_LISTEN`), so tests can
    /// bind port 0 and read the address back.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), BackendError> {
        run(listener, self.app, shutdown).await
    }
}

/// [`Backend::open`] then [`Backend::serve`].
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BackendError> {
    Backend::open(config).await?.serve(listener, shutdown).await
}

/// The accept loop, shared by [`serve`] and the tests (which bring an `App`
/// with a controllable clock).
async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BackendError> {
    let app = Arc::new(app);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let mut sweep =
        tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) if is_transient(&error) => {
                    // Too many open files and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(error) => return Err(BackendError::Accept(error)),
            },
            // Reap finished connection tasks so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = sweep.tick() => {
                let app = Arc::clone(&app);
                connections.spawn(async move { app.sweep().await });
                continue;
            }
        };
        // Small request/response exchanges: Nagle only adds latency.
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, std::convert::Infallible>(app.handle(request).await) }
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }

    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the drain timeout; cutting them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn serve_answers_then_shuts_down() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path().join("serve.db"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, config, async {
            let _ = stopped.await;
        }));

        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /api/notifications/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
        assert!(reply.contains("www-authenticate: Bearer"), "{reply}");

        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    }
}
