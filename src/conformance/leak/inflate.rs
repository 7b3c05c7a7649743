//! Decompressing blobs that may hide a secret: gzip, zlib and raw deflate,
//! bounded in output so a compression bomb costs nothing.
//!
//! Compressed output keeps no substring of its input, so it is decoded, not
//! matched. A blob is tried only when its first bytes can start a stream:
//! gzip's magic, a valid zlib header, or (for raw deflate, which has no
//! header) a single final block, as every compressor writes for a message
//! this short. One raw inflater serves all three (the
//! wrappers are parsed here) and is reused across a scan.

use flate2::{Decompress, FlushDecompress, Status};

use super::transform::Transform;

/// Shortest blob worth inflating: a deflate stream holding a 128-bit canary
/// is longer than this.
const MIN_COMPRESSED: usize = 20;

/// The compression a blob's first bytes announce, and where its deflate
/// data starts.
pub(crate) fn sniff(blob: &[u8]) -> Option<(Transform, usize)> {
    if blob.len() < MIN_COMPRESSED {
        return None;
    }
    if let Some(start) = gzip_data(blob) {
        return Some((Transform::Gzip, start));
    }
    let (cmf, flg) = (blob[0], blob[1]);
    let zlib = cmf & 0x0f == 8
        && cmf >> 4 <= 7
        && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
        && flg & 0x20 == 0;
    if zlib {
        return Some((Transform::Zlib, 2));
    }
    plausible_deflate(blob).then_some((Transform::Deflate, 0))
}

