//! The bare server's API: the reference profile's routes
//! (`scenarios/reference.toml`) over maps in memory.
//!
//! What a secure-push backend cannot skip is kept, at its cheapest: a
//! caller is the session its bearer token names (a map lookup), a
//! registration is changed by its owner only, a notification reaches the
//! recipient's own registrations and is answered to the recipient only
//! (everyone else gets the 404 an unknown id gets). Everything else a real
//! backend does is left out on purpose: no database, no password hashing
//! (passwords are compared as stored), no token expiry, no throttle, no
//! read marks, no logout. That is what makes it a ceiling: the HTTP
//! exchanges per notification, and the checks' minimum, nothing more.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use pushproof_mocks::Platform;
use serde::Deserialize;
use serde_json::json;

use super::push::{Outcome, Pushers};

/// Largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// A signed-in caller.
#[derive(Debug, Clone)]
struct Session {
    tenant: Arc<str>,
    /// `tenant:user`, the key of everything the account owns.
    account: Arc<str>,
}

#[derive(Debug, Clone)]
struct Registration {
    owner: Arc<str>,
    platform: Option<Platform>,
    handle: Option<Arc<str>>,
}

#[derive(Debug)]
struct Notification {
    recipient: Arc<str>,
    payload: Arc<str>,
}

/// Everything the server knows, in memory.
pub struct State {
    /// `tenant:user` → password.
    users: RwLock<HashMap<Arc<str>, String>>,
    /// Bearer token → session.
    sessions: RwLock<HashMap<String, Session>>,
    registrations: RwLock<HashMap<String, Registration>>,
    /// `tenant:user` → the ids of its registrations, for the fan-out.
    owned: RwLock<HashMap<Arc<str>, Vec<String>>>,
    notifications: RwLock<HashMap<String, Notification>>,
    pushers: Pushers,
}

/// A read or write guard even after a panic elsewhere: the maps hold no
/// invariant a half-done write could break.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// 128 random bits, hex: tokens, registration and notification ids.
fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn answer(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A refused request: its status and a word on why.
#[derive(Debug, Clone, Copy)]
struct Refusal(StatusCode, &'static str);

fn error(status: StatusCode, why: &'static str) -> Refusal {
    Refusal(status, why)
}

type Reply = Result<Response<Full<Bytes>>, Refusal>;
/// The caller's tenant and account key.
type Account = (Arc<str>, Arc<str>);

async fn body<T: for<'de> Deserialize<'de>, B>(request: Request<B>) -> Result<T, Refusal>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|_| error(StatusCode::BAD_REQUEST, "bad JSON body"))
}

