//! The backend's configuration, read from the `PUSHPROOF_*` variables of the
//! backend contract. Everything is parsed and validated here, once: key files
//! are read and their keys tried, URLs parsed, so a bad setup fails at start
//! and names the variable or file at fault.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

use super::flaw::Flaw;

mod hub;
pub use hub::HubConfig;

/// Everything the backend needs to run. Build it with [`Config::from_vars`]
/// (or [`Config::new`] and set the fields).
#[derive(Debug, Clone)]
pub struct Config {
    /// The SQLite database file; created if absent.
    pub db_path: PathBuf,
    /// Lifetime of a bearer token issued by `POST /api/login`.
    pub token_ttl: Duration,
    /// How long a notification's content stays fetchable unless it is
    /// acknowledged first; a send may ask for less (`ttl`), never more.
    /// Pushes carry the same lifetime, so a gateway never holds an id
    /// longer than its content lives.
    pub payload_ttl: Duration,
    /// How many failed fetches a user may make per window before the
    /// fetches get 429 (`None`: no throttle).
    pub fetch_throttle: Option<FetchThrottle>,
    /// Deliberate flaws to switch on (none by default).
    pub flaws: Vec<Flaw>,
    /// APNs, if configured.
    pub apns: Option<ApnsConfig>,
    /// FCM HTTP v1, if configured.
    pub fcm: Option<FcmConfig>,
    /// WNS, if configured.
    pub wns: Option<WnsConfig>,
    /// The Notification Hub (`PUSHPROOF_NH_CONNECTION_STRING`,
    /// `PUSHPROOF_NH_HUB`), if configured: then every push goes through
    /// it, and the APNs, FCM and WNS settings are not used.
    pub hub: Option<HubConfig>,
    /// Whom the push clients trust on `https://` gateway URLs: exactly the
    /// certificates of `PUSHPROOF_CA_FILE` when it is set, else the
    /// platform's roots.
    pub trust: Trust,
}

/// A throttle on failed fetches: past `failures` failed fetches (an
/// unknown id, or someone else's) within `window` of the first, every fetch
/// of that user gets 429 with `Retry-After` until the window ends. Counted
/// per user, over all of the user's sessions, so logging in again does not
/// reset it; other users are never affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchThrottle {
    /// Failed fetches allowed per window.
    pub failures: u32,
    /// The window, from the first failure in it.
    pub window: Duration,
}

impl Default for FetchThrottle {
    /// 100 failures per 2 s: no honest client fails that often (a device
    /// fetches the ids its pushes carry), while a scanner is slowed to 50
    /// guesses a second per account, and an account is free again within
    /// seconds.
    fn default() -> Self {
        FetchThrottle {
            failures: 100,
            window: Duration::from_secs(2),
        }
    }
}

/// The certificate authorities the push clients accept from `https://`
/// gateways and token endpoints.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// The platform's native roots, as for the real services.
    #[default]
    NativeRoots,
    /// Exactly the certificates of a PEM file (`PUSHPROOF_CA_FILE`): a
    /// gateway whose certificate another CA signed is refused, even one
    /// the platform trusts.
    CaFile {
        /// The file the certificates came from.
        path: PathBuf,
        /// Its certificates, parsed once.
        roots: Arc<RootCertStore>,
    },
    /// Any certificate at all, from any CA, for any name: the
    /// `insecure-gateway-tls` flaw ([`crate::Flaw::InsecureGatewayTls`]),
    /// which is how a backend ends up handing its pushes (and its gateway
    /// credentials) to an impostor. Never use it otherwise.
    AnyCertificate,
}

impl Trust {
    /// Trust exactly the certificates in the PEM file at `path`. Fails
    /// when the file cannot be read, holds no certificate, or holds one
    /// that cannot be a trust anchor.
    pub fn from_ca_file(path: &Path) -> Result<Trust, ConfigError> {
        let variable = "PUSHPROOF_CA_FILE";
        let pem = read(variable, path)?;
        let roots = roots_from_pem(&pem).map_err(|reason| ConfigError::BadCertificate {
            variable,
            path: path.to_owned(),
            reason,
        })?;
        Ok(Trust::CaFile {
            path: path.to_owned(),
            roots: Arc::new(roots),
        })
    }
}

/// The certificates of a PEM document as trust anchors.
fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("not PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CERTIFICATE in it".to_owned());
    }
    Ok(roots)
}

