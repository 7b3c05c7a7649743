//! The client's bytes of an HTTP/2 connection, read before h2 sees them,
//! frame by frame: HEADERS blocks get their `:scheme` fixed
//! ([`super::scheme`]), and on APNs connections the SETTINGS ACKs that
//! answer the stream limits the transport injected are removed
//! ([`super::streams`]). Every other frame is handed over unexamined.
//!
//! [`H2Io`] wraps the connections of the listeners that speak HTTP/1.1 as
//! well: it looks at the first bytes and, unless they are the HTTP/2
//! preface, gets out of the way (HTTP/1.1 bytes are read straight into
//! hyper's buffer, as without it).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::scheme::{block_extent, Extent, SchemeFix};

const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;
const FRAME_HEADER_LEN: usize = 9;
/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, which a client sends before frames.
const CLIENT_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Room for one frame of the default maximum size (16 KiB) and its header.
const READ_BUFFER_LEN: usize = 16 * 1024 + FRAME_HEADER_LEN;
/// The largest header block (HEADERS and CONTINUATION frames) held to be
/// examined; a larger one is handed over as it is (h2 refuses header lists
/// beyond its limit anyway).
const MAX_BLOCK_LEN: usize = 64 * 1024;

fn payload_len(header: &[u8]) -> usize {
    usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2])
}

fn is_settings_ack(header: &[u8]) -> bool {
    header[3] == SETTINGS && header[4] & FLAG_ACK != 0 && payload_len(header) == 0
}

/// What the first bytes of a connection said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Not enough bytes yet to tell HTTP/2 from HTTP/1.1.
    Unknown,
    Http2,
    /// Not HTTP/2: bytes go through untouched.
    Other,
}

/// The inbound frame filter of one HTTP/2 connection.
pub(crate) struct Inbound {
    buf: Vec<u8>,
    /// `buf[start..end]` is read but not yet handed to h2.
    start: usize,
    end: usize,
    kind: Kind,
    /// Bytes of the client preface still to hand over.
    preface_left: usize,
    /// Bytes of the current frame (or block) to hand over unexamined.
    pass_left: usize,
    eof: bool,
    scheme: SchemeFix,
}

impl Inbound {
    /// A filter for a connection known to speak HTTP/2.
    pub(crate) fn http2() -> Inbound {
        Inbound::with_kind(Kind::Http2)
    }

    /// A filter that finds out from the first bytes whether it has work.
    pub(crate) fn detect() -> Inbound {
        Inbound::with_kind(Kind::Unknown)
    }

    fn with_kind(kind: Kind) -> Inbound {
        Inbound {
            buf: vec![0; READ_BUFFER_LEN],
            start: 0,
            end: 0,
            kind,
            preface_left: CLIENT_PREFACE.len(),
            pass_left: 0,
            eof: false,
            scheme: SchemeFix::default(),
        }
    }

    /// Decides the kind once the first bytes are in.
    fn classify(&mut self) {
        if self.kind != Kind::Unknown {
            return;
        }
        let seen = &self.buf[self.start..self.end];
        let n = seen.len().min(CLIENT_PREFACE.len());
        if seen[..n] != CLIENT_PREFACE[..n] {
            self.kind = Kind::Other;
        } else if n == CLIENT_PREFACE.len() {
            self.kind = Kind::Http2;
        } else if self.eof {
            self.kind = Kind::Other;
        }
    }

    /// Hands h2 the buffered bytes that are ready; whether any were.
    /// `drop_ack` is asked, for each SETTINGS ACK, whether it answers an
    /// injected frame and must not reach h2.
    fn deliver(&mut self, out: &mut ReadBuf<'_>, drop_ack: &mut dyn FnMut() -> bool) -> bool {
        let before = out.filled().len();
        self.classify();
        while out.remaining() > 0 && self.start < self.end {
            let available = self.end - self.start;
            let pass = match self.kind {
                Kind::Unknown => break,
                Kind::Other => Some(available),
                Kind::Http2 if self.preface_left > 0 => {
                    let n = self.preface_left.min(available);
                    self.preface_left -= n.min(out.remaining());
                    Some(n)
                }
                Kind::Http2 if self.pass_left > 0 => {
                    let n = self.pass_left.min(available);
                    self.pass_left -= n.min(out.remaining());
                    Some(n)
                }
                Kind::Http2 => None,
            };
            if let Some(n) = pass {
                let n = n.min(out.remaining());
                out.put_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
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
            if self.kind == Kind::Other && self.start == self.end {
                // Nothing held back: read straight into the caller's buffer.
                return Pin::new(io).poll_read(cx, out);
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

/// The I/O of an HTTP/2 (or maybe HTTP/2) connection on the listeners
/// that speak HTTP/1.1 too: inbound frames filtered by [`Inbound`],
/// outbound bytes untouched.
pub(crate) struct H2Io<I> {
    io: I,
    inbound: Inbound,
}

impl<I> H2Io<I> {
    /// `http2`: the connection speaks HTTP/2 (ALPN said so); else the
    /// first bytes decide.
    pub(crate) fn new(io: I, http2: bool) -> H2Io<I> {
        let inbound = if http2 {
            Inbound::http2()
        } else {
            Inbound::detect()
        };
        H2Io { io, inbound }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for H2Io<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.inbound.poll_read(&mut this.io, cx, out, &mut || false)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for H2Io<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
