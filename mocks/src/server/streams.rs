//! Changing SETTINGS_MAX_CONCURRENT_STREAMS on a live HTTP/2 connection,
//! which APNs does and neither hyper 1 nor h2 0.4 can: hyper's server
//! connection exposes no h2 handle, and h2 applies a local
//! MAX_CONCURRENT_STREAMS only at the handshake (its `Connection` can
//! change only the window size and extended CONNECT after it).
//!
//! So the transport does it, between hyper and the socket: [`SettingsIo`]
//! tracks frame boundaries in the bytes h2 writes and, when the service has
//! asked for another limit ([`StreamLimit::set`]), slips a SETTINGS frame
//! carrying only MAX_CONCURRENT_STREAMS in between two of h2's frames. The
//! peer acknowledges every SETTINGS frame, in order; h2 would take an ACK
//! for a frame it never sent as a protocol error, so the read side removes
//! the ACKs that answer the injected frames and passes the rest on.
//!
//! The first limit needs no frame of its own: h2's handshake SETTINGS
//! (the server preface) goes out with the wanted value written over h2's
//! in place, so a new connection announces 1 from its first frame, as
//! APNs does.
//!
//! What is exact: the peer sees the SETTINGS frames APNs sends, and a
//! compliant client (hyper, Go, Netty, nghttp2) keeps to them. What is not:
//! h2 keeps enforcing only the limit it was built with, so a client that
//! ignores a lowered limit is not refused.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{
    payload_len, CONTINUATION, FLAG_ACK, FLAG_END_HEADERS, FRAME_HEADER_LEN, HEADERS, PUSH_PROMISE,
    SETTINGS,
};
use super::inbound::Inbound;

const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// A SETTINGS frame with one setting: header plus 6 bytes.
const LIMIT_FRAME_LEN: usize = FRAME_HEADER_LEN + 6;

/// The MAX_CONCURRENT_STREAMS a connection should announce, set by the
/// service (one atomic store, only when the value changes) and sent by the
/// connection's [`SettingsIo`] at its next write.
#[derive(Debug)]
pub(crate) struct StreamLimit {
    wanted: AtomicU32,
    /// The limit the HTTP/2 server was built with: it enforces no more.
    max: u32,
}

impl StreamLimit {
    pub(crate) fn new(initial: u32, max: u32) -> StreamLimit {
        StreamLimit {
            wanted: AtomicU32::new(initial.min(max)),
            max,
        }
    }

    /// The limit h2 enforces, the most a connection can announce.
    pub(crate) fn max(&self) -> u32 {
        self.max
    }

    /// Asks for `limit` (at most [`StreamLimit::max`]) to be announced.
    pub(crate) fn set(&self, limit: u32) {
        let limit = limit.min(self.max);
        // A load first: on the hot path the value rarely changes, and a
        // store would bounce the cache line between workers.
        if self.wanted.load(Ordering::Relaxed) != limit {
            self.wanted.store(limit, Ordering::Relaxed);
        }
    }

    fn wanted(&self) -> u32 {
        self.wanted.load(Ordering::Relaxed)
    }
}

/// Where a byte stream is in its sequence of frames.
#[derive(Default)]
struct FrameCursor {
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    payload_left: usize,
    /// Inside a header block that CONTINUATION frames still have to end.
    in_header_block: bool,
}

impl FrameCursor {
    /// Whether a frame may be inserted here.
    fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0 && !self.in_header_block
    }

    /// Moves past `bytes`, calling `on_header` with each frame header
    /// completed.
    fn advance(&mut self, mut bytes: &[u8], mut on_header: impl FnMut(&[u8; FRAME_HEADER_LEN])) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEADER_LEN - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == FRAME_HEADER_LEN {
                self.header_len = 0;
                let header = self.header;
                self.payload_left = payload_len(&header);
                let kind = header[3];
                // The frames that open a header block, and the one that
                // continues it: nothing may come between them.
                if matches!(kind, HEADERS | PUSH_PROMISE | CONTINUATION) {
                    self.in_header_block = header[4] & FLAG_END_HEADERS == 0;
                }
                on_header(&header);
            }
        }
    }
}