/// APNs provider-token settings.
#[derive(Debug, Clone)]
pub struct ApnsConfig {
    /// Origin of the gateway, without a trailing `/` (`PUSHPROOF_APNS_URL`).
    pub url: String,
    /// The ES256 key from the .p8 file (`PUSHPROOF_APNS_KEY_FILE`).
    pub key: SigningKey,
    /// `PUSHPROOF_APNS_KEY_ID`, the JWT `kid`.
    pub key_id: String,
    /// `PUSHPROOF_APNS_TEAM_ID`, the JWT `iss`.
    pub team_id: String,
    /// `PUSHPROOF_APNS_TOPIC`, the app's bundle id.
    pub topic: String,
}

/// FCM HTTP v1 settings.
#[derive(Debug, Clone)]
pub struct FcmConfig {
    /// Origin of the gateway, without a trailing `/` (`PUSHPROOF_FCM_URL`).
    pub url: String,
    /// `PUSHPROOF_FCM_PROJECT_ID`.
    pub project_id: String,
    /// The service account from `PUSHPROOF_FCM_CREDENTIALS`.
    pub credentials: ServiceAccount,
}

/// The parts of a Google service-account JSON file the backend uses.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    /// `client_email`: the assertion's `iss`.
    pub client_email: String,
    /// `private_key_id`: the assertion's `kid`.
    pub private_key_id: String,
    /// `token_uri`: where the assertion is exchanged for an access token.
    pub token_uri: String,
    /// `private_key`: the RS256 key.
    pub key: SigningKey,
}

/// WNS settings. Channel URIs come from the device registrations.
#[derive(Clone)]
pub struct WnsConfig {
    /// `PUSHPROOF_WNS_TOKEN_URL`.
    pub token_url: String,
    /// `PUSHPROOF_WNS_CLIENT_ID`.
    pub client_id: String,
    /// `PUSHPROOF_WNS_CLIENT_SECRET`.
    pub client_secret: String,
}

impl fmt::Debug for WnsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WnsConfig")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// A private key ready to sign JWTs with one algorithm. Its `Debug` never
/// shows the key.
#[derive(Clone)]
pub struct SigningKey {
    key: EncodingKey,
    algorithm: Algorithm,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({:?}, <redacted>)", self.algorithm)
    }
}

impl SigningKey {
    /// An ES256 key from a PKCS#8 PEM (an APNs .p8 file).
    pub fn es256_from_pem(pem: &[u8]) -> Result<SigningKey, String> {
        let key = EncodingKey::from_ec_pem(pem).map_err(|e| e.to_string())?;
        SigningKey::checked(key, Algorithm::ES256)
    }

    /// An RS256 key from a PEM (PKCS#8 or PKCS#1), as in a service account.
    pub fn rs256_from_pem(pem: &[u8]) -> Result<SigningKey, String> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| e.to_string())?;
        SigningKey::checked(key, Algorithm::RS256)
    }

    /// PEM parsing accepts keys the signer later refuses (wrong curve, RSA
    /// too short): sign once now so a bad key fails at start, not per push.
    fn checked(key: EncodingKey, algorithm: Algorithm) -> Result<SigningKey, String> {
        let key = SigningKey { key, algorithm };
        key.sign(
            Header::new(algorithm),
            &serde_json::json!({ "probe": true }),
        )?;
        Ok(key)
    }

    /// Signs `claims` with this key; `header.alg` is forced to the key's
    /// algorithm.
    pub(crate) fn sign(
        &self,
        mut header: Header,
        claims: &impl serde::Serialize,
    ) -> Result<String, String> {
        header.alg = self.algorithm;
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| e.to_string())
    }
}

