//! The client's bytes of an HTTP/2 connection, read before h2 sees them,
//! frame by frame: HEADERS blocks get their `:scheme` fixed
//! ([`super::scheme`]), and on APNs connections the SETTINGS ACKs that
//! answer the stream limits the transport injected are removed
//! ([`super::streams`]). Every other frame is handed over unexamined.
//!
//! Only HTTP/2 connections come this way ([`H2Io`]): the listeners that
//! speak HTTP/1.1 as well tell the two apart first ([`super::preface`]),
//! and an HTTP/1.1 connection has nothing between hyper and the socket.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::frame::{is_settings_ack, payload_len, CLIENT_PREFACE, FRAME_HEADER_LEN, HEADERS};
use super::layered::{LayeredIo, ReadLayer};
use super::scheme::{block_extent, Extent, SchemeFix};

/// Room for one frame of the default maximum size (16 KiB) and its header.
const READ_BUFFER_LEN: usize = 16 * 1024 + FRAME_HEADER_LEN;
/// The largest header block (HEADERS and CONTINUATION frames) held to be
/// examined; a larger one is handed over as it is (h2 refuses header lists
/// beyond its limit anyway).
const MAX_BLOCK_LEN: usize = 64 * 1024;

/// The inbound frame filter of one HTTP/2 connection.
pub(crate) struct Inbound {
    buf: Vec<u8>,
    /// `buf[start..end]` is read but not yet handed to h2.
    start: usize,
    end: usize,
    /// Bytes of the client preface still to hand over.
    preface_left: usize,
    /// Bytes of the current frame (or block) to hand over unexamined.
    pass_left: usize,
    eof: bool,
    scheme: SchemeFix,
}

impl Inbound {
    /// A filter for a connection from its first byte.
    pub(crate) fn new() -> Inbound {
        Inbound::after(&[])
    }

    /// A filter for a connection whose first bytes, `read` (the client
    /// preface, which told it apart from HTTP/1.1), were read already.
    pub(crate) fn after(read: &[u8]) -> Inbound {
        let mut buf = vec![0; READ_BUFFER_LEN.max(read.len())];
        buf[..read.len()].copy_from_slice(read);
        Inbound {
            buf,
            start: 0,
            end: read.len(),
            preface_left: CLIENT_PREFACE.len(),
            pass_left: 0,
            eof: false,
            scheme: SchemeFix::default(),
        }
    }

    /// Hands h2 the buffered bytes that are ready; whether any were.
    /// `drop_ack` is asked, for each SETTINGS ACK, whether it answers an
    /// injected frame and must not reach h2.
    fn deliver(&mut self, out: &mut ReadBuf<'_>, drop_ack: &mut dyn FnMut() -> bool) -> bool {
        let before = out.filled().len();
        while out.remaining() > 0 && self.start < self.end {
            let available = self.end - self.start;
            let pass = if self.preface_left > 0 {
                &mut self.preface_left
            } else {
                &mut self.pass_left
            };
            if *pass > 0 {
                let n = (*pass).min(available).min(out.remaining());
                out.put_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                *pass -= n;
                continue;
            }
            // At a frame boundary.
            if available < FRAME_HEADER_LEN {
                if !self.eof {
                    // Wait for the whole header: an ACK to drop must not
                    // be half handed over.
                    break;
                }
                self.pass_left = available;
                continue;
            }
            let header = &self.buf[self.start..self.start + FRAME_HEADER_LEN];
            let frame_len = FRAME_HEADER_LEN + payload_len(header);
            if is_settings_ack(header) {
                if drop_ack() {
                    self.start += FRAME_HEADER_LEN;
                    continue;
                }
            } else if header[3] == HEADERS {
                match block_extent(&self.buf[self.start..self.end]) {
                    Extent::Whole(len) => {
                        let removed = self.scheme.fix(&mut self.buf[self.start..self.start + len]);
                        self.start += removed;
                        self.pass_left = len - removed;
                        continue;
                    }
                    Extent::Partial if !self.eof && available < MAX_BLOCK_LEN => break,
                    Extent::Partial | Extent::Skip => self.scheme.skipped(),
                }
            }
            self.pass_left = frame_len;
        }
        out.filled().len() > before
    }

    /// Reads from `io` and hands h2 what is ready (see [`Inbound::deliver`]).
    pub(crate) fn poll_read<I: AsyncRead + Unpin>(
        &mut self,
        io: &mut I,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
        drop_ack: &mut dyn FnMut() -> bool,
    ) -> Poll<io::Result<()>> {
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.deliver(out, drop_ack) || self.eof {
                return Poll::Ready(Ok(()));
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                // A header block longer than the buffer: room for it and
                // its last frame (it is handed over unexamined past
                // MAX_BLOCK_LEN).
                let len = (self.buf.len() * 2).min(MAX_BLOCK_LEN + READ_BUFFER_LEN);
                self.buf.resize(len, 0);
            }
            let mut spare = ReadBuf::new(&mut self.buf[self.end..]);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut spare))?;
            let n = spare.filled().len();
            if n == 0 {
                self.eof = true;
                self.deliver(out, drop_ack);
                return Poll::Ready(Ok(()));
            }
            self.end += n;
        }
    }
}

/// On the HTTP/2 connections of every listener but APNs's (whose
/// [`super::streams::SettingsIo`] filters its own), there is no injected
/// SETTINGS frame whose ACK would have to go.
impl ReadLayer for Inbound {
    fn poll_read_from<I: AsyncRead + Unpin>(
        &mut self,
        io: &mut I,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_read(io, cx, out, &mut || false)
    }
}

/// The I/O of an HTTP/2 connection on the listeners that speak HTTP/1.1
/// too: inbound frames filtered by [`Inbound`], outbound bytes untouched.
pub(crate) type H2Io<I> = LayeredIo<I, Inbound>;