/// The rewriting of the MAX_CONCURRENT_STREAMS value in h2's first
/// SETTINGS frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Preface {
    /// Nothing written yet: the first write is examined.
    Unseen,
    /// The value's 4 bytes start at this offset of the outbound stream and
    /// go out as `value`.
    Patch { at: u64, value: [u8; 4] },
    /// Written, or not found (the limit then follows in a frame of its own).
    Done,
}

/// Where the MAX_CONCURRENT_STREAMS value of the SETTINGS frame that
/// `first` starts with begins, if `first` holds that frame whole.
fn limit_value_offset(first: &[u8]) -> Option<u64> {
    let header = first.get(..FRAME_HEADER_LEN)?;
    if header[3] != SETTINGS || header[4] & FLAG_ACK != 0 {
        return None;
    }
    let payload = first.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + payload_len(header))?;
    payload
        .chunks_exact(6)
        .position(|entry| {
            u16::from_be_bytes([entry[0], entry[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS
        })
        .map(|k| (FRAME_HEADER_LEN + 6 * k + 2) as u64)
}

/// The server side of an HTTP/2 connection's I/O, announcing the
/// [`StreamLimit`] the service sets (see the module docs).
pub(crate) struct SettingsIo<I> {
    io: I,
    limit: Arc<StreamLimit>,
    /// The MAX_CONCURRENT_STREAMS the peer was last sent.
    announced: u32,
    written: FrameCursor,
    /// Whether h2's own first SETTINGS frame (the server preface, which
    /// must come first) is out.
    preface_written: bool,
    /// Where the preface's MAX_CONCURRENT_STREAMS value is rewritten.
    preface: Preface,
    /// Bytes written to the peer so far (h2's, not counting injected ones).
    written_total: u64,
    /// An injected SETTINGS frame, `inject[inject_pos..inject_len]` still
    /// to write.
    inject: [u8; LIMIT_FRAME_LEN],
    inject_pos: usize,
    inject_len: usize,
    /// Who sent each SETTINGS frame the peer has yet to acknowledge, oldest
    /// first: `true` for an injected one.
    unacked: VecDeque<bool>,
    /// The peer's bytes on their way to h2 (ACKs of injected frames
    /// removed, `:scheme` fixed).
    inbound: Inbound,
}

impl<I> SettingsIo<I> {
    /// `announced` is the MAX_CONCURRENT_STREAMS h2's own SETTINGS frame
    /// carries.
    pub(crate) fn new(io: I, limit: Arc<StreamLimit>, announced: u32) -> SettingsIo<I> {
        SettingsIo {
            io,
            limit,
            announced,
            written: FrameCursor::default(),
            preface_written: false,
            preface: Preface::Unseen,
            written_total: 0,
            inject: [0; LIMIT_FRAME_LEN],
            inject_pos: 0,
            inject_len: 0,
            unacked: VecDeque::new(),
            inbound: Inbound::new(),
        }
    }

    /// The bytes to write for h2's `bufs`: `Some` copy with the preface's
    /// limit rewritten when they hold (part of) that value, else `None`
    /// (write them as they are). Copies at most once or twice per
    /// connection, at its start.
    fn patched(&mut self, bufs: &[&[u8]]) -> Option<Vec<u8>> {
        if self.preface == Preface::Unseen {
            let first: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            self.preface = match limit_value_offset(&first) {
                Some(at) => {
                    let wanted = self.limit.wanted();
                    self.announced = wanted;
                    Preface::Patch {
                        at,
                        value: wanted.to_be_bytes(),
                    }
                }
                None => Preface::Done,
            };
        }
        let Preface::Patch { at, value } = self.preface else {
            return None;
        };
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let (start, end) = (self.written_total, self.written_total + len as u64);
        if end <= at || start >= at + 4 {
            return None;
        }
        let mut copy: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        for (i, byte) in value.iter().enumerate() {
            let offset = at + i as u64;
            if (start..end).contains(&offset) {
                copy[(offset - start) as usize] = *byte;
            }
        }
        Some(copy)
    }

    /// Counts `n` bytes of h2's as written.
    fn advance_total(&mut self, n: usize) {
        self.written_total += n as u64;
        if let Preface::Patch { at, .. } = self.preface {
            if self.written_total >= at + 4 {
                self.preface = Preface::Done;
            }
        }
    }

    /// Records the bytes h2 wrote, noting its SETTINGS frames.
    fn wrote(&mut self, bytes: &[u8]) {
        let (unacked, preface_written) = (&mut self.unacked, &mut self.preface_written);
        self.written.advance(bytes, |header| {
            if header[3] == SETTINGS && header[4] & FLAG_ACK == 0 {
                unacked.push_back(false);
                *preface_written = true;
            }
        });
    }

    /// Prepares a SETTINGS frame if the wanted limit differs from the one
    /// announced and a frame may go here.
    fn queue_injection(&mut self) {
        if self.inject_pos < self.inject_len || !self.preface_written || !self.written.at_boundary()
        {
            return;
        }
        let wanted = self.limit.wanted();
        if wanted == self.announced {
            return;
        }
        let frame = &mut self.inject;
        frame[..FRAME_HEADER_LEN].copy_from_slice(&[0, 0, 6, SETTINGS, 0, 0, 0, 0, 0]);
        frame[9..11].copy_from_slice(&SETTINGS_MAX_CONCURRENT_STREAMS.to_be_bytes());
        frame[11..15].copy_from_slice(&wanted.to_be_bytes());
        self.inject_pos = 0;
        self.inject_len = LIMIT_FRAME_LEN;
        self.announced = wanted;
        self.unacked.push_back(true);
        tracing::debug!(
            max_concurrent_streams = wanted,
            "announcing a new stream limit"
        );
    }
}

impl<I: AsyncWrite + Unpin> SettingsIo<I> {
    /// Writes what is left of an injected frame.
    fn poll_injection(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.inject_pos < self.inject_len {
            let pending = &self.inject[self.inject_pos..self.inject_len];
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.inject_pos += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Before h2's next bytes: finish an injected frame, and start one if
    /// the service asked for a new limit since the last write (so a
    /// push's SETTINGS goes out before its response).
    fn poll_before_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_injection(cx))?;
        self.queue_injection();
        self.poll_injection(cx)
    }

    /// After h2's bytes: start a frame that had to wait for a boundary,
    /// and send it now if the socket takes it (else the next write or
    /// flush will, which h2 always does after writing).
    fn after_write(&mut self, cx: &mut Context<'_>) {
        self.queue_injection();
        if self.inject_pos < self.inject_len {
            // An error here shows up again at the next write or flush.
            let _ = self.poll_injection(cx);
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for SettingsIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_before_write(cx))?;
        let n = match this.patched(&[buf]) {
            Some(copy) => ready!(Pin::new(&mut this.io).poll_write(cx, &copy))?,
            None => ready!(Pin::new(&mut this.io).poll_write(cx, buf))?,
        };
        this.advance_total(n);
        this.wrote(&buf[..n]);
        this.after_write(cx);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_before_write(cx))?;
        let slices: Vec<&[u8]> = if this.preface == Preface::Done {
            Vec::new()
        } else {
            bufs.iter().map(|b| &b[..]).collect()
        };
        let n = match this.patched(&slices) {
            Some(copy) => ready!(Pin::new(&mut this.io).poll_write(cx, &copy))?,
            None => ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?,
        };
        this.advance_total(n);
        let mut left = n;
        for buf in bufs {
            if left == 0 {
                break;
            }
            let take = left.min(buf.len());
            this.wrote(&buf[..take]);
            left -= take;
        }
        this.after_write(cx);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_before_write(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_injection(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for SettingsIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let unacked = &mut this.unacked;
        // The peer acknowledges SETTINGS frames in order: an ACK answers
        // the oldest unacknowledged one, and is h2's only if h2 sent it.
        let mut drop_ack = || unacked.pop_front().unwrap_or(false);
        this.inbound.poll_read(&mut this.io, cx, out, &mut drop_ack)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, flags, 0, 0, 0, 1];
        f.extend_from_slice(payload);
        f
    }

    /// h2's SETTINGS go out carrying the wanted limit; a later change is
    /// a frame of its own that never splits one of h2's, and its ACK (only
    /// its) is removed from what h2 reads.
    #[tokio::test]
    async fn announces_limits_at_frame_boundaries_and_hides_their_acks() {
        let (server, mut client) = tokio::io::duplex(4096);
        let limit = Arc::new(StreamLimit::new(1, 1000));
        let mut io = SettingsIo::new(server, limit.clone(), 1000);

        // h2's preface: initial window size, then MAX_CONCURRENT_STREAMS 1000.
        let own_settings = frame(SETTINGS, 0, &[0, 4, 0, 1, 0, 0, 0, 3, 0, 0, 3, 232]);
        let data = frame(0x0, 0, b"hello");
        io.write_all(&own_settings).await.unwrap();
        // A change in the middle of a frame waits for its end.
        io.write_all(&data[..4]).await.unwrap();
        limit.set(1000);
        io.write_all(&data[4..]).await.unwrap();
        io.flush().await.unwrap();

        let mut expected = frame(SETTINGS, 0, &[0, 4, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1]);
        expected.extend_from_slice(&data);
        expected.extend_from_slice(&[0, 0, 6, SETTINGS, 0, 0, 0, 0, 0, 0, 3, 0, 0, 3, 232]);
        let mut wire = vec![0; expected.len()];
        client.read_exact(&mut wire).await.unwrap();
        assert_eq!(wire, expected);

        // The client: preface, ACKs of h2's SETTINGS and of ours, split
        // across writes, then a PING.
        let ack = [0, 0, 0, SETTINGS, FLAG_ACK, 0, 0, 0, 0];
        let ping = frame(0x6, 0, &[7; 8]);
        let mut inbound = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        for _ in 0..2 {
            inbound.extend_from_slice(&ack);
        }
        inbound.extend_from_slice(&ping);
        for chunk in inbound.chunks(5) {
            client.write_all(chunk).await.unwrap();
        }
        drop(client);
        let mut seen = Vec::new();
        io.read_to_end(&mut seen).await.unwrap();
        let mut expected = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        expected.extend_from_slice(&ack);
        expected.extend_from_slice(&ping);
        assert_eq!(seen, expected);
    }

    /// A socket that takes the preface in pieces, splitting the value:
    /// what is left of it still goes out rewritten.
    #[tokio::test]
    async fn the_preface_value_is_rewritten_across_partial_writes() {
        let (server, mut client) = tokio::io::duplex(19);
        let mut io = SettingsIo::new(server, Arc::new(StreamLimit::new(1, 1000)), 1000);
        let own_settings = frame(SETTINGS, 0, &[0, 4, 0, 1, 0, 0, 0, 3, 0, 0, 3, 232]);
        let expected = frame(SETTINGS, 0, &[0, 4, 0, 1, 0, 0, 0, 3, 0, 0, 0, 1]);
        let reader = tokio::spawn(async move {
            let mut wire = vec![0; 21];
            client.read_exact(&mut wire).await.unwrap();
            wire
        });
        io.write_all(&own_settings).await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(reader.await.unwrap(), expected);
    }

    #[test]
    fn the_limit_is_found_only_in_a_whole_settings_frame() {
        let settings = frame(SETTINGS, 0, &[0, 4, 0, 1, 0, 0, 0, 3, 0, 0, 3, 232]);
        assert_eq!(limit_value_offset(&settings), Some(17));
        assert_eq!(limit_value_offset(&settings[..15]), None, "cut short");
        assert_eq!(limit_value_offset(&frame(SETTINGS, FLAG_ACK, &[])), None);
        assert_eq!(
            limit_value_offset(&frame(SETTINGS, 0, &[0, 4, 0, 1, 0, 0])),
            None
        );
        assert_eq!(
            limit_value_offset(&frame(0x0, 0, &[0, 3, 0, 0, 3, 232])),
            None
        );
    }
}
