//! The TOML shape of a profile, and its validation into [`Profile`]. Every
//! error names the dotted key at fault (`requests.fetch.payload`); unknown
//! keys are refused, so a typo never silently disables a check.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::template::{BodyFormat, Template, Var};
use super::{
    within, Answer, Auth, FetchThrottle, IdLocation, PasswordRule, PlatformProfile, Policy,
    Profile, ProfileError, Replay, Request, Requests, Scheme, SendPolicy, Start, StaticUser,
    ThrottleScope,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    description: String,
    auth: RawAuth,
    requests: RawRequests,
    platforms: RawPlatforms,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    start: RawStart,
    tenants: Option<RawTenants>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenants {
    names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    scheme: String,
    header: Option<String>,
    prefix: Option<String>,
    password: Option<String>,
    users: Option<Vec<RawStaticUser>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaticUser {
    user: String,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequests {
    signup: Option<RawRequest>,
    login: Option<RawRequest>,
    short_login: Option<RawRequest>,
    logout: Option<RawRequest>,
    register: RawRequest,
    update_registration: Option<RawRequest>,
    unregister: Option<RawRequest>,
    notify: RawRequest,
    short_notify: Option<RawRequest>,
    fetch: RawRequest,
    delete: Option<RawRequest>,
    disable_account: Option<RawRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    method: String,
    path: String,
    #[serde(default)]
    query: BTreeMap<String, String>,
    body: Option<toml::Value>,
    body_format: Option<String>,
    #[serde(default)]
    ok: Vec<u16>,
    token: Option<String>,
    expires_in: Option<String>,
    registration: Option<String>,
    id: Option<String>,
    payload: Option<String>,
    read: Option<String>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatforms {
    apns: Option<RawPlatform>,
    fcm: Option<RawPlatform>,
    wns: Option<RawPlatform>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatform {
    name: Option<String>,
    id: RawId,
    constants: Option<toml::Table>,
    alerts: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawId {
    Short(String),
    Table(RawIdTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdTable {
    pointer: Option<String>,
    regex: Option<String>,
    header: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    token_lifetime_s: Option<f64>,
    short_token_lifetime_s: Option<f64>,
    expiry_skew_s: Option<f64>,
    payload_ttl_s: Option<f64>,
    short_payload_ttl_s: Option<f64>,
    fetch_throttle: Option<RawThrottle>,
    replay: Option<String>,
    send: Option<String>,
    other_device: Option<String>,
    logout_drops_registrations: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThrottle {
    failures: u32,
    window_s: f64,
    scope: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStart {
    ready_path: Option<String>,
    startup_timeout_s: Option<f64>,
}

/// What each request may use and read.
struct Kind {
    key: &'static str,
    vars: &'static [Var],
    answers: &'static [&'static str],
}

const ACCOUNT: &[Var] = &[Var::User, Var::Password, Var::Token, Var::Tenant];
/// What a login answer may carry.
const LOGIN_ANSWERS: &[&str] = &["token", "expires_in", "refresh_token", "id_token"];

fn kind(key: &'static str) -> Kind {
    use Var::*;
    let (vars, answers): (&'static [Var], &'static [&'static str]) = match key {
        "signup" => (ACCOUNT, &[]),
        "login" => (ACCOUNT, LOGIN_ANSWERS),
        "short_login" => (&[User, Password, Token, LifetimeS, Tenant], LOGIN_ANSWERS),
        "logout" => (&[User, Token], &[]),
        "register" => (&[User, Token, Handle, Platform, Tags], &["registration"]),
        "update_registration" => (&[User, Token, Handle, Platform, Tags, Registration], &[]),
        "unregister" => (&[User, Token, Handle, Platform, Registration], &[]),
        "notify" => (&[User, Token, Recipient, Message, Platform], &["id"]),
        "short_notify" => (
            &[User, Token, Recipient, Message, Platform, LifetimeS],
            &["id"],
        ),
        "fetch" => (&[User, Token, Id], &["payload", "read", "id"]),
        "delete" => (&[User, Token, Id], &[]),
        _ => (ACCOUNT, &[]),
    };
    Kind { key, vars, answers }
}

pub(super) fn parse(origin: &str, text: &str) -> Result<Profile, ProfileError> {
    let raw: RawProfile = toml::from_str(text).map_err(|source| ProfileError::Parse {
        name: origin.to_owned(),
        source: Box::new(source),
    })?;
    Validator { origin }.profile(raw)
}

struct Validator<'a> {
    origin: &'a str,
}

impl Validator<'_> {
    fn invalid(&self, field: impl Into<String>, problem: impl Into<String>) -> ProfileError {
        ProfileError::Invalid {
            name: self.origin.to_owned(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn profile(&self, raw: RawProfile) -> Result<Profile, ProfileError> {
        if raw.name.trim().is_empty() {
            return Err(self.invalid("name", "must not be empty"));
        }
        let (auth, bearer) = self.auth(raw.auth)?;
        let requests = self.requests(raw.requests, bearer)?;
        if bearer && requests.login.is_none() {
            return Err(self.invalid("requests.login", "required with auth.scheme = \"bearer\""));
        }
        if !bearer && requests.login.is_some() {
            return Err(self.invalid(
                "requests.login",
                "only bearer schemes log in; remove it or set auth.scheme = \"bearer\"",
            ));
        }
        if (requests.update_registration.is_some() || requests.unregister.is_some())
            && requests.register.answer.registration.is_none()
        {
            {
                return Err(self.invalid(
                    "requests.register.registration",
                    "needed by update_registration/unregister: a JSON pointer to the registration id in the answer (\"\" for the whole answer)",
                ));
            }
        }
        let platforms = [
            self.platform("platforms.apns", "apns", raw.platforms.apns)?,
            self.platform("platforms.fcm", "fcm", raw.platforms.fcm)?,
            self.platform("platforms.wns", "wns", raw.platforms.wns)?,
        ];
        if platforms.iter().all(Option::is_none) {
            return Err(self.invalid("platforms", "at least one of apns, fcm, wns is required"));
        }
        let policy = self.policy(raw.policy)?;
        if requests.short_login.is_some() != policy.short_token_lifetime.is_some() {
            return Err(self.invalid(
                "policy.short_token_lifetime_s",
                "requests.short_login and policy.short_token_lifetime_s go together",
            ));
        }
        if requests.short_notify.is_some() != policy.short_payload_ttl.is_some() {
            return Err(self.invalid(
                "policy.short_payload_ttl_s",
                "requests.short_notify and policy.short_payload_ttl_s go together",
            ));
        }
        if let (Some(short), Some(ttl)) = (policy.short_payload_ttl, policy.payload_ttl) {
            if short > ttl {
                return Err(self.invalid(
                    "policy.short_payload_ttl_s",
                    "is longer than policy.payload_ttl_s",
                ));
            }
        }
        let tenants = self.tenants(raw.tenants, &requests)?;
        Ok(Profile {
            name: raw.name,
            description: raw.description,
            path: None,
            auth,
            requests,
            platforms,
            policy,
            start: self.start(raw.start)?,
            tenants,
        })
    }

    /// The declared tenants: at least two distinct names, used by an
    /// account request's `{tenant}` (and `{tenant}` only with them).
    fn tenants(
        &self,
        raw: Option<RawTenants>,
        requests: &Requests,
    ) -> Result<Vec<String>, ProfileError> {
        let account = [
            &requests.signup,
            &requests.login,
            &requests.short_login,
            &requests.disable_account,
        ];
        let uses = account
            .iter()
            .filter_map(|r| r.as_ref())
            .any(|r| r.template.vars().contains(&Var::Tenant));
        let Some(raw) = raw else {
            if uses {
                return Err(self.invalid(
                    "tenants.names",
                    "{tenant} is used: declare the tenants accounts may be created in",
                ));
            }
            return Ok(Vec::new());
        };
        if raw.names.len() < 2 {
            return Err(self.invalid(
                "tenants.names",
                "at least two tenants, so accounts can be made in two of them",
            ));
        }
        for (i, name) in raw.names.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(self.invalid("tenants.names", "a tenant name is empty"));
            }
            if raw.names[..i].contains(name) {
                return Err(self.invalid("tenants.names", format!("{name:?} is named twice")));
            }
        }
        if !uses {
            return Err(self.invalid(
                "tenants.names",
                "no account request (signup, login, short_login) uses {tenant}",
            ));
        }
        Ok(raw.names)
    }

    fn auth(&self, raw: RawAuth) -> Result<(Auth, bool), ProfileError> {
        let header = raw.header.unwrap_or_else(|| "authorization".to_owned());
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(self.invalid("auth.header", format!("{header:?} is not a header name")));
        }
        let password = match raw.password.as_deref() {
            None | Some("generated") => PasswordRule::Generated,
            Some("same-as-user") => PasswordRule::SameAsUser,
            Some(other) => {
                return Err(self.invalid(
                    "auth.password",
                    format!("{other:?} is not one of: generated, same-as-user"),
                ))
            }
        };
        let users_given = raw.users.is_some();
        let prefix = |default: &str| raw.prefix.clone().unwrap_or_else(|| default.to_owned());
        let (scheme, bearer) = match raw.scheme.as_str() {
            "basic" => (
                Scheme::Basic {
                    prefix: prefix("Basic "),
                },
                false,
            ),
            "bearer" => (
                Scheme::Bearer {
                    prefix: prefix("Bearer "),
                },
                true,
            ),
            "static" => {
                let users: Vec<StaticUser> = raw
                    .users
                    .unwrap_or_default()
                    .into_iter()
                    .map(|u| StaticUser {
                        user: u.user,
                        token: u.token,
                    })
                    .collect();
                if users.is_empty() {
                    return Err(self.invalid(
                        "auth.users",
                        "a static scheme needs users = [{ user = \"…\", token = \"…\" }, …]",
                    ));
                }
                (
                    Scheme::Static {
                        prefix: prefix("Bearer "),
                        users,
                    },
                    false,
                )
            }
            other => {
                return Err(self.invalid(
                    "auth.scheme",
                    format!("{other:?} is not one of: basic, bearer, static"),
                ))
            }
        };
        if !matches!(scheme, Scheme::Static { .. }) && users_given {
            return Err(self.invalid("auth.users", "only for auth.scheme = \"static\""));
        }
        Ok((
            Auth {
                header: header.to_ascii_lowercase(),
                scheme,
                password,
            },
            bearer,
        ))
    }

    fn requests(&self, raw: RawRequests, bearer: bool) -> Result<Requests, ProfileError> {
        let opt = |key: &'static str, r: Option<RawRequest>| {
            r.map(|r| self.request(kind(key), r)).transpose()
        };
        let requests = Requests {
            signup: opt("signup", raw.signup)?,
            login: opt("login", raw.login)?,
            short_login: opt("short_login", raw.short_login)?,
            logout: opt("logout", raw.logout)?,
            register: self.request(kind("register"), raw.register)?,
            update_registration: opt("update_registration", raw.update_registration)?,
            unregister: opt("unregister", raw.unregister)?,
            notify: self.request(kind("notify"), raw.notify)?,
            short_notify: opt("short_notify", raw.short_notify)?,
            fetch: self.request(kind("fetch"), raw.fetch)?,
            delete: opt("delete", raw.delete)?,
            disable_account: opt("disable_account", raw.disable_account)?,
        };
        for (key, request) in [
            ("login", &requests.login),
            ("short_login", &requests.short_login),
        ] {
            if let Some(request) = request {
                if request.answer.token.is_none() && bearer {
                    return Err(self.invalid(
                        format!("requests.{key}.token"),
                        "required: a JSON pointer to the token in the answer (e.g. \"/token\")",
                    ));
                }
            }
        }
        let Some(payload) = &requests.fetch.answer.payload else {
            return Err(self.invalid(
                "requests.fetch.payload",
                "required: a JSON pointer to the content in the fetch answer (e.g. \"/Payload\")",
            ));
        };
        if let Some(fields) = &requests.fetch.answer.fields {
            if !fields.iter().any(|f| within(payload, f)) {
                return Err(self.invalid(
                    "requests.fetch.fields",
                    format!("the content ({payload:?}) is not among the declared fields"),
                ));
            }
        }
        Ok(requests)
    }

    fn request(&self, kind: Kind, raw: RawRequest) -> Result<Request, ProfileError> {
        let field = |name: &str| format!("requests.{}.{name}", kind.key);
        let format = match raw.body_format.as_deref() {
            None | Some("json") => BodyFormat::Json,
            Some("form") => BodyFormat::Form,
            Some("text") => BodyFormat::Text,
            Some(other) => {
                return Err(self.invalid(
                    field("body_format"),
                    format!("{other:?} is not one of: json, form, text"),
                ))
            }
        };
        let body = raw
            .body
            .map(|b| {
                serde_json::to_value(b).map_err(|e| self.invalid(field("body"), e.to_string()))
            })
            .transpose()?;
        let query: Vec<(String, String)> = raw.query.into_iter().collect();
        let template = Template::new(
            &raw.method,
            &raw.path,
            &query,
            body.as_ref(),
            format,
            raw.ok,
        )
        .map_err(|(part, problem)| self.invalid(field(part), problem))?;
        if let Some(var) = template.vars().into_iter().find(|v| !kind.vars.contains(v)) {
            let allowed: Vec<String> = kind.vars.iter().map(Var::to_string).collect();
            return Err(self.invalid(
                format!("requests.{}", kind.key),
                format!(
                    "{var} means nothing in this request (it may use {})",
                    allowed.join(", ")
                ),
            ));
        }
        let answers = [
            ("token", raw.token),
            ("expires_in", raw.expires_in),
            ("registration", raw.registration),
            ("id", raw.id),
            ("payload", raw.payload),
            ("read", raw.read),
            ("refresh_token", raw.refresh_token),
            ("id_token", raw.id_token),
        ];
        let mut answer = Answer::default();
        for (name, pointer) in answers {
            let Some(pointer) = pointer else { continue };
            if !kind.answers.contains(&name) {
                return Err(self.invalid(
                    field(name),
                    format!(
                        "this answer carries no {name} (this request may name: {})",
                        if kind.answers.is_empty() {
                            "nothing".to_owned()
                        } else {
                            kind.answers.join(", ")
                        }
                    ),
                ));
            }
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(self.invalid(
                    field(name),
                    format!("{pointer:?} is not a JSON pointer (\"\" or starting with '/')"),
                ));
            }
            let slot = match name {
                "token" => &mut answer.token,
                "expires_in" => &mut answer.expires_in,
                "registration" => &mut answer.registration,
                "id" => &mut answer.id,
                "payload" => &mut answer.payload,
                "refresh_token" => &mut answer.refresh_token,
                "id_token" => &mut answer.id_token,
                _ => &mut answer.read,
            };
            *slot = Some(pointer);
        }
        if let Some(fields) = raw.fields {
            if kind.key != "fetch" {
                return Err(self.invalid(
                    field("fields"),
                    "only the fetch answer's fields are declared",
                ));
            }
            if let Some(bad) = fields.iter().find(|f| !f.starts_with('/') || f.len() < 2) {
                return Err(self.invalid(
                    field("fields"),
                    format!("{bad:?} is not a JSON pointer to a field (\"/Payload\")"),
                ));
            }
            answer.fields = Some(fields);
        }
        Ok(Request { template, answer })
    }

    fn platform(
        &self,
        key: &str,
        default_name: &str,
        raw: Option<RawPlatform>,
    ) -> Result<Option<PlatformProfile>, ProfileError> {
        let Some(raw) = raw else { return Ok(None) };
        let id = match raw.id {
            RawId::Short(text) => IdLocation::from_short(&text),
            RawId::Table(t) => match (t.pointer, t.regex, t.header) {
                (Some(p), None, None) => IdLocation::from_short(&p).and_then(|l| match l {
                    IdLocation::JsonPointer(_) => Ok(l),
                    _ => Err(format!("{p:?} is not a JSON pointer starting with '/'")),
                }),
                (None, Some(r), None) => IdLocation::regex(&r),
                (None, None, Some(h)) => Ok(IdLocation::Header(h.to_ascii_lowercase())),
                _ => Err("name exactly one of pointer, regex, header".to_owned()),
            },
        }
        .map_err(|problem| self.invalid(format!("{key}.id"), problem))?;
        let name = raw.name.unwrap_or_else(|| default_name.to_owned());
        if name.is_empty() {
            return Err(self.invalid(format!("{key}.name"), "must not be empty"));
        }
        let constants = raw
            .constants
            .map(|table| {
                table
                    .into_iter()
                    .map(|(field, value)| {
                        if !(field.starts_with('/') || field.starts_with("xml:/")) {
                            return Err(self.invalid(
                                format!("{key}.constants"),
                                format!(
                                    "{field:?} is neither a JSON pointer starting with '/' nor an XML path starting with 'xml:/'"
                                ),
                            ));
                        }
                        let value = serde_json::to_value(&value).map_err(|e| {
                            self.invalid(format!("{key}.constants.{field}"), e.to_string())
                        })?;
                        Ok((field, value))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let alerts = raw.alerts.unwrap_or_default();
        if alerts.iter().any(String::is_empty) {
            return Err(self.invalid(format!("{key}.alerts"), "an alert text must not be empty"));
        }
        Ok(Some(PlatformProfile {
            name,
            id,
            constants,
            alerts,
        }))
    }

    fn seconds(&self, key: &str, value: Option<f64>) -> Result<Option<Duration>, ProfileError> {
        value
            .map(|s| {
                if s.is_finite() && (0.0..=365.0 * 86_400.0).contains(&s) {
                    Ok(Duration::from_secs_f64(s))
                } else {
                    Err(self.invalid(key, format!("{s} is not a number of seconds in 0..=1 year")))
                }
            })
            .transpose()
    }

    fn policy(&self, raw: RawPolicy) -> Result<Policy, ProfileError> {
        let replay = match raw.replay.as_deref() {
            None | Some("unlimited") => Replay::Unlimited,
            Some("single-use") => Replay::SingleUse,
            Some("until-ack") => Replay::UntilAck,
            Some(other) => {
                return Err(self.invalid(
                    "policy.replay",
                    format!("{other:?} is not one of: unlimited, single-use, until-ack"),
                ))
            }
        };
        let send = match raw.send.as_deref() {
            None | Some("any-user") => SendPolicy::AnyUser,
            Some("self") => SendPolicy::SelfOnly,
            Some(other) => {
                return Err(self.invalid(
                    "policy.send",
                    format!("{other:?} is not one of: any-user, self"),
                ))
            }
        };
        let other_device = match raw.other_device.as_deref() {
            None | Some("allowed") => true,
            Some("denied") => false,
            Some(other) => {
                return Err(self.invalid(
                    "policy.other_device",
                    format!("{other:?} is not one of: allowed, denied"),
                ))
            }
        };
        Ok(Policy {
            token_lifetime: self.seconds("policy.token_lifetime_s", raw.token_lifetime_s)?,
            short_token_lifetime: self
                .seconds("policy.short_token_lifetime_s", raw.short_token_lifetime_s)?,
            expiry_skew: self
                .seconds("policy.expiry_skew_s", raw.expiry_skew_s)?
                .unwrap_or(Duration::from_secs(60)),
            payload_ttl: self.seconds("policy.payload_ttl_s", raw.payload_ttl_s)?,
            short_payload_ttl: self
                .seconds("policy.short_payload_ttl_s", raw.short_payload_ttl_s)?,
            fetch_throttle: raw.fetch_throttle.map(|t| self.throttle(t)).transpose()?,
            replay,
            send,
            other_device,
            logout_drops_registrations: raw.logout_drops_registrations.unwrap_or(false),
        })
    }

    fn throttle(&self, raw: RawThrottle) -> Result<FetchThrottle, ProfileError> {
        if raw.failures == 0 {
            return Err(self.invalid(
                "policy.fetch_throttle.failures",
                "must be at least 1 (failed fetches allowed per window)",
            ));
        }
        let window = self
            .seconds("policy.fetch_throttle.window_s", Some(raw.window_s))?
            .filter(|w| !w.is_zero())
            .ok_or_else(|| self.invalid("policy.fetch_throttle.window_s", "must be above 0"))?;
        let scope = match raw.scope.as_deref() {
            None | Some("user") => ThrottleScope::User,
            Some("token") => ThrottleScope::Token,
            Some(other) => {
                return Err(self.invalid(
                    "policy.fetch_throttle.scope",
                    format!("{other:?} is not one of: user, token"),
                ))
            }
        };
        Ok(FetchThrottle {
            failures: raw.failures,
            window,
            scope,
        })
    }

    fn start(&self, raw: RawStart) -> Result<Start, ProfileError> {
        let ready_path = raw.ready_path.unwrap_or_else(|| "/".to_owned());
        if !ready_path.starts_with('/') {
            return Err(self.invalid(
                "start.ready_path",
                format!("{ready_path:?} must start with '/'"),
            ));
        }
        Ok(Start {
            ready_path,
            startup_timeout: self
                .seconds("start.startup_timeout_s", raw.startup_timeout_s)?
                .unwrap_or(Duration::from_secs(30)),
        })
    }
}
