//! A connection whose reads pass through a layer of the transport's own
//! (the HTTP/2 frame filter, or the bytes read to tell HTTP/2 from
//! HTTP/1.1 handed back) and whose writes go straight to the socket.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What stands between a connection's socket and the HTTP server reading
/// from it.
pub(crate) trait ReadLayer {
    /// Fills `out` from what the layer holds or from `io`.
    fn poll_read_from<I: AsyncRead + Unpin>(
        &mut self,
        io: &mut I,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>>;
}

/// `io` read through `layer`; written as it is.
pub(crate) struct LayeredIo<I, L> {
    io: I,
    layer: L,
}

impl<I, L> LayeredIo<I, L> {
    pub(crate) fn new(io: I, layer: L) -> LayeredIo<I, L> {
        LayeredIo { io, layer }
    }
}

impl<I: AsyncRead + Unpin, L: ReadLayer + Unpin> AsyncRead for LayeredIo<I, L> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.layer.poll_read_from(&mut this.io, cx, out)
    }
}

impl<I: AsyncWrite + Unpin, L: Unpin> AsyncWrite for LayeredIo<I, L> {
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
