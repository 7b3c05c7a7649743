//! Accepting `:scheme: https:` (and `http:`), which Node.js's HTTP/2
//! client sends when a caller copies `URL.protocol` into the pseudo-header
//! (firebase-admin for Node.js does, for `sendEach`), and which Google
//! serves. h2 resets such a stream (`PROTOCOL_ERROR`: the `http` crate
//! cannot parse the scheme), so the bytes of each request header block are
//! rewritten before h2 decodes them: the value loses its trailing colon.
//!
//! **How.** A header block is HPACK: a run of representations, most of
//! them an index or a length-prefixed string, so it can be walked without
//! decoding any string. The walk stops at the first field known to be a
//! regular header (pseudo-headers come first), so on an ordinary request it
//! reads a handful of bytes. A `:scheme` field is spotted by its name: the
//! static table's `:scheme` entries (6, 7), a literal name `:scheme` (raw
//! or Huffman-coded: a string has one Huffman coding), or a dynamic-table
//! entry that was inserted with that name. A Huffman-coded `https:` (5
//! bytes) becomes the raw `https` (5 bytes) in place, `http:` (4) the raw
//! `http` (4); a raw value loses its last byte (the frame's length is
//! adjusted, padding and the PRIORITY fields left as they are).
//!
//! **Why the dynamic table stays in step.** h2's decoder builds its table
//! from the rewritten bytes while the client's encoder built its own from
//! the original ones: the entries are the same but for `:scheme` values one
//! byte shorter. Each of h2's entries is at most as large as the client's,
//! so h2's table evicts no earlier than the client's: it always holds the
//! client's entries, newest first, plus perhaps some older ones at the
//! end. The client only refers to entries it holds, whose indices
//! (62 for the newest, counting insertions back) are the same on both
//! sides. An entry the client found too large to insert (which empties its
//! table) may fit h2's table once shortened; it then sits at the front
//! until the next insertion, but the client refers to nothing before that.
//! So indexed references need no help (they name the already rewritten
//! entry), and the one case left is a literal whose *name* refers to a
//! dynamic `:scheme` entry: the walk counts insertions after the first
//! `:scheme` entry enters the table, which locates such names without
//! knowing the table's sizes (an entry is at index 62 + the insertions
//! since it).
//!
//! **Cost.** Only HEADERS frames are looked at. A block in one frame (as
//! good as every request) is walked where it lies, a string's octets
//! skipped by its length, nothing copied or allocated; a connection that
//! never puts a `:scheme` into the dynamic table (every client but Node's
//! with a colon) stops each walk at its first regular header, a few
//! representations in. Only a block split by CONTINUATION frames is copied
//! into one piece first.

use super::frame::{
    payload_len, CONTINUATION, FLAG_END_HEADERS, FLAG_PADDED, FLAG_PRIORITY, FRAME_HEADER_LEN,
    HEADERS,
};

/// The static table's `:scheme` entries (`http`, `https`), RFC 7541 App. A.
const STATIC_SCHEME: [u64; 2] = [6, 7];
/// Static entries 1 to 14 are pseudo-headers; 15 to 61 are not.
const LAST_STATIC_PSEUDO: u64 = 14;
const STATIC_TABLE_LEN: u64 = 61;

/// Most `:scheme` insertions remembered. h2 announces a 4096-byte table,
/// and an entry takes at least 32 bytes: no client keeps more than 128
/// entries, so an insertion 128 back is gone from its table.
const MAX_TABLE_ENTRIES: u64 = 128;
/// Frames one header block may span and still be examined.
const MAX_FRAGMENTS: usize = 16;
/// `:scheme` fields rewritten per block (a request has one).
const MAX_EDITS: usize = 4;

/// HPACK Huffman codes (RFC 7541 Appendix B) of the characters in
/// `:scheme`, `https:` and `http:`: `(code, bits)`.
fn huffman_code(byte: u8) -> Option<(u32, u32)> {
    Some(match byte {
        b':' => (0x5c, 7),
        b'c' => (0x4, 5),
        b'e' => (0x5, 5),
        b'h' => (0x27, 6),
        b'm' => (0x29, 6),
        b'p' => (0x2b, 6),
        b's' => (0x8, 5),
        b't' => (0x9, 5),
        _ => return None,
    })
}

