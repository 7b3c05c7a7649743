//! The HTTP API: routing, request parsing at the edge, handlers, and the
//! error enum that turns into a response.
//!
//! Every response is JSON (`application/json; charset=utf-8`) and carries
//! `Cache-Control: no-store`: everything here is per-user. Errors that could
//! tell an attacker whether something exists (someone else's notification
//! vs. an unknown id) are one variant with one body, so they cannot differ.

use std::error::Error as StdError;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::auth::{self, Auth, Caller, Clock};
use super::config::Config;
use super::dispatch::{DispatchFlaws, Dispatcher, Outgoing, Switches};
use super::flaw::{Flaw, Flaws};
use super::hub_mode::HubMode;
use super::ids::Ids;
use super::push::flawed::PushFlaws;
use super::push::{Platform, Pushers};
use super::store::{Notification, RegistrationUpdate, Routing, Store, StoreError};
use super::throttle::Throttle;
use super::BackendError;
#[cfg(test)]
use flawed::TIMING_ORACLE_DELAY;
use flawed::{fragile_decode, ApiFlaws};

/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// Most client tags on one registration (Notification Hubs allows 60).
const MAX_TAGS: usize = 60;
/// Most expired notifications deleted per sweep.
const SWEEP_BATCH: usize = 10_000;

