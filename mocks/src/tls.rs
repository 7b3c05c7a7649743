//! TLS for the gateways: a certificate authority (fresh per run, or kept in
//! a folder across runs), a server certificate it signs for the loopback
//! names, and the rustls server configurations the listeners use.
//!
//! Real clients are pointed at the mocks by trusting the CA's PEM
//! ([`crate::Gateways::ca_pem`], written as `ca.pem` by
//! [`crate::Gateways::write_credentials`]) through `SSL_CERT_FILE`,
//! `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` or `PUSHPROOF_CA_FILE`.
//!
//! The server key and certificate are new every run even when the CA is
//! kept: only the CA needs to outlive a run for clients to keep trusting it.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{RootCertStore, ServerConfig};
use time::{Duration, OffsetDateTime};
use tracing::info;

use crate::server::Protocol;

/// The CA certificate's file name, in a CA folder and beside the written
/// credentials.
pub(crate) const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key's file name in a CA folder.
pub(crate) const CA_KEY_FILE: &str = "ca.key";

/// The CA's subject. A kept CA is re-created from its key and this name to
/// sign each run's server certificate, so the name must never change.
const CA_ORGANIZATION: &str = "pushproof";
const CA_COMMON_NAME: &str = "pushproof mock gateways CA";

/// How long a CA created here is valid: long enough to keep across runs.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a server certificate is valid. At most 398 days, which Apple
/// platforms require of TLS server certificates.
const SERVER_VALIDITY: Duration = Duration::days(397);
/// Backdating, so a client whose clock runs a little behind still accepts.
const BACKDATE: Duration = Duration::days(1);

/// The names the server certificate covers: every way a local client
/// reaches a loopback listener.
const SERVER_NAMES: [&str; 1] = ["localhost"];
const SERVER_IPS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

/// The only name on the [`BadCertificate::OtherHost`] certificate: one no
/// gateway is reached by (`.invalid` never resolves, RFC 6761).
pub(crate) const OTHER_HOST: &str = "wrong-host.pushproof.invalid";

/// A certificate no careful client accepts, presented by a listener of its
/// own ([`crate::Gateways::serve_with_bad_certificate`]) to test that a
/// backend refuses to push through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadCertificate {
    /// For the gateways' own names, issued by a CA made for it that no
    /// client was told to trust.
    OtherCa,
    /// Issued by the run's CA, which clients trust, but only for
    /// [`OTHER_HOST`]: not the name or address a client dials.
    OtherHost,
}

impl BadCertificate {
    pub const ALL: [BadCertificate; 2] = [BadCertificate::OtherCa, BadCertificate::OtherHost];

    /// What is wrong with it, for a report.
    pub fn describe(self) -> &'static str {
        match self {
            BadCertificate::OtherCa => "a certificate from another CA",
            BadCertificate::OtherHost => "a certificate for another host name",
        }
    }
}

/// What the server certificate names besides the loopback names: the
/// address the gateways bind (`--host`), and the services' hosts in
/// impersonation mode (wildcards such as `*.notify.windows.com` allowed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerNames {
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
}

/// Turns TLS on for the gateways (`GatewayConfig::tls`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Where the CA lives. `None`: a fresh CA for this run, kept in memory
    /// only. `Some(dir)`: the CA in `dir/ca.pem` + `dir/ca.key` if present,
    /// else a new one created and saved there, so clients configured once
    /// keep trusting the mocks across runs.
    pub ca_dir: Option<PathBuf>,
}

