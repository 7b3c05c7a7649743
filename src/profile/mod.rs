//! A backend profile: how the harness talks to one backend under test, as
//! data. Auth scheme, each request's shape ([`Template`]), where each answer
//! and each platform's push carry what the harness needs, the optional
//! capabilities (logout, unregister, delete, …) and the policies the backend
//! declares (token lifetime, replay, who may send to whom, …).
//!
//! Profiles live in `scenarios/*.toml`. They are parsed once, at the edge,
//! into [`Profile`]; the rest of the harness only sees the validated type,
//! so a typo in a profile is an error naming the field before any traffic
//! (`pushproof profile check FILE`), never a surprise in the middle of a run.
//! The schema is documented in the README ("Profiles").

mod pointer;
mod push_id;
mod raw;
pub mod template;

use std::path::Path;
use std::time::Duration;

use pushproof_mocks::Platform;

pub use pointer::{scalar_at, Scalar};
pub use push_id::IdLocation;
pub use template::{Rendered, Template, Values, Var};

/// The profile of pushproof's own reference backend, embedded so that
/// `pushproof run` and `pushproof check` work from any directory.
pub const REFERENCE: &str = include_str!("../../scenarios/reference.toml");

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("profile {name}: {source}")]
    Parse {
        name: String,
        source: Box<toml::de::Error>,
    },
    #[error("profile {name}: {field}: {problem}")]
    Invalid {
        name: String,
        /// The TOML key at fault, dotted (`requests.fetch.path`).
        field: String,
        problem: String,
    },
}

/// A validated backend profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// The file it came from (`None` when embedded).
    pub path: Option<String>,
    pub auth: Auth,
    pub requests: Requests,
    platforms: [Option<PlatformProfile>; 3],
    pub policy: Policy,
    pub start: Start,
    /// Tenants the harness may create accounts in (`tenants.names`; empty:
    /// the backend declares none). The first is every other account's.
    pub tenants: Vec<String>,
}

/// How users prove who they are.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The header credentials travel in (`authorization`).
    pub header: String,
    pub scheme: Scheme,
    /// The password the harness gives each simulated user.
    pub password: PasswordRule,
}

#[derive(Debug, Clone)]
pub enum Scheme {
    /// `Basic base64(user:password)` on every request.
    Basic { prefix: String },
    /// A token from the login request, sent as `prefix` + token.
    Bearer { prefix: String },
    /// Fixed users with fixed tokens, for a backend whose accounts the
    /// harness cannot create.
    Static {
        prefix: String,
        users: Vec<StaticUser>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticUser {
    pub user: String,
    pub token: String,
}

/// Which password a simulated user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    /// A fresh password per user and run (derived from the run's seed).
    Generated,
    /// The tutorial's rule: the password equals the user name.
    SameAsUser,
}

/// A request and where its answer carries what the harness reads.
#[derive(Debug, Clone)]
pub struct Request {
    pub template: Template,
    /// JSON pointers into the answer, by purpose (`token`, `registration`,
    /// `id`, `payload`, `read`, `expires_in`).
    pub answer: Answer,
}

/// Where an answer carries each thing (JSON pointers; `""` is the whole
/// document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub token: Option<String>,
    pub expires_in: Option<String>,
    pub registration: Option<String>,
    pub id: Option<String>,
    pub payload: Option<String>,
    pub read: Option<String>,
    /// Login: a refresh token, which must never work as an access token.
    pub refresh_token: Option<String>,
    /// Login: an ID token (OpenID Connect), which must never work as an
    /// access token.
    pub id_token: Option<String>,
    /// Fetch: every field the answer may carry (JSON pointers); anything
    /// else in it is more than the recipient needs.
    pub fields: Option<Vec<String>>,
}

/// The backend's requests. Required ones are plain fields; each optional
/// one is a capability whose absence makes the checks that need it SKIP.
#[derive(Debug, Clone)]
pub struct Requests {
    pub signup: Option<Request>,
    /// Bearer schemes only.
    pub login: Option<Request>,
    /// Login for a token that dies after `policy.short_token_lifetime`.
    pub short_login: Option<Request>,
    pub logout: Option<Request>,
    pub register: Request,
    pub update_registration: Option<Request>,
    pub unregister: Option<Request>,
    pub notify: Request,
    /// Notify with content that expires after `policy.short_payload_ttl`
    /// (`{lifetime_s}`), for expiry checks that cannot wait the usual TTL.
    pub short_notify: Option<Request>,
    pub fetch: Request,
    /// Delete or acknowledge a notification.
    pub delete: Option<Request>,
    pub disable_account: Option<Request>,
}

