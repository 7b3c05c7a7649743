//! The mock gateways as the benchmark drives them, through their public API
//! only: credentials are read from the files the mocks write, as a backend
//! would; access tokens come from the mocks' token endpoints; pushes go to
//! devices the mocks registered, shaped like the reference backend's.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushproof_mocks::{BackendEnv, CaptureStats, GatewayConfig, Gateways, Platform};
use serde_json::{json, Value};

use crate::load::{self, Pushes};
use crate::targets::ServerThread;

/// The mock gateways, started on the server thread, with their credentials
/// written to a temporary directory.
pub struct MockGateways {
    gateways: Gateways,
    env: BackendEnv,
    _dir: tempfile::TempDir,
}

impl MockGateways {
    pub async fn start(
        server: &ServerThread,
        capture_capacity: usize,
        inbox_capacity: Option<usize>,
    ) -> anyhow::Result<Self> {
        let defaults = GatewayConfig::default();
        let config = GatewayConfig {
            capture_capacity,
            inbox_capacity: inbox_capacity.unwrap_or(defaults.inbox_capacity),
            ..defaults
        };
        let gateways = server
            .run(Gateways::start(config))
            .await?
            .context("starting the mock gateways")?;
        let dir = tempfile::tempdir().context("a temporary directory for the credentials")?;
        let env = gateways
            .write_credentials(dir.path())
            .context("writing the credentials")?;
        Ok(MockGateways {
            gateways,
            env,
            _dir: dir,
        })
    }

    pub fn addr(&self, platform: Platform) -> SocketAddr {
        self.gateways.addr(platform)
    }

    pub fn config(&self) -> &GatewayConfig {
        self.gateways.config()
    }

    pub fn capture_stats(&self) -> CaptureStats {
        self.gateways.capture_stats()
    }

    fn var(&self, name: &str) -> anyhow::Result<&str> {
        self.env
            .get(name)
            .with_context(|| format!("{name} is missing from the backend environment"))
    }

    /// Registers `devices` fresh devices on `platform` and builds a valid
    /// push to each, with valid credentials.
    pub async fn pushes(&self, platform: Platform, devices: usize) -> anyhow::Result<Pushes> {
        let handles: Vec<String> = (0..devices)
            .map(|_| self.gateways.register_device(platform).handle)
            .collect();
        match platform {
            Platform::Apns => self.apns_pushes(&handles),
            Platform::Fcm => self.fcm_pushes(&handles).await,
            Platform::Wns => self.wns_pushes(&handles).await,
        }
    }

