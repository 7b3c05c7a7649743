//! A cached OAuth2 access token with single-flight refresh, shared by the
//! FCM and WNS clients.
//!
//! Thousands of concurrent pushes must not each fetch a token: the first one
//! that finds the cache stale fetches while the others wait on the refresh
//! gate, then all use the new token. A failed fetch is remembered for a
//! moment so that the waiters fail fast instead of each retrying a broken
//! token endpoint in turn.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;

use super::http::HttpClient;
use super::PushError;

/// How long a failed fetch is reported to later callers without retrying.
const FAILURE_HOLD: Duration = Duration::from_secs(1);

struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
}

/// An access token and when to replace it.
#[derive(Default)]
pub(crate) struct TokenCache {
    current: RwLock<Option<Cached>>,
    /// Held while fetching; remembers the last failure.
    gate: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl TokenCache {
    fn fresh(&self, now: Instant) -> Option<Arc<str>> {
        let current = self.current.read().ok()?;
        let cached = current.as_ref()?;
        (now < cached.refresh_at).then(|| Arc::clone(&cached.token))
    }

    /// The cached token, or a new one from `fetch` (token, lifetime), fetched
    /// by one caller at a time.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<str>, PushError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Duration), PushError>>,
    {
        self.get_at(Instant::now, fetch).await
    }

    /// [`get`](Self::get) with the clock passed in, for tests.
    async fn get_at<F, Fut>(
        &self,
        now: impl Fn() -> Instant,
        fetch: F,
    ) -> Result<Arc<str>, PushError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Duration), PushError>>,
    {
        if let Some(token) = self.fresh(now()) {
            return Ok(token);
        }
        let mut gate = self.gate.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(token) = self.fresh(now()) {
            return Ok(token);
        }
        if let Some((at, error)) = gate.as_ref() {
            if now().saturating_duration_since(*at) < FAILURE_HOLD {
                return Err(PushError::Auth(error.clone()));
            }
        }
        match fetch().await {
            Ok((token, lifetime)) => {
                *gate = None;
                let token: Arc<str> = token.into();
                // Renew shortly before expiry: a minute early, or at half
                // life for short-lived tokens.
                let margin = (lifetime / 2).min(Duration::from_secs(60));
                let cached = Cached {
                    token: Arc::clone(&token),
                    refresh_at: now() + lifetime.saturating_sub(margin),
                };
                if let Ok(mut current) = self.current.write() {
                    *current = Some(cached);
                }
                Ok(token)
            }
            Err(error) => {
                *gate = Some((now(), error.to_string()));
                Err(error)
            }
        }
    }

    /// Drops `stale` after the gateway refused it. A token already replaced
    /// by another caller is left alone, so a burst of 401s causes one
    /// refresh, not one each.
    pub(crate) fn invalidate(&self, stale: &str) {
        if let Ok(mut current) = self.current.write() {
            if current.as_ref().is_some_and(|c| &*c.token == stale) {
                *current = None;
            }
        }
    }
}

/// POSTs an OAuth2 form to a token endpoint and reads `access_token` and
/// `expires_in` (a number, or a string as Azure AD sends it).
pub(crate) async fn fetch(
    http: &HttpClient,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(String, Duration), PushError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| PushError::Auth(format!("token request: {e}")))?;
    let reply = http.send(request).await.map_err(|e| match e {
        PushError::Timeout(_) => e,
        other => PushError::Auth(format!("token endpoint: {other}")),
    })?;
    if !reply.status.is_success() {
        return Err(PushError::Auth(format!(
            "token endpoint answered {}",
            reply.status.as_u16()
        )));
    }
    parse_token(&reply.body)
}

fn parse_token(body: &[u8]) -> Result<(String, Duration), PushError> {
    #[derive(serde::Deserialize)]
    struct TokenReply {
        access_token: String,
        #[serde(default)]
        expires_in: Option<serde_json::Value>,
    }
    let reply: TokenReply = serde_json::from_slice(body)
        .map_err(|e| PushError::Auth(format!("token endpoint reply: {e}")))?;
    if reply.access_token.is_empty() {
        return Err(PushError::Auth("token endpoint sent an empty token".into()));
    }
    let seconds = match reply.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    // No lifetime given: assume the common hour.
    .unwrap_or(3600);
    Ok((reply.access_token, Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn token_replies() {
        let (t, d) =
            parse_token(br#"{"access_token":"a","expires_in":3599,"token_type":"Bearer"}"#)
                .unwrap();
        assert_eq!((t.as_str(), d), ("a", Duration::from_secs(3599)));
        let (_, d) = parse_token(br#"{"access_token":"a","expires_in":"86399"}"#).unwrap();
        assert_eq!(d, Duration::from_secs(86399));
        assert!(parse_token(br#"{"error":"invalid_grant"}"#).is_err());
        assert!(parse_token(b"<html>").is_err());
    }

    #[tokio::test]
    async fn single_flight_and_renewal_before_expiry() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let (cache, fetches) = (Arc::clone(&cache), Arc::clone(&fetches));
            tasks.spawn(async move {
                cache
                    .get(|| async {
                        let n = fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok((format!("t{n}"), Duration::from_secs(3600)))
                    })
                    .await
                    .unwrap()
            });
        }
        while let Some(token) = tasks.join_next().await {
            assert_eq!(&*token.unwrap(), "t0");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        let start = Instant::now();
        let fetch = || async { Ok(("t1".to_owned(), Duration::from_secs(3600))) };
        let at = |secs| move || start + Duration::from_secs(secs);
        assert_eq!(&*cache.get_at(at(3530), fetch).await.unwrap(), "t0");
        assert_eq!(&*cache.get_at(at(3550), fetch).await.unwrap(), "t1");
    }

    #[tokio::test]
    async fn invalidate_only_the_stale_token_and_hold_failures() {
        let cache = TokenCache::default();
        let ok =
            |t: &'static str| move || async move { Ok((t.to_owned(), Duration::from_secs(3600))) };
        assert_eq!(&*cache.get(ok("a")).await.unwrap(), "a");
        cache.invalidate("other");
        assert_eq!(&*cache.get(ok("b")).await.unwrap(), "a");
        cache.invalidate("a");
        assert_eq!(&*cache.get(ok("b")).await.unwrap(), "b");

        cache.invalidate("b");
        let start = Instant::now();
        let failing = || async { Err(PushError::Auth("down".into())) };
        assert!(cache.get_at(|| start, failing).await.is_err());
        // Within the hold, no new fetch is tried.
        assert!(cache.get_at(|| start, ok("c")).await.is_err());
        let later = start + FAILURE_HOLD;
        assert_eq!(&*cache.get_at(|| later, ok("c")).await.unwrap(), "c");
    }
}
