//! The JSON form of captures and bodies, the same in the control API and
//! the capture file: bodies as UTF-8 text when they are, base64 otherwise.

use std::borrow::Cow;
use std::time::UNIX_EPOCH;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Serialize, Serializer};

use super::{CaptureKind, Stored};
use crate::platform::Platform;

/// A body as JSON text: UTF-8 as is, anything else in standard base64.
pub(crate) fn body_text(body: &[u8]) -> (Cow<'_, str>, &'static str) {
    match std::str::from_utf8(body) {
        Ok(text) => (Cow::Borrowed(text), "utf8"),
        Err(_) => (Cow::Owned(STANDARD.encode(body)), "base64"),
    }
}

/// The JSON form of a capture, the same in the control API and the
/// capture file.
#[derive(Serialize)]
pub(crate) struct CaptureJson<'a> {
    seq: u64,
    platform: Platform,
    kind: CaptureKind,
    at_unix_ms: u64,
    method: &'a str,
    path: Cow<'a, str>,
    headers: HeadersJson<'a>,
    body: Cow<'a, str>,
    encoding: &'static str,
    status: u16,
    /// `accepted` (a 2xx answer) or `rejected`: what `?verdict=` filters on.
    verdict: &'static str,
    reason: Option<&'a str>,
    device: Option<Cow<'a, str>>,
}

impl<'a> CaptureJson<'a> {
    pub(crate) fn new(c: &'a Stored) -> CaptureJson<'a> {
        let (body, encoding) = body_text(c.body());
        CaptureJson {
            seq: c.seq(),
            platform: c.platform(),
            kind: c.kind(),
            at_unix_ms: c
                .at()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            method: c.method(),
            path: c.path(),
            headers: HeadersJson(c),
            body,
            encoding,
            status: c.status(),
            verdict: if c.accepted() { "accepted" } else { "rejected" },
            reason: c.reason(),
            device: c.device(),
        }
    }
}

/// Headers as `[[name, value], …]` in arrival order, the shape of
/// [`super::Capture::headers`], written straight from the kept buffer.
struct HeadersJson<'a>(&'a Stored);

impl Serialize for HeadersJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.headers())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_form_encodes_binary_bodies_in_base64() {
        let c = Stored::new(
            Platform::Wns,
            CaptureKind::Push,
            http::Request::post("/")
                .header("apns-topic", "t")
                .body(())
                .unwrap()
                .into_parts()
                .0,
            bytes::Bytes::from_static(&[0xff, 0x00]),
            200,
            None,
            None,
        );
        let json = serde_json::to_value(CaptureJson::new(&c)).unwrap();
        assert_eq!(json["encoding"], "base64");
        assert_eq!(json["verdict"], "accepted");
        assert_eq!(json["body"], "/wA=");
        assert_eq!(json["platform"], "wns");
        assert_eq!(json["headers"][0][0], "apns-topic");
    }
}
