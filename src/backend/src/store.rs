//! The SQLite store: users, sessions, registrations and notifications.
//!
//! SQLite allows one writer at a time, so all writes go to one dedicated
//! thread that owns the write connection and commits them in groups: it
//! takes every job waiting in its queue, runs each in its own savepoint (a
//! failing job rolls back alone), and commits once. Under load this turns
//! thousands of small transactions into a few large ones. Replies are sent
//! only after the commit, so a caller never sees data that could still be
//! lost. Reads go to a few reader threads with their own connections (WAL
//! lets them run beside the writer). The async side never touches SQLite: it
//! sends a closure and awaits a oneshot reply.
//!
//! "Stored" means committed: a send is answered only after the group commit
//! that holds its notification (WAL with `synchronous=NORMAL`: the commit
//! survives a crash of the process; an operating-system crash or power cut
//! can lose the last commits, never corrupt the file).
//!
//! Reads that follow writes closely are served from memory: notifications
//! just stored ([`recent`]) answer the device's fetch, and the read mark
//! such a fetch makes is written behind ([`Marks`]) in the next group
//! commit instead of holding the fetch up.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::push::Platform;
#[cfg(test)]
pub(crate) use recent::Recent;
#[cfg(not(test))]
use recent::Recent;

mod checkpoint;
mod notifications;
mod recent;

mod handles;

/// Reader threads. Reads are short point lookups; a few threads keep them
/// off the writer without many idle connections.
const READERS: usize = 4;
/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;
/// How long a group transaction stays open for more jobs after its first.
/// Without it the writer, woken by each job, commits them one by one at
/// moderate load, and a commit (WAL frames, locks, a wake-up) costs far
/// more than the insert it carries; half a millisecond gathers ten jobs at
/// 20 000 writes/s for a latency nobody notices.
const LINGER: Duration = Duration::from_micros(500);

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The group commit that held this write failed.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The store's threads are gone (shutdown, or a crash).
    #[error("store is closed")]
    Closed,
}

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;
/// Runs inside the group transaction and returns what to do once the commit
/// is known: reply with the job's result, or with the commit error.
type WriteJob = Box<dyn FnOnce(&Connection) -> Box<dyn FnOnce(Result<(), String>) + Send> + Send>;

/// A handle to the store; cheap to clone. The threads end when the last
/// handle is dropped.
#[derive(Clone)]
pub(crate) struct Store {
    writer: mpsc::Sender<WriteJob>,
    readers: mpsc::Sender<ReadJob>,
    recent: Arc<Recent>,
    marks: Arc<Marks>,
}

/// Read marks waiting for the writer. A fetch served from [`Recent`] flips
/// the flag in memory and leaves its id here; one writer job takes every id
/// waiting when it runs and marks them all in its group commit. At most one
/// such job is queued at a time.
#[derive(Default)]
struct Marks {
    pending: Mutex<PendingMarks>,
}

#[derive(Default)]
struct PendingMarks {
    ids: Vec<Arc<str>>,
    /// A job that will take `ids` is in the writer's queue.
    scheduled: bool,
}

impl Marks {
    fn lock(&self) -> std::sync::MutexGuard<'_, PendingMarks> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A registration that can receive pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registration {
    pub id: String,
    pub platform: Platform,
    pub handle: String,
}

/// A stored notification, as the recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notification {
    pub id: Arc<str>,
    pub payload: Arc<str>,
    /// Whether it had been fetched before this fetch.
    pub read: bool,
}

/// A notification to store.
#[derive(Debug, Clone)]
pub(crate) struct NewNotification {
    pub id: Arc<str>,
    pub recipient: Arc<str>,
    pub sender: String,
    pub payload: Arc<str>,
    /// Push to the recipient's registrations of this platform only.
    pub platform: Option<Platform>,
    pub created_at_ms: i64,
    /// From this moment on it is gone for everyone.
    pub expires_at_ms: i64,
}