/// The Huffman coding of `text` (only the characters above), padded with
/// ones, written into `out`; its length.
fn huffman(text: &[u8], out: &mut [u8; 8]) -> usize {
    let mut bits: u64 = 0;
    let mut count = 0;
    for &byte in text {
        let (code, len) = huffman_code(byte).expect("only the scheme characters are coded");
        bits = (bits << len) | u64::from(code);
        count += len;
    }
    let padding = (8 - count % 8) % 8;
    bits = (bits << padding) | ((1 << padding) - 1);
    let len = ((count + padding) / 8) as usize;
    for (i, byte) in out.iter_mut().take(len).enumerate() {
        *byte = (bits >> (8 * (len - 1 - i))) as u8;
    }
    len
}

/// A byte string as it may appear in a block: its coding and octets.
#[derive(Clone, Copy)]
struct Coded {
    huffman: bool,
    bytes: [u8; 8],
    len: usize,
}

impl Coded {
    fn raw(text: &[u8]) -> Coded {
        let mut bytes = [0; 8];
        bytes[..text.len()].copy_from_slice(text);
        Coded {
            huffman: false,
            bytes,
            len: text.len(),
        }
    }

    fn huffman(text: &[u8]) -> Coded {
        let mut bytes = [0; 8];
        let len = huffman(text, &mut bytes);
        Coded {
            huffman: true,
            bytes,
            len,
        }
    }

    fn octets(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The strings the walk compares with, coded both ways once.
struct Patterns {
    scheme_name: [Coded; 2],
    /// `(malformed value, its replacement)`.
    values: [(Coded, Coded); 4],
}

impl Patterns {
    fn new() -> Patterns {
        Patterns {
            scheme_name: [Coded::raw(b":scheme"), Coded::huffman(b":scheme")],
            values: [
                // Same length: the Huffman `https:` is 5 octets, like `https`.
                (Coded::huffman(b"https:"), Coded::raw(b"https")),
                (Coded::huffman(b"http:"), Coded::raw(b"http")),
                // One octet shorter.
                (Coded::raw(b"https:"), Coded::raw(b"https")),
                (Coded::raw(b"http:"), Coded::raw(b"http")),
            ],
        }
    }
}

fn patterns() -> &'static Patterns {
    static PATTERNS: std::sync::OnceLock<Patterns> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(Patterns::new)
}

/// Whether a Huffman-coded or raw name starts with `:` (a pseudo-header).
fn starts_with_colon(huffman: bool, first: u8) -> bool {
    if huffman {
        // ':' is the 7-bit code 1011100.
        first >> 1 == 0x5c
    } else {
        first == b':'
    }
}

/// The `:scheme` state of one connection's header blocks.
#[derive(Debug, Default)]
pub(crate) struct SchemeFix {
    /// Literals with incremental indexing seen since tracking began: the
    /// id of the newest dynamic-table entry.
    insertions: u64,
    /// Ids of the `:scheme` entries inserted, newest last; empty when
    /// tracking is off (no `:scheme` entry can be in the table).
    tracked: Vec<u64>,
    /// Set when a block went by unexamined while tracking: insertions can
    /// no longer be counted, so dynamic names are not resolved any more.
    blind: bool,
}

/// Where a header block fragment lies in the block's frames.
#[derive(Clone, Copy, Default)]
struct Fragment {
    /// Offset of the frame's header.
    frame: usize,
    start: usize,
    end: usize,
}

/// The fragments of one header block, in its frames' bytes.
struct Fragments {
    /// The HEADERS frame's.
    first: Fragment,
    /// The CONTINUATION frames' (none, and nothing allocated, for a block
    /// in one frame).
    more: Vec<Fragment>,
}

impl Fragments {
    fn iter(&self) -> impl Iterator<Item = &Fragment> {
        std::iter::once(&self.first).chain(&self.more)
    }

    /// Where byte `at` of the header block (the fragments one after the
    /// other) lies in the frames' bytes, and the offset of its frame.
    fn locate(&self, mut at: usize) -> Option<(usize, usize)> {
        for f in self.iter() {
            let len = f.end - f.start;
            if at < len {
                return Some((f.start + at, f.frame));
            }
            at -= len;
        }
        None
    }
}

/// An HPACK integer with an `n`-bit prefix whose first byte is `first`,
/// its continuation bytes (if any) from `block[at]` on; the value and the
/// offset after it.
fn integer(block: &[u8], first: u8, n: u32, mut at: usize) -> Option<(u64, usize)> {
    let mask = (1u16 << n) - 1;
    let mut value = u64::from(u16::from(first) & mask);
    if value < u64::from(mask) {
        return Some((value, at));
    }
    let mut shift = 0;
    loop {
        let byte = *block.get(at)?;
        at += 1;
        value += u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Some((value, at));
        }
        if shift > 28 {
            return None;
        }
    }
}

