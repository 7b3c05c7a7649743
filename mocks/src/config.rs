//! Gateway configuration: the identities the mocks expect backends to use
//! (bundle id, team and key ids, FCM project, WNS package SID) and the sizes
//! of the capture store and the device inboxes, and whether they speak TLS.

use std::net::{IpAddr, Ipv4Addr};

use crate::tls::TlsSettings;

/// The two APNs environments. They speak the same protocol; development
/// (`api.sandbox.push.apple.com`) also answers a successful push with an
/// `apns-unique-id`, the key to Apple's delivery log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApnsEnvironment {
    /// `api.push.apple.com`.
    #[default]
    Production,
    /// `api.sandbox.push.apple.com`.
    Development,
}

/// How the gateways are set up. `Default` gives a working configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Captures kept before the oldest are evicted.
    pub capture_capacity: usize,
    /// Deliveries kept per device before the oldest are dropped.
    pub inbox_capacity: usize,
    /// Also stream every capture to this JSON-lines file (created or
    /// truncated at start), written in the background.
    pub capture_file: Option<std::path::PathBuf>,
    /// The app's bundle id, the `apns-topic` APNs accepts.
    pub apns_topic: String,
    /// The 10-character Apple team id (the JWT `iss`).
    pub apns_team_id: String,
    /// Further teams (JWT `iss`) whose provider tokens mock APNs accepts,
    /// signed with the same key. A real key belongs to one team; these let
    /// a test check that a backend serving several teams keeps one
    /// connection per team, since APNs binds a connection to its first.
    pub apns_extra_team_ids: Vec<String>,
    /// The 10-character id of the APNs signing key (the JWT `kid`).
    pub apns_key_id: String,
    /// Which APNs host the mock stands for; it decides whether successful
    /// pushes carry `apns-unique-id`, which only development does.
    pub apns_environment: ApnsEnvironment,
    /// The Firebase project id.
    pub fcm_project_id: String,
    /// The WNS package SID (`ms-app://s-1-15-2-…`), the OAuth client id.
    pub wns_client_id: String,
    /// `Some`: the gateways speak TLS only, with a certificate signed by a
    /// CA clients are given (see [`TlsSettings`]). `None`: plaintext.
    pub tls: Option<TlsSettings>,
    /// The address every listener binds (`127.0.0.1` by default). The URLs
    /// and the certificate name it, so that a backend elsewhere (in a
    /// container) can reach the mocks; an unspecified address (`0.0.0.0`)
    /// binds every interface and the URLs then name `127.0.0.1`.
    pub host: IpAddr,
    /// The ports APNs, FCM and WNS bind, in that order; 0 (the default)
    /// takes a free one. Fixed ports let a Kubernetes Service front them.
    pub ports: [u16; 3],
    /// The host name the URLs (and the TLS certificate) name instead of the
    /// bound address: the name a backend elsewhere reaches the mocks by,
    /// such as a Kubernetes Service's.
    pub advertise: Option<String>,
    /// Host impersonation (implies TLS): the certificate also names the
    /// services' real hosts, and one more listener serves them all by name
    /// (see [`Impersonation`]).
    pub impersonation: Option<Impersonation>,
    /// The mock Notification Hub served beside the gateways.
    pub hub: HubConfig,
}

/// The listener that answers for the services' real hosts
/// (`api.push.apple.com`, `fcm.googleapis.com`, `oauth2.googleapis.com`,
/// `login.live.com`, `login.microsoftonline.com`, `*.notify.windows.com`),
/// routing each connection by its TLS server name and each request by its
/// `:authority` or `Host`. Backends reach it through hosts entries
/// ([`crate::Gateways::hosts_file`]) on port 443.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Impersonation {
    /// The port it binds: 443 for a backend that pins the real hosts, 0
    /// for any free one (tests, or a port mapping in front).
    pub port: u16,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            capture_capacity: 500_000,
            inbox_capacity: 256,
            capture_file: None,
            apns_topic: "com.example.pushproof".to_owned(),
            apns_team_id: "PPTEAM1234".to_owned(),
            apns_extra_team_ids: Vec::new(),
            apns_key_id: "PPKEY12345".to_owned(),
            apns_environment: ApnsEnvironment::default(),
            fcm_project_id: "pushproof-test".to_owned(),
            wns_client_id:
                "ms-app://s-1-15-2-2972962901-2322836549-3722629029-1345238579-3987825745-2155616079-650196962"
                    .to_owned(),
            tls: None,
            hub: HubConfig::default(),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: [0; 3],
            advertise: None,
            impersonation: None,
        }
    }
}

/// How the hub is set up. `Default` gives a working configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// The hub's name, the path's first segment.
    pub name: String,
    /// Most installations and registrations held together; past it a new
    /// device is refused with 403, as past a tier's device quota (the
    /// default is the Basic tier's 200,000 active devices).
    pub device_capacity: usize,
    /// Notification outcomes kept for `GET /{hub}/messages/{id}`.
    pub notification_capacity: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            name: "pushproof-hub".to_owned(),
            device_capacity: 200_000,
            notification_capacity: 10_000,
        }
    }
}
