//! A backend profile: how the harness talks to one backend under test.
//!
//! Profiles live in `scenarios/*.toml`. They are parsed once, at the edge,
//! into [`Profile`]; the rest of the harness only sees the validated type,
//! so a typo in a profile is a clear error before any traffic, never a
//! surprise in the middle of a run.

use std::path::Path;

use pushproof_mocks::Platform;
use serde::Deserialize;

/// The profile of pushproof's own reference backend, embedded so that
/// `pushproof run` works from any directory.
pub const REFERENCE: &str = include_str!("../scenarios/reference.toml");

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
        field: &'static str,
        problem: String,
    },
}

/// A validated backend profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub auth: Auth,
    pub api: Api,
    /// What the backend calls each platform in `Platform` and `pns`.
    pub platform_names: PlatformNames,
    /// Where each platform's push carries the notification id.
    pub push_id: PushIds,
}

/// How users prove who they are to the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Login returns a bearer token; logout revokes it.
    Bearer {
        /// Optional account-creation endpoint taking `{"username","password"}`.
        signup: Option<String>,
        login: String,
        logout: Option<String>,
        /// Field of the login response that holds the token.
        token_field: String,
    },
    /// HTTP Basic on every request.
    Basic { password: BasicPassword },
}

/// Which password a Basic-auth profile uses for a simulated user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicPassword {
    /// The tutorial's rule: the password equals the user name.
    SameAsUser,
}

/// The backend's endpoints, in the tutorial API shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub register: String,
    pub notify: String,
    /// Contains `{id}` exactly once.
    pub fetch: String,
    /// Field of the fetch response that holds the message.
    pub payload_field: String,
}