/// Why the TLS material could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} exists but {} does not: restore it, or remove both to create a new CA", present.display(), missing.display())]
    HalfCa { present: PathBuf, missing: PathBuf },
    #[error("{} holds no usable PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the CA in {} cannot sign this run's certificate ({reason}); remove ca.pem and ca.key to create a new one", dir.display())]
    ForeignCa { dir: PathBuf, reason: String },
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("configuring rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server configurations of one certificate, by protocol.
struct Configs {
    /// ALPN `h2` only: APNs speaks nothing else.
    http2: Arc<ServerConfig>,
    /// ALPN `h2` and `http/1.1`: FCM, WNS and the token endpoints.
    auto: Arc<ServerConfig>,
}

impl Configs {
    fn new(
        provider: &Arc<CryptoProvider>,
        chain: &[CertificateDer<'static>],
        key: &PrivateKeyDer<'static>,
    ) -> Result<Configs, TlsError> {
        let config = |alpn: &[&[u8]]| -> Result<Arc<ServerConfig>, TlsError> {
            let mut config = ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain.to_vec(), key.clone_key())?;
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            // Stateless resumption: clients that reconnect (HTTP/1.1 pools
            // under load) skip the full handshake without server state.
            config.ticketer = rustls::crypto::ring::Ticketer::new()?;
            Ok(Arc::new(config))
        };
        Ok(Configs {
            http2: config(&[b"h2"])?,
            auto: config(&[b"h2", b"http/1.1"])?,
        })
    }

    fn get(&self, protocol: Protocol) -> Arc<ServerConfig> {
        match protocol {
            Protocol::Http2 => self.http2.clone(),
            Protocol::Auto => self.auto.clone(),
        }
    }
}

/// The TLS material of one run, built once and shared by every connection.
pub(crate) struct Tls {
    ca_pem: String,
    good: Configs,
    /// The certificates of [`BadCertificate::OtherCa`] and
    /// [`BadCertificate::OtherHost`], in that order.
    bad: [Configs; 2],
}

impl Tls {
    /// Loads or creates the CA, issues a server certificate and builds the
    /// server configurations. A few hundred microseconds of P-256 work and,
    /// with a CA folder, two small files.
    pub(crate) fn new(settings: &TlsSettings, names: &ServerNames) -> Result<Tls, TlsError> {
        let ca = match &settings.ca_dir {
            None => CertificateAuthority::generate()?,
            Some(dir) => CertificateAuthority::load_or_create(dir)?,
        };
        let (chain, key) = ca.issue_server_certificate(names)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        ca.check_chain(&chain, &provider)?;
        // A stranger CA's certificate for the same names, and this CA's
        // for a name nobody dials: a few hundred microseconds more.
        let (stranger_chain, stranger_key) =
            CertificateAuthority::generate()?.issue_server_certificate(names)?;
        let (other_host_chain, other_host_key) = ca.issue_for_other_host()?;
        Ok(Tls {
            good: Configs::new(&provider, &chain, &key)?,
            bad: [
                Configs::new(&provider, &stranger_chain, &stranger_key)?,
                Configs::new(&provider, &other_host_chain, &other_host_key)?,
            ],
            ca_pem: ca.pem,
        })
    }

    /// The server configuration for a listener speaking `protocol`.
    pub(crate) fn server_config(&self, protocol: Protocol) -> Arc<ServerConfig> {
        self.good.get(protocol)
    }

    /// The configuration of a listener presenting a bad certificate.
    pub(crate) fn bad_server_config(
        &self,
        which: BadCertificate,
        protocol: Protocol,
    ) -> Arc<ServerConfig> {
        let index = match which {
            BadCertificate::OtherCa => 0,
            BadCertificate::OtherHost => 1,
        };
        self.bad[index].get(protocol)
    }

    /// The PEM of the CA that signed the server certificate.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// A CA able to sign: its key, a certificate object rcgen signs with, and
/// the PEM clients trust (the file's content when loaded).
struct CertificateAuthority {
    key: KeyPair,
    issuer: Certificate,
    pem: String,
    /// The folder it came from, to name in errors.
    dir: Option<PathBuf>,
}

impl CertificateAuthority {
    fn generate() -> Result<CertificateAuthority, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let issuer = ca_params().self_signed(&key)?;
        let pem = issuer.pem();
        Ok(CertificateAuthority {
            key,
            issuer,
            pem,
            dir: None,
        })
    }

    fn load_or_create(dir: &Path) -> Result<CertificateAuthority, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => return CertificateAuthority::load(dir, &cert_path, &key_path),
            (true, false) => {
                return Err(TlsError::HalfCa {
                    present: cert_path,
                    missing: key_path,
                })
            }
            (false, true) => {
                return Err(TlsError::HalfCa {
                    present: key_path,
                    missing: cert_path,
                })
            }
            (false, false) => {}
        }
        let mut ca = CertificateAuthority::generate()?;
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
            path: dir.to_owned(),
            source,
        })?;
        // Never overwrite: if another run created the CA meanwhile, use it.
        match write_new(&key_path, ca.key.serialize_pem().as_bytes(), true) {
            Err(TlsError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                return CertificateAuthority::load(dir, &cert_path, &key_path);
            }
            other => other?,
        }
        write_new(&cert_path, ca.pem.as_bytes(), false)?;
        info!(dir = %dir.display(), "created a mock gateways CA");
        ca.dir = Some(dir.to_owned());
        Ok(ca)
    }

    fn load(
        dir: &Path,
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<CertificateAuthority, TlsError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let foreign = |reason: String| TlsError::ForeignCa {
            dir: dir.to_owned(),
            reason,
        };
        let key =
            KeyPair::from_pem(&key_pem).map_err(|e| foreign(format!("{CA_KEY_FILE}: {e}")))?;
        // rcgen signs with the issuer's name and key; the name is ours, so
        // the CA can be re-created from its key. `check_chain` catches a
        // ca.pem that is not this key's certificate.
        let issuer = ca_params().self_signed(&key)?;
        Ok(CertificateAuthority {
            key,
            issuer,
            pem,
            dir: Some(dir.to_owned()),
        })
    }

    /// A fresh P-256 key and a certificate for the loopback names.
    fn issue_server_certificate(
        &self,
        names: &ServerNames,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let dns: Vec<&str> = SERVER_NAMES
            .iter()
            .copied()
            .chain(names.dns.iter().map(String::as_str))
            .collect();
        let mut ips = Vec::new();
        for ip in SERVER_IPS.iter().chain(&names.ips) {
            if !ips.contains(ip) {
                ips.push(*ip);
            }
        }
        self.issue("localhost", &dns, &ips)
    }

    /// A certificate for [`OTHER_HOST`] alone.
    fn issue_for_other_host(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        self.issue(OTHER_HOST, &[OTHER_HOST], &[])
    }

    /// A fresh P-256 key and a server certificate for these names.
    fn issue(
        &self,
        common_name: &str,
        dns: &[&str],
        ips: &[IpAddr],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = named_params(common_name);
        params.subject_alt_names = dns
            .iter()
            .map(|name| Ok(SanType::DnsName((*name).to_owned().try_into()?)))
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        // Lets clients that build paths by key id (OpenSSL) find the CA.
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + SERVER_VALIDITY;
        let cert = params.signed_by(&key, &self.issuer, &self.key)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key))
    }

    /// Verifies the server chain against the CA's PEM exactly as a client
    /// would, so a mismatched kept CA fails at start, not in every client.
    fn check_chain(
        &self,
        chain: &[CertificateDer<'static>],
        provider: &Arc<CryptoProvider>,
    ) -> Result<(), TlsError> {
        let fail = |reason: String| match &self.dir {
            Some(dir) => TlsError::ForeignCa {
                dir: dir.clone(),
                reason,
            },
            // A CA made this run that cannot verify its own certificate
            // is a bug here, reported like any other TLS failure.
            None => TlsError::Rustls(rustls::Error::General(reason)),
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.pem.as_bytes()) {
            let cert = cert.map_err(|e| fail(format!("{CA_CERT_FILE}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| fail(format!("{CA_CERT_FILE}: {e}")))?;
        }
        if roots.is_empty() {
            return Err(match &self.dir {
                Some(dir) => TlsError::NoCertificate {
                    path: dir.join(CA_CERT_FILE),
                },
                None => fail("no CA certificate".to_owned()),
            });
        }
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| fail(e.to_string()))?;
        let (leaf, intermediates) = chain
            .split_first()
            .expect("issue_server_certificate returns one certificate");
        verifier
            .verify_server_cert(
                leaf,
                intermediates,
                &ServerName::IpAddress(Ipv4Addr::LOCALHOST.into()),
                &[],
                UnixTime::now(),
            )
            .map_err(|e| fail(e.to_string()))?;
        Ok(())
    }
}

/// Certificate parameters named `common_name` under pushproof's
/// organisation, the rest rcgen's defaults.
fn named_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, CA_ORGANIZATION);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
}

