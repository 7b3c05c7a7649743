//! The hub's rejections as the service answers them: an HTTP status and the
//! XML body `<Error><Code>{status}</Code><Detail>{detail}</Detail></Error>`
//! that the SDKs parse (`parseXMLError` in `@azure/notification-hubs` reads
//! `Error.Detail`), the detail ending in the request's TrackingId as the
//! service's do.

use std::borrow::Cow;

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::StatusCode;

use crate::reply::{header_value, response, Response};

/// The content type of the service's error and outcome bodies.
pub(crate) const XML_CONTENT_TYPE: &str = "application/xml; charset=utf-8";

pub(crate) static TRACKING_ID: HeaderName = HeaderName::from_static("trackingid");
pub(crate) static CORRELATION_ID: HeaderName =
    HeaderName::from_static("x-ms-correlation-request-id");

/// A rejected hub request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HubError {
    pub(crate) status: StatusCode,
    pub(crate) detail: Cow<'static, str>,
}

impl HubError {
    pub(crate) fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> HubError {
        HubError {
            status,
            detail: detail.into(),
        }
    }

    /// 400: a malformed request (REST reference: "400 Bad request").
    pub(crate) fn bad_request(detail: impl Into<Cow<'static, str>>) -> HubError {
        HubError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 401: authorization failed (REST reference: "401 Authorization
    /// failure").
    pub(crate) fn unauthorized(detail: impl Into<Cow<'static, str>>) -> HubError {
        HubError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: a quota exceeded (REST reference: "403 Quota exceeded").
    pub(crate) fn forbidden(detail: impl Into<Cow<'static, str>>) -> HubError {
        HubError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404: no such hub, registration or installation.
    pub(crate) fn not_found(detail: impl Into<Cow<'static, str>>) -> HubError {
        HubError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 413: a body over the size limit (REST reference for sends:
    /// "413 Request entity too large", 64 KB for templates).
    pub(crate) fn too_large(detail: impl Into<Cow<'static, str>>) -> HubError {
        HubError::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
    }

    /// The response: the XML error body with the TrackingId.
    pub(crate) fn into_response(self, tracking_id: &str) -> Response {
        let body = error_body(self.status, &self.detail, tracking_id);
        response(
            self.status,
            [
                (CONTENT_TYPE, HeaderValue::from_static(XML_CONTENT_TYPE)),
                (TRACKING_ID.clone(), header_value(tracking_id)),
            ],
            body,
        )
    }
}

/// `<Error><Code/><Detail/></Error>`.
fn error_body(status: StatusCode, detail: &str, tracking_id: &str) -> String {
    let mut body = String::with_capacity(detail.len() + 160);
    body.push_str("<Error><Code>");
    body.push_str(status.as_str());
    body.push_str("</Code><Detail>");
    escape_into(&mut body, detail);
    body.push_str(" TrackingId:");
    escape_into(&mut body, tracking_id);
    body.push_str(",TimeStamp:");
    body.push_str(&crate::hub::time::now_rfc3339());
    body.push_str("</Detail></Error>");
    body
}

/// Appends `text` with `<`, `>`, `&` and `"` escaped: safe in text and in
/// double-quoted attributes (apostrophes stay, as the service writes them).
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// `text` XML-escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn error_body_is_escaped_xml_with_the_tracking_id() {
        let body = error_body(StatusCode::BAD_REQUEST, "a <b> & 'c'", "t-1");
        assert!(body.starts_with(
            "<Error><Code>400</Code><Detail>a &lt;b&gt; &amp; 'c' TrackingId:t-1,TimeStamp:"
        ));
        assert!(body.ends_with("</Detail></Error>"));
    }
}