/// Where the octets of the string literal whose length byte is
/// `block[length_at]` start and end, and that byte; `None` past the block.
fn string_bounds(block: &[u8], length_at: usize) -> Option<(usize, usize, u8)> {
    let first = *block.get(length_at)?;
    let (len, start) = integer(block, first, 7, length_at + 1)?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= block.len()).then_some((start, end, first))
}

/// The string literal whose length byte is `block[length_at]`, and the
/// offset after it.
fn string(block: &[u8], length_at: usize) -> Option<(Str, usize)> {
    let (start, end, first) = string_bounds(block, length_at)?;
    let bytes = &block[start..end];
    let len = bytes.len();
    // Only strings of at most 8 octets are compared or rewritten; of a
    // longer one the walk needs the first octet (is it a pseudo-header
    // name?).
    let mut octets = [0u8; 8];
    let kept = len.min(octets.len());
    octets[..kept].copy_from_slice(&bytes[..kept]);
    let s = Str {
        huffman: first & 0x80 != 0,
        length_at,
        single_length_byte: first & 0x7f != 0x7f,
        len,
        octets,
        start,
    };
    Some((s, end))
}

/// A string literal of a header block: offsets are in the block.
struct Str {
    huffman: bool,
    length_at: usize,
    single_length_byte: bool,
    len: usize,
    /// The first (at most 8) octets.
    octets: [u8; 8],
    start: usize,
}

impl Str {
    fn is(&self, coded: &Coded) -> bool {
        self.huffman == coded.huffman
            && self.len == coded.len
            && &self.octets[..self.len] == coded.octets()
    }
}

/// A rewrite found in a block, located in its frames' bytes.
struct Edit {
    /// Where the value's length byte is.
    length_at: usize,
    /// Where its octets are (the first `len`): a value may straddle two
    /// frames.
    octets_at: [usize; 8],
    len: usize,
    /// The frame that holds its last octet, which loses it when the
    /// replacement is shorter.
    last_frame: usize,
    replacement: Coded,
}

impl Edit {
    fn new(value: &Str, replacement: Coded, fragments: &Fragments) -> Option<Edit> {
        let mut octets_at = [0; 8];
        let mut last_frame = 0;
        for (i, at) in octets_at.iter_mut().enumerate().take(value.len) {
            (*at, last_frame) = fragments.locate(value.start + i)?;
        }
        Some(Edit {
            length_at: fragments.locate(value.length_at)?.0,
            octets_at,
            len: value.len,
            last_frame,
            replacement,
        })
    }
}

/// Whether the next block of frames in `bytes` (a HEADERS frame and the
/// CONTINUATION frames that end it) is whole, and how long it is.
pub(crate) enum Extent {
    /// The block's frames take this many bytes.
    Whole(usize),
    /// More bytes are needed.
    Partial,
    /// Not a block this layer examines (malformed, or too many frames):
    /// hand over the first frame as it is, and let h2 judge.
    Skip,
}

/// The extent of the header block starting at `bytes[0]`, a HEADERS frame.
pub(crate) fn block_extent(bytes: &[u8]) -> Extent {
    let mut at = 0;
    for frames in 0..MAX_FRAGMENTS {
        let Some(header) = bytes.get(at..at + FRAME_HEADER_LEN) else {
            return Extent::Partial;
        };
        let kind = header[3];
        if (frames == 0 && kind != HEADERS) || (frames > 0 && kind != CONTINUATION) {
            return Extent::Skip;
        }
        let len = payload_len(header);
        at += FRAME_HEADER_LEN + len;
        if at > bytes.len() {
            return Extent::Partial;
        }
        if header[4] & FLAG_END_HEADERS != 0 {
            return Extent::Whole(at);
        }
    }
    Extent::Skip
}

impl SchemeFix {
    /// A block that went by unexamined (too large, malformed): if a
    /// `:scheme` entry may be in the table, its index is lost.
    pub(crate) fn skipped(&mut self) {
        if !self.tracked.is_empty() {
            self.tracked.clear();
            self.blind = true;
        }
    }

