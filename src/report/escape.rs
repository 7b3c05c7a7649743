//! Escaping of untrusted text for the markup formats the reports are
//! written in (XML for JUnit, HTML and inline SVG for the HTML pages).
//!
//! Everything a report shows may come from the backend under test: a
//! header, a body, an error message. It is treated as hostile. Besides the
//! five markup characters, XML 1.0 forbids most C0 control characters even
//! as character references, so a single ESC from a backend's log would
//! make a JUnit file unreadable; those are written out visibly as `\u001b`
//! instead, and the two noncharacters U+FFFE and U+FFFF likewise.

use std::fmt::Write;

/// Whether XML 1.0 allows `c` at all (production `Char`). Rust strings hold
/// no surrogates, so only controls and the two noncharacters are left out.
pub fn xml_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// Appends `text` as XML/HTML character data.
pub fn push_text(out: &mut String, text: &str) {
    push_escaped(out, text, false);
}

/// Appends `text` as the value of a double-quoted attribute. Newlines and
/// tabs become character references, so that attribute-value
/// normalisation does not turn them into spaces.
pub fn push_attr(out: &mut String, text: &str) {
    push_escaped(out, text, true);
}

/// `text` as XML/HTML character data.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_text(&mut out, text);
    out
}

/// `text` as a double-quoted attribute value.
pub fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_attr(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&#39;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            c if !xml_allowed(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            text(r#"<script>alert("x") & 'y'</script>"#),
            r#"&lt;script&gt;alert("x") &amp; 'y'&lt;/script&gt;"#
        );
        assert_eq!(attr("a\"b'c\nd\te<"), "a&quot;b&#39;c&#10;d&#9;e&lt;");
    }

    #[test]
    fn characters_xml_forbids_are_written_out() {
        assert_eq!(text("a\u{1b}[31mb\u{0}c"), "a\\u001b[31mb\\u0000c");
        assert_eq!(text("\u{fffe}\u{ffff}"), "\\ufffe\\uffff");
        // Allowed beyond the BMP and in the private-use area.
        assert_eq!(text("\u{1F512}\u{E000}"), "\u{1F512}\u{E000}");
        assert_eq!(text("a\r\nb"), "a&#13;\nb");
    }
}