/// Why the configuration is unusable. Each variant names the variable or
/// file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Some of a platform's variables are set, not all.
    #[error("{platform} is partially configured: {variable} is missing")]
    Missing {
        /// `APNs`, `FCM` or `WNS`.
        platform: &'static str,
        /// The variable that is absent or empty.
        variable: &'static str,
    },
    /// A URL variable does not hold an absolute http(s) URL.
    #[error("{variable}={value:?} is not an absolute http:// or https:// URL")]
    BadUrl {
        /// The variable, or file field, at fault.
        variable: String,
        /// Its value.
        value: String,
    },
    /// A file named by a variable cannot be read.
    #[error("cannot read {path} ({variable}): {source}")]
    Read {
        /// The variable naming the file.
        variable: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CA file was read but holds no usable certificate.
    #[error("bad certificate file {path} ({variable}): {reason}")]
    BadCertificate {
        /// The variable naming the file.
        variable: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The Notification Hub's connection string or name is unusable.
    #[error("{variable} is unusable: {reason}")]
    BadHub {
        /// The variable at fault.
        variable: &'static str,
        /// Why (never the key itself).
        reason: String,
    },
    /// A key or credentials file was read but is not usable.
    #[error("bad key in {path} ({variable}): {reason}")]
    BadKey {
        /// The variable naming the file.
        variable: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// A configuration with defaults: 1 h tokens, content kept a day,
    /// failed fetches throttled, no flaws, no platform.
    pub fn new(db_path: PathBuf) -> Config {
        Config {
            db_path,
            token_ttl: Duration::from_secs(3600),
            payload_ttl: Duration::from_secs(86_400),
            fetch_throttle: Some(FetchThrottle::default()),
            flaws: Vec::new(),
            apns: None,
            fcm: None,
            wns: None,
            hub: None,
            trust: Trust::NativeRoots,
        }
    }

    /// The platforms configured, by name (`apns`, `fcm`, `wns`): all
    /// three through a hub, which holds the platform credentials itself.
    pub fn platforms(&self) -> Vec<&'static str> {
        if self.hub.is_some() {
            return vec!["apns", "fcm", "wns"];
        }
        let mut names = Vec::new();
        if self.apns.is_some() {
            names.push("apns");
        }
        if self.fcm.is_some() {
            names.push("fcm");
        }
        if self.wns.is_some() {
            names.push("wns");
        }
        names
    }

    /// Reads the PUSHPROOF_* variables of the backend contract through `var`
    /// (so callers can pass a map instead of the process env). A platform
    /// whose variables are all absent is disabled; partially present → error
    /// naming the missing variable. Key files are read and parsed here (bad
    /// key → error naming the file). Empty values count as absent.
    /// `PUSHPROOF_LISTEN` is the caller's: it binds the listener.
    pub fn from_vars(
        db_path: PathBuf,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let mut config = Config::new(db_path);
        if let Some(path) = var("PUSHPROOF_CA_FILE") {
            config.trust = Trust::from_ca_file(Path::new(&path))?;
        }

        if let Some([url, key_file, key_id, team_id, topic]) = group(
            "APNs",
            [
                "PUSHPROOF_APNS_URL",
                "PUSHPROOF_APNS_KEY_FILE",
                "PUSHPROOF_APNS_KEY_ID",
                "PUSHPROOF_APNS_TEAM_ID",
                "PUSHPROOF_APNS_TOPIC",
            ],
            &var,
        )? {
            let variable = "PUSHPROOF_APNS_KEY_FILE";
            let path = PathBuf::from(key_file);
            let pem = read(variable, &path)?;
            let key = SigningKey::es256_from_pem(&pem).map_err(|reason| ConfigError::BadKey {
                variable,
                path,
                reason,
            })?;
            config.apns = Some(ApnsConfig {
                url: origin("PUSHPROOF_APNS_URL", &url)?,
                key,
                key_id,
                team_id,
                topic,
            });
        }

        if let Some([url, project_id, credentials]) = group(
            "FCM",
            [
                "PUSHPROOF_FCM_URL",
                "PUSHPROOF_FCM_PROJECT_ID",
                "PUSHPROOF_FCM_CREDENTIALS",
            ],
            &var,
        )? {
            config.fcm = Some(FcmConfig {
                url: origin("PUSHPROOF_FCM_URL", &url)?,
                project_id,
                credentials: service_account(Path::new(&credentials))?,
            });
        }

        if let Some([token_url, client_id, client_secret]) = group(
            "WNS",
            [
                "PUSHPROOF_WNS_TOKEN_URL",
                "PUSHPROOF_WNS_CLIENT_ID",
                "PUSHPROOF_WNS_CLIENT_SECRET",
            ],
            &var,
        )? {
            check_url("PUSHPROOF_WNS_TOKEN_URL", &token_url)?;
            config.wns = Some(WnsConfig {
                token_url,
                client_id,
                client_secret,
            });
        }

        if let Some([connection_string, hub]) = group(
            "the Notification Hub",
            ["PUSHPROOF_NH_CONNECTION_STRING", "PUSHPROOF_NH_HUB"],
            &var,
        )? {
            config.hub = Some(
                HubConfig::parse(&connection_string, &hub)
                    .map_err(|(variable, reason)| ConfigError::BadHub { variable, reason })?,
            );
        }
        Ok(config)
    }
}

/// All of a platform's variables, none of them (→ `None`), or an error
/// naming the first missing one.
fn group<const N: usize>(
    platform: &'static str,
    names: [&'static str; N],
    var: &impl Fn(&str) -> Option<String>,
) -> Result<Option<[String; N]>, ConfigError> {
    let values = names.map(var);
    if values.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(index) = values.iter().position(Option::is_none) {
        return Err(ConfigError::Missing {
            platform,
            variable: names[index],
        });
    }
    Ok(Some(values.map(|value| value.unwrap_or_default())))
}

fn read(variable: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        variable,
        path: path.to_owned(),
        source,
    })
}

