//! Telling HTTP/2 with prior knowledge (the client preface first) from
//! HTTP/1.1 by a connection's first bytes, on the listeners that speak both
//! where neither TLS nor ALPN said which. An HTTP/2 connection goes on
//! through the inbound frame filter ([`H2Io`]), which starts from the bytes
//! read; an HTTP/1.1 connection gets them back first and has nothing else
//! between hyper and the socket ([`Prefixed`]), as with hyper-util's
//! automatic server, which this replaces so that only HTTP/2 pays for the
//! filter.

use std::io;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt as _, ReadBuf};

use super::frame::CLIENT_PREFACE;
use super::inbound::{H2Io, Inbound};
use super::layered::{LayeredIo, ReadLayer};

/// A connection once its first bytes are known.
pub(crate) enum First<I> {
    Http2(H2Io<I>),
    Http1(Prefixed<I>),
}

/// Reads until the bytes are the client preface or cannot become it (or
/// the peer stops sending): at most the preface's 24 bytes, which an
/// HTTP/1.1 connection then reads again.
pub(crate) async fn sniff<I: AsyncRead + Unpin>(mut io: I) -> io::Result<First<I>> {
    let mut read = [0u8; CLIENT_PREFACE.len()];
    let mut len = 0;
    while len < read.len() {
        let n = io.read(&mut read[len..]).await?;
        if n == 0 {
            // The peer stopped: HTTP/1.1 answers (or ignores) what came.
            break;
        }
        len += n;
        if read[..len] != CLIENT_PREFACE[..len] {
            break;
        }
    }
    Ok(if read == *CLIENT_PREFACE {
        First::Http2(LayeredIo::new(io, Inbound::after(&read)))
    } else {
        First::Http1(LayeredIo::new(io, Replay { read, len, at: 0 }))
    })
}

/// The bytes [`sniff`] read, handed back before the socket's.
pub(crate) struct Replay {
    read: [u8; CLIENT_PREFACE.len()],
    len: usize,
    /// `read[at..len]` is still to hand back.
    at: usize,
}

impl ReadLayer for Replay {
    fn poll_read_from<I: AsyncRead + Unpin>(
        &mut self,
        io: &mut I,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.len {
            let n = (self.len - self.at).min(out.remaining());
            out.put_slice(&self.read[self.at..self.at + n]);
            self.at += n;
            return Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(io).poll_read(cx, out)
    }
}

/// An HTTP/1.1 connection with the bytes read to tell it apart.
pub(crate) type Prefixed<I> = LayeredIo<I, Replay>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use tokio::io::AsyncWriteExt as _;

    /// What `sniff` makes of `sent`, written in pieces of `piece` bytes,
    /// and every byte read after it.
    async fn sniffed(sent: &'static [u8], piece: usize) -> (&'static str, Vec<u8>) {
        let (server, mut client) = tokio::io::duplex(1024);
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(piece) {
                client.write_all(chunk).await.unwrap();
            }
        });
        let first = sniff(server).await.unwrap();
        writer.await.unwrap();
        let mut seen = Vec::new();
        let kind = match first {
            First::Http2(mut io) => {
                io.read_to_end(&mut seen).await.unwrap();
                "h2"
            }
            First::Http1(mut io) => {
                io.read_to_end(&mut seen).await.unwrap();
                "http/1.1"
            }
        };
        (kind, seen)
    }

    #[tokio::test]
    async fn the_preface_makes_http2_and_anything_else_http1_with_every_byte_kept() {
        let h2: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
        let h1: &[u8] = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n";
        // Like the preface until it is not; cut short by the peer.
        let near: &[u8] = b"PRI * HTTP/1.1\r\n";
        let short: &[u8] = b"PRI * HT";
        // In one piece, and byte by byte (the preface may come in parts).
        for piece in [1024, 1] {
            assert_eq!(sniffed(h2, piece).await, ("h2", h2.to_vec()));
            assert_eq!(sniffed(h1, piece).await, ("http/1.1", h1.to_vec()));
            assert_eq!(sniffed(near, piece).await, ("http/1.1", near.to_vec()));
            assert_eq!(sniffed(short, piece).await, ("http/1.1", short.to_vec()));
            assert_eq!(sniffed(b"", piece).await, ("http/1.1", Vec::new()));
        }
    }
}