/// Which registrations a notification is pushed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Routing {
    /// The recipient's own registrations: what the backend knows, not what
    /// a client said about itself.
    Owner,
    /// Every registration carrying any of these tags, whoever made it (the
    /// `trust-client-tags` and `tag-expression-injection` flaws).
    Tags(Vec<String>),
}

/// What `PUT /api/register/{id}` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistrationUpdate {
    Updated,
    /// Unknown id, or owned by someone else: indistinguishable on purpose.
    NotFound,
    /// Another user has a registration with this handle.
    HandleTaken,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    salt          BLOB NOT NULL,
    password_hash BLOB NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(expires_at);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(username);
CREATE TABLE IF NOT EXISTS registrations (
    id           TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    platform     TEXT,
    handle       TEXT,
    tags         TEXT NOT NULL DEFAULT '[]',
    session_hash TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_by_owner ON registrations(owner, platform);
CREATE INDEX IF NOT EXISTS registrations_by_handle ON registrations(handle);
CREATE INDEX IF NOT EXISTS registrations_by_session ON registrations(session_hash);
CREATE TABLE IF NOT EXISTS notifications (
    id         TEXT PRIMARY KEY,
    recipient  TEXT NOT NULL,
    sender     TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read       INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL DEFAULT 9223372036854775807
);
-- Notifications are only ever looked up by id. An index by recipient cost
-- a random page write per notification and served no query.
DROP INDEX IF EXISTS notifications_by_recipient;
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    session_hash TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refresh_tokens_by_user ON refresh_tokens(username);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_session ON refresh_tokens(session_hash);
CREATE TABLE IF NOT EXISTS disabled_users (
    username    TEXT PRIMARY KEY,
    disabled_at INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Run after [`SCHEMA`]: the index on `expires_at`, which a database made
/// before notifications expired has to get its column for first.
const EXPIRY_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS notifications_by_expiry ON notifications(expires_at);";

/// Gives a database made before notifications expired its `expires_at`
/// column (its rows never expire: they were stored without a lifetime).
fn migrate(conn: &Connection) -> Result<(), rusqlite::Error> {
    let has_expiry = conn
        .prepare("SELECT 1 FROM pragma_table_info('notifications') WHERE name = 'expires_at'")?
        .exists([])?;
    if !has_expiry {
        conn.execute_batch(
            "ALTER TABLE notifications
             ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 9223372036854775807;",
        )?;
    }
    conn.execute_batch(EXPIRY_INDEX)
}

fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never block the writer; NORMAL: no fsync per commit (a
    // crash can lose the last commits, never corrupt the file).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Store {
    /// Opens (or creates) the database and starts its threads. Blocking:
    /// call it from `spawn_blocking` or before the runtime is busy.
    pub(crate) fn open(path: &Path) -> Result<Store, StoreError> {
        let write_conn = connect(path)?;
        write_conn.execute_batch(SCHEMA)?;
        migrate(&write_conn)?;
        // Checkpoints run on their own thread (see `checkpoint`).
        write_conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // When the log starts over, give the disk back beyond 64 MiB.
        write_conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        let nudge = checkpoint::spawn(connect(path)?)
            .map_err(|e| StoreError::Commit(format!("cannot start the checkpoint thread: {e}")))?;
        let (writer, write_rx) = mpsc::channel::<WriteJob>();
        std::thread::Builder::new()
            .name("backend-store-writer".into())
            .spawn(move || write_loop(&write_conn, &write_rx, &nudge))
            .map_err(|e| StoreError::Commit(format!("cannot start the writer thread: {e}")))?;

        let (readers, read_rx) = mpsc::channel::<ReadJob>();
        let read_rx = Arc::new(Mutex::new(read_rx));
        for n in 0..READERS {
            let conn = connect(path)?;
            conn.pragma_update(None, "query_only", "ON")?;
            let rx = Arc::clone(&read_rx);
            std::thread::Builder::new()
                .name(format!("backend-store-reader-{n}"))
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&conn),
                        Err(_) => return,
                    }
                })
                .map_err(|e| StoreError::Commit(format!("cannot start a reader thread: {e}")))?;
        }
        Ok(Store {
            writer,
            readers,
            recent: Arc::new(Recent::default()),
            marks: Arc::new(Marks::default()),
        })
    }

    /// The same store with another cache of recent notifications (tests
    /// make it tiny to exercise eviction).
    #[cfg(test)]
    pub(crate) fn with_recent(mut self, recent: Recent) -> Store {
        self.recent = Arc::new(recent);
        self
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn).map_err(StoreError::from));
        });
        self.readers.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` in the writer's next group commit, in a savepoint of its
    /// own, so that a failure undoes all of its changes and nothing else.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_job(true, f).await
    }

    /// [`write`](Self::write) for a job that changes the database with one
    /// statement at most: SQLite already makes each statement atomic, so
    /// the savepoint (two more statements per job) would guard nothing.
    async fn write_one<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_job(false, f).await
    }

    async fn write_job<T: Send + 'static>(
        &self,
        savepoint: bool,
        f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = if savepoint {
                in_savepoint(conn, f)
            } else {
                f(conn)
            };
            Box::new(move |commit: Result<(), String>| {
                let reply = match commit {
                    Ok(()) => result.map_err(StoreError::from),
                    Err(error) => Err(StoreError::Commit(error)),
                };
                let _ = tx.send(reply);
            })
        });
        self.writer.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Creates a user; `false` if the name is taken.
    pub(crate) async fn create_user(
        &self,
        username: String,
        salt: Vec<u8>,
        hash: Vec<u8>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write_one(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO users (username, salt, password_hash, created_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT(username) DO NOTHING",
                )?
                .execute(params![username, salt, hash, now_ms])?;
            Ok(inserted == 1)
        })
        .await
    }

    /// A user's salt and password hash; `None` for an unknown or disabled
    /// account.
    pub(crate) async fn credentials(
        &self,
        username: String,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT salt, password_hash FROM users WHERE username = ?1
                 AND NOT EXISTS (SELECT 1 FROM disabled_users WHERE username = ?1)",
            )?
            .query_row([username], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
        })
        .await
    }

    /// Records a session, and drops the sessions that have expired by now
    /// (logins use [`Store::create_session_with_refresh`]).
    #[cfg(test)]
    pub(crate) async fn create_session(
        &self,
        token_hash: String,
        username: String,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(move |c| insert_session(c, &token_hash, &username, expires_at_ms, now_ms))
            .await
    }

    /// [`Store::create_session`], and the refresh token issued with it
    /// (`refresh`: its hash and expiry), in one transaction; drops the
    /// refresh tokens that have expired by now.
    pub(crate) async fn create_session_with_refresh(
        &self,
        token_hash: String,
        username: String,
        expires_at_ms: i64,
        now_ms: i64,
        refresh: (String, i64),
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            insert_session(c, &token_hash, &username, expires_at_ms, now_ms)?;
            let (refresh_hash, refresh_expires_at) = refresh;
            c.prepare_cached("DELETE FROM refresh_tokens WHERE expires_at <= ?1")?
                .execute([now_ms])?;
            c.prepare_cached(
                "INSERT INTO refresh_tokens (token_hash, username, session_hash, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                refresh_hash,
                username,
                token_hash,
                refresh_expires_at
            ])?;
            Ok(())
        })
        .await
    }

    /// Spends a refresh token: its account, if it was live (unexpired,
    /// unspent, not revoked); it can never be redeemed again.
    pub(crate) async fn take_refresh_token(
        &self,
        token_hash: String,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM refresh_tokens WHERE token_hash = ?1 RETURNING username, expires_at",
            )?
            .query_row([token_hash], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()
            .map(|found| found.and_then(|(user, expires_at)| (now_ms < expires_at).then_some(user)))
        })
        .await
    }

    /// The account of a live refresh token, leaving it unspent (the
    /// `refresh-as-access` flaw's lookup).
    pub(crate) async fn refresh_owner(
        &self,
        token_hash: String,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT username FROM refresh_tokens WHERE token_hash = ?1 AND expires_at > ?2",
            )?
            .query_row(params![token_hash, now_ms], |row| row.get(0))
            .optional()
        })
        .await
    }

    /// Disables an account: it can no longer log in, and its registrations
    /// are dropped; with `revoke` its sessions and refresh tokens end too.
    /// Returns the revoked sessions' hashes.
    pub(crate) async fn disable_user(
        &self,
        username: String,
        revoke: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO disabled_users (username, disabled_at) VALUES (?1, ?2)
                 ON CONFLICT(username) DO NOTHING",
            )?
            .execute(params![username, now_ms])?;
            c.prepare_cached("DELETE FROM registrations WHERE owner = ?1")?
                .execute([&username])?;
            if !revoke {
                return Ok(Vec::new());
            }
            let revoked = c
                .prepare_cached("DELETE FROM sessions WHERE username = ?1 RETURNING token_hash")?
                .query_map([&username], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            c.prepare_cached("DELETE FROM refresh_tokens WHERE username = ?1")?
                .execute([&username])?;
            Ok(revoked)
        })
        .await
    }

    /// The user and expiry of a session.
    pub(crate) async fn session(
        &self,
        token_hash: String,
    ) -> Result<Option<(String, i64)>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT username, expires_at FROM sessions WHERE token_hash = ?1")?
                .query_row([token_hash], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .await
    }

    /// Ends a session and removes the registrations made with it, so a
    /// logged-out device stops receiving its user's pushes.
    pub(crate) async fn delete_session(&self, token_hash: String) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM registrations WHERE session_hash = ?1")?
                .execute([&token_hash])?;
            c.prepare_cached("DELETE FROM refresh_tokens WHERE session_hash = ?1")?
                .execute([&token_hash])?;
            c.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                .execute([&token_hash])?;
            Ok(())
        })
        .await
    }

    /// Ends a session and keeps the registrations made with it (the
    /// `logout-keeps-registrations` flaw's logout).
    pub(crate) async fn delete_session_only(&self, token_hash: String) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
                .execute([&token_hash])?;
            Ok(())
        })
        .await
    }

    /// Removes the registrations made with a session and keeps the session
    /// (the `logout-keeps-token` flaw's logout).
    pub(crate) async fn delete_session_registrations(
        &self,
        token_hash: String,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM registrations WHERE session_hash = ?1")?
                .execute([&token_hash])?;
            Ok(())
        })
        .await
    }

    /// Reserves a registration id for `owner`. With a handle the owner
    /// already registered, returns that registration's id instead (never
    /// another user's).
    pub(crate) async fn create_registration(
        &self,
        new_id: String,
        owner: String,
        handle: Option<String>,
        session_hash: String,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        self.write(move |c| {
            if let Some(handle) = &handle {
                let existing: Option<String> = c
                    .prepare_cached(
                        "SELECT id FROM registrations WHERE owner = ?1 AND handle = ?2 LIMIT 1",
                    )?
                    .query_row([&owner, handle], |row| row.get(0))
                    .optional()?;
                if let Some(id) = existing {
                    return Ok(id);
                }
            }
            c.prepare_cached(
                "INSERT INTO registrations (id, owner, session_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![new_id, owner, session_hash, now_ms])?;
            Ok(new_id)
        })
        .await
    }

    /// Fills in a registration the caller owns. The same user registering
    /// the same handle again replaces the older registration.
    pub(crate) async fn update_registration(
        &self,
        id: String,
        owner: String,
        platform: Platform,
        handle: String,
        tags_json: String,
        session_hash: String,
    ) -> Result<RegistrationUpdate, StoreError> {
        self.write(move |c| {
            let owned = c
                .prepare_cached("SELECT 1 FROM registrations WHERE id = ?1 AND owner = ?2")?
                .exists([&id, &owner])?;
            if !owned {
                return Ok(RegistrationUpdate::NotFound);
            }
            let taken = c
                .prepare_cached("SELECT 1 FROM registrations WHERE handle = ?1 AND owner <> ?2")?
                .exists([&handle, &owner])?;
            if taken {
                return Ok(RegistrationUpdate::HandleTaken);
            }
            c.prepare_cached(
                "DELETE FROM registrations WHERE owner = ?1 AND handle = ?2 AND id <> ?3",
            )?
            .execute([&owner, &handle, &id])?;
            c.prepare_cached(
                "UPDATE registrations SET platform = ?2, handle = ?3, tags = ?4, session_hash = ?5
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                platform.as_str(),
                handle,
                tags_json,
                session_hash
            ])?;
            Ok(RegistrationUpdate::Updated)
        })
        .await
    }

    /// Who owns a registration, whoever asks (only the `any-registration`
    /// flaw asks).
    pub(crate) async fn registration_owner(
        &self,
        id: String,
    ) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT owner FROM registrations WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// Deletes a registration the caller owns; `false` if there is none.
    pub(crate) async fn delete_registration(
        &self,
        id: String,
        owner: String,
    ) -> Result<bool, StoreError> {
        self.write_one(move |c| {
            let deleted = c
                .prepare_cached("DELETE FROM registrations WHERE id = ?1 AND owner = ?2")?
                .execute([id, owner])?;
            Ok(deleted == 1)
        })
        .await
    }

    /// Removes registrations the platform reported dead.
    pub(crate) async fn delete_registrations(&self, ids: Vec<String>) -> Result<(), StoreError> {
        self.write(move |c| {
            let mut stmt = c.prepare_cached("DELETE FROM registrations WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id])?;
            }
            Ok(())
        })
        .await
    }
}

/// Records a session, and drops the sessions that have expired by now.
fn insert_session(
    c: &Connection,
    token_hash: &str,
    username: &str,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<(), rusqlite::Error> {
    c.prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now_ms])?;
    c.prepare_cached(
        "INSERT INTO sessions (token_hash, username, expires_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![token_hash, username, expires_at_ms])?;
    Ok(())
}

/// `(id, platform, handle)` of a registration row.
fn registration_row(row: &rusqlite::Row<'_>) -> Result<(String, String, String), rusqlite::Error> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
) -> Result<T, rusqlite::Error> {
    // Cached statements: these run for every job, and parsing them each
    // time showed in profiles.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match f(conn) {
        Ok(value) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(value)
        }
        Err(error) => {
            // Undo this job only; the others in the batch still commit.
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(error)
        }
    }
}

fn write_loop(conn: &Connection, jobs: &mpsc::Receiver<WriteJob>, nudge: &checkpoint::Nudge) {
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    while let Ok(first) = jobs.recv() {
        let deadline = Instant::now() + LINGER;
        let mut replies = Vec::new();
        let begun = run("BEGIN IMMEDIATE");
        replies.push(first(conn));
        while replies.len() < MAX_BATCH {
            let job = match jobs.try_recv() {
                Ok(job) => job,
                Err(mpsc::TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match jobs.recv_timeout(left) {
                        Ok(job) => job,
                        Err(_) => break,
                    }
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
            };
            replies.push(job(conn));
        }
        let commit = match begun {
            Ok(_) => run("COMMIT").map(drop).map_err(|error| {
                tracing::error!(%error, jobs = replies.len(), "group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                error.to_string()
            }),
            // Without the group transaction each job's savepoint was its own
            // transaction, committed by its RELEASE: its own result stands.
            Err(error) => {
                tracing::warn!(%error, "could not open a group transaction");
                Ok(())
            }
        };
        nudge.committed();
        for reply in replies {
            reply(commit.clone());
        }
    }
}

#[cfg(test)]
mod tests;