    /// Rewrites the malformed `:scheme` values of the header block whose
    /// frames are `block` (as [`block_extent`] measured it). Returns how
    /// many bytes the block lost: they are removed at its front, so the
    /// rewritten block is `block[removed..]`.
    pub(crate) fn fix(&mut self, block: &mut [u8]) -> usize {
        let Some(fragments) = fragments(block) else {
            self.skipped();
            return 0;
        };
        // The walk reads the block in one piece: the fragment of its one
        // frame, as almost every request sends it, or the fragments of a
        // block split by CONTINUATION frames copied one after the other.
        let joined: Vec<u8>;
        let whole: &[u8] = if fragments.more.is_empty() {
            &block[fragments.first.start..fragments.first.end]
        } else {
            joined = fragments
                .iter()
                .flat_map(|f| &block[f.start..f.end])
                .copied()
                .collect();
            &joined
        };
        let mut edits: [Option<Edit>; MAX_EDITS] = Default::default();
        let Some(found) = self.walk(whole, &fragments, &mut edits) else {
            // A malformed block: h2 will refuse it; nothing to count.
            self.skipped();
            return 0;
        };
        if found == 0 {
            return 0;
        }
        apply(block, &edits)
    }

    /// Walks the representations of `block` (a whole header block), noting
    /// `:scheme` values to rewrite in `edits`, located in the frames by
    /// `fragments`; returns how many, or `None` if it is malformed.
    fn walk(
        &mut self,
        block: &[u8],
        fragments: &Fragments,
        edits: &mut [Option<Edit>; MAX_EDITS],
    ) -> Option<usize> {
        let patterns = patterns();
        let mut found = 0;
        let mut at = 0;
        // Past the pseudo-headers only insertions matter, and only while
        // tracking.
        let mut in_pseudo = true;
        while let Some(&first) = block.get(at) {
            if !in_pseudo && self.tracked.is_empty() {
                break;
            }
            at += 1;
            if first & 0x80 != 0 {
                // Indexed field: an index names an entry h2 holds as
                // rewritten.
                let (index, next) = integer(block, first, 7, at)?;
                if (LAST_STATIC_PSEUDO + 1..=STATIC_TABLE_LEN).contains(&index) {
                    in_pseudo = false;
                }
                at = next;
                continue;
            }
            if first & 0xe0 == 0x20 {
                // Dynamic table size update: 0 empties the table.
                let (size, next) = integer(block, first, 5, at)?;
                if size == 0 {
                    self.tracked.clear();
                }
                at = next;
                continue;
            }
            let (indexing, prefix) = if first & 0xc0 == 0x40 {
                (true, 6)
            } else {
                // Without indexing (0000) or never indexed (0001).
                (false, 4)
            };
            let (index, next) = integer(block, first, prefix, at)?;
            let (is_scheme, value_at) = if index == 0 {
                let (name, next) = string(block, next)?;
                let is_scheme = patterns.scheme_name.iter().any(|p| name.is(p));
                if name.len > 0 && !starts_with_colon(name.huffman, name.octets[0]) {
                    in_pseudo = false;
                }
                (is_scheme, next)
            } else if index <= STATIC_TABLE_LEN {
                if index > LAST_STATIC_PSEUDO {
                    in_pseudo = false;
                }
                (STATIC_SCHEME.contains(&index), next)
            } else {
                (self.is_tracked_scheme(index), next)
            };
            if !is_scheme {
                // The value of any other field (a request's `:path` and
                // `:authority`) is only stepped over.
                at = string_bounds(block, value_at)?.1;
            } else {
                let (value, next) = string(block, value_at)?;
                at = next;
                if value.single_length_byte && found < MAX_EDITS {
                    if let Some((_, replacement)) =
                        patterns.values.iter().find(|(bad, _)| value.is(bad))
                    {
                        edits[found] = Some(Edit::new(&value, *replacement, fragments)?);
                        found += 1;
                    }
                }
            }
            if indexing {
                self.inserted(is_scheme);
            }
        }
        Some(found)
    }

    /// Whether dynamic index `index` names a `:scheme` entry.
    fn is_tracked_scheme(&self, index: u64) -> bool {
        let back = index - (STATIC_TABLE_LEN + 1);
        self.insertions
            .checked_sub(back)
            .is_some_and(|id| self.tracked.contains(&id))
    }

    /// Counts an insertion into the dynamic table; a `:scheme` one starts
    /// (or goes on) tracking.
    fn inserted(&mut self, is_scheme: bool) {
        if self.tracked.is_empty() && !is_scheme {
            return;
        }
        self.insertions += 1;
        if is_scheme && !self.blind {
            if self.tracked.len() as u64 >= MAX_TABLE_ENTRIES {
                self.tracked.remove(0);
            }
            self.tracked.push(self.insertions);
        }
        let oldest_kept = self.insertions.saturating_sub(MAX_TABLE_ENTRIES);
        self.tracked.retain(|&id| id > oldest_kept);
    }
}