fn check_url(variable: &str, value: &str) -> Result<http::Uri, ConfigError> {
    let bad = || ConfigError::BadUrl {
        variable: variable.to_owned(),
        value: value.to_owned(),
    };
    let uri: http::Uri = value.parse().map_err(|_| bad())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(bad()),
    }
}

/// A gateway origin, checked and without its trailing `/`, so paths can be
/// appended.
fn origin(variable: &str, value: &str) -> Result<String, ConfigError> {
    check_url(variable, value)?;
    Ok(value.trim_end_matches('/').to_owned())
}

fn service_account(path: &Path) -> Result<ServiceAccount, ConfigError> {
    #[derive(serde::Deserialize)]
    struct File {
        client_email: String,
        private_key: String,
        #[serde(default)]
        private_key_id: String,
        token_uri: String,
    }
    let variable = "PUSHPROOF_FCM_CREDENTIALS";
    let bad = |reason: String| ConfigError::BadKey {
        variable,
        path: path.to_owned(),
        reason,
    };
    let bytes = read(variable, path)?;
    let file: File = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a service-account JSON: {e}")))?;
    check_url("token_uri", &file.token_uri).map_err(|e| bad(e.to_string()))?;
    let key = SigningKey::rs256_from_pem(file.private_key.as_bytes())
        .map_err(|e| bad(format!("private_key: {e}")))?;
    Ok(ServiceAccount {
        client_email: file.client_email,
        private_key_id: file.private_key_id,
        token_uri: file.token_uri,
        key,
    })
}

