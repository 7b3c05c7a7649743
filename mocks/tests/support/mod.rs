//! Helpers shared by the integration tests: start the gateways, read the
//! credential files like a real backend would, and speak to the gateways
//! with plain hyper clients whose requests are built by hand.

#![allow(dead_code, clippy::unwrap_used)]

pub mod apns;
pub mod tls;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body as _;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushproof_mocks::{BackendEnv, GatewayConfig, Gateways};
use serde_json::Value;
use tokio::net::TcpStream;

/// Running gateways, with credentials written to a temporary directory.
pub struct Harness {
    pub gw: Gateways,
    pub env: BackendEnv,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with_config(GatewayConfig::default()).await
    }

    pub async fn with_config(config: GatewayConfig) -> Harness {
        let gw = Gateways::start(config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let env = gw.write_credentials(dir.path()).unwrap();
        Harness { gw, env, dir }
    }

    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the backend env"))
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether the response ended on its HEADERS frame (no DATA frame).
    pub ended_on_headers: bool,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// APNs: the `reason` of an error body.
    pub fn reason(&self) -> String {
        self.json()["reason"].as_str().unwrap().to_owned()
    }
}

async fn read_reply(response: http::Response<hyper::body::Incoming>) -> Reply {
    let ended_on_headers = response.body().is_end_stream();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
        ended_on_headers,
    }
}

pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

// ---------------------------------------------------------------- HTTP/2

/// An HTTP/2 prior-knowledge (h2c) connection to `url`'s origin.
pub async fn h2_connect(url: &str) -> SendRequest<Full<Bytes>> {
    let addr = url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).await.unwrap();
    // Without it, Nagle and delayed ACKs add ~40 ms to requests whose
    // HEADERS and DATA go out in separate writes.
    stream.set_nodelay(true).unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

pub async fn h2_send(
    client: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Reply {
    client.ready().await.unwrap();
    let response = client.send_request(request).await.unwrap();
    read_reply(response).await
}

// ---------------------------------------------------------------- HTTP/1.1

/// Sends one request on a fresh HTTP/1.1 connection.
pub async fn http1_send(request: Request<Full<Bytes>>) -> Reply {
    let authority = request.uri().authority().unwrap().to_string();
    let stream = TcpStream::connect(authority.as_str()).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = request;
    if !request.headers().contains_key(http::header::HOST) {
        request
            .headers_mut()
            .insert(http::header::HOST, authority.parse().unwrap());
    }
    // HTTP/1.1 sends origin-form targets.
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    *request.uri_mut() = path.parse().unwrap();
    let response = sender.send_request(request).await.unwrap();
    read_reply(response).await
}

pub fn body(bytes: impl Into<Bytes>) -> Full<Bytes> {
    Full::new(bytes.into())
}

// ---------------------------------------------------------------- APNs

#[derive(serde::Serialize)]
struct ApnsClaims<'a> {
    iss: &'a str,
    iat: i64,
}

/// A provider token signed with the .p8 file the gateways wrote.
pub fn apns_jwt(h: &Harness) -> String {
    apns_jwt_with(
        h,
        h.var("PUSHPROOF_APNS_KEY_ID"),
        h.var("PUSHPROOF_APNS_TEAM_ID"),
        now(),
    )
}

pub fn apns_jwt_with(h: &Harness, kid: &str, team: &str, iat: i64) -> String {
    let pem = std::fs::read(h.var("PUSHPROOF_APNS_KEY_FILE")).unwrap();
    let key = EncodingKey::from_ec_pem(&pem).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &ApnsClaims { iss: team, iat }, &key).unwrap()
}

/// A well-formed alert push to `token`, ready to adjust.
pub fn apns_request(h: &Harness, token: &str, jwt: &str) -> http::request::Builder {
    Request::post(format!("{}/3/device/{token}", h.var("PUSHPROOF_APNS_URL")))
        .header("authorization", format!("bearer {jwt}"))
        .header("apns-topic", h.var("PUSHPROOF_APNS_TOPIC"))
        .header("apns-push-type", "alert")
}

pub const ALERT: &str = r#"{"aps":{"alert":"hello"}}"#;

// ---------------------------------------------------------------- FCM

