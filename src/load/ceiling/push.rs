//! The bare server's pushes: the same exchange per registration as a
//! careful backend makes with each gateway, and nothing more.
//!
//! Credentials come from the backend contract's `PUSHPROOF_*` variables,
//! as any backend's do. Each provider credential is made once, when the
//! server starts, and reused for every push: the APNs provider token
//! (ES256, signed here), the FCM access token (an RS256 service-account
//! assertion exchanged at `token_uri`) and the WNS access token (client
//! credentials). A run longer than their lifetime (an hour) would see its
//! pushes refused; the ceiling is a benchmark, not a service.
//!
//! Protocols are the platforms': HTTP/2 to APNs (it speaks nothing else)
//! and to FCM (whose HTTP v1 API is served over HTTP/2), HTTP/1.1
//! keep-alive to WNS channels. Plaintext only: the in-process gateways of a
//! load run are. Bodies have the reference profile's shapes (the id only,
//! where `[platforms.*].id` reads it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, StatusCode, Uri};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushproof_mocks::Platform;
use serde_json::json;

use crate::load::http::{Client, Protocol};

/// How long the content (and so each push) lives: the reference profile's
/// `payload_ttl_s`, sent as each platform's expiry.
const TTL_S: u64 = 86_400;
const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const FCM_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// HTTP/2 connections to each of APNs and FCM.
const H2_CONNECTIONS: usize = 2;

/// Why the pushers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name}: {problem}")]
    Bad { name: &'static str, problem: String },
    #[error("{platform} credentials: {problem}")]
    Credentials { platform: Platform, problem: String },
}

fn bad(name: &'static str, problem: impl std::fmt::Display) -> SetupError {
    SetupError::Bad {
        name,
        problem: problem.to_string(),
    }
}

/// An `http://host:port` origin and the path of a URL.
fn split(name: &'static str, url: &str) -> Result<(String, String), SetupError> {
    let uri: Uri = url.parse().map_err(|e| bad(name, e))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(authority)) => Ok((
            format!("http://{authority}"),
            uri.path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        )),
        (Some("https"), _) => Err(bad(
            name,
            "the bare server speaks plaintext to the gateways only (in-process mocks, or mocks without TLS)",
        )),
        _ => Err(bad(name, format!("{url:?} is not an http:// URL"))),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn header(value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|e| e.to_string())
}

/// The contract's variables.
struct Vars<'a>(&'a [(String, String)]);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn need(&self, name: &'static str) -> Result<String, SetupError> {
        self.get(name).ok_or(SetupError::Missing(name))
    }
}

/// What a push came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// The gateway's status (0: no answer), or why no request was made.
    Failed(u16),
}

struct Apns {
    client: Client,
    headers: Vec<(HeaderName, HeaderValue)>,
}

struct Fcm {
    client: Client,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

struct Wns {
    /// Bound to the origin of the token endpoint, which serves the
    /// channels: a channel URI elsewhere is not pushed to (a backend would
    /// otherwise post its WNS token to any URL a user registers).
    client: Client,
    origin: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// The gateways the contract configures, each with its credential made.
pub struct Pushers {
    apns: Option<Apns>,
    fcm: Option<Fcm>,
    wns: Option<Wns>,
    timeout: Duration,
}

impl Pushers {
    /// Reads the contract `env`, signs and fetches the provider tokens.
    /// A platform whose variables are absent is left out (its pushes fail;
    /// see [`Pushers::configures`]).
    pub async fn start(env: &[(String, String)], timeout: Duration) -> Result<Pushers, SetupError> {
        let vars = Vars(env);
        Ok(Pushers {
            apns: apns(&vars, timeout).await?,
            fcm: fcm(&vars, timeout).await?,
            wns: wns(&vars, timeout).await?,
            timeout,
        })
    }

    /// Whether the contract configured `platform`.
    pub fn configures(&self, platform: Platform) -> bool {
        match platform {
            Platform::Apns => self.apns.is_some(),
            Platform::Fcm => self.fcm.is_some(),
            Platform::Wns => self.wns.is_some(),
        }
    }

