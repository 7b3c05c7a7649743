//! WAL checkpoints on a thread of their own.
//!
//! SQLite's default checkpoints run inside the commit that crosses 1000 WAL
//! pages: that commit then copies the pages into the database and fsyncs
//! both files while every send behind it waits. Measured on the store
//! benchmark, that made inserts four times slower in wall time. So the
//! writer's connection never checkpoints (`wal_autocheckpoint=0`); it nudges
//! this thread after its commits instead, and this thread runs a `PASSIVE`
//! checkpoint (which never blocks the writer) at most every
//! [`INTERVAL`].
//!
//! A passive checkpoint under steady writes rarely catches up with the end
//! of the log, and SQLite only starts the log over once it has, so the WAL
//! file would grow without end. Once it holds more than
//! [`RESTART_AFTER_FRAMES`], a `RESTART` checkpoint waits for the writer
//! (one short stall) so that the next commit starts the log afresh.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often at most a checkpoint runs while there are writes.
const INTERVAL: Duration = Duration::from_millis(250);
/// WAL frames (pages) after which the log is made to start over: 64 MiB of
/// 4 KiB pages.
const RESTART_AFTER_FRAMES: i64 = 16 * 1024;

/// The writer's side: tells the checkpointer there is something to do.
#[derive(Clone)]
pub(super) struct Nudge(mpsc::SyncSender<()>);

impl Nudge {
    /// After a commit. Never blocks: a nudge already waiting is enough.
    pub(super) fn committed(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts the checkpointer on `conn` (a connection of its own to the
/// database); it ends when every [`Nudge`] is gone.
pub(super) fn spawn(conn: Connection) -> std::io::Result<Nudge> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("backend-store-checkpoint".into())
        .spawn(move || run(&conn, &rx))?;
    Ok(Nudge(tx))
}

fn run(conn: &Connection, nudges: &mpsc::Receiver<()>) {
    while nudges.recv().is_ok() {
        match checkpoint(conn, "PASSIVE") {
            Ok(frames) if frames > RESTART_AFTER_FRAMES => {
                if let Err(error) = checkpoint(conn, "RESTART") {
                    tracing::warn!(%error, frames, "WAL restart checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
        }
        // Commits during the pause leave one nudge waiting, so the next
        // checkpoint follows at once if there was anything.
        std::thread::sleep(INTERVAL);
    }
}

/// Runs one checkpoint; the frames in the log when it ran.
fn checkpoint(conn: &Connection, mode: &str) -> Result<i64, rusqlite::Error> {
    // The pragma answers (busy, frames in the log, frames checkpointed).
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        row.get(1)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn open(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn
    }

    #[test]
    fn a_restart_checkpoint_lets_the_next_commit_start_the_log_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer = open(&path);
        writer.execute_batch("CREATE TABLE t (x)").unwrap();
        for n in 0..100 {
            writer.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
        }
        let checkpointer = open(&path);
        let frames = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(frames >= 100, "one frame a commit at least: {frames}");
        checkpoint(&checkpointer, "RESTART").unwrap();
        writer.execute("INSERT INTO t VALUES (0)", []).unwrap();
        let after = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(after < 10, "the log started over: {after} frames");
        let rows: i64 = checkpointer
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 101);
    }
}
