//! `pushproof-mocks`: mock Apple APNs, Firebase FCM (HTTP v1) and Windows
//! WNS gateways, faithful to the real services' wire protocols, for testing
//! and benchmarking backends that send push notifications.
//!
//! [`Gateways::start`] runs all three on loopback ports, in plaintext or,
//! with [`GatewayConfig::tls`], over TLS with a CA of its own
//! ([`Gateways::ca_pem`]), issues credentials
//! ([`Gateways::write_credentials`]) and device handles
//! ([`Gateways::register_device`]), delivers accepted pushes to each
//! device's [`Inbox`], and records every request it receives as a
//! [`Capture`].
//!
//! A request's path: [`server`] accepts the connection and reads the body,
//! `exchange` hands `/__pushproof/` requests to `control` (the control API:
//! devices, inboxes, captures, faults), consults the [`FaultRule`]s set (a
//! single atomic load when there are none), and dispatches on [`Platform`]
//! to `apns`, `fcm` or `wns` (token endpoints in `oauth`), which validate it
//! into a verdict and a response; accepted pushes go to `devices`, every
//! request to `capture` (and, if configured, the capture file).
//!
//! Beside them runs a mock Azure Notification Hub ([`Gateways::hub`],
//! module `hub`) that fans sends out to the gateways through the same
//! path.

mod apns;
mod capture;
mod config;
mod control;
mod credentials;
mod devices;
mod error;
mod exchange;
mod fault;
mod fcm;
mod gateways;
mod hosts;
mod hub;
mod oauth;
mod packed;
mod platform;
mod reply;
pub mod server;
mod state;
mod tls;
mod tokens;
mod wns;

pub use capture::{Capture, CaptureKind, CaptureStats, Counters, PlatformCounters};
pub use config::{ApnsEnvironment, GatewayConfig, Impersonation};
pub use credentials::BackendEnv;
pub use devices::feed::{Feed, Tagged};
pub use devices::{Delivery, DeviceHandle, Inbox};
pub use error::MockError;
pub use fault::{ActiveFault, Delay, Fault, FaultError, FaultPlan, FaultRule, MAX_RULES};
pub use gateways::{BadCertificateListener, Gateways};
pub use hub::{Hub, HubConfig};
pub use platform::{Platform, UnknownPlatform};
pub use tls::{BadCertificate, TlsSettings};