    /// Pushes notification `id` to `handle` on `platform`.
    pub async fn push(&self, platform: Platform, handle: &str, id: &str) -> Outcome {
        let sent = match platform {
            Platform::Apns => match &self.apns {
                // The token goes into the path: nothing but hex.
                Some(apns)
                    if !handle.is_empty() && handle.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    let mut headers = apns.headers.clone();
                    let expires = (unix_now() + TTL_S) / 60 * 60;
                    headers.push((HeaderName::from_static("apns-expiration"), expires.into()));
                    let body = json!({ "aps": { "content-available": 1 }, "secureId": id });
                    apns.client
                        .call_with(
                            Method::POST,
                            &format!("/3/device/{handle}"),
                            &headers,
                            Bytes::from(body.to_string()),
                            self.timeout,
                        )
                        .await
                }
                _ => return Outcome::Failed(0),
            },
            Platform::Fcm => match &self.fcm {
                Some(fcm) => {
                    let body = json!({ "message": {
                        "token": handle,
                        "data": { "secureId": id },
                        "android": { "priority": "HIGH", "ttl": format!("{TTL_S}s") },
                    }});
                    fcm.client
                        .call_with(
                            Method::POST,
                            &fcm.path,
                            &fcm.headers,
                            Bytes::from(body.to_string()),
                            self.timeout,
                        )
                        .await
                }
                None => return Outcome::Failed(0),
            },
            Platform::Wns => match (&self.wns, handle.parse::<Uri>()) {
                (Some(wns), Ok(channel))
                    if channel.scheme_str() == Some("http")
                        && channel
                            .authority()
                            .is_some_and(|a| wns.origin == format!("http://{a}")) =>
                {
                    let path = channel.path_and_query().map_or("/", |p| p.as_str());
                    wns.client
                        .call_with(
                            Method::POST,
                            path,
                            &wns.headers,
                            Bytes::copy_from_slice(id.as_bytes()),
                            self.timeout,
                        )
                        .await
                }
                _ => return Outcome::Failed(0),
            },
        };
        match sent {
            Ok((status, _)) if status == StatusCode::OK => Outcome::Accepted,
            Ok((status, _)) => Outcome::Failed(status.as_u16()),
            Err(error) => {
                tracing::debug!(%platform, %error, "a bare push failed");
                Outcome::Failed(0)
            }
        }
    }
}

/// APNs, when the contract configures it: the provider token signed.
async fn apns(vars: &Vars<'_>, timeout: Duration) -> Result<Option<Apns>, SetupError> {
    let Some(url) = vars.get("PUSHPROOF_APNS_URL") else {
        return Ok(None);
    };
    let (origin, _) = split("PUSHPROOF_APNS_URL", &url)?;
    let key_file = vars.need("PUSHPROOF_APNS_KEY_FILE")?;
    let topic = vars.need("PUSHPROOF_APNS_TOPIC")?;
    let problem = |problem: String| SetupError::Credentials {
        platform: Platform::Apns,
        problem,
    };
    let pem = std::fs::read(&key_file).map_err(|e| problem(format!("{key_file}: {e}")))?;
    let key = EncodingKey::from_ec_pem(&pem).map_err(|e| problem(format!("{key_file}: {e}")))?;
    let mut jwt_header = Header::new(Algorithm::ES256);
    jwt_header.kid = Some(vars.need("PUSHPROOF_APNS_KEY_ID")?);
    jwt_header.typ = None;
    let token = jsonwebtoken::encode(
        &jwt_header,
        &json!({ "iss": vars.need("PUSHPROOF_APNS_TEAM_ID")?, "iat": unix_now() }),
        &key,
    )
    .map_err(|e| problem(format!("signing the provider token: {e}")))?;
    let headers = vec![
        (
            AUTHORIZATION,
            header(&format!("bearer {token}")).map_err(problem)?,
        ),
        (
            HeaderName::from_static("apns-topic"),
            header(&topic).map_err(problem)?,
        ),
        (
            HeaderName::from_static("apns-push-type"),
            HeaderValue::from_static("background"),
        ),
        (
            HeaderName::from_static("apns-priority"),
            HeaderValue::from_static("5"),
        ),
        (CONTENT_TYPE, HeaderValue::from_static("application/json")),
    ];
    Ok(Some(Apns {
        client: Client::connect(&origin, Protocol::H2c, H2_CONNECTIONS, timeout).await,
        headers,
    }))
}

/// The fields of a service-account file the assertion needs.
#[derive(serde::Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    token_uri: String,
}

