//! The credentials a backend needs to talk to the gateways, generated fresh
//! for every run: the APNs provider key (.p8), the FCM service account, the
//! WNS client secret; and the backend-contract environment that points a
//! backend at them.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::DecodingKey;
use rand::RngCore as _;
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;

use crate::config::GatewayConfig;
use crate::error::MockError;

/// The APNs provider signing key (ES256, P-256).
pub(crate) struct ApnsKey {
    /// PKCS#8 PEM, the format of Apple's `.p8` files.
    pub(crate) pkcs8_pem: String,
    pub(crate) verifying: DecodingKey,
}

/// The FCM service account (RS256, RSA 2048).
pub(crate) struct ServiceAccount {
    pub(crate) private_key_id: String,
    pub(crate) client_email: String,
    pub(crate) client_id: String,
    pub(crate) pkcs8_pem: String,
    pub(crate) verifying: DecodingKey,
}

/// Everything secret the gateways verify against.
pub(crate) struct Credentials {
    pub(crate) apns: ApnsKey,
    pub(crate) fcm: ServiceAccount,
    pub(crate) wns_client_secret: String,
}

impl Credentials {
    /// Generates fresh keys. RSA key generation takes a noticeable moment:
    /// call this off the async threads.
    pub(crate) fn generate(config: &GatewayConfig) -> Result<Credentials, MockError> {
        let apns = generate_apns_key()?;
        let fcm = generate_service_account(&config.fcm_project_id)?;
        Ok(Credentials {
            apns,
            fcm,
            wns_client_secret: random_token(24),
        })
    }
}

fn generate_apns_key() -> Result<ApnsKey, MockError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| {
        MockError::KeyGeneration {
            what: "APNs P-256 key",
            message: e.to_string(),
        }
    })?;
    Ok(ApnsKey {
        pkcs8_pem: key.serialize_pem(),
        // ring verifies against the uncompressed point, which is what
        // `public_key_raw` returns for ECDSA keys.
        verifying: DecodingKey::from_ec_der(key.public_key_raw()),
    })
}

fn generate_service_account(project_id: &str) -> Result<ServiceAccount, MockError> {
    let mut rng = rand::thread_rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| MockError::KeyGeneration {
        what: "FCM service-account RSA key",
        message: e.to_string(),
    })?;
    let pkcs8_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| MockError::KeyGeneration {
            what: "FCM service-account RSA key",
            message: e.to_string(),
        })?
        .to_string();
    let verifying =
        DecodingKey::from_rsa_raw_components(&key.n().to_bytes_be(), &key.e().to_bytes_be());
    let mut key_id = [0u8; 20];
    rng.fill_bytes(&mut key_id);
    // A Google client id is 21 decimal digits.
    let client_id: String = (0..21)
        .map(|i| {
            let low = if i == 0 { 1 } else { 0 };
            char::from(b'0' + low + (rng.next_u32() % (10 - u32::from(low))) as u8)
        })
        .collect();
    Ok(ServiceAccount {
        private_key_id: hex::encode(key_id),
        client_email: format!("pushproof-mock@{project_id}.iam.gserviceaccount.com"),
        client_id,
        pkcs8_pem,
        verifying,
    })
}

/// A random URL-safe token of `bytes` random bytes.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The backend-contract environment: the `PUSHPROOF_*` variables a backend
/// under test reads to find the gateways and its credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendEnv {
    /// `(name, value)` pairs in a stable order.
    pub vars: Vec<(String, String)>,
}

impl BackendEnv {
    /// The value of a variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Writes `KEY=VALUE` lines, one per variable, readable by the owner
    /// only (the file holds the WNS client secret). The file appears
    /// whole or not at all: it is written beside and renamed into place,
    /// so a script waiting for it never reads half of it.
    pub fn write_env_file(&self, path: &Path) -> Result<(), MockError> {
        let mut text = String::new();
        for (name, value) in &self.vars {
            text.push_str(name);
            text.push('=');
            text.push_str(value);
            text.push('\n');
        }
        write_file(path, text.as_bytes(), Access::Private)
    }
}

/// Who may read a file the mocks write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The owner only (0600): private keys and secrets.
    Private,
    /// Anyone (0644): a CA certificate, hosts lines.
    Public,
}

