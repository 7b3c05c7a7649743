//! An XML walker for WNS toasts, tiles and badges: every text node and
//! attribute value, with its element path and byte span, entities intact.
//!
//! Like the JSON walker it keeps spans so hits can be marked in the body;
//! it is tolerant (a stray `</x>` or an unclosed tag ends nothing but the
//! walk) and never fails: the raw body is searched anyway.

use std::ops::Range;

/// Elements nested deeper than this are not walked.
const MAX_DEPTH: usize = 64;

/// One element on the path, with its position among same-named siblings
/// (1-based, as XPath counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step<'a> {
    pub name: &'a [u8],
    pub index: usize,
}

/// `/toast/visual/binding/text[2]`, or `…/binding/@template` for an
/// attribute.
pub(crate) fn path(steps: &[Step<'_>], attr: Option<&[u8]>) -> String {
    let mut out = String::new();
    for step in steps {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(step.name));
        if step.index > 1 {
            out.push_str(&format!("[{}]", step.index));
        }
    }
    if let Some(attr) = attr {
        out.push_str("/@");
        out.push_str(&String::from_utf8_lossy(attr));
    }
    out
}

const CDATA: &[u8] = b"<![CDATA[";

/// Constructs that are not elements, by how they open and close (longest
/// openings first); only CDATA holds text.
const SKIPPED: [(&[u8], &[u8]); 4] = [
    (CDATA, b"]]>"),
    (b"<!--", b"-->"),
    (b"<?", b"?>"),
    (b"<!", b">"),
];

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn is_name_end(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'/' || b == b'>' || b == b'='
}

/// Calls `visit(span, path, attribute)` for every non-blank text node
/// (attribute `None`), CDATA section and attribute value. Returns whether
/// the body was one well-formed element tree.
pub(crate) fn walk<'a>(
    body: &'a [u8],
    visit: &mut impl FnMut(Range<usize>, &[Step<'a>], Option<&'a [u8]>),
) -> bool {
    let mut stack: Vec<Step<'a>> = Vec::new();
    // Per open level, how many children of each name were seen.
    let mut counts: Vec<Vec<(&'a [u8], usize)>> = vec![Vec::new()];
    let mut roots = 0;
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'<' {
            let end = find(body, i, b"<").unwrap_or(body.len());
            if body[i..end].iter().any(|b| !b.is_ascii_whitespace()) {
                visit(i..end, &stack, None);
            }
            i = end;
            continue;
        }
        let rest = &body[i..];
        if let Some(&(open, close)) = SKIPPED.iter().find(|(open, _)| rest.starts_with(open)) {
            let Some(end) = find(body, i + open.len(), close) else {
                return false;
            };
            if open == CDATA {
                visit(i + open.len()..end, &stack, None);
            }
            i = end + close.len();
        } else if rest.starts_with(b"</") {
            let Some(end) = find(body, i + 2, b">") else {
                return false;
            };
            let name = body[i + 2..end].trim_ascii();
            if stack.last().map(|s| s.name) != Some(name) {
                return false;
            }
            stack.pop();
            counts.pop();
            i = end + 1;
        } else {
            let name_start = i + 1;
            let mut j = name_start;
            while j < body.len() && !is_name_end(body[j]) {
                j += 1;
            }
            if j == name_start || stack.len() >= MAX_DEPTH {
                return false;
            }
            let name = &body[name_start..j];
            let Some(siblings) = counts.last_mut() else {
                return false;
            };
            let index = match siblings.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    siblings.push((name, 1));
                    1
                }
            };
            if stack.is_empty() {
                roots += 1;
            }
            stack.push(Step { name, index });
            // Attributes, up to the end of the tag.
            loop {
                while j < body.len() && body[j].is_ascii_whitespace() {
                    j += 1;
                }
                match body.get(j) {
                    None => return false,
                    Some(b'>') => {
                        counts.push(Vec::new());
                        j += 1;
                        break;
                    }
                    Some(b'/') if body.get(j + 1) == Some(&b'>') => {
                        stack.pop();
                        j += 2;
                        break;
                    }
                    Some(_) => {}
                }
                let attr_start = j;
                while j < body.len() && !is_name_end(body[j]) {
                    j += 1;
                }
                let attr = &body[attr_start..j];
                while j < body.len() && body[j].is_ascii_whitespace() {
                    j += 1;
                }
                if attr.is_empty() || body.get(j) != Some(&b'=') {
                    return false;
                }
                j += 1;
                while j < body.len() && body[j].is_ascii_whitespace() {
                    j += 1;
                }
                let Some(&quote) = body.get(j).filter(|q| matches!(q, b'"' | b'\'')) else {
                    return false;
                };
                let Some(close) = find(body, j + 1, &[quote]) else {
                    return false;
                };
                visit(j + 1..close, &stack, Some(attr));
                j = close + 1;
            }
            i = j;
        }
    }
    stack.is_empty() && roots == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(body: &str) -> (Vec<(String, String)>, bool) {
        let mut out = Vec::new();
        let complete = walk(body.as_bytes(), &mut |span, steps, attr| {
            out.push((path(steps, attr), body[span].to_owned()));
        });
        (out, complete)
    }

    #[test]
    fn toast_text_and_attributes_with_paths() {
        let (found, complete) = items(
            "<?xml version=\"1.0\"?><toast launch='a&amp;b'><visual><binding \
             template=\"ToastGeneric\"><text>Hi &#83;</text><text><![CDATA[x<y]]></text>\
             <image src=\"p.png\"/></binding></visual><!-- note --></toast>",
        );
        assert!(complete);
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(p, s)| (p.as_str(), s.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("/toast/@launch", "a&amp;b"),
                ("/toast/visual/binding/@template", "ToastGeneric"),
                ("/toast/visual/binding/text", "Hi &#83;"),
                ("/toast/visual/binding/text[2]", "x<y"),
                ("/toast/visual/binding/image/@src", "p.png"),
            ]
        );
    }

    #[test]
    fn malformed_input_stops_without_panicking() {
        for body in [
            "<",
            "<a",
            "<a b>",
            "<a b=c>",
            "<a b='x>",
            "<a></b>",
            "<a>",
            "</a>",
            "<!-- x",
            "<![CDATA[",
            "<?x",
            "<a/><b/>",
            "< a>",
            "<a>text</a>tail<",
        ] {
            assert!(!items(body).1, "{body:?}");
        }
        let (found, _) = items("<a x='1'><b>seen</b><c");
        assert_eq!(found.len(), 2, "items before the break are reported");
        assert!(!items(&"<a>".repeat(1000)).1);
    }
}