/// FCM, when the contract configures it: the access token fetched.
async fn fcm(vars: &Vars<'_>, timeout: Duration) -> Result<Option<Fcm>, SetupError> {
    let Some(url) = vars.get("PUSHPROOF_FCM_URL") else {
        return Ok(None);
    };
    let (origin, base) = split("PUSHPROOF_FCM_URL", &url)?;
    let project = vars.need("PUSHPROOF_FCM_PROJECT_ID")?;
    let credentials = vars.need("PUSHPROOF_FCM_CREDENTIALS")?;
    let problem = |problem: String| SetupError::Credentials {
        platform: Platform::Fcm,
        problem,
    };
    let text = std::fs::read(&credentials).map_err(|e| problem(format!("{credentials}: {e}")))?;
    let account: ServiceAccount =
        serde_json::from_slice(&text).map_err(|e| problem(format!("{credentials}: {e}")))?;
    let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
        .map_err(|e| problem(format!("the service account's key: {e}")))?;
    let mut jwt_header = Header::new(Algorithm::RS256);
    if !account.private_key_id.is_empty() {
        jwt_header.kid = Some(account.private_key_id.clone());
    }
    let now = unix_now();
    let assertion = jsonwebtoken::encode(
        &jwt_header,
        &json!({
            "iss": account.client_email,
            "scope": FCM_SCOPE,
            "aud": account.token_uri,
            "iat": now,
            "exp": now + 3600,
        }),
        &key,
    )
    .map_err(|e| problem(format!("signing the assertion: {e}")))?;
    let token = access_token(
        "the service account's token_uri",
        &account.token_uri,
        &[("grant_type", FCM_GRANT), ("assertion", &assertion)],
        timeout,
    )
    .await
    .map_err(problem)?;
    let headers = vec![
        (
            AUTHORIZATION,
            header(&format!("Bearer {token}")).map_err(problem)?,
        ),
        (
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        ),
    ];
    Ok(Some(Fcm {
        client: Client::connect(&origin, Protocol::H2c, H2_CONNECTIONS, timeout).await,
        path: format!(
            "{}/v1/projects/{project}/messages:send",
            base.trim_end_matches('/')
        ),
        headers,
    }))
}

/// WNS, when the contract configures it: the access token fetched.
async fn wns(vars: &Vars<'_>, timeout: Duration) -> Result<Option<Wns>, SetupError> {
    let Some(token_url) = vars.get("PUSHPROOF_WNS_TOKEN_URL") else {
        return Ok(None);
    };
    let (origin, _) = split("PUSHPROOF_WNS_TOKEN_URL", &token_url)?;
    let client_id = vars.need("PUSHPROOF_WNS_CLIENT_ID")?;
    let client_secret = vars.need("PUSHPROOF_WNS_CLIENT_SECRET")?;
    let problem = |problem: String| SetupError::Credentials {
        platform: Platform::Wns,
        problem,
    };
    let token = access_token(
        "PUSHPROOF_WNS_TOKEN_URL",
        &token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("scope", "notify.windows.com"),
        ],
        timeout,
    )
    .await
    .map_err(problem)?;
    let headers = vec![
        (
            AUTHORIZATION,
            header(&format!("Bearer {token}")).map_err(problem)?,
        ),
        (
            HeaderName::from_static("x-wns-type"),
            HeaderValue::from_static("wns/raw"),
        ),
        (HeaderName::from_static("x-wns-ttl"), TTL_S.into()),
        (
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        ),
    ];
    Ok(Some(Wns {
        client: Client::connect(&origin, Protocol::Http1, 1, timeout).await,
        origin,
        headers,
    }))
}

/// An OAuth2 token endpoint's `access_token` for `form`.
async fn access_token(
    name: &'static str,
    url: &str,
    form: &[(&str, &str)],
    timeout: Duration,
) -> Result<String, String> {
    let (origin, path) = split(name, url).map_err(|e| e.to_string())?;
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let client = Client::connect(&origin, Protocol::Http1, 1, timeout).await;
    let (status, answer) = client
        .call_with(
            Method::POST,
            &path,
            &[(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )],
            Bytes::from(body),
            timeout,
        )
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        ));
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&answer).map_err(|_| format!("{url} did not answer JSON"))?;
    answer["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{url} answered no access_token"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_split_into_origin_and_path_and_tls_is_refused() {
        assert_eq!(
            split("X", "http://127.0.0.1:9/a/b?c=1").unwrap(),
            ("http://127.0.0.1:9".to_owned(), "/a/b?c=1".to_owned())
        );
        assert_eq!(
            split("X", "http://h:1").unwrap(),
            ("http://h:1".to_owned(), "/".to_owned())
        );
        assert!(split("X", "https://h:1/").is_err());
        assert!(split("X", "file:///etc").is_err());
    }
}
