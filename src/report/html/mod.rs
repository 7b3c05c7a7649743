//! Self-contained HTML pages: the conformance report ([`render`]) and a
//! shell for other reports ([`page`], e.g. the load report with its
//! [`chart`]s).
//!
//! A page is one file with its stylesheet and script inline: it fetches
//! nothing and opens offline from a `file://` URL. Its Content Security
//! Policy allows only that one stylesheet and that one script (by hash),
//! no network, no plugins and no forms, so that even a mistake in escaping
//! could not run a script a backend slipped into its evidence; the
//! escaping itself ([`Markup`]) is the first line of defence.

pub mod chart;
mod evidence;
mod markup;
mod suite;

use base64::Engine as _;
use sha2::{Digest, Sha256};

pub use markup::Markup;
pub use suite::render;

use crate::report::escape::push_text;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// A page with `body` under a heading of `title`, the report stylesheet
/// and no script. The load report builds its page with this.
pub fn page(title: &str, body: &Markup) -> String {
    let mut main = String::from("<main id=\"main\"><h1>");
    push_text(&mut main, title);
    main.push_str("</h1>");
    main.push_str(body.as_str());
    main.push_str("</main>");
    document(title, &Markup::trusted(main), false)
}

/// The whole document: `head` with the policy, style (and script when
/// `script`), then `body` as given.
pub(crate) fn document(title: &str, body: &Markup, script: bool) -> String {
    let script_src = if script {
        format!("'{}'", hash(SCRIPT))
    } else {
        "'none'".to_owned()
    };
    let policy = format!(
        "default-src 'none'; style-src '{}'; script-src {script_src}; img-src data:; \
         base-uri 'none'; form-action 'none'",
        hash(STYLE)
    );
    let mut out = String::with_capacity(body.as_str().len() + STYLE.len() + SCRIPT.len() + 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"");
    out.push_str(&policy);
    out.push_str("\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<title>");
    push_text(&mut out, title);
    out.push_str("</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n");
    out.push_str(body.as_str());
    if script {
        out.push_str("\n<script>");
        out.push_str(SCRIPT);
        out.push_str("</script>");
    }
    out.push_str("\n</body>\n</html>\n");
    out
}

/// A CSP source for inline content: `sha256-<base64 of its digest>`.
fn hash(content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_a_policy_matching_their_inline_content() {
        let html = page("Load <report>", &Markup::text("<b>x</b>"));
        assert!(html.contains(&hash(STYLE)));
        assert!(html.contains("script-src 'none'"));
        assert!(html.contains("<title>Load &lt;report&gt;</title>"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!html.contains("<script"));
        // The inline assets never close their own element early.
        assert!(!STYLE.contains("</style") && !SCRIPT.contains("</script"));
    }
}
