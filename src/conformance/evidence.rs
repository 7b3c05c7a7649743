//! Evidence that names things: the device and user (with platform and
//! handle), the HTTP exchange as sent and answered, the push as captured.
//! Checks build [`Evidence`] with these helpers.

use base64::Engine as _;
use pushproof_mocks::{Capture, Delivery};
use serde_json::Value;

use crate::client::Exchange as ClientExchange;
use crate::device::{Device, StepError};
use crate::report::suite::{CapturedPush, Evidence, Exchange, HttpMessage, Subject};

/// Evidence that says `what`.
pub fn what(what: impl Into<String>) -> Evidence {
    Evidence {
        what: what.into(),
        ..Evidence::default()
    }
}

/// The device and its user.
pub fn subject(device: &Device) -> Subject {
    Subject {
        device: device.name.clone(),
        user: device.user.clone(),
        platform: device.platform.to_string(),
        handle: device.handle.handle.clone(),
    }
}

/// Evidence about one device, with the exchange that shows it.
pub fn about(
    device: &Device,
    what: impl Into<String>,
    exchange: Option<&ClientExchange>,
) -> Evidence {
    Evidence {
        what: what.into(),
        subject: Some(subject(device)),
        exchange: exchange.map(self::exchange),
        ..Evidence::default()
    }
}

/// A failed step, with its exchange.
pub fn step(error: &StepError) -> Evidence {
    Evidence {
        what: error.to_string(),
        exchange: error.exchange.as_deref().map(exchange),
        ..Evidence::default()
    }
}

fn body(bytes: &[u8]) -> (String, String) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), "utf8".to_owned()),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64".to_owned(),
        ),
    }
}

/// An HTTP exchange with the backend as the report keeps it.
pub fn exchange(exchange: &ClientExchange) -> Exchange {
    let (request_body, request_encoding) = body(&exchange.request_body);
    let request = HttpMessage {
        method: Some(exchange.method.to_string()),
        url: Some(exchange.url.clone()),
        status: None,
        headers: exchange.request_headers.clone(),
        body: request_body,
        body_encoding: request_encoding,
        error: exchange.outcome.as_ref().err().map(ToString::to_string),
    };
    let response = exchange.reply().map(|reply| {
        let (body, body_encoding) = body(&reply.body);
        HttpMessage {
            method: None,
            url: None,
            status: Some(reply.status.as_u16()),
            headers: reply
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            body_encoding,
            error: None,
        }
    });
    Exchange { request, response }
}

/// A push as a gateway captured it.
pub fn capture(capture: &Capture) -> CapturedPush {
    let (body, body_encoding) = body(&capture.body);
    CapturedPush {
        seq: capture.seq,
        platform: capture.platform.to_string(),
        method: capture.method.clone(),
        path: capture.path.clone(),
        headers: capture.headers.clone(),
        body,
        body_encoding,
        status: capture.status,
    }
}

/// A push as the device received it (no sequence number: it was not
/// read from the capture store).
pub fn delivery(delivery: &Delivery) -> Value {
    let (body, encoding) = body(&delivery.body);
    serde_json::json!({
        "platform": delivery.platform,
        "headers": delivery.headers,
        "body": body,
        "body_encoding": encoding,
    })
}
