//! Decoding a haystack: undoing escapes (percent, JSON `\u`, XML entities)
//! and finding the base64, base32 and hex runs worth decoding.
//!
//! Escapes keep a secret's characters apart, so a needle cannot match
//! through them; they are undone with a table back to the escaped text
//! ([`Frame::Table`](super::offsets::Frame::Table)). Encoded runs are
//! decoded so what they hide can be searched again (for compression, which
//! no needle survives). Everything here is lenient: malformed input is kept
//! as written, never an error, since the raw bytes are searched anyway.

use std::sync::LazyLock;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::transform::Transform;

/// Decoded text and, per decoded byte, the offset it came from (plus one
/// entry for the end).
#[derive(Debug)]
pub(crate) struct Unescaped {
    pub bytes: Vec<u8>,
    pub table: Vec<u32>,
}

impl Unescaped {
    fn with_capacity(n: usize) -> Unescaped {
        Unescaped {
            bytes: Vec::with_capacity(n),
            table: Vec::with_capacity(n + 1),
        }
    }

    fn push(&mut self, byte: u8, from: usize) {
        self.bytes.push(byte);
        self.table.push(from as u32);
    }

    fn push_char(&mut self, c: char, from: usize) {
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            self.push(b, from);
        }
    }

    fn finish(mut self, end: usize) -> Unescaped {
        self.table.push(end as u32);
        self
    }
}

/// Whether `bytes` are not text: control bytes, or invalid UTF-8.
pub(crate) fn is_binary(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
        || std::str::from_utf8(bytes).is_err()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Undoes `%XX` escapes; from `plus_from` on (a query string), `+` is a
/// space. `None` when there is nothing to undo.
pub(crate) fn percent(input: &[u8], plus_from: Option<usize>) -> Option<Unescaped> {
    let escaped = |i: usize| {
        input[i] == b'%'
            && input.get(i + 1).copied().and_then(hex_value).is_some()
            && input.get(i + 2).copied().and_then(hex_value).is_some()
    };
    let plus = |i: usize| input[i] == b'+' && plus_from.is_some_and(|from| i >= from);
    if !(0..input.len()).any(|i| escaped(i) || plus(i)) {
        return None;
    }
    let mut out = Unescaped::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if escaped(i) {
            let hi = hex_value(input[i + 1]).unwrap_or(0);
            let lo = hex_value(input[i + 2]).unwrap_or(0);
            out.push(hi << 4 | lo, i);
            i += 3;
        } else {
            out.push(if plus(i) { b' ' } else { input[i] }, i);
            i += 1;
        }
    }
    Some(out.finish(input.len()))
}

/// Undoes JSON string escapes (`\"`, `\n`, `\u00e9`, surrogate pairs).
/// `None` when there is no escape.
pub(crate) fn json_unescape(input: &[u8]) -> Option<Unescaped> {
    if !input.contains(&b'\\') {
        return None;
    }
    let hex4 = |at: usize| -> Option<u32> {
        let digits = input.get(at..at + 4)?;
        digits
            .iter()
            .try_fold(0u32, |acc, &b| Some(acc << 4 | u32::from(hex_value(b)?)))
    };
    let mut out = Unescaped::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'\\' || i + 1 == input.len() {
            out.push(input[i], i);
            i += 1;
            continue;
        }
        let simple = match input[i + 1] {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b, i);
            i += 2;
            changed = true;
            continue;
        }
        let Some(unit) = (input[i + 1] == b'u').then(|| hex4(i + 2)).flatten() else {
            out.push(input[i], i);
            i += 1;
            continue;
        };
        let mut consumed = 6;
        let mut code = unit;
        if (0xD800..0xDC00).contains(&unit)
            && input.get(i + 6) == Some(&b'\\')
            && input.get(i + 7) == Some(&b'u')
        {
            if let Some(low) = hex4(i + 8).filter(|low| (0xDC00..0xE000).contains(low)) {
                code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                consumed = 12;
            }
        }
        out.push_char(char::from_u32(code).unwrap_or('\u{FFFD}'), i);
        i += consumed;
        changed = true;
    }
    changed.then(|| out.finish(input.len()))
}