/// Why a request failed; each variant is one fixed response.
#[derive(Debug)]
pub(crate) enum ApiError {
    BadRequest(&'static str),
    /// No, malformed, unknown, expired or revoked token.
    Unauthorized,
    Forbidden(&'static str),
    /// Unknown route, unknown id, or not the caller's: one answer for all.
    NotFound,
    MethodNotAllowed(&'static str),
    Conflict(&'static str),
    PayloadTooLarge,
    /// Too many failed fetches: retry after this many seconds.
    TooManyRequests(u64),
    Internal,
    /// The Notification Hub refused or did not answer (hub mode).
    BadGateway(&'static str),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failed");
        ApiError::Internal
    }
}

impl ApiError {
    fn into_response(self) -> Response<Full<Bytes>> {
        let (status, message) = match self {
            ApiError::BadRequest(why) => (StatusCode::BAD_REQUEST, why),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, why),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, why),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            ApiError::TooManyRequests(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "too many failed fetches")
            }
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
            ApiError::BadGateway(why) => (StatusCode::BAD_GATEWAY, why),
        };
        let mut response = json_response(status, &json!({ "error": message }));
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::TooManyRequests(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    // Plain data always serializes; the fallback only avoids a panic path.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

type Reply = Result<Response<Full<Bytes>>, ApiError>;

/// The application: everything a request handler needs.
pub(crate) struct App {
    auth: Auth,
    store: Store,
    dispatch: Dispatcher,
    clock: Clock,
    /// The longest a notification's content is kept (`ttl` asks for less).
    payload_ttl: std::time::Duration,
    /// `None` without a throttle.
    throttle: Option<Throttle>,
    /// The `no-authz` flaw.
    no_authz: bool,
    /// The `anonymous-fetch` flaw.
    anonymous_fetch: bool,
    /// The flaws of the fetch path and the answers, each read once.
    flaws: ApiFlaws,
    /// Hub mode: registrations mirrored as hub installations.
    hub: Option<std::sync::Arc<HubMode>>,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    /// The account's tenant (organisation); absent: the unnamed tenant.
    #[serde(default)]
    tenant: Option<String>,
    /// On login: a shorter token lifetime, in seconds, than the backend's
    /// (a client that wants its token to die sooner may ask; longer is
    /// never granted).
    #[serde(default)]
    expires_in: Option<u64>,
}

/// `POST /api/token`: a refresh (RFC 6749 section 6, as JSON).
#[derive(Deserialize)]
struct RefreshBody {
    grant_type: String,
    refresh_token: String,
}

#[derive(Deserialize)]
struct RegistrationBody {
    #[serde(rename = "Platform", alias = "platform")]
    platform: String,
    #[serde(rename = "Handle", alias = "handle")]
    handle: String,
    #[serde(rename = "Tags", alias = "tags", default)]
    tags: Option<Vec<String>>,
}

impl App {
    /// Opens the store and builds the push clients.
    pub(crate) async fn open(mut config: Config, clock: Clock) -> Result<App, BackendError> {
        let path = config.db_path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|e| BackendError::Store {
                path: config.db_path.clone(),
                source: StoreError::Commit(format!("opening task failed: {e}")),
            })?
            .map_err(|source| BackendError::Store {
                path: config.db_path.clone(),
                source,
            })?;
        let push_flaws = PushFlaws::from_flaws(&config.flaws);
        let ids = Ids::from_flaws(&config.flaws);
        let no_authz = config.flaws.contains(&Flaw::NoAuthz);
        let keep_tokens = config.flaws.contains(&Flaw::LogoutKeepsToken);
        if !config.flaws.is_empty() {
            tracing::warn!(
                flaws = %Flaws(&config.flaws),
                "deliberate flaws are ON: this backend is unsafe"
            );
        }
        if config.flaws.contains(&Flaw::InsecureGatewayTls) {
            config.trust = crate::config::Trust::AnyCertificate;
        }
        let hub = HubMode::new(&config, store.clone());
        Ok(App {
            auth: Auth::new(store.clone(), clock.clone(), config.token_ttl, keep_tokens)
                .with_flaws(&config.flaws),
            dispatch: Dispatcher::new(
                store.clone(),
                Pushers::new(&config),
                clock.clone(),
                push_flaws,
                ids,
                DispatchFlaws::of(&config.flaws),
                Switches::new(&config.flaws),
            )
            .with_hub(hub.clone()),
            hub,
            store,
            clock,
            payload_ttl: config.payload_ttl,
            throttle: config
                .fetch_throttle
                .filter(|_| !config.flaws.contains(&Flaw::NoFetchThrottle))
                .map(Throttle::new),
            no_authz,
            anonymous_fetch: config.flaws.contains(&Flaw::AnonymousFetch),
            flaws: ApiFlaws::new(&config.flaws),
        })
    }

    /// Deletes the notifications whose lifetime is over (some at a time:
    /// the next sweep takes the rest), so expired content is gone from the
    /// database, not only hidden.
    pub(crate) async fn sweep(&self) {
        if self.flaws.no_payload_ttl {
            return;
        }
        match self
            .store
            .delete_expired(self.clock.now_ms(), SWEEP_BATCH)
            .await
        {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "expired notifications deleted"),
            Err(error) => tracing::warn!(%error, "sweeping expired notifications failed"),
        }
    }

    /// Answers one request; never fails and never panics on input.
    pub(crate) async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let mut response = if self.flaws.echo_errors {
            self.handle_echoing(request).await
        } else {
            match self.route(request).await {
                Ok(response) => response,
                Err(error) => error.into_response(),
            }
        };
        if self.flaws.no_charset && response.headers().contains_key(header::CONTENT_TYPE) {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        response
    }

    async fn route<B>(&self, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
        let method = request.method().clone();
        match segments.as_slice() {
            ["api", "users"] => {
                allow(&method, &Method::POST, "POST")?;
                self.create_user(request).await
            }
            ["api", "login"] => {
                allow(&method, &Method::POST, "POST")?;
                self.login(request).await
            }
            ["api", "token"] => {
                allow(&method, &Method::POST, "POST")?;
                self.refresh(request).await
            }
            ["api", "account", "disable"] => {
                allow(&method, &Method::POST, "POST")?;
                let caller = self.caller(&request).await?;
                self.auth.disable(&caller).await?;
                Ok(no_content())
            }
            ["api", "logout"] => {
                allow(&method, &Method::POST, "POST")?;
                let caller = self.caller(&request).await?;
                let handles = match &self.hub {
                    Some(hub) => hub.session_handles(&caller).await?,
                    None => Vec::new(),
                };
                self.auth.logout(&caller).await?;
                if let Some(hub) = &self.hub {
                    hub.logged_out(handles).await;
                }
                Ok(no_content())
            }
            ["api", "register"] => {
                allow(&method, &Method::POST, "POST")?;
                let caller = self.caller(&request).await?;
                self.new_registration(&caller, &request).await
            }
            ["api", "register", id] => {
                if method != Method::PUT && method != Method::DELETE {
                    return Err(ApiError::MethodNotAllowed("PUT, DELETE"));
                }
                let id = (*id).to_owned();
                let caller = self.caller(&request).await?;
                if method == Method::PUT {
                    self.put_registration(&caller, id, request).await
                } else {
                    self.delete_registration(&caller, id).await
                }
            }
            ["api", "notifications"] => {
                allow(&method, &Method::POST, "POST")?;
                let caller = self.caller(&request).await?;
                self.send(&caller, request).await
            }
            ["api", "notifications", id] => {
                if method != Method::GET && method != Method::DELETE {
                    return Err(ApiError::MethodNotAllowed("GET, DELETE"));
                }
                let id = *id;
                if method == Method::DELETE {
                    let caller = self.caller(&request).await?;
                    return self.acknowledge(&caller, id.to_owned()).await;
                }
                if self.anonymous_fetch && !request.headers().contains_key(header::AUTHORIZATION) {
                    return self.fetch_unchecked(id).await;
                }
                if let Some(cache) = &self.flaws.authz_cache {
                    return self.fetch_cached(cache, &request, id).await;
                }
                let caller = self.caller(&request).await?;
                self.fetch(&caller, id).await
            }
            _ => Err(ApiError::NotFound),
        }
    }

    async fn caller<B>(&self, request: &Request<B>) -> Result<Caller, ApiError> {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if header.is_none() && self.flaws.token_in_query {
            return self.caller_from_query(request).await;
        }
        self.auth
            .authenticate(header)
            .await?
            .ok_or(ApiError::Unauthorized)
    }

    /// The `token-in-query` flaw: the token of `?access_token=`.
    async fn caller_from_query<B>(&self, request: &Request<B>) -> Result<Caller, ApiError> {
        let query = Query::parse(request.uri().query())?;
        let header = query.get("access_token").map(|t| format!("Bearer {t}"));
        self.auth
            .authenticate(header.as_deref())
            .await?
            .ok_or(ApiError::Unauthorized)
    }

    async fn create_user<B>(&self, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let credentials: Credentials = json_body(request).await?;
        if !auth::valid_username(&credentials.username) {
            return Err(ApiError::BadRequest(
                "username must be 1-64 of A-Z a-z 0-9 _ . @ -",
            ));
        }
        if !auth::valid_password(&credentials.password) {
            return Err(ApiError::BadRequest("password must be 1-1024 bytes"));
        }
        let account = account(&credentials)?;
        if !self
            .auth
            .create_user(&account, &credentials.password)
            .await?
        {
            return Err(ApiError::Conflict("user exists"));
        }
        let mut created = json!({ "username": credentials.username });
        if let Some(tenant) = &credentials.tenant {
            created["tenant"] = json!(tenant);
        }
        Ok(json_response(StatusCode::CREATED, &created))
    }

    async fn login<B>(&self, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let credentials: Credentials = json_body(request).await?;
        // An invalid tenant names no account: the same 401 as a bad password.
        let account = account(&credentials).unwrap_or_default();
        let session = self
            .auth
            .login(
                &account,
                &credentials.password,
                credentials.expires_in.map(std::time::Duration::from_secs),
            )
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(session_response(&session))
    }

    async fn refresh<B>(&self, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let body: RefreshBody = json_body(request).await?;
        if body.grant_type != "refresh_token" {
            return Err(ApiError::BadRequest("unsupported_grant_type"));
        }
        let session = self
            .auth
            .refresh(&body.refresh_token)
            .await?
            .ok_or(ApiError::BadRequest("invalid_grant"))?;
        Ok(session_response(&session))
    }

    async fn new_registration<B>(&self, caller: &Caller, request: &Request<B>) -> Reply {
        let query = Query::parse(request.uri().query())?;
        let handle = query.get("handle").map(str::to_owned);
        if let Some(handle) = &handle {
            if handle.is_empty() || handle.len() > 4096 || handle.chars().any(char::is_control) {
                return Err(ApiError::BadRequest("bad handle"));
            }
        }
        let id = self
            .store
            .create_registration(
                auth::random_id(),
                caller.username.to_string(),
                handle,
                caller.token_hash(),
                self.clock.now_ms(),
            )
            .await?;
        Ok(json_response(StatusCode::OK, &id))
    }

    async fn put_registration<B>(&self, caller: &Caller, id: String, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let body: RegistrationBody = json_body(request).await?;
        let platform: Platform = body
            .platform
            .parse()
            .map_err(|()| ApiError::BadRequest("Platform must be apns, fcm, gcm or wns"))?;
        if !auth::is_id(&id) {
            return Err(ApiError::NotFound);
        }
        if !platform.valid_handle(&body.handle) {
            return Err(ApiError::BadRequest(
                "Handle is not a valid address for this platform",
            ));
        }
        let tags = registration_tags(
            &auth::tag_name(&caller.username),
            body.tags.unwrap_or_default(),
            self.flaws.trust_client_tags,
        )?;
        let tags_json = serde_json::to_string(&tags).map_err(|_| ApiError::Internal)?;
        let (handle, previous) = match &self.hub {
            Some(hub) => (body.handle.clone(), hub.current_handle(caller, &id).await?),
            None => (String::new(), None),
        };
        let owner = self.owner_for(caller, &id).await?;
        let result = self
            .store
            .update_registration(
                id,
                owner,
                platform,
                body.handle,
                tags_json,
                caller.token_hash(),
            )
            .await?;
        match result {
            RegistrationUpdate::Updated => {
                if let Some(hub) = &self.hub {
                    hub.registered(platform, &handle, &tags, previous)
                        .await
                        .map_err(|error| {
                            tracing::warn!(%error, "the hub refused an installation");
                            ApiError::BadGateway("the notification hub refused the registration")
                        })?;
                }
                Ok(json_response(StatusCode::OK, &json!({})))
            }
            RegistrationUpdate::NotFound => Err(ApiError::NotFound),
            RegistrationUpdate::HandleTaken => {
                Err(ApiError::Conflict("handle is registered by another user"))
            }
        }
    }

    async fn delete_registration(&self, caller: &Caller, id: String) -> Reply {
        if !auth::is_id(&id) {
            return Err(ApiError::NotFound);
        }
        if let Some(hub) = &self.hub {
            // The device leaves the hub first: if the hub will not let it
            // go, the registration stays and the client can try again.
            if let Some(handle) = hub.current_handle(caller, &id).await? {
                hub.unregistered(&handle).await.map_err(|error| {
                    tracing::warn!(%error, "the hub would not delete an installation");
                    ApiError::BadGateway("the notification hub refused to delete the registration")
                })?;
            }
        }
        let owner = self.owner_for(caller, &id).await?;
        if self.store.delete_registration(id, owner).await? {
            Ok(json_response(StatusCode::OK, &json!({})))
        } else {
            Err(ApiError::NotFound)
        }
    }

    /// Whose registration a caller may change: its own, or under the
    /// `any-registration` flaw whoever owns `id`.
    async fn owner_for(&self, caller: &Caller, id: &str) -> Result<String, ApiError> {
        if self.flaws.any_registration {
            if let Some(owner) = self.store.registration_owner(id.to_owned()).await? {
                return Ok(owner);
            }
        }
        Ok(caller.username.to_string())
    }

    async fn send<B>(&self, caller: &Caller, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let query = Query::parse(request.uri().query())?;
        let mut recipient = query
            .get("to_tag")
            .ok_or(ApiError::BadRequest("to_tag is required"))?
            .to_owned();
        let platform = match query.get("pns") {
            None => None,
            Some(pns) => Some(
                pns.parse::<Platform>()
                    .map_err(|()| ApiError::BadRequest("pns must be apns, fcm, gcm or wns"))?,
            ),
        };
        let token = self
            .dispatch
            .wants_token()
            .then(|| request.headers().get(header::AUTHORIZATION))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(auth::bearer_token)
            .map(str::to_owned);
        let ttl = match query.get("ttl") {
            None => self.payload_ttl,
            // Shorter than the backend's lifetime, never longer.
            Some(ttl) => match ttl.parse::<u64>() {
                Ok(seconds) if seconds > 0 => {
                    std::time::Duration::from_secs(seconds).min(self.payload_ttl)
                }
                _ => {
                    return Err(ApiError::BadRequest(
                        "ttl must be a number of seconds above 0",
                    ))
                }
            },
        };
        let message: String = json_body(request).await?;
        // The flaws route by tag, as a hub would. The tutorial's tags name
        // a user without a tenant (`username:bob`); this backend's own tag
        // names the account (`username:acme:bob`): a flawed route takes
        // both, so it reaches what the sound route reaches and more.
        let tenant = caller.tenant();
        let user_tags = |tag: &str| -> Vec<String> {
            match tag.strip_prefix("username:") {
                Some(name) if auth::valid_username(name) => vec![
                    tag.to_owned(),
                    format!(
                        "username:{}",
                        auth::tag_name(&auth::account_key(tenant, name))
                    ),
                ],
                _ => vec![tag.to_owned()],
            }
        };
        let mut routing = if self.flaws.trust_client_tags {
            Routing::Tags(user_tags(&format!("username:{recipient}")))
        } else {
            Routing::Owner
        };
        if self.flaws.tag_expression_injection && recipient.contains("||") {
            // The tutorial's `"username:" + to_tag`, read as a tag
            // expression: every term after the first is a tag of its own.
            let terms: Vec<String> = recipient.split("||").map(|t| t.trim().to_owned()).collect();
            let mut tags = user_tags(&format!("username:{}", terms[0]));
            for term in &terms[1..] {
                tags.extend(user_tags(term));
            }
            recipient = terms[0].clone();
            routing = Routing::Tags(tags);
        }
        if !auth::valid_username(&recipient) {
            // Cannot be a user: nothing to store or push.
            return Ok(json_response(
                StatusCode::OK,
                &json!({ "pushed": 0, "failed": 0 }),
            ));
        }
        // A user of the sender's own tenant: a token never reaches another.
        let recipient = auth::account_key(caller.tenant(), &recipient);
        let outcome = self
            .dispatch
            .notify(
                Outgoing {
                    sender: caller.username.to_string(),
                    recipient,
                    platform,
                    message,
                    ttl,
                    routing,
                },
                token.as_deref(),
            )
            .await?;
        Ok(json_response(StatusCode::OK, &outcome))
    }

    async fn fetch(&self, caller: &Caller, id: &str) -> Reply {
        if self.flaws.fragile_ids && id.contains('%') {
            if let Some(dump) = fragile_decode(id) {
                return Ok(dump);
            }
        }
        if let Some(throttle) = &self.throttle {
            if let Some(seconds) = throttle.blocked(&caller.username, self.clock.now_ms()) {
                return Err(ApiError::TooManyRequests(seconds));
            }
        }
        if self.flaws.bola_case_variant && !auth::is_id(id) {
            // The flaw: the ownership lookup matched the id exactly and
            // found no owner to refuse; the content lookup ignores case.
            let folded = id.to_ascii_lowercase();
            if auth::is_id(&folded) {
                return self.fetch_for(&folded, None).await;
            }
        }
        // Kept only by the flaws that look the id up again.
        let asked =
            (self.flaws.forbidden_oracle || self.flaws.timing_oracle).then(|| id.to_owned());
        let recipient = (!self.no_authz).then_some(&*caller.username);
        let answer = if self.flaws.cross_tenant_fetch && auth::is_id(id) {
            self.fetch_by_name(id.to_owned(), caller.name()).await
        } else {
            self.fetch_for(id, recipient).await
        };
        if let (Err(ApiError::NotFound), Some(throttle)) = (&answer, &self.throttle) {
            throttle.failed(&caller.username, self.clock.now_ms());
        }
        match (answer, asked) {
            (Err(ApiError::NotFound), Some(id)) => self.flawed_not_found(id).await,
            (answer, _) => answer,
        }
    }

    /// `DELETE /api/notifications/{id}`: the recipient acknowledges, and
    /// the content is gone for good.
    async fn acknowledge(&self, caller: &Caller, id: String) -> Reply {
        if !auth::is_id(&id) {
            return Err(ApiError::NotFound);
        }
        let now = self.clock.now_ms();
        let deleted = if self.flaws.soft_delete {
            // Answers as if deleted, and keeps it.
            self.store.recipient_of(id, now).await?.as_deref() == Some(&*caller.username)
        } else {
            let recipient = (!self.flaws.any_ack).then(|| caller.username.to_string());
            let deleted = self
                .store
                .delete_notification(id.clone(), recipient, now)
                .await?;
            if deleted {
                self.dispatch.ids().released(&id);
            }
            deleted
        };
        if !deleted {
            return Err(ApiError::NotFound);
        }
        let mut response = json_response(StatusCode::NO_CONTENT, &json!({}));
        *response.body_mut() = Full::default();
        Ok(response)
    }

    /// The notification, to `recipient` only (anyone with `None`).
    async fn fetch_for(&self, id: &str, recipient: Option<&str>) -> Reply {
        if !auth::is_id(id) {
            return Err(ApiError::NotFound);
        }
        // The `no-payload-ttl` flaw asks as if at the beginning of time.
        let now = if self.flaws.no_payload_ttl {
            i64::MIN
        } else {
            self.clock.now_ms()
        };
        let notification = self
            .store
            .fetch_notification(id, recipient, now)
            .await?
            .ok_or(ApiError::NotFound)?;
        self.fetched(notification).await
    }

    /// The answer to a fetch that found `notification`.
    async fn fetched(&self, notification: Notification) -> Reply {
        if !self.flaws.verbose_fetch && !self.flaws.cacheable_fetch {
            // The sound answer, typed: no map built per fetch.
            let answer = Fetched {
                id: &notification.id,
                payload: &notification.payload,
                read: notification.read,
            };
            return Ok(json_response(StatusCode::OK, &answer));
        }
        let mut answer = json!({
            "Id": &*notification.id,
            "Payload": &*notification.payload,
            "Read": notification.read,
        });
        if self.flaws.verbose_fetch {
            if let Some((sender, created_at)) = self
                .store
                .notification_sender(notification.id.to_string())
                .await?
            {
                answer["Sender"] = json!({ "Username": sender, "CreatedAt": created_at });
            }
        }
        let mut response = json_response(StatusCode::OK, &answer);
        if self.flaws.cacheable_fetch {
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            );
        }
        Ok(response)
    }
}

/// The key of the account `credentials` name; 400 for a bad tenant.
fn account(credentials: &Credentials) -> Result<String, ApiError> {
    match credentials.tenant.as_deref() {
        Some(tenant) if !auth::valid_tenant(tenant) => Err(ApiError::BadRequest(
            "tenant must be 1-64 of A-Z a-z 0-9 _ . -",
        )),
        tenant => Ok(auth::account_key(tenant, &credentials.username)),
    }
}

/// A 204: the JSON headers, but no body.
fn no_content() -> Response<Full<Bytes>> {
    let mut response = json_response(StatusCode::NO_CONTENT, &json!({}));
    *response.body_mut() = Full::default();
    response
}

/// The answer to a login or a refresh (RFC 6749 section 5.1's fields).
fn session_response(session: &auth::Session) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::OK,
        &json!({
            "token": session.token,
            "token_type": "Bearer",
            "expires_in": session.expires_in.as_secs(),
            "refresh_token": session.refresh_token,
        }),
    )
}

