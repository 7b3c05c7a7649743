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
use super::dispatch::{Dispatcher, Switches};
use super::flaw::{Flaw, Flaws};
use super::push::{Platform, Pushers};
use super::store::{RegistrationUpdate, Store, StoreError};
use super::BackendError;

/// Largest request body accepted.
pub(crate) const MAX_BODY: usize = 64 * 1024;
/// Most client tags on one registration (Notification Hubs allows 60).
const MAX_TAGS: usize = 60;

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
    Internal,
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
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
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
    /// The `no-authz` flaw.
    no_authz: bool,
    /// The `anonymous-fetch` flaw.
    anonymous_fetch: bool,
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    /// On login: a shorter token lifetime, in seconds, than the backend's
    /// (a client that wants its token to die sooner may ask; longer is
    /// never granted).
    #[serde(default)]
    expires_in: Option<u64>,
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
    pub(crate) async fn open(config: Config, clock: Clock) -> Result<App, BackendError> {
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
        let no_authz = config.flaws.contains(&Flaw::NoAuthz);
        let keep_tokens = config.flaws.contains(&Flaw::LogoutKeepsToken);
        if !config.flaws.is_empty() {
            tracing::warn!(
                flaws = %Flaws(&config.flaws),
                "deliberate flaws are ON: this backend is unsafe"
            );
        }
        Ok(App {
            auth: Auth::new(store.clone(), clock.clone(), config.token_ttl, keep_tokens),
            dispatch: Dispatcher::new(
                store.clone(),
                Pushers::new(&config),
                clock.clone(),
                Switches::new(&config.flaws),
            ),
            store,
            clock,
            no_authz,
            anonymous_fetch: config.flaws.contains(&Flaw::AnonymousFetch),
        })
    }

    /// Answers one request; never fails and never panics on input.
    pub(crate) async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
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
            ["api", "logout"] => {
                allow(&method, &Method::POST, "POST")?;
                let caller = self.caller(&request).await?;
                self.auth.logout(&caller).await?;
                // 204: the JSON headers, but no body.
                let mut response = json_response(StatusCode::NO_CONTENT, &json!({}));
                *response.body_mut() = Full::default();
                Ok(response)
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
                allow(&method, &Method::GET, "GET")?;
                if self.anonymous_fetch && !request.headers().contains_key(header::AUTHORIZATION) {
                    return self.fetch_unchecked(id).await;
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
        self.auth
            .authenticate(header)
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
        if !self
            .auth
            .create_user(&credentials.username, &credentials.password)
            .await?
        {
            return Err(ApiError::Conflict("user exists"));
        }
        Ok(json_response(
            StatusCode::CREATED,
            &json!({ "username": credentials.username }),
        ))
    }

    async fn login<B>(&self, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let credentials: Credentials = json_body(request).await?;
        let session = self
            .auth
            .login(
                &credentials.username,
                &credentials.password,
                credentials.expires_in.map(std::time::Duration::from_secs),
            )
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "token": session.token,
                "token_type": "Bearer",
                "expires_in": session.expires_in.as_secs(),
            }),
        ))
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
        let tags = registration_tags(&caller.username, body.tags.unwrap_or_default())?;
        let tags = serde_json::to_string(&tags).map_err(|_| ApiError::Internal)?;
        let result = self
            .store
            .update_registration(
                id,
                caller.username.to_string(),
                platform,
                body.handle,
                tags,
                caller.token_hash(),
            )
            .await?;
        match result {
            RegistrationUpdate::Updated => Ok(json_response(StatusCode::OK, &json!({}))),
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
        if self
            .store
            .delete_registration(id, caller.username.to_string())
            .await?
        {
            Ok(json_response(StatusCode::OK, &json!({})))
        } else {
            Err(ApiError::NotFound)
        }
    }

    async fn send<B>(&self, caller: &Caller, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let query = Query::parse(request.uri().query())?;
        let recipient = query
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
        let message: String = json_body(request).await?;
        if !auth::valid_username(&recipient) {
            // Cannot be a user: nothing to store or push.
            return Ok(json_response(
                StatusCode::OK,
                &json!({ "pushed": 0, "failed": 0 }),
            ));
        }
        let outcome = self
            .dispatch
            .notify(&caller.username, &recipient, platform, message)
            .await?;
        Ok(json_response(StatusCode::OK, &outcome))
    }

    async fn fetch(&self, caller: &Caller, id: &str) -> Reply {
        let recipient = (!self.no_authz).then_some(&*caller.username);
        self.fetch_for(id, recipient).await
    }

    /// The `anonymous-fetch` flaw's fetch: no caller, no recipient check.
    async fn fetch_unchecked(&self, id: &str) -> Reply {
        self.fetch_for(id, None).await
    }

    /// The notification, to `recipient` only (anyone with `None`).
    async fn fetch_for(&self, id: &str, recipient: Option<&str>) -> Reply {
        if !auth::is_id(id) {
            return Err(ApiError::NotFound);
        }
        let notification = self
            .store
            .fetch_notification(id, recipient)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(json_response(
            StatusCode::OK,
            &Fetched {
                id,
                payload: &notification.payload,
                read: notification.read,
            },
        ))
    }
}

/// The answer to `GET /api/notifications/{id}`, in the tutorial's casing.
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
/// else: that would route that user's pushes to its device.
fn registration_tags(username: &str, client_tags: Vec<String>) -> Result<Vec<String>, ApiError> {
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
        if tag.to_ascii_lowercase().starts_with("username:") && tag != own {
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

#[cfg(test)]
mod tests;
