//! Where in a push something was seen, and the message the scanner reads.
//!
//! A surface is named as evidence names it: `path`, `header:<name>`,
//! `header-name:<name>`, `body`, `json:<pointer>`, `xml:<path>`, or a name a
//! check chose for plain bytes. JSON and XML surfaces are parts of the body
//! and their byte ranges are body offsets, so every hit can be marked in
//! the captured push.

use pushproof_mocks::Capture;

use super::{json, xml};

/// One place of a message that is searched.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Surface<'a> {
    Path,
    Header(&'a str),
    HeaderName(&'a str),
    Body,
    /// A string of a JSON body (a key, with its member's pointer, or a
    /// value).
    Json(&'a [json::Seg<'a>]),
    /// A text node or attribute value of an XML body.
    Xml(&'a [xml::Step<'a>], Option<&'a [u8]>),
    /// Plain bytes named by the caller.
    Named(&'a str),
}

impl Surface<'_> {
    /// The name used in evidence.
    pub(crate) fn render(&self) -> String {
        match self {
            Surface::Path => "path".to_owned(),
            Surface::Header(name) => format!("header:{name}"),
            Surface::HeaderName(name) => format!("header-name:{name}"),
            Surface::Body => "body".to_owned(),
            Surface::Json(path) => format!("json:{}", json::pointer(path)),
            Surface::Xml(steps, attr) => format!("xml:{}", xml::path(steps, *attr)),
            Surface::Named(name) => (*name).to_owned(),
        }
    }

    /// The captured bytes a hit's range counts in: JSON and XML surfaces
    /// count in the body.
    pub(crate) fn coordinates(&self) -> String {
        match self {
            Surface::Json(_) | Surface::Xml(..) => "body".to_owned(),
            other => other.render(),
        }
    }

    /// Whether the surface names a part of a structured body, which says
    /// more than `body` does.
    pub(crate) fn structural(&self) -> bool {
        matches!(self, Surface::Json(_) | Surface::Xml(..))
    }
}

/// What the scanner reads of one HTTP request or response: the path (of a
/// request), the headers and the body.
#[derive(Debug, Clone, Default)]
pub struct Message<'a> {
    pub path: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// A push (or token request) as a gateway captured it.
    pub fn capture(capture: &'a Capture) -> Message<'a> {
        Message {
            path: Some(&capture.path),
            headers: capture
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect(),
            body: &capture.body,
        }
    }

    /// An HTTP response (an error body, a redirect's `Location`).
    pub fn response(headers: &'a http::HeaderMap, body: &'a [u8]) -> Message<'a> {
        Message {
            path: None,
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect(),
            body,
        }
    }
}