pub fn service_account(h: &Harness) -> Value {
    let text = std::fs::read_to_string(h.var("PUSHPROOF_FCM_CREDENTIALS")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A service-account assertion with the given claims, signed with the
/// service account's key (or another one).
pub fn fcm_assertion(h: &Harness, claims: &Value) -> String {
    let sa = service_account(h);
    let key = EncodingKey::from_rsa_pem(sa["private_key"].as_str().unwrap().as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(sa["private_key_id"].as_str().unwrap().to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// The claims a Google client library sends.
pub fn fcm_claims(h: &Harness) -> Value {
    let sa = service_account(h);
    let iat = now();
    serde_json::json!({
        "iss": sa["client_email"],
        "aud": sa["token_uri"],
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "iat": iat,
        "exp": iat + 3600,
    })
}

pub async fn fcm_token_request(h: &Harness, form: &str) -> Reply {
    let sa = service_account(h);
    let request = Request::post(sa["token_uri"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body(form.to_owned()))
        .unwrap();
    http1_send(request).await
}

pub fn assertion_form(assertion: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", assertion)
        .finish()
}

pub async fn fcm_access_token(h: &Harness) -> String {
    let reply = fcm_token_request(h, &assertion_form(&fcm_assertion(h, &fcm_claims(h)))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

pub fn fcm_send_url(h: &Harness) -> String {
    format!(
        "{}/v1/projects/{}/messages:send",
        h.var("PUSHPROOF_FCM_URL"),
        h.var("PUSHPROOF_FCM_PROJECT_ID")
    )
}

pub async fn fcm_send(h: &Harness, access_token: &str, json: &Value) -> Reply {
    let request = Request::post(fcm_send_url(h))
        .header("authorization", format!("Bearer {access_token}"))
        .header("content-type", "application/json")
        .body(body(json.to_string()))
        .unwrap();
    http1_send(request).await
}

/// The `errorCode` of the FcmError detail of a google.rpc.Status body.
pub fn fcm_error_code(reply: &Reply) -> Option<String> {
    reply.json()["error"]["details"]
        .as_array()?
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError")
        .map(|d| d["errorCode"].as_str().unwrap().to_owned())
}

/// The first field violation `(field, description)` of a BadRequest detail.
pub fn fcm_violation(reply: &Reply) -> Option<(String, String)> {
    let details = reply.json()["error"]["details"].as_array()?.clone();
    let bad = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")?;
    let v = &bad["fieldViolations"][0];
    Some((
        v["field"].as_str()?.to_owned(),
        v["description"].as_str()?.to_owned(),
    ))
}

// ---------------------------------------------------------------- WNS

pub async fn wns_token_request(h: &Harness, form: &str) -> Reply {
    let request = Request::post(h.var("PUSHPROOF_WNS_TOKEN_URL"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body(form.to_owned()))
        .unwrap();
    http1_send(request).await
}

pub fn wns_form(client_id: &str, secret: &str, scope: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", client_id)
        .append_pair("client_secret", secret)
        .append_pair("scope", scope)
        .finish()
}

pub async fn wns_access_token(h: &Harness) -> String {
    let form = wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        "notify.windows.com",
    );
    let reply = wns_token_request(h, &form).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

/// A raw notification to `channel`, ready to adjust.
pub fn wns_raw(channel: &str, access_token: &str) -> http::request::Builder {
    Request::post(channel)
        .header("authorization", format!("Bearer {access_token}"))
        .header("x-wns-type", "wns/raw")
        .header("content-type", "application/octet-stream")
}

// ---------------------------------------------------------------- control API

/// A control-API request, `{fcm_url}/__pushproof{path}` over HTTP/1.1 (the
/// API answers on every listener; FCM's speaks HTTP/1.1 like curl).
pub async fn control(h: &Harness, method: &str, path: &str, json: Option<&Value>) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(format!("{}/__pushproof{path}", h.gw.fcm_url()))
        .header("content-type", "application/json")
        .body(body(json.map(Value::to_string).unwrap_or_default()))
        .unwrap();
    http1_send(request).await
}

/// A device handle as a path segment: every byte but letters and digits
/// percent-encoded (WNS handles are URIs).
pub fn path_segment(handle: &str) -> String {
    percent_encoding::utf8_percent_encode(handle, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Waits (up to 10 s, checking every few milliseconds) until `probe`
/// returns `Some`, and returns it: for state the gateways update after the
/// client has already seen the stream end.
pub async fn eventually<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the condition did not hold within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[derive(serde::Serialize)]
struct FloatClaims<'a> {
    iss: &'a str,
    iat: f64,
}

/// A provider token whose `iat` is a fractional JSON number, as clients
/// that sign `time.time()` make them.
pub fn apns_jwt_float_iat(h: &Harness, iat: f64) -> String {
    let pem = std::fs::read(h.var("PUSHPROOF_APNS_KEY_FILE")).unwrap();
    let key = EncodingKey::from_ec_pem(&pem).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(h.var("PUSHPROOF_APNS_KEY_ID").to_owned());
    let claims = FloatClaims {
        iss: h.var("PUSHPROOF_APNS_TEAM_ID"),
        iat,
    };
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}
