//! The notifications: stored with their expiry, fetched through the cache
//! of recent ones ([`Recent`](super::Recent)) with the read mark written
//! behind ([`Marks`](super::Marks)), acknowledged (deleted), swept once
//! expired, and the lookups only the flaws make.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension};

use super::recent::Lookup;
use super::{
    in_savepoint, registration_row, NewNotification, Notification, Registration, Routing, Store,
    StoreError, WriteJob,
};
use crate::push::Platform;

impl Store {
    /// Stores a notification and returns the registrations to push it to
    /// (optionally one platform only). `None`: no such recipient, nothing
    /// stored.
    pub(crate) async fn create_notification(
        &self,
        notification: NewNotification,
        routing: Routing,
    ) -> Result<Option<Vec<Registration>>, StoreError> {
        let NewNotification {
            id,
            recipient,
            sender,
            payload,
            platform,
            created_at_ms,
            expires_at_ms,
        } = notification;
        let (row_id, row_recipient, row_payload) = (
            Arc::clone(&id),
            Arc::clone(&recipient),
            Arc::clone(&payload),
        );
        // One write (the insert), so no savepoint.
        let targets = self
            .write_one(move |c| {
                let (id, recipient, payload) = (&*row_id, &*row_recipient, &*row_payload);
                // Inserted only if the recipient exists: one statement for
                // the check and the write.
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO notifications
                             (id, recipient, sender, payload, created_at, expires_at)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6
                         WHERE EXISTS (SELECT 1 FROM users WHERE username = ?2)",
                    )?
                    .execute(params![
                        id,
                        recipient,
                        sender,
                        payload,
                        created_at_ms,
                        expires_at_ms
                    ])?;
                if inserted == 0 {
                    return Ok(None);
                }
                let platform = platform.map(Platform::as_str);
                let rows = match &routing {
                    Routing::Owner => c
                        .prepare_cached(
                            "SELECT id, platform, handle FROM registrations
                             WHERE owner = ?1 AND platform IS NOT NULL AND handle IS NOT NULL
                               AND (?2 IS NULL OR platform = ?2)",
                        )?
                        .query_map(params![recipient, platform], registration_row)?
                        .collect::<Result<Vec<_>, _>>()?,
                    Routing::Tags(tags) => {
                        let tags = serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned());
                        c.prepare_cached(
                            "SELECT id, platform, handle FROM registrations r
                             WHERE platform IS NOT NULL AND handle IS NOT NULL
                               AND (?2 IS NULL OR platform = ?2)
                               AND EXISTS (SELECT 1 FROM json_each(r.tags) t
                                           JOIN json_each(?1) w ON t.value = w.value)",
                        )?
                        .query_map(params![tags, platform], registration_row)?
                        .collect::<Result<Vec<_>, _>>()?
                    }
                };
                let mut registrations = Vec::new();
                for (id, platform, handle) in rows {
                    // Only this code writes the column, so every value parses.
                    if let Ok(platform) = platform.parse() {
                        registrations.push(Registration {
                            id,
                            platform,
                            handle,
                        });
                    }
                }
                Ok(Some(registrations))
            })
            .await?;
        if targets.is_some() {
            // Committed: the fetch that follows the push is served from here.
            self.recent.insert(id, recipient, payload, expires_at_ms);
        }
        Ok(targets)
    }

    /// Fetches a notification that has not expired by `now_ms` and marks
    /// it read. With `recipient`, only if it is theirs; `None` as recipient
    /// skips the check (the `no-authz` flaw).
    pub(crate) async fn fetch_notification(
        &self,
        id: &str,
        recipient: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<Notification>, StoreError> {
        let allowed = |owner: &str| recipient.is_none_or(|r| r == owner);
        if let Some(served) = self.fetch_recent(id, now_ms, allowed) {
            return Ok(Some(served));
        }
        // An older notification: the table, in a writer job since the fetch
        // marks it read. It runs after any write-behind mark queued for it.
        let (id, recipient) = (id.to_owned(), recipient.map(str::to_owned));
        self.write_one(move |c| {
            let found: Option<(String, bool)> = c
                .prepare_cached(
                    "SELECT payload, read FROM notifications
                     WHERE id = ?1 AND (?2 IS NULL OR recipient = ?2) AND expires_at > ?3",
                )?
                .query_row(params![id, recipient, now_ms], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            let Some((payload, read)) = found else {
                return Ok(None);
            };
            if !read {
                c.prepare_cached("UPDATE notifications SET read = 1 WHERE id = ?1")?
                    .execute([&id])?;
            }
            Ok(Some(Notification {
                id: id.into(),
                payload: payload.into(),
                read,
            }))
        })
        .await
    }

    /// A fetch answered from [`Recent`](super::Recent) if it serves
    /// content: `None` to ask the table. A refusal (someone else's, or
    /// expired) asks the table too, which refuses it as well: answered from
    /// memory it would come back faster than an unknown id, whose lookup is
    /// a writer job, and that timing alone would tell a scanner which ids
    /// exist (SP-ENUM-02).
    fn fetch_recent(
        &self,
        id: &str,
        now_ms: i64,
        allowed: impl FnOnce(&str) -> bool,
    ) -> Option<Notification> {
        match self
            .recent
            .fetch(id, now_ms, allowed, |id| self.mark_read(id))
        {
            Lookup::Hit {
                id,
                payload,
                was_read,
            } => Some(Notification {
                id,
                payload,
                read: was_read,
            }),
            Lookup::NotYours | Lookup::Expired | Lookup::Miss => None,
        }
    }

    /// Queues the read mark of a notification served from memory; see
    /// [`Marks`](super::Marks). Called under the [`Recent`](super::Recent)
    /// lock, so the mark is in the writer's queue before the entry can be
    /// evicted.
    fn mark_read(&self, id: &Arc<str>) {
        let mut pending = self.marks.lock();
        pending.ids.push(Arc::clone(id));
        if pending.scheduled {
            return;
        }
        let marks = Arc::clone(&self.marks);
        let job: WriteJob = Box::new(move |conn| {
            let ids = {
                let mut pending = marks.lock();
                pending.scheduled = false;
                std::mem::take(&mut pending.ids)
            };
            let count = ids.len();
            let result = in_savepoint(conn, |c| {
                let mut stmt =
                    c.prepare_cached("UPDATE notifications SET read = 1 WHERE id = ?1")?;
                for id in &ids {
                    stmt.execute([&**id])?;
                }
                Ok(())
            });
            Box::new(move |commit: Result<(), String>| {
                let error = match (result, commit) {
                    (Err(error), _) => error.to_string(),
                    (Ok(()), Err(error)) => error,
                    (Ok(()), Ok(())) => return,
                };
                // The fetches were answered; only the stored flag is behind.
                tracing::warn!(%error, marks = count, "could not store read marks");
            })
        });
        pending.scheduled = self.writer.send(job).is_ok();
    }

    /// Fetches a notification, unexpired at `now_ms`, whose recipient has
    /// user name `name` in any tenant, and marks it read: the
    /// `cross-tenant-fetch` flaw's lookup.
    pub(crate) async fn fetch_notification_by_name(
        &self,
        id: String,
        name: String,
        now_ms: i64,
    ) -> Result<Option<Notification>, StoreError> {
        // The same name test as the query's, on the cached entry (whose
        // read flag is the truth while it is cached).
        let allowed = |owner: &str| owner.split_once('/').map_or(owner, |(_, n)| n) == name;
        if let Some(served) = self.fetch_recent(&id, now_ms, allowed) {
            return Ok(Some(served));
        }
        self.write_one(move |c| {
            let found: Option<(String, bool)> = c
                .prepare_cached(
                    "SELECT payload, read FROM notifications
                     WHERE id = ?1 AND substr(recipient, instr(recipient, '/') + 1) = ?2
                       AND expires_at > ?3",
                )?
                .query_row(params![id, name, now_ms], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            let Some((payload, read)) = found else {
                return Ok(None);
            };
            c.prepare_cached("UPDATE notifications SET read = 1 WHERE id = ?1")?
                .execute([&id])?;
            Ok(Some(Notification {
                id: id.into(),
                payload: payload.into(),
                read,
            }))
        })
        .await
    }

    /// The recipient of a notification that has not expired by `now_ms`,
    /// whoever asks. Only the flaws that tell "someone else's" from
    /// "unknown" ask; the sound paths never do.
    pub(crate) async fn recipient_of(
        &self,
        id: String,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT recipient FROM notifications WHERE id = ?1 AND expires_at > ?2",
            )?
            .query_row(params![id, now_ms], |row| row.get(0))
            .optional()
        })
        .await
    }

    /// A notification's sender and when that account was created (the
    /// `verbose-fetch` flaw's extra).
    pub(crate) async fn notification_sender(
        &self,
        id: String,
    ) -> Result<Option<(String, Option<i64>)>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT n.sender, u.created_at FROM notifications n
                 LEFT JOIN users u ON u.username = n.sender WHERE n.id = ?1",
            )?
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
        })
        .await
    }

    /// Deletes a notification that has not expired by `now_ms`: the
    /// recipient's acknowledgement. With `recipient`, only theirs (`None`:
    /// anyone's, the `any-ack` flaw). Whether there was one to delete.
    pub(crate) async fn delete_notification(
        &self,
        id: String,
        recipient: Option<String>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let row_id = id.clone();
        let deleted = self
            .write_one(move |c| {
                let deleted = c
                    .prepare_cached(
                        "DELETE FROM notifications
                         WHERE id = ?1 AND (?2 IS NULL OR recipient = ?2) AND expires_at > ?3",
                    )?
                    .execute(params![row_id, recipient, now_ms])?;
                Ok(deleted == 1)
            })
            .await?;
        if deleted {
            // Committed, and not yet answered: no fetch after the answer
            // finds it in memory either.
            self.recent.remove(&id);
        }
        Ok(deleted)
    }

    /// Deletes every notification expired by `now_ms`, at most `limit`
    /// (oldest expiry first), so one sweep never holds the writer long.
    /// How many went.
    pub(crate) async fn delete_expired(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // Expired entries of the cache are never served, so only the rows
        // need to go.
        self.write_one(move |c| {
            c.prepare_cached(
                "DELETE FROM notifications WHERE id IN
                 (SELECT id FROM notifications WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
            )?
            .execute(params![now_ms, limit])
        })
        .await
    }
}