/// HTML's named entities that real senders use for text; XML's five are
/// handled first.
const HTML_ENTITIES: &[(&str, char)] = &[
    ("nbsp", '\u{a0}'),
    ("euro", '€'),
    ("pound", '£'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("deg", '°'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("hellip", '…'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("eacute", 'é'),
    ("egrave", 'è'),
    ("agrave", 'à'),
    ("auml", 'ä'),
    ("ouml", 'ö'),
    ("uuml", 'ü'),
    ("szlig", 'ß'),
];

/// The character an entity body (between `&` and `;`) stands for.
fn entity(name: &[u8]) -> Option<char> {
    let name = std::str::from_utf8(name).ok()?;
    match name {
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "amp" => return Some('&'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        _ => {}
    }
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse::<u32>().ok()?,
        };
        return char::from_u32(code);
    }
    HTML_ENTITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, c)| c)
}

/// Undoes XML character and entity references (and HTML's common named
/// ones). `None` when there is none.
pub(crate) fn xml_unescape(input: &[u8]) -> Option<Unescaped> {
    if !input.contains(&b'&') {
        return None;
    }
    let mut out = Unescaped::with_capacity(input.len());
    let mut changed = false;
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'&' {
            let window = &input[i + 1..input.len().min(i + 12)];
            if let Some(end) = window.iter().position(|&b| b == b';') {
                if let Some(c) = entity(&window[..end]) {
                    out.push_char(c, i);
                    i += end + 2;
                    changed = true;
                    continue;
                }
            }
        }
        out.push(input[i], i);
        i += 1;
    }
    changed.then(|| out.finish(input.len()))
}

/// What an encoded run is taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    Hex,
    Base64,
    Base32,
}

/// A run of one encoding's alphabet, long enough to be worth decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: usize,
    pub end: usize,
    pub kind: RunKind,
}

const HEX: u8 = 1;
const B64: u8 = 2;
const B64_STD: u8 = 4;
const B64_URL: u8 = 8;
const B32_UPPER: u8 = 16;
const B32_LOWER: u8 = 32;
const UPPER: u8 = 64;
const LOWER: u8 = 128;

/// Alphabet membership of every byte.
static CLASSES: LazyLock<[u8; 256]> = LazyLock::new(|| {
    let mut table = [0u8; 256];
    for b in 0..=255u8 {
        let mut c = 0;
        if b.is_ascii_hexdigit() {
            c |= HEX;
        }
        if b.is_ascii_alphanumeric() {
            c |= B64;
        }
        if b == b'+' || b == b'/' {
            c |= B64 | B64_STD;
        }
        if b == b'-' || b == b'_' {
            c |= B64 | B64_URL;
        }
        if b.is_ascii_uppercase() {
            c |= UPPER | B32_UPPER;
        }
        if b.is_ascii_lowercase() {
            c |= LOWER | B32_LOWER;
        }
        if (b'2'..=b'7').contains(&b) {
            c |= B32_UPPER | B32_LOWER;
        }
        table[usize::from(b)] = c;
    }
    table
});

/// Every run of at least `min` characters that may be hex, base64 or
/// base32, into `out` (cleared first).
///
/// A run of hex digits is taken for hex only, and a base64 run must mix
/// upper and lower case: base64 of real data almost never fails either,
/// while words and ids do (`content-available`). A run that starts with
/// `/` or mixes both base64 alphabets is also split at `/`, as a URL path
/// is, so `/3/device/<hex>` yields its hex token.
pub(crate) fn runs(input: &[u8], min: usize, out: &mut Vec<Run>) {
    out.clear();
    runs_in(input, 0, min, true, out);
}