    /// Background pushes carrying only an id, as the reference backend
    /// sends them, with one provider token signed once for the whole run.
    fn apns_pushes(&self, tokens: &[String]) -> anyhow::Result<Pushes> {
        let jwt = self.apns_provider_token()?;
        let headers = header_map([
            ("authorization", format!("bearer {jwt}")),
            ("apns-topic", self.var("PUSHPROOF_APNS_TOPIC")?.to_owned()),
            ("apns-push-type", "background".to_owned()),
            ("apns-priority", "5".to_owned()),
            ("content-type", "application/json".to_owned()),
        ])?;
        let per_device = tokens
            .iter()
            .enumerate()
            .map(|(n, token)| {
                let body = json!({ "aps": { "content-available": 1 }, "secureId": secure_id(n) });
                Ok((
                    parse_path(&format!("/3/device/{token}"))?,
                    json_bytes(&body),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Pushes {
            headers,
            per_device,
        })
    }

    /// An ES256 provider token signed with the `.p8` key the mock wrote.
    fn apns_provider_token(&self) -> anyhow::Result<String> {
        let pem = std::fs::read(self.var("PUSHPROOF_APNS_KEY_FILE")?)
            .context("reading the APNs key file")?;
        let key = EncodingKey::from_ec_pem(&pem).context("the .p8 is a PKCS#8 P-256 key")?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.var("PUSHPROOF_APNS_KEY_ID")?.to_owned());
        let claims = json!({ "iss": self.var("PUSHPROOF_APNS_TEAM_ID")?, "iat": unix_now() });
        jsonwebtoken::encode(&header, &claims, &key).context("signing the provider token")
    }

    /// Data-only messages with high Android priority, as the reference
    /// backend sends them.
    async fn fcm_pushes(&self, tokens: &[String]) -> anyhow::Result<Pushes> {
        let access_token = self.fcm_access_token().await?;
        let headers = header_map([
            ("authorization", format!("Bearer {access_token}")),
            ("content-type", "application/json".to_owned()),
        ])?;
        let send_path = parse_path(&format!(
            "/v1/projects/{}/messages:send",
            self.var("PUSHPROOF_FCM_PROJECT_ID")?
        ))?;
        let per_device = tokens
            .iter()
            .enumerate()
            .map(|(n, token)| {
                let body = json!({ "message": {
                    "token": token,
                    "data": { "secureId": secure_id(n) },
                    "android": { "priority": "HIGH" },
                }});
                (send_path.clone(), json_bytes(&body))
            })
            .collect();
        Ok(Pushes {
            headers,
            per_device,
        })
    }

    /// Exchanges a service-account assertion for an access token at the
    /// mock's token endpoint, as a Google client library does.
    async fn fcm_access_token(&self) -> anyhow::Result<String> {
        let text = std::fs::read_to_string(self.var("PUSHPROOF_FCM_CREDENTIALS")?)
            .context("reading the service-account file")?;
        let account: Value = serde_json::from_str(&text).context("the service account is JSON")?;
        let field = |name: &str| {
            account[name]
                .as_str()
                .with_context(|| format!("the service account has no {name}"))
        };
        let key = EncodingKey::from_rsa_pem(field("private_key")?.as_bytes())
            .context("the service-account key is an RSA PEM")?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(field("private_key_id")?.to_owned());
        let iat = unix_now();
        let claims = json!({
            "iss": field("client_email")?,
            "aud": field("token_uri")?,
            "scope": "https://www.googleapis.com/auth/firebase.messaging",
            "iat": iat,
            "exp": iat + 3600,
        });
        let assertion =
            jsonwebtoken::encode(&header, &claims, &key).context("signing the assertion")?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        self.access_token(field("token_uri")?, form).await
    }

    /// Raw notifications carrying only an id, as the reference backend sends
    /// them, to each device's channel URI.
    async fn wns_pushes(&self, channels: &[String]) -> anyhow::Result<Pushes> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", self.var("PUSHPROOF_WNS_CLIENT_ID")?)
            .append_pair("client_secret", self.var("PUSHPROOF_WNS_CLIENT_SECRET")?)
            .append_pair("scope", "notify.windows.com")
            .finish();
        let access_token = self
            .access_token(self.var("PUSHPROOF_WNS_TOKEN_URL")?, form)
            .await?;
        let headers = header_map([
            ("authorization", format!("Bearer {access_token}")),
            ("x-wns-type", "wns/raw".to_owned()),
            ("content-type", "application/octet-stream".to_owned()),
        ])?;
        let per_device = channels
            .iter()
            .enumerate()
            .map(|(n, channel)| {
                let uri: Uri = channel.parse().context("a channel URI is a URI")?;
                let path = uri
                    .path_and_query()
                    .cloned()
                    .context("a channel URI has a path")?;
                Ok((path, Bytes::from(secure_id(n))))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Pushes {
            headers,
            per_device,
        })
    }

    /// POSTs a form to a token endpoint and returns `access_token`.
    async fn access_token(&self, url: &str, form: String) -> anyhow::Result<String> {
        let uri: Uri = url.parse().context("the token URL is a URI")?;
        let addr: SocketAddr = uri
            .authority()
            .context("the token URL has an authority")?
            .as_str()
            .parse()
            .context("the token URL names a socket address")?;
        let path = uri.path_and_query().cloned().context("token URL path")?;
        let request = Request::post(Uri::from(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .context("building the token request")?;
        let (status, body) = load::send_once(addr, request).await?;
        if !status.is_success() {
            bail!(
                "the token endpoint answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let reply: Value = serde_json::from_slice(&body).context("the token answer is JSON")?;
        reply["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("the token answer has an access_token")
    }
}

/// Headers from lowercase names (as `from_static` requires) and values.
fn header_map<const N: usize>(pairs: [(&'static str, String); N]) -> anyhow::Result<HeaderMap> {
    // One spare slot: HTTP/1.1 adds Host.
    let mut map = HeaderMap::with_capacity(N + 1);
    for (name, value) in pairs {
        let value = HeaderValue::from_str(&value)
            .with_context(|| format!("the {name} header value is valid"))?;
        map.insert(HeaderName::from_static(name), value);
    }
    Ok(map)
}

fn parse_path(text: &str) -> anyhow::Result<PathAndQuery> {
    text.parse()
        .with_context(|| format!("{text} is a valid path"))
}

/// An opaque id like the ones the reference backend pushes.
fn secure_id(n: usize) -> String {
    format!("{:08x}-5e3c-4b7a-9d2e-{:012x}", n, n * 7919)
}

fn json_bytes(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
