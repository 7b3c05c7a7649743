//! APNs helpers shared by the APNs test files.

use http::StatusCode;

use super::*;

/// Sends one push on a fresh h2c connection.
pub async fn push(h: &Harness, request: http::request::Builder, payload: &str) -> Reply {
    let mut client = h2_connect(h.var("PUSHPROOF_APNS_URL")).await;
    h2_send(&mut client, request.body(body(payload.to_owned())).unwrap()).await
}

/// Asserts an APNs error: status, `{"reason":…}` JSON and an apns-id.
pub fn assert_rejected(reply: &Reply, status: StatusCode, reason: &str) {
    assert_eq!(reply.status, status, "body: {:?}", reply.body);
    assert_eq!(reply.reason(), reason);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("apns-id").map(str::len), Some(36));
}