impl Api {
    /// The fetch path for one notification id, percent-encoded.
    pub fn fetch_path(&self, id: &str) -> String {
        let encoded = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        self.fetch.replacen("{id}", &encoded, 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformNames {
    pub apns: String,
    pub fcm: String,
    pub wns: String,
}

impl PlatformNames {
    pub fn of(&self, platform: Platform) -> &str {
        match platform {
            Platform::Apns => &self.apns,
            Platform::Fcm => &self.fcm,
            Platform::Wns => &self.wns,
        }
    }
}

/// Where the id sits in a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdLocation {
    /// A JSON pointer (RFC 6901) into the push's JSON; the value is a string
    /// or a number.
    JsonPointer(String),
    /// The whole body is the id (WNS raw, as in the tutorial).
    RawBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushIds {
    pub apns: IdLocation,
    pub fcm: IdLocation,
    pub wns: IdLocation,
}

impl PushIds {
    pub fn of(&self, platform: Platform) -> &IdLocation {
        match platform {
            Platform::Apns => &self.apns,
            Platform::Fcm => &self.fcm,
            Platform::Wns => &self.wns,
        }
    }
}

impl IdLocation {
    /// Reads the notification id out of a push body as the app would.
    pub fn extract(&self, body: &[u8]) -> Option<String> {
        match self {
            IdLocation::RawBody => {
                let text = std::str::from_utf8(body).ok()?.trim();
                (!text.is_empty()).then(|| text.to_owned())
            }
            IdLocation::JsonPointer(pointer) => {
                let value: serde_json::Value = serde_json::from_slice(body).ok()?;
                match value.pointer(pointer)? {
                    serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            }
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
        Profile::parse(&path.display().to_string(), &text)
    }

    /// Parses and validates a profile; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|source| ProfileError::Parse {
            name: origin.to_owned(),
            source: Box::new(source),
        })?;
        raw.validate(origin)
    }
}

// ---- the raw TOML shape, validated into the types above ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    description: String,
    auth: RawAuth,
    api: RawApi,
    platforms: RawTriple,
    push_id: RawTriple,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    scheme: String,
    signup: Option<String>,
    login: Option<String>,
    logout: Option<String>,
    token_field: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    register: String,
    notify: String,
    fetch: String,
    payload_field: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriple {
    apns: String,
    fcm: String,
    wns: String,
}

impl RawProfile {
    fn validate(self, origin: &str) -> Result<Profile, ProfileError> {
        let invalid = |field: &'static str, problem: String| ProfileError::Invalid {
            name: origin.to_owned(),
            field,
            problem,
        };
        let path = |field: &'static str, value: String| {
            if value.starts_with('/') {
                Ok(value)
            } else {
                Err(invalid(field, format!("{value:?} must start with '/'")))
            }
        };
        let auth = match self.auth.scheme.as_str() {
            "bearer" => Auth::Bearer {
                signup: self
                    .auth
                    .signup
                    .map(|p| path("auth.signup", p))
                    .transpose()?,
                login: path(
                    "auth.login",
                    self.auth
                        .login
                        .ok_or_else(|| invalid("auth.login", "required for bearer".into()))?,
                )?,
                logout: self
                    .auth
                    .logout
                    .map(|p| path("auth.logout", p))
                    .transpose()?,
                token_field: self.auth.token_field.unwrap_or_else(|| "token".to_owned()),
            },
            "basic" => match self.auth.password.as_deref() {
                Some("same-as-user") | None => Auth::Basic {
                    password: BasicPassword::SameAsUser,
                },
                Some(other) => {
                    return Err(invalid(
                        "auth.password",
                        format!("{other:?} is not one of: same-as-user"),
                    ))
                }
            },
            other => {
                return Err(invalid(
                    "auth.scheme",
                    format!("{other:?} is not one of: bearer, basic"),
                ))
            }
        };
        let fetch = path("api.fetch", self.api.fetch)?;
        if fetch.matches("{id}").count() != 1 {
            return Err(invalid(
                "api.fetch",
                "must contain {id} exactly once".into(),
            ));
        }
        let api = Api {
            register: path("api.register", self.api.register)?,
            notify: path("api.notify", self.api.notify)?,
            fetch,
            payload_field: self.api.payload_field,
        };
        let id_location = |field: &'static str, value: String| match value.as_str() {
            "raw" => Ok(IdLocation::RawBody),
            p if p.starts_with('/') => Ok(IdLocation::JsonPointer(value)),
            _ => Err(invalid(
                field,
                format!("{value:?} is neither \"raw\" nor a JSON pointer starting with '/'"),
            )),
        };
        Ok(Profile {
            name: self.name,
            description: self.description,
            auth,
            api,
            platform_names: PlatformNames {
                apns: self.platforms.apns,
                fcm: self.platforms.fcm,
                wns: self.platforms.wns,
            },
            push_id: PushIds {
                apns: id_location("push_id.apns", self.push_id.apns)?,
                fcm: id_location("push_id.fcm", self.push_id.fcm)?,
                wns: id_location("push_id.wns", self.push_id.wns)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_profile_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
            let path = entry.expect("readable entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                loaded += 1;
            }
        }
        assert!(loaded >= 2, "expected the reference and tutorial profiles");
    }

    #[test]
    fn reference_profile_uses_bearer_tokens() {
        let profile = Profile::reference();
        assert!(matches!(profile.auth, Auth::Bearer { .. }));
        assert_eq!(profile.api.fetch_path("a/b"), "/api/notifications/a%2Fb");
    }

    #[test]
    fn unknown_scheme_is_named_in_the_error() {
        let text = REFERENCE.replace("scheme = \"bearer\"", "scheme = \"digest\"");
        let err = Profile::parse("p", &text).expect_err("digest is not supported");
        assert!(err.to_string().contains("auth.scheme"), "{err}");
        assert!(err.to_string().contains("digest"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = format!("{REFERENCE}\nsurprise = 1\n");
        let err = Profile::parse("p", &text).expect_err("unknown field");
        assert!(err.to_string().contains("surprise"), "{err}");
    }

    #[test]
    fn fetch_path_needs_an_id_placeholder() {
        let text = REFERENCE.replace("/api/notifications/{id}", "/api/notifications");
        let err = Profile::parse("p", &text).expect_err("no {id}");
        assert!(err.to_string().contains("api.fetch"), "{err}");
    }

    #[test]
    fn ids_are_extracted_from_each_push_shape() {
        let apns = IdLocation::JsonPointer("/secureId".into());
        let body = br#"{"aps":{"content-available":1},"secureId":"abc"}"#;
        assert_eq!(apns.extract(body).as_deref(), Some("abc"));
        let fcm = IdLocation::JsonPointer("/data/secureId".into());
        assert_eq!(
            fcm.extract(br#"{"token":"t","data":{"secureId":"7"}}"#)
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            IdLocation::RawBody.extract(b" id-1 \n").as_deref(),
            Some("id-1")
        );
        assert_eq!(apns.extract(b"not json"), None);
        assert_eq!(IdLocation::RawBody.extract(b""), None);
    }
}