/// The header block fragments of the frames in `bytes`, or `None` if a
/// frame's padding or priority fields do not fit it.
fn fragments(bytes: &[u8]) -> Option<Fragments> {
    let mut first = None;
    let mut more = Vec::new();
    let mut at = 0;
    while at < bytes.len() && more.len() + 1 < MAX_FRAGMENTS {
        let header = bytes.get(at..at + FRAME_HEADER_LEN)?;
        let len = payload_len(header);
        let (kind, flags) = (header[3], header[4]);
        let payload_start = at + FRAME_HEADER_LEN;
        let payload_end = payload_start + len;
        let mut start = payload_start;
        let mut end = payload_end;
        if kind == HEADERS {
            if flags & FLAG_PADDED != 0 {
                let pad = usize::from(*bytes.get(start)?);
                start += 1;
                end = end.checked_sub(pad)?;
            }
            if flags & FLAG_PRIORITY != 0 {
                start += 5;
            }
            if start > end {
                return None;
            }
        }
        let fragment = Fragment {
            frame: at,
            start,
            end,
        };
        if first.is_none() {
            first = Some(fragment);
        } else {
            more.push(fragment);
        }
        at = payload_end;
    }
    Some(Fragments {
        first: first?,
        more,
    })
}

/// Applies the edits to `bytes`; returns how many bytes the block lost
/// at its front.
fn apply(bytes: &mut [u8], edits: &[Option<Edit>; MAX_EDITS]) -> usize {
    let mut deleted = [0usize; MAX_EDITS];
    let mut deletions = 0;
    for edit in edits.iter().flatten() {
        let new = &edit.replacement;
        // The length byte: the coding flag and the new length (< 127).
        bytes[edit.length_at] = if new.huffman { 0x80 } else { 0 } | new.len as u8;
        for (&at, &byte) in edit.octets_at.iter().zip(new.octets()) {
            bytes[at] = byte;
        }
        if new.len < edit.len {
            // One octet shorter: its frame loses the value's last byte.
            let frame = edit.last_frame;
            let len = payload_len(&bytes[frame..frame + 3]) - 1;
            bytes[frame] = (len >> 16) as u8;
            bytes[frame + 1] = (len >> 8) as u8;
            bytes[frame + 2] = len as u8;
            deleted[deletions] = edit.octets_at[edit.len - 1];
            deletions += 1;
        }
    }
    let deleted = &mut deleted[..deletions];
    deleted.sort_unstable();
    // Close the gaps by moving what precedes each deleted byte right, from
    // the last gap to the first (the segment before the k-th gap moves by
    // the number of gaps from it on): the block then ends where it did.
    for k in (0..deleted.len()).rev() {
        let shift = deleted.len() - k;
        let segment_start = if k == 0 { 0 } else { deleted[k - 1] + 1 };
        bytes.copy_within(segment_start..deleted[k], segment_start + shift);
    }
    deletions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_codes_match_rfc_7541() {
        // "https" is h t t p s = 100111 01001 01001 101011 01000, then
        // five padding ones.
        let mut out = [0; 8];
        let len = huffman(b"https", &mut out);
        assert_eq!(&out[..len], &[0x9d, 0x29, 0xad, 0x1f]);
        // The rest by hand from Appendix B, as the wire tests send them.
        let len = huffman(b"https:", &mut out);
        assert_eq!(&out[..len], &[0x9d, 0x29, 0xad, 0x17, 0x3f]);
        let len = huffman(b"http:", &mut out);
        assert_eq!(&out[..len], &[0x9d, 0x29, 0xae, 0xe7]);
        let len = huffman(b":scheme", &mut out);
        assert_eq!(&out[..len], &[0xb8, 0x82, 0x4e, 0x5a, 0x4b]);
    }

    #[test]
    fn blocks_are_measured_across_continuation_frames() {
        let headers = [0, 0, 2, HEADERS, 0, 0, 0, 0, 1, 0x82, 0x87];
        assert!(matches!(block_extent(&headers), Extent::Partial));
        let mut block = headers.to_vec();
        block.extend_from_slice(&[0, 0, 1, CONTINUATION, FLAG_END_HEADERS, 0, 0, 0, 1, 0x84]);
        assert!(matches!(block_extent(&block), Extent::Whole(21)));
        block[14] = 0x0; // the CONTINUATION's type becomes DATA
        assert!(matches!(block_extent(&block), Extent::Skip));
    }
}