fn query(request: &Request<impl Sized>) -> HashMap<String, String> {
    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn allow(method: &Method, expected: &Method) -> Result<(), Refusal> {
    if method == expected {
        Ok(())
    } else {
        Err(error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"))
    }
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    #[serde(default)]
    tenant: Option<String>,
}

impl Credentials {
    fn account(&self) -> Result<Account, Refusal> {
        let tenant = self.tenant.as_deref().unwrap_or("");
        if self.username.is_empty() || self.username.contains(':') || tenant.contains(':') {
            return Err(error(StatusCode::BAD_REQUEST, "bad username or tenant"));
        }
        Ok((tenant.into(), format!("{tenant}:{}", self.username).into()))
    }
}

#[derive(Deserialize)]
struct RegistrationBody {
    #[serde(rename = "Platform")]
    platform: String,
    #[serde(rename = "Handle")]
    handle: String,
}

impl State {
    pub fn new(pushers: Pushers) -> State {
        State {
            users: RwLock::default(),
            sessions: RwLock::default(),
            registrations: RwLock::default(),
            owned: RwLock::default(),
            notifications: RwLock::default(),
            pushers,
        }
    }

    /// Answers one request.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.route(request)
            .await
            .unwrap_or_else(|Refusal(status, why)| answer(status, &json!({ "error": why })))
    }

    async fn route<B>(&self, request: Request<B>) -> Reply
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["api", "users"] => {
                allow(&method, &Method::POST)?;
                self.signup(body(request).await?)
            }
            ["api", "login"] => {
                allow(&method, &Method::POST)?;
                self.login(body(request).await?)
            }
            ["api", "register"] => {
                allow(&method, &Method::POST)?;
                let caller = self.caller(&request)?;
                self.register(&caller, query(&request).remove("handle"))
            }
            ["api", "register", id] => {
                allow(&method, &Method::PUT)?;
                let id = (*id).to_owned();
                let caller = self.caller(&request)?;
                self.update(&caller, &id, body(request).await?)
            }
            ["api", "notifications"] => {
                allow(&method, &Method::POST)?;
                let caller = self.caller(&request)?;
                let query = query(&request);
                self.notify(&caller, query, body(request).await?).await
            }
            ["api", "notifications", id] => {
                allow(&method, &Method::GET)?;
                let caller = self.caller(&request)?;
                self.fetch(&caller, id)
            }
            _ => Err(error(StatusCode::NOT_FOUND, "not found")),
        }
    }

    /// The session of the request's bearer token.
    fn caller<B>(&self, request: &Request<B>) -> Result<Session, Refusal> {
        let unauthorized = || error(StatusCode::UNAUTHORIZED, "unauthorized");
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(unauthorized)?;
        read(&self.sessions)
            .get(token)
            .cloned()
            .ok_or_else(unauthorized)
    }

    fn signup(&self, credentials: Credentials) -> Reply {
        let (_, account) = credentials.account()?;
        let mut users = write(&self.users);
        if users.contains_key(&account) {
            return Err(error(StatusCode::CONFLICT, "user exists"));
        }
        users.insert(account, credentials.password);
        Ok(answer(
            StatusCode::CREATED,
            &json!({ "username": credentials.username }),
        ))
    }

    fn login(&self, credentials: Credentials) -> Reply {
        let (tenant, account) = credentials.account()?;
        if read(&self.users).get(&account) != Some(&credentials.password) {
            return Err(error(StatusCode::UNAUTHORIZED, "unauthorized"));
        }
        let token = random_id();
        write(&self.sessions).insert(token.clone(), Session { tenant, account });
        Ok(answer(
            StatusCode::OK,
            &json!({
                "token": token,
                "token_type": "Bearer",
                "expires_in": 3600,
                // Never redeemed here; the profile reads one.
                "refresh_token": random_id(),
            }),
        ))
    }

    fn register(&self, caller: &Session, handle: Option<String>) -> Reply {
        let id = random_id();
        write(&self.registrations).insert(
            id.clone(),
            Registration {
                owner: caller.account.clone(),
                platform: None,
                handle: handle.map(Into::into),
            },
        );
        write(&self.owned)
            .entry(caller.account.clone())
            .or_default()
            .push(id.clone());
        Ok(answer(StatusCode::OK, &json!(id)))
    }

    fn update(&self, caller: &Session, id: &str, body: RegistrationBody) -> Reply {
        let platform: Platform = match body.platform.to_ascii_lowercase().as_str() {
            "gcm" => Platform::Fcm,
            name => name
                .parse()
                .map_err(|_| error(StatusCode::BAD_REQUEST, "Platform must be apns, fcm or wns"))?,
        };
        let mut registrations = write(&self.registrations);
        match registrations.get_mut(id) {
            Some(registration) if registration.owner == caller.account => {
                registration.platform = Some(platform);
                registration.handle = Some(body.handle.into());
                Ok(answer(StatusCode::OK, &json!({})))
            }
            _ => Err(error(StatusCode::NOT_FOUND, "not found")),
        }
    }

    /// Stores the content, pushes its id to each of the recipient's
    /// registrations (on `pns` only, when given), then answers.
    async fn notify(
        &self,
        caller: &Session,
        query: HashMap<String, String>,
        message: String,
    ) -> Reply {
        let to = query
            .get("to_tag")
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, "to_tag is required"))?;
        let platform = match query.get("pns").map(|p| p.to_ascii_lowercase()) {
            None => None,
            Some(p) if p == "gcm" => Some(Platform::Fcm),
            Some(p) => Some(
                p.parse::<Platform>()
                    .map_err(|_| error(StatusCode::BAD_REQUEST, "pns must be apns, fcm or wns"))?,
            ),
        };
        // A recipient of the sender's own tenant, as the reference has it.
        let recipient: Arc<str> = format!("{}:{to}", caller.tenant).into();
        let targets: Vec<(Platform, Arc<str>)> = {
            let owned = read(&self.owned);
            let registrations = read(&self.registrations);
            owned
                .get(&recipient)
                .into_iter()
                .flatten()
                .filter_map(|id| registrations.get(id))
                .filter_map(|r| Some((r.platform?, r.handle.clone()?)))
                .filter(|(p, _)| platform.is_none_or(|want| *p == want))
                .collect()
        };
        let id = random_id();
        write(&self.notifications).insert(
            id.clone(),
            Notification {
                recipient,
                payload: message.into(),
            },
        );
        let outcomes = futures::future::join_all(
            targets
                .iter()
                .map(|(platform, handle)| self.pushers.push(*platform, handle, &id)),
        )
        .await;
        let pushed = outcomes.iter().filter(|o| **o == Outcome::Accepted).count();
        Ok(answer(
            StatusCode::OK,
            &json!({ "pushed": pushed, "failed": outcomes.len() - pushed }),
        ))
    }

    /// The content, to its recipient only.
    fn fetch(&self, caller: &Session, id: &str) -> Reply {
        let notifications = read(&self.notifications);
        match notifications.get(id) {
            Some(n) if n.recipient == caller.account => Ok(answer(
                StatusCode::OK,
                &json!({ "Id": id, "Payload": &*n.payload, "Read": false }),
            )),
            // Someone else's and unknown look alike.
            _ => Err(error(StatusCode::NOT_FOUND, "not found")),
        }
    }
}