impl Requests {
    /// Every request the profile declares, with its key (`fetch`).
    pub fn all(&self) -> Vec<(&'static str, &Request)> {
        let optional = [
            ("signup", &self.signup),
            ("login", &self.login),
            ("short_login", &self.short_login),
            ("logout", &self.logout),
            ("update_registration", &self.update_registration),
            ("unregister", &self.unregister),
            ("delete", &self.delete),
            ("disable_account", &self.disable_account),
        ];
        let mut out = vec![
            ("register", &self.register),
            ("notify", &self.notify),
            ("fetch", &self.fetch),
        ];
        out.extend(
            optional
                .into_iter()
                .filter_map(|(key, request)| request.as_ref().map(|r| (key, r))),
        );
        out
    }
}

/// One platform as the backend knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformProfile {
    /// What the backend calls it in `{platform}`.
    pub name: String,
    /// Where its pushes carry the id.
    pub id: IdLocation,
    /// The push's declared shape (`platforms.<name>.constants`): every
    /// field beside the id, as a JSON pointer (or `xml:` path) into the push
    /// as the device receives it, with its constant value. `None` when the
    /// profile does not declare one.
    pub constants: Option<Vec<(String, serde_json::Value)>>,
    /// Generic alert texts the push may show (`platforms.<name>.alerts`).
    pub alerts: Vec<String>,
}

/// What the backend declares about itself; checks judge against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub token_lifetime: Option<Duration>,
    pub short_token_lifetime: Option<Duration>,
    /// Clock skew allowed past a token's expiry.
    pub expiry_skew: Duration,
    /// How long a notification's content stays fetchable.
    pub payload_ttl: Option<Duration>,
    /// The lifetime `requests.short_notify` asks for.
    pub short_payload_ttl: Option<Duration>,
    /// How the backend throttles a caller's failed fetches, if it does.
    pub fetch_throttle: Option<FetchThrottle>,
    pub replay: Replay,
    pub send: SendPolicy,
    /// Whether a user's other device may fetch a notification.
    pub other_device: bool,
    /// Whether logout drops the registrations made with that token.
    pub logout_drops_registrations: bool,
}

/// How often one notification's content may be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    Unlimited,
    /// Once; any later fetch is refused.
    SingleUse,
    /// Until deleted or acknowledged.
    UntilAck,
}

/// A throttle on failed fetches (403/404): past `failures` of them
/// within `window`, the caller's fetches get 429 with `Retry-After` until
/// the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchThrottle {
    pub failures: u32,
    pub window: Duration,
    pub scope: ThrottleScope,
}

/// What one throttle window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    /// Every session of a user together.
    User,
    /// Each token (session) apart.
    Token,
}

/// Who may notify whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPolicy {
    /// Any signed-in user may notify any user.
    AnyUser,
    /// A user may notify only themselves.
    SelfOnly,
}

/// How to wait for a started backend (`--backend-cmd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Requested until any HTTP answer comes.
    pub ready_path: String,
    pub startup_timeout: Duration,
}

/// An optional part of a profile that some checks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    Signup,
    Logout,
    ShortLivedToken,
    Unregister,
    Delete,
    DisableAccount,
    PayloadTtl,
    /// The notify answer carries the notification id.
    NotifyId,
    /// Accounts can be created in at least two tenants.
    Tenants,
    /// The login answer carries a refresh token or an ID token.
    OtherTokenTypes,
    /// The fetch answer's fields are declared.
    FetchFields,
    /// The push's shape is declared (`platforms.<name>.constants`).
    PushShape,
    /// A notify whose content expires within seconds.
    ShortPayloadTtl,
    /// A declared throttle on failed fetches.
    FetchThrottle,
}

