//! Mock APNs per connection: provider-token refresh and team binding,
//! header and payload rules, and the HTTP/2 frames Apple sends (stream
//! limits by SETTINGS, GOAWAY on shutdown), seen with a raw h2 client.

#![allow(clippy::unwrap_used)]

mod support;

use std::future::Future as _;

use http::{Request, StatusCode};
use pushproof_mocks::Platform;
use support::apns::*;
use support::*;

// ------------------------------------------------ per-connection rules

/// A provider token for the mock's key, of `team`, issued at `iat`.
fn jwt_of(h: &Harness, team: &str, iat: i64) -> String {
    apns_jwt_with(h, h.var("PUSHPROOF_APNS_KEY_ID"), team, iat)
}

async fn send_on(
    h: &Harness,
    client: &mut hyper::client::conn::http2::SendRequest<http_body_util::Full<bytes::Bytes>>,
    token: &str,
    jwt: &str,
) -> Reply {
    let request = apns_request(h, token, jwt).body(body(ALERT)).unwrap();
    h2_send(client, request).await
}

#[tokio::test]
async fn apns_rejects_token_refresh_within_20_minutes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let team = h.var("PUSHPROOF_APNS_TEAM_ID");
    let first = jwt_of(&h, team, now() - 60);
    let second = jwt_of(&h, team, now());
    let mut client = h2_connect(&h.gw.apns_url()).await;
    assert_eq!(
        send_on(&h, &mut client, &device.handle, &first)
            .await
            .status,
        StatusCode::OK
    );
    let reply = send_on(&h, &mut client, &device.handle, &second).await;
    assert_rejected(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyProviderTokenUpdates",
    );
    // The connection keeps its token; another connection takes the new one.
    assert_eq!(
        send_on(&h, &mut client, &device.handle, &first)
            .await
            .status,
        StatusCode::OK
    );
    let reply = push(&h, apns_request(&h, &device.handle, &second), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn apns_allows_token_refresh_after_20_minutes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let team = h.var("PUSHPROOF_APNS_TEAM_ID");
    // Back-dated `iat`s stand in for a clock: the first token is 21
    // minutes old when the second replaces it.
    let old = jwt_of(&h, team, now() - 21 * 60);
    let fresh = jwt_of(&h, team, now());
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for jwt in [&old, &fresh, &fresh] {
        let reply = send_on(&h, &mut client, &device.handle, jwt).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    // Going back to the old token is another update, too soon after the
    // fresh one.
    let reply = send_on(&h, &mut client, &device.handle, &old).await;
    assert_rejected(
        &reply,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyProviderTokenUpdates",
    );
}

#[tokio::test]
async fn apns_binds_one_team_per_connection() {
    let config = pushproof_mocks::GatewayConfig {
        apns_extra_team_ids: vec!["PPTEAM5678".to_owned()],
        ..Default::default()
    };
    let h = Harness::with_config(config).await;
    let device = h.gw.register_device(Platform::Apns);
    let first = jwt_of(&h, h.var("PUSHPROOF_APNS_TEAM_ID"), now() - 30 * 60);
    let other = jwt_of(&h, "PPTEAM5678", now());
    let mut client = h2_connect(&h.gw.apns_url()).await;
    assert_eq!(
        send_on(&h, &mut client, &device.handle, &first)
            .await
            .status,
        StatusCode::OK
    );
    // Late enough to refresh, but another team: refused on this connection.
    let reply = send_on(&h, &mut client, &device.handle, &other).await;
    assert_rejected(&reply, StatusCode::FORBIDDEN, "InvalidProviderToken");
    // The other team is valid on a connection of its own.
    let reply = push(&h, apns_request(&h, &device.handle, &other), ALERT).await;
    assert_eq!(reply.status, StatusCode::OK);
}

// ------------------------------------------------ headers and payload

#[tokio::test]
async fn apns_rejects_duplicate_apns_headers() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    let twice = apns_request(&h, &device.handle, &jwt)
        .header("apns-priority", "10")
        .header("apns-priority", "10")
        .body(body(ALERT))
        .unwrap();
    assert_rejected(
        &h2_send(&mut client, twice).await,
        StatusCode::BAD_REQUEST,
        "DuplicateHeaders",
    );
    // Other headers may repeat.
    let other = apns_request(&h, &device.handle, &jwt)
        .header("accept", "application/json")
        .header("accept", "*/*")
        .body(body(ALERT))
        .unwrap();
    assert_eq!(h2_send(&mut client, other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn apns_rejects_payload_that_is_not_a_json_object() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for payload in ["hello", r#"["aps"]"#, r#"{"aps":{"alert":"cut"#] {
        let request = apns_request(&h, &device.handle, &jwt)
            .body(body(payload))
            .unwrap();
        let reply = h2_send(&mut client, request).await;
        assert_rejected(&reply, StatusCode::BAD_REQUEST, "PayloadEmpty");
    }
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn apns_accepts_expiration_as_absolute_epoch_seconds() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for expiration in [(now() + 3600).to_string(), "0".to_owned()] {
        let request = apns_request(&h, &device.handle, &jwt)
            .header("apns-expiration", expiration.as_str())
            .body(body(ALERT))
            .unwrap();
        let reply = h2_send(&mut client, request).await;
        assert_eq!(reply.status, StatusCode::OK, "{expiration}");
    }
    let request = apns_request(&h, &device.handle, &jwt)
        .header("apns-expiration", "-1")
        .body(body(ALERT))
        .unwrap();
    assert_rejected(
        &h2_send(&mut client, request).await,
        StatusCode::BAD_REQUEST,
        "BadExpirationDate",
    );
}

// ------------------------------------------------ HTTP/2 frames

/// A raw h2 client, driven by the test's own task so the SETTINGS the
/// server sent can be read between requests.
struct RawClient {
    send: h2::client::SendRequest<bytes::Bytes>,
    conn: h2::client::Connection<tokio::net::TcpStream, bytes::Bytes>,
}

impl RawClient {
    async fn connect(h: &Harness) -> RawClient {
        let stream = tokio::net::TcpStream::connect(h.gw.addr(Platform::Apns))
            .await
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let (send, conn) = h2::client::handshake(stream).await.unwrap();
        RawClient { send, conn }
    }

    /// Runs `future` while driving the connection.
    async fn drive<T>(
        conn: &mut h2::client::Connection<tokio::net::TcpStream, bytes::Bytes>,
        future: impl std::future::Future<Output = T>,
    ) -> T {
        let mut future = std::pin::pin!(future);
        let run = std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(value) = future.as_mut().poll(cx) {
                return std::task::Poll::Ready(value);
            }
            if let std::task::Poll::Ready(result) = std::pin::Pin::new(&mut *conn).poll(cx) {
                panic!("the connection ended: {result:?}");
            }
            std::task::Poll::Pending
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), run)
            .await
            .expect("no progress within 10 s")
    }

    /// The MAX_CONCURRENT_STREAMS the server announced last.
    fn limit(&self) -> usize {
        self.conn.max_concurrent_send_streams()
    }

    /// Drives the connection until the announced limit is `limit`.
    async fn until_limit(&mut self, limit: usize) {
        let conn = &mut self.conn;
        let reached = std::future::poll_fn(|cx| {
            let _ = std::pin::Pin::new(&mut *conn).poll(cx);
            if conn.max_concurrent_send_streams() == limit {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), reached)
            .await
            .unwrap_or_else(|_| panic!("the limit stayed {}, not {limit}", self.limit()));
    }

    /// Sends a push and returns its status; the SETTINGS the push caused
    /// precede its response, so they are applied by then.
    async fn push(&mut self, request: http::request::Builder, payload: &str) -> StatusCode {
        let send = self.send.clone();
        let mut send = Self::drive(&mut self.conn, send.ready()).await.unwrap();
        let (response, mut stream) = send.send_request(request.body(()).unwrap(), false).unwrap();
        stream
            .send_data(bytes::Bytes::from(payload.to_owned()), true)
            .unwrap();
        let response = Self::drive(&mut self.conn, response).await.unwrap();
        let status = response.status();
        let mut body = response.into_body();
        while let Some(chunk) = Self::drive(&mut self.conn, body.data()).await {
            let chunk = chunk.unwrap();
            body.flow_control().release_capacity(chunk.len()).unwrap();
        }
        status
    }
}

/// The server's first frame, read off the wire: SETTINGS announcing one
/// stream, never more, as APNs does before a valid provider token.
#[tokio::test]
async fn apns_first_settings_frame_announces_one_stream() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let h = Harness::start().await;
    let mut stream = tokio::net::TcpStream::connect(h.gw.addr(Platform::Apns))
        .await
        .unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).await.unwrap();
    assert_eq!(header[3], 0x4, "the first frame is SETTINGS");
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.unwrap();
    let limit = payload
        .chunks_exact(6)
        .find(|entry| entry[..2] == [0, 3])
        .map(|entry| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]));
    assert_eq!(limit, Some(1));
}