/// Writes `contents` to `path` atomically: into a temporary file beside it
/// (created with its final permissions, so a secret is never readable by
/// others, even briefly), synced, then renamed over `path`.
pub(crate) fn write_file(path: &Path, contents: &[u8], access: Access) -> Result<(), MockError> {
    let failed = |source| MockError::WriteFile {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let mode = if access == Access::Private {
            0o600
        } else {
            0o644
        };
        options.mode(mode);
        let file = options.open(&temporary).map_err(failed)?;
        // An older temporary file keeps its mode: set it again.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(failed)?;
        write_all(file, contents, &temporary, path).map_err(failed)?;
    }
    #[cfg(not(unix))]
    {
        let _ = access;
        let file = options.open(&temporary).map_err(failed)?;
        write_all(file, contents, &temporary, path).map_err(failed)?;
    }
    Ok(())
}

fn write_all(
    mut file: std::fs::File,
    contents: &[u8],
    temporary: &Path,
    path: &Path,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(temporary);
    }
    written
}

/// Where the gateways listen, as the credential files need to say.
pub(crate) struct Endpoints<'a> {
    pub(crate) apns_url: &'a str,
    pub(crate) fcm_url: &'a str,
    pub(crate) fcm_token_url: &'a str,
    pub(crate) wns_token_url: &'a str,
    /// An HTTP/1.1 origin of the control API.
    pub(crate) control_url: &'a str,
    /// The CA's PEM, in TLS mode.
    pub(crate) ca_pem: Option<&'a str>,
}

impl Credentials {
    /// The FCM service-account JSON, as the Google Cloud console issues it,
    /// with `token_uri` pointing at the mock.
    pub(crate) fn service_account_json(
        &self,
        config: &GatewayConfig,
        token_uri: &str,
    ) -> serde_json::Value {
        let sa = &self.fcm;
        serde_json::json!({
            "type": "service_account",
            "project_id": config.fcm_project_id,
            "private_key_id": sa.private_key_id,
            "private_key": sa.pkcs8_pem,
            "client_email": sa.client_email,
            "client_id": sa.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                sa.client_email.replace('@', "%40")
            ),
            "universe_domain": "googleapis.com",
        })
    }

    /// Writes the key files into `dir` and returns the backend contract.
    pub(crate) fn write(
        &self,
        config: &GatewayConfig,
        endpoints: &Endpoints<'_>,
        dir: &Path,
    ) -> Result<BackendEnv, MockError> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| MockError::WriteFile { path, source }
        };
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        let dir: PathBuf = std::path::absolute(dir).map_err(write_err(dir))?;

        let apns_key_file = dir.join(format!("AuthKey_{}.p8", config.apns_key_id));
        write_file(
            &apns_key_file,
            self.apns.pkcs8_pem.as_bytes(),
            Access::Private,
        )?;

        let fcm_file = dir.join("fcm-service-account.json");
        let json = self.service_account_json(config, endpoints.fcm_token_url);
        let text = serde_json::to_string_pretty(&json).map_err(|e| MockError::WriteFile {
            path: fcm_file.clone(),
            source: std::io::Error::other(e),
        })?;
        write_file(&fcm_file, text.as_bytes(), Access::Private)?;

        let vars = [
            ("PUSHPROOF_APNS_URL", endpoints.apns_url.to_owned()),
            (
                "PUSHPROOF_APNS_KEY_FILE",
                apns_key_file.display().to_string(),
            ),
            ("PUSHPROOF_APNS_KEY_ID", config.apns_key_id.clone()),
            ("PUSHPROOF_APNS_TEAM_ID", config.apns_team_id.clone()),
            ("PUSHPROOF_APNS_TOPIC", config.apns_topic.clone()),
            ("PUSHPROOF_FCM_URL", endpoints.fcm_url.to_owned()),
            ("PUSHPROOF_FCM_PROJECT_ID", config.fcm_project_id.clone()),
            ("PUSHPROOF_FCM_CREDENTIALS", fcm_file.display().to_string()),
            (
                "PUSHPROOF_WNS_TOKEN_URL",
                endpoints.wns_token_url.to_owned(),
            ),
            ("PUSHPROOF_WNS_CLIENT_ID", config.wns_client_id.clone()),
            (
                "PUSHPROOF_WNS_CLIENT_SECRET",
                self.wns_client_secret.clone(),
            ),
            ("PUSHPROOF_CONTROL_URL", endpoints.control_url.to_owned()),
        ];
        let mut vars: Vec<(String, String)> =
            vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Some(pem) = endpoints.ca_pem {
            let ca_file = dir.join(crate::tls::CA_CERT_FILE);
            write_file(&ca_file, pem.as_bytes(), Access::Public)?;
            vars.push((
                "PUSHPROOF_CA_FILE".to_owned(),
                ca_file.display().to_string(),
            ));
        }
        Ok(BackendEnv { vars })
    }
}
