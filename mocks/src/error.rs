//! The crate's error type: what can go wrong starting the gateways or
//! writing their credentials. Rejected pushes are not errors: they are
//! verdicts, recorded as captures.

use std::io;
use std::path::PathBuf;

use crate::platform::{Platform, UnknownPlatform};

/// Errors returned by the public API of `pushproof-mocks`.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// A gateway's listener could not be bound.
    #[error("binding the {platform} gateway listener")]
    Bind {
        /// The gateway being started.
        platform: Platform,
        /// The underlying socket error.
        #[source]
        source: io::Error,
    },
    /// The host-impersonation listener could not be bound.
    #[error(
        "binding the host-impersonation listener on {addr} (port 443 needs root or \
         CAP_NET_BIND_SERVICE; or bind another port and forward 443 to it)"
    )]
    BindImpersonation {
        /// The address it was to listen on.
        addr: std::net::SocketAddr,
        /// The underlying socket error.
        #[source]
        source: io::Error,
    },
    /// A signing key could not be generated or encoded.
    #[error("generating the {what}: {message}")]
    KeyGeneration {
        /// Which key (e.g. "APNs P-256 key").
        what: &'static str,
        /// What the crypto library said.
        message: String,
    },
    /// A credentials or environment file could not be written.
    #[error("writing {}", path.display())]
    WriteFile {
        /// The file being written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// Asked for something only TLS mode has ([`crate::GatewayConfig::tls`]).
    #[error("the gateways are not serving TLS")]
    TlsOff,
    /// A platform name that is none of apns, fcm (gcm) or wns.
    #[error("unknown platform {0:?} (expected apns, fcm or wns)")]
    UnknownPlatform(String),
}

impl From<UnknownPlatform> for MockError {
    fn from(error: UnknownPlatform) -> MockError {
        MockError::UnknownPlatform(error.0)
    }
}