/// Where the deflate data of a gzip member starts, after its header.
fn gzip_data(blob: &[u8]) -> Option<usize> {
    if blob.get(..3)? != [0x1f, 0x8b, 8] {
        return None;
    }
    let flags = *blob.get(3)?;
    let mut at = 10;
    if flags & 4 != 0 {
        let xlen = usize::from(u16::from_le_bytes([*blob.get(at)?, *blob.get(at + 1)?]));
        at += 2 + xlen;
    }
    for flag in [8, 16] {
        if flags & flag != 0 {
            at += blob.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    (at < blob.len()).then_some(at)
}

/// Whether a headerless blob starts like the single final block of a
/// deflate stream: stored (its length and the length's complement agree),
/// or fixed or dynamic Huffman codes (for dynamic codes, counts within the
/// format's limits).
fn plausible_deflate(blob: &[u8]) -> bool {
    let first = blob[0];
    let is_final = first & 1 == 1;
    match (first >> 1) & 3 {
        0 => {
            let len = u16::from_le_bytes([blob[1], blob[2]]);
            let nlen = u16::from_le_bytes([blob[3], blob[4]]);
            is_final && len == !nlen
        }
        1 => is_final,
        2 => {
            let hlit = (first >> 3) & 31;
            let hdist = blob[1] & 31;
            is_final && hlit <= 29 && hdist <= 29
        }
        _ => false,
    }
}

/// A reusable raw inflater.
#[derive(Default)]
pub(crate) struct Inflater {
    raw: Option<Decompress>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").finish_non_exhaustive()
    }
}

impl Inflater {
    /// Inflates `data` (deflate data, wrapper already skipped) into at most
    /// `limit` bytes. A wrapped stream (`trusted`: its header was checked)
    /// gives what it produced, even if it breaks off; a headerless guess
    /// gives its output only if it ends with the blob, or reads as text.
    pub(crate) fn inflate(&mut self, data: &[u8], limit: usize, trusted: bool) -> Option<Vec<u8>> {
        let raw = self.raw.get_or_insert_with(|| Decompress::new(false));
        raw.reset(false);
        let mut out = Vec::with_capacity(limit.min(data.len() * 4 + 64));
        let mut ended = false;
        loop {
            let before_in = raw.total_in();
            let before_out = raw.total_out();
            let consumed = usize::try_from(before_in).unwrap_or(usize::MAX);
            let Some(input) = data.get(consumed..) else {
                break;
            };
            match raw.decompress_vec(input, &mut out, FlushDecompress::None) {
                Ok(Status::StreamEnd) => {
                    ended = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
            if out.len() >= limit {
                break;
            }
            if out.len() == out.capacity() {
                out.reserve((out.capacity()).min(limit - out.len()).max(64));
            } else if raw.total_in() == before_in && raw.total_out() == before_out {
                break;
            }
        }
        out.truncate(limit);
        // A guessed stream must end where the blob does: random bytes that
        // happen to decode stop early.
        let consumed = usize::try_from(raw.total_in()).unwrap_or(usize::MAX);
        let whole = ended && consumed + 2 >= data.len();
        let textual = out.len() >= 16 && !super::decode::is_binary(&out);
        // Nothing shorter than 8 bytes can hold a needle or a k-gram.
        (out.len() >= 8 && (trusted || whole || textual)).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const TEXT: &[u8] = b"Your sign-in code is 482913. Never share it with anyone at all.";

    fn compress(kind: Transform, data: &[u8]) -> Vec<u8> {
        let level = flate2::Compression::default();
        match kind {
            Transform::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
                e.write_all(data).expect("write");
                e.finish().expect("finish")
            }
            Transform::Zlib => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
                e.write_all(data).expect("write");
                e.finish().expect("finish")
            }
            _ => {
                let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
                e.write_all(data).expect("write");
                e.finish().expect("finish")
            }
        }
    }

    #[test]
    fn every_wrapper_is_recognised_and_inflated() {
        let mut inflater = Inflater::default();
        for kind in [Transform::Gzip, Transform::Zlib, Transform::Deflate] {
            let blob = compress(kind, TEXT);
            let (found, start) = sniff(&blob).expect("recognised");
            assert_eq!(found, kind);
            let out = inflater
                .inflate(&blob[start..], 1 << 16, found != Transform::Deflate)
                .expect("inflates");
            assert_eq!(out, TEXT, "{kind}");
        }
    }

    #[test]
    fn gzip_headers_with_optional_fields_are_skipped() {
        let mut e = flate2::GzBuilder::new()
            .filename("note.txt")
            .comment("c")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::fast());
        e.write_all(TEXT).expect("write");
        let blob = e.finish().expect("finish");
        let (kind, start) = sniff(&blob).expect("gzip");
        assert_eq!(kind, Transform::Gzip);
        let out = Inflater::default().inflate(&blob[start..], 1 << 16, true);
        assert_eq!(out.as_deref(), Some(TEXT));
    }

    #[test]
    fn output_is_bounded_and_truncated_streams_still_give_text() {
        let bomb = compress(Transform::Zlib, &vec![b'a'; 1 << 20]);
        let out = Inflater::default()
            .inflate(&bomb[2..], 4096, true)
            .expect("inflates");
        assert_eq!(out.len(), 4096);
        let blob = compress(Transform::Gzip, TEXT);
        let (_, start) = sniff(&blob).expect("gzip");
        let cut = &blob[start..blob.len() - 12];
        let out = Inflater::default()
            .inflate(cut, 1 << 16, true)
            .expect("partial");
        assert!(TEXT.starts_with(&out) && !out.is_empty());
    }

    #[test]
    fn random_bytes_are_rarely_tried_and_rarely_yield_output() {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let mut inflater = Inflater::default();
        let (mut tried, mut yielded) = (0, 0);
        for _ in 0..2000 {
            let mut blob = vec![0u8; 48];
            rng.fill_bytes(&mut blob);
            if let Some((kind, start)) = sniff(&blob) {
                tried += 1;
                let out = inflater.inflate(&blob[start..], 1 << 16, kind != Transform::Deflate);
                yielded += usize::from(out.is_some());
            }
        }
        assert!(tried < 700, "{tried} of 2000 random blobs tried");
        assert!(yielded < 10, "{yielded} of 2000 random blobs inflated");
    }
}
