//! A JSON walker that reports every string (object keys and values) with
//! its JSON pointer and its byte span in the body, escapes intact.
//!
//! A full parser would decode the strings and lose where they were; the
//! scanner needs both the pointer (`json:/aps/alert/body`) and the span, so
//! a hit can be marked in the captured body and escapes inside it named as
//! a transform. Malformed input stops the walk without an error: whatever
//! was reported stands, and the raw body is searched anyway.

use std::ops::Range;

/// Nesting deeper than this is not walked (no push nests this deep, and a
/// peer must not be able to exhaust the stack).
const MAX_DEPTH: usize = 64;

/// One step of a JSON pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    /// An object member, by its key as written (escapes intact).
    Key(&'a [u8]),
    /// An array element.
    Index(usize),
}

/// Renders a pointer as RFC 6901 writes it (`/aps/alert`, `~1` for `/`).
pub(crate) fn pointer(path: &[Seg<'_>]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Index(i) => out.push_str(&i.to_string()),
            Seg::Key(raw) => {
                let decoded = super::decode::json_unescape(raw);
                let bytes = decoded.as_ref().map_or(*raw, |d| d.bytes.as_slice());
                for c in String::from_utf8_lossy(bytes).chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    out
}

/// Calls `visit(span, path)` for every string in `body`: a key with the
/// path of its member, a value with its own. Returns whether `body` was one
/// well-formed JSON value.
pub(crate) fn walk<'a>(body: &'a [u8], visit: &mut impl FnMut(Range<usize>, &[Seg<'a>])) -> bool {
    let mut parser = Parser {
        b: body,
        i: 0,
        path: Vec::new(),
    };
    let ok = parser.value(0, visit).is_some();
    parser.ws();
    ok && parser.i == body.len()
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    path: Vec<Seg<'a>>,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.peek()? == byte).then(|| self.i += 1)
    }

    fn value(
        &mut self,
        depth: usize,
        visit: &mut impl FnMut(Range<usize>, &[Seg<'a>]),
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth, visit),
            b'[' => self.array(depth, visit),
            b'"' => {
                let span = self.string()?;
                visit(span, &self.path);
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => {
                let mut digits = false;
                while let Some(b) = self
                    .peek()
                    .filter(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    digits |= b.is_ascii_digit();
                    self.i += 1;
                }
                digits.then_some(())
            }
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// The content span of the string at `i` (just inside the quotes).
    fn string(&mut self) -> Option<Range<usize>> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => self.i += 2,
                _ => self.i += 1,
            }
        }
        let span = start..self.i;
        self.i += 1;
        Some(span)
    }

    /// Steps over an opening bracket; whether its container is empty (then
    /// the closing one is consumed too).
    fn opens_empty(&mut self, close: u8) -> Option<bool> {
        self.i += 1;
        self.ws();
        let empty = self.peek()? == close;
        if empty {
            self.i += 1;
        }
        Some(empty)
    }

    /// After a member or element: `true` at the closing bracket, `false`
    /// after a comma (both consumed).
    fn closes(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let next = self.peek()?;
        if next != b',' && next != close {
            return None;
        }
        self.i += 1;
        Some(next == close)
    }

    fn object(
        &mut self,
        depth: usize,
        visit: &mut impl FnMut(Range<usize>, &[Seg<'a>]),
    ) -> Option<()> {
        if self.opens_empty(b'}')? {
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.path.push(Seg::Key(&self.b[key.clone()]));
            visit(key, &self.path);
            self.eat(b':')?;
            let member = self.value(depth + 1, visit);
            self.path.pop();
            member?;
            if self.closes(b'}')? {
                return Some(());
            }
        }
    }

    fn array(
        &mut self,
        depth: usize,
        visit: &mut impl FnMut(Range<usize>, &[Seg<'a>]),
    ) -> Option<()> {
        if self.opens_empty(b']')? {
            return Some(());
        }
        for index in 0.. {
            self.path.push(Seg::Index(index));
            let element = self.value(depth + 1, visit);
            self.path.pop();
            element?;
            if self.closes(b']')? {
                return Some(());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(body: &str) -> (Vec<(String, String)>, bool) {
        let mut out = Vec::new();
        let complete = walk(body.as_bytes(), &mut |span, path| {
            out.push((pointer(path), body[span].to_owned()));
        });
        (out, complete)
    }

    #[test]
    fn keys_and_values_with_pointers_and_raw_spans() {
        let (found, complete) = strings(
            r#"{"aps":{"alert":{"body":"hi \"x\""},"n":[1,"a/b",{"k~":"v"}]},"id":"\u0041"}"#,
        );
        assert!(complete);
        let expected = [
            ("/aps", "aps"),
            ("/aps/alert", "alert"),
            ("/aps/alert/body", "body"),
            ("/aps/alert/body", r#"hi \"x\""#),
            ("/aps/n", "n"),
            ("/aps/n/1", "a/b"),
            ("/aps/n/2/k~0", "k~"),
            ("/aps/n/2/k~0", "v"),
            ("/id", "id"),
            ("/id", r"\u0041"),
        ];
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(p, s)| (p.as_str(), s.as_str()))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn malformed_input_stops_without_panicking() {
        for body in [
            "",
            "{",
            r#"{"a":"#,
            r#"{"a":"x"#,
            r#"{"a" 1}"#,
            "[1,2",
            r#""\"#,
            "tru",
            "{}x",
            r#"{"a":"b",}"#,
            "[-]",
            "{\"\\",
            "nul",
        ] {
            let (_, complete) = strings(body);
            assert!(!complete, "{body:?}");
        }
        let (found, complete) = strings(r#"{"a":"seen","b":"#);
        assert!(!complete);
        assert_eq!(found.len(), 3, "strings before the break are reported");
        let deep = "[".repeat(10_000);
        assert!(!strings(&deep).1);
        assert!(strings(r#"[1.5e3,-2,true,false,null,"s"]"#).1);
    }
}
