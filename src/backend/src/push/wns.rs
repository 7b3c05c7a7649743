//! WNS client: OAuth2 client-credentials token (cached, renewed by one
//! caller at a time) and raw pushes POSTed to each device's channel URI.
//!
//! The channel URI comes from the device, so it is untrusted: the backend
//! would otherwise POST its WNS access token to any URL a user registers.
//! Pushes therefore go only to `*.notify.windows.com` or to the host of the
//! configured token endpoint (where a test gateway serves its channels).

use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::Full;

use super::http::HttpClient;
use super::token::{self, TokenCache};
use super::{Push, PushError, PushOutcome};
use crate::config::{Trust, WnsConfig};

pub(crate) struct Wns {
    http: HttpClient,
    config: WnsConfig,
    /// Host of the token endpoint, also trusted for channel URIs.
    token_host: Option<String>,
    token: TokenCache,
}

/// The channel URI in a handle, if it is an absolute http(s) URL.
pub(crate) fn channel_uri(handle: &str) -> Option<Uri> {
    let uri: Uri = handle.parse().ok()?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Some(uri),
        _ => None,
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Wns {
    pub(crate) fn new(config: WnsConfig, timeout: Duration, trust: &Trust) -> Wns {
        let token_host = config
            .token_url
            .parse::<Uri>()
            .ok()
            .and_then(|uri| uri.host().map(str::to_ascii_lowercase));
        Wns {
            http: HttpClient::http1_or_2(timeout, trust),
            config,
            token_host,
            token: TokenCache::default(),
        }
    }

    fn allowed(&self, channel: &Uri) -> bool {
        let Some(host) = channel.host().map(str::to_ascii_lowercase) else {
            return false;
        };
        let token_host = self.token_host.as_deref();
        host.ends_with(".notify.windows.com")
            || token_host == Some(host.as_str())
            // A local test gateway may name itself `localhost` in one place
            // and `127.0.0.1` in another.
            || (token_host.is_some_and(is_loopback) && is_loopback(&host))
    }

    pub(crate) async fn send(&self, push: Push<'_>) -> PushOutcome {
        match self.try_send(push).await {
            Ok(outcome) => outcome,
            Err(error) => PushOutcome::Failed(error),
        }
    }

    async fn access_token(&self) -> Result<std::sync::Arc<str>, PushError> {
        self.token
            .get(|| async {
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_id", self.config.client_id.as_str()),
                    ("client_secret", self.config.client_secret.as_str()),
                    ("scope", "notify.windows.com"),
                ];
                token::fetch(&self.http, &self.config.token_url, &form).await
            })
            .await
    }

    async fn try_send(&self, push: Push<'_>) -> Result<PushOutcome, PushError> {
        let channel =
            channel_uri(push.handle).ok_or(PushError::BadHandle("not an http(s) channel URI"))?;
        if !self.allowed(&channel) {
            return Err(PushError::BadHandle("channel URI host is not a WNS host"));
        }
        let body = body(push.id, push.leaked.and_then(|f| f.wns_tail.as_deref()));
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let mut request = Request::builder()
                .method(Method::POST)
                .uri(channel.clone())
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("X-WNS-Type", "wns/raw");
            match push.ttl_s {
                // A raw push is not cached by default: WNS drops it for an
                // offline device, so it outlives nothing. TTL for clarity.
                Some(ttl) => request = request.header("X-WNS-TTL", ttl),
                // Cached with no TTL: held until the device comes back.
                None => request = request.header("X-WNS-Cache-Policy", "cache"),
            }
            let request = request
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(Full::new(body.clone()))
                .map_err(|e| PushError::Transport(format!("building the request: {e}")))?;
            let reply = self.http.send(request).await?;
            let status = reply.status.as_u16();
            let reason = || {
                reply
                    .headers
                    .get("x-wns-error-description")
                    .or_else(|| reply.headers.get("x-wns-status"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .unwrap_or_else(|| super::reason_of(&reply.body))
            };
            return Ok(match status {
                200 => PushOutcome::Delivered,
                401 if attempt == 0 => {
                    self.token.invalidate(&token);
                    continue;
                }
                404 | 410 => PushOutcome::Gone {
                    status,
                    reason: reason(),
                },
                _ => PushOutcome::Failed(PushError::Rejected {
                    status,
                    reason: reason(),
                }),
            });
        }
        Ok(PushOutcome::Failed(PushError::Auth(
            "access token refused twice".into(),
        )))
    }
}

/// The raw body: the id (then a newline and the message under the
/// `leak-payload` flaw). Raw bytes, so nothing to inject into.
pub(crate) fn body(id: &str, leaked: Option<&str>) -> Bytes {
    match leaked {
        None => Bytes::copy_from_slice(id.as_bytes()),
        Some(message) => Bytes::from(format!("{id}\n{message}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn wns(server: &MockServer) -> Wns {
        Wns::new(
            WnsConfig {
                token_url: format!("{}/accesstoken.srf", server.uri()),
                client_id: "ms-app://s-1-15-2-1".into(),
                client_secret: "secret".into(),
            },
            Duration::from_secs(5),
            &Trust::default(),
        )
    }

    fn token_reply(token: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": token, "token_type": "bearer", "expires_in": 86400
        }))
    }

    #[test]
    fn bodies() {
        assert_eq!(&body("n1", None)[..], b"n1");
        assert_eq!(&body("n1", Some("hi"))[..], b"n1\nhi");
    }

    #[tokio::test]
    async fn raw_push_with_cached_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/accesstoken.srf"))
            .and(body_string(
                "grant_type=client_credentials&client_id=ms-app%3A%2F%2Fs-1-15-2-1&client_secret=secret&scope=notify.windows.com",
            ))
            .respond_with(token_reply("wt"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/c/1"))
            .and(header("authorization", "Bearer wt"))
            .and(header("x-wns-type", "wns/raw"))
            .and(header("content-type", "application/octet-stream"))
            .and(body_string("n1"))
            .respond_with(ResponseTemplate::new(200).insert_header("X-WNS-Status", "received"))
            .expect(3)
            .mount(&server)
            .await;
        let wns = wns(&server);
        let channel = format!("{}/c/1?token=abc", server.uri());
        for _ in 0..3 {
            let outcome = wns
                .send(Push {
                    handle: &channel,
                    id: "n1",
                    leaked: None,
                    ttl_s: None,
                })
                .await;
            assert!(matches!(outcome, PushOutcome::Delivered), "{outcome:?}");
        }
    }

    #[tokio::test]
    async fn refresh_on_401_gone_on_410_and_foreign_hosts_refused() {
        let server = MockServer::start().await;
        Mock::given(path("/accesstoken.srf"))
            .respond_with(token_reply("old"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(path("/accesstoken.srf"))
            .respond_with(token_reply("new"))
            .mount(&server)
            .await;
        Mock::given(path("/c/1"))
            .and(header("authorization", "Bearer old"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        Mock::given(path("/c/1"))
            .and(header("authorization", "Bearer new"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        Mock::given(path("/c/expired"))
            .respond_with(ResponseTemplate::new(410))
            .mount(&server)
            .await;
        Mock::given(path("/c/throttled"))
            .respond_with(
                ResponseTemplate::new(406).insert_header("X-WNS-Status", "channelthrottled"),
            )
            .mount(&server)
            .await;
        let wns = &wns(&server);
        let at = |p: &str| format!("{}{p}", server.uri());
        let send = |handle: String| async move {
            wns.send(Push {
                handle: &handle,
                id: "n",
                leaked: None,
                ttl_s: None,
            })
            .await
        };
        assert!(matches!(send(at("/c/1")).await, PushOutcome::Delivered));
        assert!(matches!(
            send(at("/c/expired")).await,
            PushOutcome::Gone { status: 410, .. }
        ));
        let throttled = send(at("/c/throttled")).await;
        assert!(
            matches!(&throttled, PushOutcome::Failed(PushError::Rejected { status: 406, reason }) if reason == "channelthrottled"),
            "{throttled:?}"
        );
        // Loopback aliases of the token host are the same gateway.
        let alias = send(at("/c/1").replace("127.0.0.1", "localhost")).await;
        assert!(matches!(alias, PushOutcome::Delivered), "{alias:?}");
        let foreign = send("http://attacker.example/steal".into()).await;
        assert!(
            matches!(foreign, PushOutcome::Failed(PushError::BadHandle(_))),
            "{foreign:?}"
        );
        // The token was never sent to the foreign host (it would have failed
        // to connect otherwise, giving a transport error instead).
    }
}