/// The CA's parameters. Only the name and key usages matter to rcgen when
/// it signs, and those are fixed, so a kept CA signs identically.
fn ca_params() -> CertificateParams {
    let mut params = named_params(CA_COMMON_NAME);
    // Signs server certificates directly, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    params
}

/// Writes a file that must not exist yet; a private key readable by its
/// owner only.
fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), TlsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let write = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(write)?;
    file.write_all(contents).map_err(write)?;
    file.sync_all().map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_ca_signs_a_certificate_it_verifies() {
        let tls = Tls::new(&TlsSettings::default(), &ServerNames::default()).expect("fresh CA");
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(
            tls.server_config(Protocol::Http2).alpn_protocols,
            [b"h2".to_vec()]
        );
        assert_eq!(
            tls.server_config(Protocol::Auto).alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn the_certificate_names_the_bound_address_and_the_impersonated_hosts() {
        let names = ServerNames {
            dns: vec!["fcm.googleapis.com".into(), "*.notify.windows.com".into()],
            ips: vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))],
        };
        let ca = CertificateAuthority::generate().expect("a CA");
        let (chain, _) = ca.issue_server_certificate(&names).expect("a certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
            roots.add(cert.expect("PEM")).expect("a root");
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("a verifier");
        let verify = |name: ServerName<'static>| {
            verifier
                .verify_server_cert(&chain[0], &[], &name, &[], UnixTime::now())
                .is_ok()
        };
        assert!(verify(
            ServerName::try_from("fcm.googleapis.com").expect("a name")
        ));
        assert!(verify(
            ServerName::try_from("db5p.notify.windows.com").expect("a name")
        ));
        assert!(verify(ServerName::IpAddress(
            Ipv4Addr::new(127, 0, 0, 2).into()
        )));
        assert!(verify(ServerName::try_from("localhost").expect("a name")));
        assert!(!verify(
            ServerName::try_from("api.push.apple.com").expect("a name")
        ));
    }

    #[test]
    fn a_ca_folder_is_created_then_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = TlsSettings {
            ca_dir: Some(dir.path().join("ca")),
        };
        let first = Tls::new(&settings, &ServerNames::default()).expect("creates the CA");
        let second = Tls::new(&settings, &ServerNames::default()).expect("reuses the CA");
        assert_eq!(first.ca_pem, second.ca_pem);
        let on_disk =
            std::fs::read_to_string(dir.path().join("ca").join(CA_CERT_FILE)).expect("ca.pem");
        assert_eq!(on_disk, first.ca_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("ca").join(CA_KEY_FILE))
                .expect("ca.key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "ca.key is private");
        }
    }

    #[test]
    fn half_a_ca_or_a_mismatched_pair_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = TlsSettings {
            ca_dir: Some(dir.path().to_owned()),
        };
        Tls::new(&settings, &ServerNames::default()).expect("creates the CA");

        // Another CA's certificate beside this CA's key.
        let other = Tls::new(&TlsSettings::default(), &ServerNames::default()).expect("another CA");
        std::fs::write(dir.path().join(CA_CERT_FILE), other.ca_pem).expect("replace ca.pem");
        let error = Tls::new(&settings, &ServerNames::default())
            .err()
            .expect("mismatched pair");
        assert!(matches!(error, TlsError::ForeignCa { .. }), "{error}");

        std::fs::remove_file(dir.path().join(CA_CERT_FILE)).expect("remove ca.pem");
        let error = Tls::new(&settings, &ServerNames::default())
            .err()
            .expect("half a CA");
        assert!(matches!(error, TlsError::HalfCa { .. }), "{error}");
        assert!(error.to_string().contains(CA_CERT_FILE), "{error}");
    }
}
