//! The reference backend's deliberate flaws on the API side: which are on
//! ([`ApiFlaws`], read once at startup) and the handlers only a flawed
//! backend takes. The sound paths in the parent module branch here on a
//! flag and never otherwise.

use std::error::Error as StdError;

use bytes::Bytes;
use http::header;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::json;

use super::{json_response, ApiError, App, Reply};
use crate::auth;
use crate::flaw::Flaw;

/// The extra work of the `timing-oracle` flaw.
pub(super) const TIMING_ORACLE_DELAY: std::time::Duration = std::time::Duration::from_millis(3);

/// The flaws [`App`] branches on (those of [`Auth`] live there).
#[derive(Default)]
pub(super) struct ApiFlaws {
    /// `bola-case-variant`.
    pub(super) bola_case_variant: bool,
    /// `cross-tenant-fetch`.
    pub(super) cross_tenant_fetch: bool,
    /// `cached-authz`: (token hash, id) pairs that were served once.
    pub(super) authz_cache: Option<std::sync::Mutex<std::collections::HashSet<(String, String)>>>,
    /// `verbose-fetch`.
    pub(super) verbose_fetch: bool,
    /// `token-in-query`.
    pub(super) token_in_query: bool,
    /// `cacheable-fetch`.
    pub(super) cacheable_fetch: bool,
    /// `no-charset`.
    pub(super) no_charset: bool,
    /// `echo-in-errors`.
    pub(super) echo_errors: bool,
    /// `forbidden-oracle`.
    pub(super) forbidden_oracle: bool,
    /// `timing-oracle`.
    pub(super) timing_oracle: bool,
    /// `fragile-ids`.
    pub(super) fragile_ids: bool,
    /// `no-payload-ttl`.
    pub(super) no_payload_ttl: bool,
    /// `soft-delete`.
    pub(super) soft_delete: bool,
    /// `any-ack`.
    pub(super) any_ack: bool,
    /// `trust-client-tags`.
    pub(super) trust_client_tags: bool,
    /// `any-registration`.
    pub(super) any_registration: bool,
    /// `tag-expression-injection`.
    pub(super) tag_expression_injection: bool,
}

impl ApiFlaws {
    pub(super) fn new(flaws: &[Flaw]) -> ApiFlaws {
        let on = |flaw| flaws.contains(&flaw);
        ApiFlaws {
            bola_case_variant: on(Flaw::BolaCaseVariant),
            cross_tenant_fetch: on(Flaw::CrossTenantFetch),
            authz_cache: on(Flaw::CachedAuthz).then(Default::default),
            verbose_fetch: on(Flaw::VerboseFetch),
            token_in_query: on(Flaw::TokenInQuery),
            cacheable_fetch: on(Flaw::CacheableFetch),
            no_charset: on(Flaw::NoCharset),
            echo_errors: on(Flaw::EchoInErrors),
            forbidden_oracle: on(Flaw::ForbiddenOracle),
            timing_oracle: on(Flaw::TimingOracle),
            fragile_ids: on(Flaw::FragileIds),
            no_payload_ttl: on(Flaw::NoPayloadTtl),
            soft_delete: on(Flaw::SoftDelete),
            any_ack: on(Flaw::AnyAck),
            trust_client_tags: on(Flaw::TrustClientTags),
            any_registration: on(Flaw::AnyRegistration),
            tag_expression_injection: on(Flaw::TagExpressionInjection),
        }
    }
}

/// Most (token, id) pairs the `cached-authz` flaw remembers before it
/// forgets them all.
const AUTHZ_CACHE_MAX: usize = 100_000;

impl App {
    /// The `echo-in-errors` flaw's handler: an error answer says what was
    /// asked, as a debug error page would.
    pub(super) async fn handle_echoing<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let asked = format!("{} {}", request.method(), request.uri());
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => {
                let mut response = error.into_response();
                let status = response.status();
                let mut echoed = json_response(
                    status,
                    &json!({ "error": status.canonical_reason(), "request": asked }),
                );
                std::mem::swap(response.body_mut(), echoed.body_mut());
                response
            }
        }
    }

    /// The flaws' answer to a fetch that found nothing of the caller's:
    /// they look again, whoever the recipient is.
    pub(super) async fn flawed_not_found(&self, id: String) -> Reply {
        let exists = auth::is_id(&id)
            && self
                .store
                .recipient_of(id, self.clock.now_ms())
                .await?
                .is_some();
        if exists && self.flaws.forbidden_oracle {
            return Err(ApiError::Forbidden("this notification is not yours"));
        }
        if exists && self.flaws.timing_oracle {
            // Work done only for ids that exist: the answer is the same,
            // the time it takes is not.
            tokio::time::sleep(TIMING_ORACLE_DELAY).await;
        }
        Err(ApiError::NotFound)
    }

    /// The `cached-authz` flaw's fetch: a (token, id) pair served once is
    /// served again without authenticating the token.
    pub(super) async fn fetch_cached<B>(
        &self,
        cache: &std::sync::Mutex<std::collections::HashSet<(String, String)>>,
        request: &Request<B>,
        id: &str,
    ) -> Reply {
        let key = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(auth::bearer_token)
            .map(|token| (auth::token_hash(token), id.to_owned()));
        let lock = || cache.lock().unwrap_or_else(|p| p.into_inner());
        if key.as_ref().is_some_and(|key| lock().contains(key)) {
            return self.fetch_unchecked(id).await;
        }
        let caller = self.caller(request).await?;
        let reply = self.fetch(&caller, id).await?;
        if let Some(key) = key {
            let mut cache = lock();
            if cache.len() >= AUTHZ_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key);
        }
        Ok(reply)
    }

    /// The `anonymous-fetch` flaw's fetch: no caller, no recipient check.
    pub(super) async fn fetch_unchecked(&self, id: &str) -> Reply {
        self.fetch_for(id, None).await
    }

    /// The `cross-tenant-fetch` flaw's lookup: the recipient's user name,
    /// in any tenant.
    pub(super) async fn fetch_by_name(&self, id: String, name: &str) -> Reply {
        let notification = self
            .store
            .fetch_notification_by_name(id, name.to_owned(), self.clock.now_ms())
            .await?
            .ok_or(ApiError::NotFound)?;
        self.fetched(notification).await
    }
}

/// The `fragile-ids` flaw's decoding of an id: `None` when it decodes to
/// valid UTF-8 without a NUL (the sound path then answers), else the 500
/// a careless handler answers, with the error and a backtrace in it.
pub(super) fn fragile_decode(id: &str) -> Option<Response<Full<Bytes>>> {
    let raw = id.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = (raw[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                bytes.push(byte);
                i += 3;
            }
            None => {
                bytes.push(raw[i]);
                i += 1;
            }
        }
    }
    let problem = match String::from_utf8(bytes) {
        Err(error) => format!("{:?}", error.utf8_error()),
        Ok(text) if text.contains('\0') => "NulError: the id contains a NUL byte".to_owned(),
        Ok(_) => return None,
    };
    let trace = std::backtrace::Backtrace::force_capture();
    Some(json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({ "error": problem, "trace": trace.to_string() }),
    ))
}