impl Capability {
    /// The profile key that would enable it.
    pub fn key(self) -> &'static str {
        match self {
            Capability::Signup => "requests.signup",
            Capability::Logout => "requests.logout",
            Capability::ShortLivedToken => "requests.short_login and policy.short_token_lifetime_s",
            Capability::Unregister => "requests.unregister",
            Capability::Delete => "requests.delete",
            Capability::DisableAccount => "requests.disable_account",
            Capability::PayloadTtl => "policy.payload_ttl_s",
            Capability::NotifyId => "requests.notify.id",
            Capability::Tenants => "tenants.names",
            Capability::OtherTokenTypes => {
                "requests.login.refresh_token or requests.login.id_token"
            }
            Capability::FetchFields => "requests.fetch.fields",
            Capability::PushShape => "platforms.<name>.constants",
            Capability::ShortPayloadTtl => "requests.short_notify and policy.short_payload_ttl_s",
            Capability::FetchThrottle => "policy.fetch_throttle",
        }
    }

    /// What it is, for a SKIP's reason.
    pub fn what(self) -> &'static str {
        match self {
            Capability::Signup => "an account-creation request",
            Capability::Logout => "a logout request",
            Capability::ShortLivedToken => "a way to obtain a short-lived token",
            Capability::Unregister => "a request that deletes a registration",
            Capability::Delete => "a request that deletes or acknowledges a notification",
            Capability::DisableAccount => "a request that disables an account",
            Capability::PayloadTtl => "a declared payload lifetime",
            Capability::NotifyId => "a notify answer that carries the id",
            Capability::Tenants => "tenants to create accounts in",
            Capability::OtherTokenTypes => "a login answer with a refresh or ID token",
            Capability::FetchFields => "the fields of the fetch answer",
            Capability::PushShape => "the shape of its pushes (the constants beside the id)",
            Capability::ShortPayloadTtl => "a way to send content that expires within seconds",
            Capability::FetchThrottle => "a throttle on failed fetches",
        }
    }
}

impl Profile {
    /// The reference backend's profile.
    pub fn reference() -> Profile {
        Profile::parse("reference", REFERENCE).expect("the embedded reference profile is valid")
    }

    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut profile = Profile::parse(&path.display().to_string(), &text)?;
        profile.path = Some(path.display().to_string());
        Ok(profile)
    }

    /// Parses and validates a profile; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Profile, ProfileError> {
        raw::parse(origin, text)
    }

    /// The platform as this backend knows it, if it supports it.
    pub fn platform(&self, platform: Platform) -> Option<&PlatformProfile> {
        self.platforms[index(platform)].as_ref()
    }

    /// The platforms this backend supports, in order.
    pub fn platforms(&self) -> Vec<Platform> {
        Platform::ALL
            .into_iter()
            .filter(|p| self.platform(*p).is_some())
            .collect()
    }

    /// Whether the profile declares a capability.
    pub fn has(&self, capability: Capability) -> bool {
        let r = &self.requests;
        match capability {
            Capability::Signup => r.signup.is_some(),
            Capability::Logout => r.logout.is_some(),
            Capability::ShortLivedToken => {
                r.short_login.is_some() && self.policy.short_token_lifetime.is_some()
            }
            Capability::Unregister => r.unregister.is_some(),
            Capability::Delete => r.delete.is_some(),
            Capability::DisableAccount => r.disable_account.is_some(),
            Capability::PayloadTtl => self.policy.payload_ttl.is_some(),
            Capability::NotifyId => r.notify.answer.id.is_some(),
            Capability::Tenants => self.tenants.len() >= 2,
            Capability::OtherTokenTypes => r
                .login
                .as_ref()
                .is_some_and(|l| l.answer.refresh_token.is_some() || l.answer.id_token.is_some()),
            Capability::FetchFields => r.fetch.answer.fields.is_some(),
            Capability::PushShape => self
                .platforms
                .iter()
                .flatten()
                .any(|p| p.constants.is_some()),
            Capability::ShortPayloadTtl => {
                r.short_notify.is_some() && self.policy.short_payload_ttl.is_some()
            }
            Capability::FetchThrottle => self.policy.fetch_throttle.is_some(),
        }
    }
}

fn index(platform: Platform) -> usize {
    match platform {
        Platform::Apns => 0,
        Platform::Fcm => 1,
        Platform::Wns => 2,
    }
}

/// Whether JSON pointer `pointer` is `field` or inside it (`/a/b` is
/// within `/a`, `/ab` is not).
pub fn within(pointer: &str, field: &str) -> bool {
    pointer == field
        || pointer
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Reads `pointer` out of a JSON answer as text (a string, or a number
/// written out).
pub fn read_pointer(answer: &serde_json::Value, pointer: &str) -> Option<String> {
    match answer.pointer(pointer)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// [`read_pointer`] on a document's bytes, without building it as a value.
pub fn read_pointer_in(body: &[u8], pointer: &str) -> Option<String> {
    match scalar_at(body, pointer)? {
        Scalar::String(s) | Scalar::Number(s) => Some(s),
        Scalar::Bool(b) => Some(b.to_string()),
    }
}

#[cfg(test)]
mod tests;
