//! Streaming of every capture to a JSON-lines file, one [`CaptureJson`]
//! object per line, written by a thread of its own through a bounded
//! channel: the request path never waits for the disk. When the writer falls
//! behind, captures are counted as dropped rather than queued without bound.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use super::{CaptureJson, Stored};
use crate::error::MockError;

/// Captures waiting for the writer, at most.
const QUEUE_LINES: usize = 65_536;
/// Bytes of captures waiting for the writer, at most: queued captures may
/// already be evicted from the ring, so the queue holds their memory.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;

enum Message {
    Capture(Arc<Stored>, usize),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Stats {
    written: AtomicU64,
    dropped: AtomicU64,
    queued_bytes: AtomicUsize,
}

/// The sending side of the capture file.
pub(crate) struct CaptureFile {
    tx: mpsc::Sender<Message>,
    stats: Arc<Stats>,
}

impl CaptureFile {
    /// Creates (truncates) `path` and starts the writer thread, which ends
    /// when the store is dropped.
    pub(crate) fn create(path: &Path) -> Result<CaptureFile, MockError> {
        let failed = |source| MockError::WriteFile {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(failed)?;
        let (tx, rx) = mpsc::channel(QUEUE_LINES);
        let stats = Arc::new(Stats::default());
        let writer = Writer {
            path: path.to_owned(),
            out: BufWriter::with_capacity(64 * 1024, file),
            stats: stats.clone(),
            failed: false,
        };
        // A thread, not a blocking task: it must not keep a runtime from
        // shutting down, and it waits on the channel most of the time.
        std::thread::Builder::new()
            .name("pushproof-capture-file".into())
            .spawn(move || writer.run(rx))
            .map_err(failed)?;
        Ok(CaptureFile { tx, stats })
    }

    /// Queues a capture, or counts it dropped if the writer is behind.
    pub(crate) fn send(&self, capture: &Arc<Stored>, weight: usize) {
        let queued = self.stats.queued_bytes.fetch_add(weight, Ordering::Relaxed);
        if queued + weight > QUEUE_BYTES
            || self
                .tx
                .try_send(Message::Capture(capture.clone(), weight))
                .is_err()
        {
            self.stats.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything queued before the call is written and flushed.
    pub(crate) async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Message::Flush(ack)).await.is_ok() {
            // An error means the writer is gone: nothing more will be written.
            let _ = done.await;
        }
    }

    pub(crate) fn written(&self) -> u64 {
        self.stats.written.load(Ordering::Relaxed)
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }
}

struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    stats: Arc<Stats>,
    failed: bool,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        while let Some(message) = rx.blocking_recv() {
            match message {
                Message::Capture(capture, weight) => {
                    self.write(&capture);
                    drop(capture);
                    self.stats.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
                }
                Message::Flush(ack) => {
                    self.flush();
                    let _ = ack.send(());
                }
            }
            // Flush when idle, so a reader tailing the file sees whole
            // lines soon; under load the buffer batches the writes.
            if rx.is_empty() {
                self.flush();
            }
        }
        self.flush();
    }

    fn write(&mut self, capture: &Stored) {
        if self.failed {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let written = serde_json::to_writer(&mut self.out, &CaptureJson::new(capture))
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        match written {
            Ok(()) => {
                self.stats.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.fail(&error),
        }
    }

    fn flush(&mut self) {
        if !self.failed {
            if let Err(error) = self.out.flush() {
                self.fail(&error);
            }
        }
    }

    /// After a write error (disk full, file gone) every later capture is
    /// counted dropped: one warning, not one per request.
    fn fail(&mut self, error: &std::io::Error) {
        warn!(path = %self.path.display(), %error, "capture file write failed; dropping further lines");
        self.failed = true;
        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::capture::CaptureKind;
    use crate::platform::Platform;

    #[tokio::test]
    async fn every_capture_becomes_one_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("captures.jsonl");
        let file = CaptureFile::create(&path).unwrap();
        let store = crate::capture::CaptureStore::new(10, None);
        for n in 0..3u8 {
            let (parts, ()) = http::Request::post("/x").body(()).unwrap().into_parts();
            let c = Stored::new(
                Platform::Fcm,
                CaptureKind::Push,
                parts,
                bytes::Bytes::from(vec![n]),
                200,
                None,
                None,
            );
            // The store assigns `seq`; the file is fed the same Arcs.
            store.record(c);
        }
        let page = store.page(None, &crate::capture::Filter::default(), 10, 10, usize::MAX);
        for c in &page.captures {
            file.send(c, 1);
        }
        file.flush().await;
        let text = std::fs::read_to_string(&path).unwrap();
        let seqs: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(seqs, [0, 1, 2]);
        assert_eq!((file.written(), file.dropped()), (3, 0));
    }

    #[test]
    fn an_uncreatable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("captures.jsonl");
        assert!(matches!(
            CaptureFile::create(&path),
            Err(MockError::WriteFile { .. })
        ));
    }
}