fn runs_in(input: &[u8], offset: usize, min: usize, split: bool, out: &mut Vec<Run>) {
    let class = |b: u8| CLASSES[usize::from(b)];
    let mut i = 0;
    while i < input.len() {
        if class(input[i]) & B64 == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut all = HEX | B32_UPPER | B32_LOWER;
        let mut seen = 0;
        while i < input.len() && class(input[i]) & B64 != 0 {
            all &= class(input[i]);
            seen |= class(input[i]);
            i += 1;
        }
        let unpadded = i;
        while i < input.len() && input[i] == b'=' && i - unpadded < 6 {
            i += 1;
        }
        let mixed_alphabets = seen & B64_STD != 0 && seen & B64_URL != 0;
        if split && (input[start] == b'/' || mixed_alphabets) {
            let mut piece = start;
            for at in (start..unpadded)
                .filter(|&at| input[at] == b'/')
                .chain([unpadded])
            {
                if at > piece {
                    runs_in(&input[piece..at], offset + piece, min, false, out);
                }
                piece = at + 1;
            }
        }
        if unpadded - start < min {
            continue;
        }
        let run = |end: usize, kind: RunKind| Run {
            start: offset + start,
            end: offset + end,
            kind,
        };
        if all & HEX != 0 {
            out.push(run(unpadded, RunKind::Hex));
            continue;
        }
        if seen & UPPER != 0 && seen & LOWER != 0 && !mixed_alphabets {
            out.push(run(i.min(unpadded + 2), RunKind::Base64));
        }
        if all & (B32_UPPER | B32_LOWER) != 0 {
            out.push(run(i, RunKind::Base32));
        }
    }
}

/// Lenient decoders: no padding required, stray bits ignored.
static BASE64_STD: LazyLock<GeneralPurpose> =
    LazyLock::new(|| lenient(&base64::alphabet::STANDARD));
static BASE64_URL: LazyLock<GeneralPurpose> =
    LazyLock::new(|| lenient(&base64::alphabet::URL_SAFE));

