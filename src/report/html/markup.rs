//! [`Markup`]: HTML built by this module, kept apart from text by type so
//! that untrusted text reaches a page only through escaping.

use std::fmt;

use crate::report::escape;

/// A fragment of HTML (or inline SVG) that is safe to insert into a page:
/// it was built by pushproof's renderers, and any text in it was escaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markup(String);

impl Markup {
    /// An empty fragment.
    pub fn new() -> Markup {
        Markup(String::new())
    }

    /// Any text, escaped: the one way untrusted text becomes markup.
    pub fn text(text: &str) -> Markup {
        Markup(escape::text(text))
    }

    /// Markup this crate built itself; never call it on outside text.
    pub(crate) fn trusted(html: String) -> Markup {
        Markup(html)
    }

    /// `<tag>text</tag>` for a fixed, attribute-less tag (`h2`, `p`, `li`…).
    pub fn element(tag: &'static str, text: &str) -> Markup {
        Markup(format!("<{tag}>{}</{tag}>", escape::text(text)))
    }

    /// A table of text cells with a header row (figures beside a chart).
    pub fn table(caption: &str, header: &[&str], rows: &[Vec<String>]) -> Markup {
        let mut out = String::from("<table class=\"figures\"><caption>");
        escape::push_text(&mut out, caption);
        out.push_str("</caption><thead><tr>");
        for h in header {
            out.push_str("<th scope=\"col\">");
            escape::push_text(&mut out, h);
            out.push_str("</th>");
        }
        out.push_str("</tr></thead><tbody>");
        for row in rows {
            out.push_str("<tr>");
            for cell in row {
                out.push_str("<td>");
                escape::push_text(&mut out, cell);
                out.push_str("</td>");
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        Markup(out)
    }

    /// Appends another fragment.
    pub fn push(&mut self, other: &Markup) {
        self.0.push_str(&other.0);
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_cells_are_escaped() {
        assert_eq!(Markup::text("<b>").as_str(), "&lt;b&gt;");
        assert_eq!(Markup::element("p", "a&b").as_str(), "<p>a&amp;b</p>");
        let t = Markup::table("c<", &["h\""], &[vec!["<script>".to_owned()]]);
        assert!(t.as_str().contains("<td>&lt;script&gt;</td>"), "{t}");
        assert!(!t.as_str().contains("<script>"), "{t}");
    }
}