#[tokio::test]
async fn apns_allows_one_stream_until_a_valid_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let mut client = RawClient::connect(&h).await;
    client.until_limit(1).await;
    let forged = apns_request(&h, &device.handle, "not.a.jwt");
    assert_eq!(client.push(forged, ALERT).await, StatusCode::FORBIDDEN);
    assert_eq!(client.limit(), 1);
    let valid = apns_request(&h, &device.handle, &apns_jwt(&h));
    assert_eq!(client.push(valid, ALERT).await, StatusCode::OK);
    client.until_limit(1000).await;
}

#[tokio::test]
async fn apns_announces_one_stream_after_a_rejected_push() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = RawClient::connect(&h).await;
    let valid = || apns_request(&h, &device.handle, &jwt);
    assert_eq!(client.push(valid(), ALERT).await, StatusCode::OK);
    client.until_limit(1000).await;
    for _ in 0..2 {
        let rejected = valid().header("apns-priority", "7");
        assert_eq!(client.push(rejected, ALERT).await, StatusCode::BAD_REQUEST);
        client.until_limit(1).await;
        // The next accepted push restores the limit.
        assert_eq!(client.push(valid(), ALERT).await, StatusCode::OK);
        client.until_limit(1000).await;
    }
}

#[tokio::test]
async fn apns_sends_goaway_on_shutdown() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    let mut client = RawClient::connect(&h).await;
    let valid = apns_request(&h, &device.handle, &apns_jwt(&h));
    assert_eq!(client.push(valid, ALERT).await, StatusCode::OK);
    let Harness { gw, .. } = h;
    let shutdown = tokio::spawn(gw.shutdown());
    // The server says goodbye and closes; the connection ends cleanly.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), &mut client.conn).await;
    ended.expect("the server closed the connection").unwrap();
    let request = Request::post("http://localhost/3/device/00")
        .body(())
        .unwrap();
    let error = client.send.send_request(request, true).unwrap_err();
    assert!(error.is_go_away() && error.is_remote(), "{error:?}");
    assert_eq!(error.reason(), Some(h2::Reason::NO_ERROR));
    shutdown.await.unwrap();
}