/// Keys used only by tests, here and in the push clients. Generated for this
/// purpose; they protect nothing.
#[cfg(test)]
pub(crate) mod test_keys {
    pub const EC_P8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOmgeUL5YheOr81p8
MGuWdKEKoDq8O57hyZMcFOyFpKuhRANCAAQl93F8A3KfjDeTxWoN3ZL3i8/5Nsaa
zE3DPUbMQHCPla1MB6HTUUDbmE03+cw8uSQiimG/gwBk7MWLbBNNjy9i
-----END PRIVATE KEY-----
";
    pub const RSA_P8: &str = include_str!("testdata/rsa.pem");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup<'a>(map: &'a HashMap<&str, String>) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| map.get(name).cloned()
    }

    #[test]
    fn nothing_set_disables_every_platform() {
        let config = Config::from_vars("db".into(), |_| None).expect("empty config is valid");
        assert!(config.apns.is_none() && config.fcm.is_none() && config.wns.is_none());
        assert_eq!(config.token_ttl, Duration::from_secs(3600));
        assert!(config.flaws.is_empty());
    }

    #[test]
    fn partial_platform_names_the_missing_variable() {
        let map = HashMap::from([
            (
                "PUSHPROOF_WNS_TOKEN_URL",
                "http://127.0.0.1:1/token".to_owned(),
            ),
            ("PUSHPROOF_WNS_CLIENT_ID", "id".to_owned()),
        ]);
        let error = Config::from_vars("db".into(), lookup(&map)).expect_err("partial");
        assert!(
            error.to_string().contains("PUSHPROOF_WNS_CLIENT_SECRET"),
            "{error}"
        );
    }

    #[test]
    fn full_config_is_parsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p8 = dir.path().join("key.p8");
        std::fs::write(&p8, test_keys::EC_P8).expect("write key");
        let sa = dir.path().join("sa.json");
        let account = serde_json::json!({
            "type": "service_account",
            "client_email": "sender@example.iam.gserviceaccount.com",
            "private_key": test_keys::RSA_P8,
            "private_key_id": "kid1",
            "token_uri": "http://127.0.0.1:9/token",
        });
        std::fs::write(&sa, account.to_string()).expect("write sa");
        let map = HashMap::from([
            ("PUSHPROOF_APNS_URL", "http://127.0.0.1:1/".to_owned()),
            ("PUSHPROOF_APNS_KEY_FILE", p8.display().to_string()),
            ("PUSHPROOF_APNS_KEY_ID", "ABC123DEFG".to_owned()),
            ("PUSHPROOF_APNS_TEAM_ID", "TEAM123456".to_owned()),
            ("PUSHPROOF_APNS_TOPIC", "com.example.app".to_owned()),
            ("PUSHPROOF_FCM_URL", "http://127.0.0.1:2".to_owned()),
            ("PUSHPROOF_FCM_PROJECT_ID", "proj".to_owned()),
            ("PUSHPROOF_FCM_CREDENTIALS", sa.display().to_string()),
            (
                "PUSHPROOF_WNS_TOKEN_URL",
                "http://127.0.0.1:3/token".to_owned(),
            ),
            ("PUSHPROOF_WNS_CLIENT_ID", "ms-app://s-1".to_owned()),
            ("PUSHPROOF_WNS_CLIENT_SECRET", "hunter2".to_owned()),
        ]);
        let config = Config::from_vars("db".into(), lookup(&map)).expect("valid config");
        let apns = config.apns.expect("apns on");
        assert_eq!(apns.url, "http://127.0.0.1:1");
        assert_eq!(apns.team_id, "TEAM123456");
        let fcm = config.fcm.expect("fcm on");
        assert_eq!(
            fcm.credentials.client_email,
            "sender@example.iam.gserviceaccount.com"
        );
        assert_eq!(fcm.credentials.token_uri, "http://127.0.0.1:9/token");
        let wns = config.wns.expect("wns on");
        assert!(!format!("{wns:?}").contains("hunter2"));
    }

    #[test]
    fn bad_key_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p8 = dir.path().join("broken.p8");
        // An RSA key is valid PEM but not an ES256 key.
        std::fs::write(&p8, test_keys::RSA_P8).expect("write key");
        let map = HashMap::from([
            ("PUSHPROOF_APNS_URL", "http://127.0.0.1:1".to_owned()),
            ("PUSHPROOF_APNS_KEY_FILE", p8.display().to_string()),
            ("PUSHPROOF_APNS_KEY_ID", "K".to_owned()),
            ("PUSHPROOF_APNS_TEAM_ID", "T".to_owned()),
            ("PUSHPROOF_APNS_TOPIC", "t".to_owned()),
        ]);
        let error = Config::from_vars("db".into(), lookup(&map)).expect_err("bad key");
        assert!(matches!(error, ConfigError::BadKey { .. }), "{error}");
        assert!(error.to_string().contains("broken.p8"), "{error}");

        std::fs::write(&p8, "not a pem").expect("write key");
        let error = Config::from_vars("db".into(), lookup(&map)).expect_err("garbage key");
        assert!(error.to_string().contains("broken.p8"), "{error}");

        let missing = HashMap::from([("PUSHPROOF_APNS_KEY_FILE", "/nonexistent/k.p8".to_owned())]);
        let merged: HashMap<_, _> = map.clone().into_iter().chain(missing).collect();
        let error = Config::from_vars("db".into(), lookup(&merged)).expect_err("missing file");
        assert!(error.to_string().contains("/nonexistent/k.p8"), "{error}");
    }

    #[test]
    fn ca_file_is_parsed_once_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        let lookup_ca = |path: &Path| {
            let path = path.display().to_string();
            move |name: &str| (name == "PUSHPROOF_CA_FILE").then(|| path.clone())
        };

        let config = Config::from_vars("db".into(), |_| None).expect("no CA is valid");
        assert!(matches!(config.trust, Trust::NativeRoots));

        std::fs::write(&ca, "not a certificate").expect("write ca");
        let error = Config::from_vars("db".into(), lookup_ca(&ca)).expect_err("no certificate");
        assert!(
            matches!(error, ConfigError::BadCertificate { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("ca.pem"), "{error}");

        let missing = dir.path().join("absent.pem");
        let error = Config::from_vars("db".into(), lookup_ca(&missing)).expect_err("no file");
        assert!(error.to_string().contains("absent.pem"), "{error}");

        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("self-signed certificate");
        std::fs::write(&ca, cert.cert.pem()).expect("write ca");
        let config = Config::from_vars("db".into(), lookup_ca(&ca)).expect("valid CA file");
        match config.trust {
            Trust::CaFile { path, roots } => {
                assert_eq!(path, ca);
                assert_eq!(roots.len(), 1);
            }
            Trust::NativeRoots | Trust::AnyCertificate => panic!("PUSHPROOF_CA_FILE was ignored"),
        }
    }

    #[test]
    fn bad_url_is_rejected() {
        let map = HashMap::from([
            ("PUSHPROOF_WNS_TOKEN_URL", "localhost:1/token".to_owned()),
            ("PUSHPROOF_WNS_CLIENT_ID", "id".to_owned()),
            ("PUSHPROOF_WNS_CLIENT_SECRET", "s".to_owned()),
        ]);
        let error = Config::from_vars("db".into(), lookup(&map)).expect_err("bad url");
        assert!(
            error.to_string().contains("PUSHPROOF_WNS_TOKEN_URL"),
            "{error}"
        );
    }
}
