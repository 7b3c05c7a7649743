//! How offsets in a decoded layer map back to the bytes as captured.
//!
//! Every decoding step the scanner takes (a JSON string inside a body, an
//! unescaped header, a base64 run decoded, a blob inflated) pushes one
//! [`Frame`]; a hit's range is mapped through the frames innermost first,
//! so evidence can mark it in the captured push. Unescaping maps exactly;
//! base-N decoding maps to the encoded characters that hold the bytes;
//! decompression maps to the whole compressed blob.

use std::ops::Range;

/// One decoding step, seen from the child layer.
#[derive(Debug, Clone)]
pub(crate) enum Frame {
    /// The child is the parent from this offset on (a JSON string or XML
    /// text inside a body).
    Shift(usize),
    /// Unescaped text: entry `i` is the parent offset where decoded byte
    /// `i` came from; one more entry holds the parent's end.
    Table(Vec<u32>),
    /// A base-N run `parent[start..end]` decoded: `den` decoded bytes came
    /// from `num` characters.
    Scale {
        start: usize,
        end: usize,
        num: usize,
        den: usize,
    },
    /// Decompressed from `parent[start..end]`: nothing finer is known.
    Whole { start: usize, end: usize },
}

impl Frame {
    /// The parent range that holds child range `r`.
    fn map(&self, r: Range<usize>) -> Range<usize> {
        match self {
            Frame::Shift(base) => base + r.start..base + r.end,
            Frame::Table(table) => {
                let at = |i: usize| table.get(i).or(table.last()).copied().unwrap_or(0) as usize;
                at(r.start)..at(r.end)
            }
            Frame::Scale {
                start,
                end,
                num,
                den,
            } => {
                let from = start + r.start * num / den;
                let to = start + (r.end * num).div_ceil(*den);
                from.min(*end)..to.min(*end)
            }
            Frame::Whole { start, end } => *start..*end,
        }
    }
}

/// Maps a range in the innermost layer back through every frame.
pub(crate) fn to_captured(frames: &[Frame], r: Range<usize>) -> Range<usize> {
    frames.iter().rev().fold(r, |r, frame| frame.map(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_compose_innermost_first() {
        // A JSON string at body offset 10, holding "%41BC" decoded to "ABC".
        let frames = [Frame::Shift(10), Frame::Table(vec![0, 3, 4, 5])];
        assert_eq!(to_captured(&frames, 0..1), 10..13);
        assert_eq!(to_captured(&frames, 1..3), 13..15);
        assert_eq!(to_captured(&[], 2..4), 2..4);
    }

    #[test]
    fn base_n_maps_to_the_characters_that_hold_the_bytes() {
        let b64 = Frame::Scale {
            start: 100,
            end: 140,
            num: 4,
            den: 3,
        };
        assert_eq!(b64.map(0..3), 100..104);
        assert_eq!(b64.map(4..5), 105..107);
        assert_eq!(b64.map(0..60), 100..140, "capped at the run's end");
        assert_eq!(Frame::Whole { start: 5, end: 9 }.map(100..200), 5..9);
    }
}