fn lenient(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

static BASE32: LazyLock<Option<data_encoding::Encoding>> = LazyLock::new(|| {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.check_trailing_bits = false;
    spec.encoding().ok()
});

/// Decodes one run, with the transform it undid. Trailing characters that
/// cannot end an encoding are dropped rather than failing the run.
pub(crate) fn decode_run(text: &[u8], kind: RunKind) -> Option<(Vec<u8>, Transform)> {
    let unpadded = match text.iter().position(|&b| b == b'=') {
        Some(at) => &text[..at],
        None => text,
    };
    match kind {
        RunKind::Hex => {
            let even = &unpadded[..unpadded.len() & !1];
            Some((hex::decode(even).ok()?, Transform::Hex))
        }
        RunKind::Base64 => {
            let usable = if unpadded.len() % 4 == 1 {
                &unpadded[..unpadded.len() - 1]
            } else {
                unpadded
            };
            let url = usable.iter().any(|&b| b == b'-' || b == b'_');
            let (engine, transform) = if url {
                (&*BASE64_URL, Transform::Base64Url)
            } else {
                (&*BASE64_STD, Transform::Base64)
            };
            Some((engine.decode(usable).ok()?, transform))
        }
        RunKind::Base32 => {
            let engine = BASE32.as_ref()?;
            // Lengths of 1, 3 or 6 (mod 8) cannot end base32: drop the excess.
            let mut len = unpadded.len();
            while matches!(len % 8, 1 | 3 | 6) {
                len -= 1;
            }
            let upper = unpadded[..len].to_ascii_uppercase();
            Some((engine.decode(&upper).ok()?, Transform::Base32))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(u: &Unescaped) -> &str {
        std::str::from_utf8(&u.bytes).expect("utf-8")
    }

    #[test]
    fn percent_maps_each_byte_to_its_escape() {
        let u = percent(b"/a%2Db?q=x+y%20z", Some(3)).expect("escapes");
        assert_eq!(text(&u), "/a-b?q=x y z");
        assert_eq!(u.table[2], 2, "'-' came from '%2D' at 2");
        assert_eq!(u.table[3], 5);
        assert_eq!(*u.table.last().expect("end"), 16);
        assert!(percent(b"/plain/path+1", None).is_none());
        assert!(percent(b"100%", None).is_none());
        assert_eq!(text(&percent(b"%zz%41", None).expect("one escape")), "%zzA");
    }

    #[test]
    fn json_escapes_undone_including_surrogates() {
        let u = json_unescape(br#"a\u0053\n\ud83d\ude00\"\x"#).expect("escapes");
        assert_eq!(text(&u), "aS\n😀\"\\x");
        assert_eq!(u.table[1], 1, "'S' from the \\u at 1");
        assert!(json_unescape(b"plain").is_none());
        assert_eq!(
            text(&json_unescape(br"\ud800 lone").expect("lone")),
            "\u{FFFD} lone"
        );
        assert!(json_unescape(b"trailing \\").is_none());
    }

    #[test]
    fn xml_and_html_entities_undone() {
        let u = xml_unescape(b"a &amp; b &#83;&#x50; &euro;5 &bogus; &").expect("entities");
        assert_eq!(text(&u), "a & b SP €5 &bogus; &");
        assert!(xml_unescape(b"&#99999999999;").is_none());
        assert!(xml_unescape(b"no entity").is_none());
    }

    fn kinds(input: &str) -> Vec<(String, RunKind)> {
        let mut out = Vec::new();
        runs(input.as_bytes(), 16, &mut out);
        out.into_iter()
            .map(|r| (input[r.start..r.end].to_owned(), r.kind))
            .collect()
    }

    #[test]
    fn runs_are_classified_by_alphabet() {
        assert_eq!(
            kinds("id 5f2b7c0e9a41d3b68e0c47f1 x"),
            vec![("5f2b7c0e9a41d3b68e0c47f1".to_owned(), RunKind::Hex)]
        );
        assert_eq!(
            kinds("eyJhbGciOiJFUzI1NiJ9.short"),
            vec![("eyJhbGciOiJFUzI1NiJ9".to_owned(), RunKind::Base64)]
        );
        assert_eq!(
            kinds("KRUGS4ZANFZSA5DFPB2A===="),
            vec![("KRUGS4ZANFZSA5DFPB2A====".to_owned(), RunKind::Base32)]
        );
        assert_eq!(
            kinds("/3/device-x/QUJDREVGR0hJSktMTU5PUA_-"),
            vec![("QUJDREVGR0hJSktMTU5PUA_-".to_owned(), RunKind::Base64)]
        );
        assert_eq!(
            kinds("/3/device/5f2b7c0e9a41d3b68e0c47f1"),
            vec![("5f2b7c0e9a41d3b68e0c47f1".to_owned(), RunKind::Hex)]
        );
        assert_eq!(
            kinds("ab+cd/efGHijklmnopqrstuvwx"),
            vec![("ab+cd/efGHijklmnopqrstuvwx".to_owned(), RunKind::Base64)]
        );
        assert!(kinds("short words only here").is_empty());
        assert!(kinds("content-available application-json").is_empty());
    }

    #[test]
    fn runs_decode_leniently() {
        let (bytes, t) = decode_run(b"aGVsbG8gd29ybGQ", RunKind::Base64).expect("b64");
        assert_eq!(
            (bytes.as_slice(), t),
            (&b"hello world"[..], Transform::Base64)
        );
        let (bytes, t) = decode_run(b"aGVsbG8_d29ybGQ=", RunKind::Base64).expect("b64url");
        assert_eq!(t, Transform::Base64Url);
        assert_eq!(bytes.len(), 11);
        let (bytes, _) = decode_run(b"68656c6c6f7", RunKind::Hex).expect("odd hex");
        assert_eq!(bytes, b"hello");
        let (bytes, _) = decode_run(b"nbswy3dpeb3w64tmmq", RunKind::Base32).expect("b32");
        assert_eq!(bytes, b"hello world");
    }
}