/// The answer to `GET /api/notifications/{id}`, in the tutorial's casing
/// (fields in the order a JSON map prints them, so the bytes are the same).
#[derive(serde::Serialize)]
struct Fetched<'a> {
    #[serde(rename = "Id")]
    id: &'a str,
    #[serde(rename = "Payload")]
    payload: &'a str,
    #[serde(rename = "Read")]
    read: bool,
}

fn allow(method: &Method, expected: &Method, allow: &'static str) -> Result<(), ApiError> {
    if method == expected {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(allow))
    }
}

/// The caller's tags: the client's (checked), plus `username:<caller>`,
/// which the backend always adds. A client cannot tag itself as someone
/// else: that would route that user's pushes to its device (unless
/// `trusted`, the `trust-client-tags` flaw).
fn registration_tags(
    username: &str,
    client_tags: Vec<String>,
    trusted: bool,
) -> Result<Vec<String>, ApiError> {
    if client_tags.len() > MAX_TAGS {
        return Err(ApiError::BadRequest("too many tags"));
    }
    let own = format!("username:{username}");
    let mut tags = vec![own.clone()];
    for tag in client_tags {
        let shaped = (1..=120).contains(&tag.len())
            && tag.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'#' | b'.' | b':' | b'-')
            });
        if !shaped {
            return Err(ApiError::BadRequest(
                "tags are 1-120 of A-Z a-z 0-9 _ @ # . : -",
            ));
        }
        if !trusted && tag.to_ascii_lowercase().starts_with("username:") && tag != own {
            return Err(ApiError::Forbidden("tag username: is reserved to its user"));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// A parsed query string in which every key appears at most once (a
/// repeated key is refused rather than guessed at).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(ApiError::BadRequest("repeated query parameter"));
            }
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Ok(Query(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a body of at most [`MAX_BODY`] bytes and parses it as JSON.
async fn json_body<T, B>(request: Request<B>) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let bytes = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|error| {
            if error.downcast_ref::<LengthLimitError>().is_some() {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("could not read the request body")
            }
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|_| ApiError::BadRequest("malformed JSON body"))
}

mod flawed;
#[cfg(test)]
mod tests;
