//! The state the three gateways share: configuration, credentials, devices,
//! captures, fault rules and issued access tokens. Built once per
//! [`crate::Gateways`]; both the public API and the control API work on it.

use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::{Algorithm, Validation};

use crate::capture::file::CaptureFile;
use crate::capture::{CaptureStore, Counters};
use crate::config::GatewayConfig;
use crate::credentials::Credentials;
use crate::devices::feed::{Feed, Feeds};
use crate::devices::{device_key, wns_channel_uri, DeviceHandle, Devices, Inbox};
use crate::error::MockError;
use crate::fault::table::FaultTable;
use crate::platform::Platform;
use crate::tokens::TokenStore;

/// The gateways' public addresses.
pub(crate) struct Urls {
    pub(crate) apns: String,
    pub(crate) fcm: String,
    pub(crate) fcm_token: String,
    /// An `Arc` because every WNS capture names its channel by this
    /// origin (see [`crate::capture::DeviceRef`]).
    pub(crate) wns: std::sync::Arc<str>,
    pub(crate) wns_token: String,
    /// The origin of the channel URIs the mock issues, which captures name
    /// them by: mock WNS's own, or in impersonation mode a host under
    /// `notify.windows.com` (an `Arc`, shared by every WNS capture).
    pub(crate) wns_channels: std::sync::Arc<str>,
    /// The URLs the backend contract names: these same origins, or in
    /// impersonation mode the services' real ones.
    pub(crate) backend: BackendUrls,
    /// The listener of the services' real hosts, in impersonation mode.
    pub(crate) impersonation: Option<std::net::SocketAddr>,
}

/// The URLs a backend is given.
pub(crate) struct BackendUrls {
    pub(crate) apns: String,
    pub(crate) fcm: String,
    pub(crate) fcm_token: String,
    pub(crate) wns_token: String,
}

pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    pub(crate) credentials: Credentials,
    pub(crate) urls: Urls,
    pub(crate) devices: Devices,
    pub(crate) captures: CaptureStore,
    pub(crate) faults: FaultTable,
    pub(crate) fcm_tokens: TokenStore,
    pub(crate) wns_tokens: TokenStore,
    /// APNs provider tokens verified (once per token per connection),
    /// since start or the last reset.
    pub(crate) apns_tokens_verified: AtomicU64,
    /// Built once: a `Validation` holds sets that are costly to rebuild.
    pub(crate) apns_validation: Validation,
    pub(crate) fcm_validation: Validation,
    /// The delivery feeds made over the control API.
    pub(crate) feeds: Feeds,
}

impl Shared {
    /// Builds the state; creates the capture file if one is configured.
    pub(crate) fn new(
        config: GatewayConfig,
        credentials: Credentials,
        urls: Urls,
    ) -> Result<Shared, MockError> {
        let file = config
            .capture_file
            .as_deref()
            .map(CaptureFile::create)
            .transpose()?;
        Ok(Shared {
            devices: Devices::new(config.inbox_capacity),
            captures: CaptureStore::new(config.capture_capacity, file),
            faults: FaultTable::default(),
            config,
            credentials,
            urls,
            fcm_tokens: TokenStore::default(),
            wns_tokens: TokenStore::default(),
            apns_tokens_verified: AtomicU64::new(0),
            // ES256 provider tokens carry only `iss` and `iat`.
            apns_validation: signature_only(Algorithm::ES256),
            // RS256 service-account assertions.
            fcm_validation: signature_only(Algorithm::RS256),
            feeds: Feeds::default(),
        })
    }

    /// Issues a fresh device handle on `platform`, with an empty inbox.
    pub(crate) fn register_device(&self, platform: Platform) -> DeviceHandle {
        let key = self.devices.register(platform);
        self.handle_of(platform, key)
    }

    /// Issues a fresh device handle whose pushes go to `feed`, tagged.
    pub(crate) fn register_feed_device(
        &self,
        platform: Platform,
        feed: &Feed,
        tag: u64,
    ) -> DeviceHandle {
        let key = self.devices.register_on_feed(platform, feed, tag);
        self.handle_of(platform, key)
    }

    fn handle_of(&self, platform: Platform, key: String) -> DeviceHandle {
        let handle = match platform {
            Platform::Apns | Platform::Fcm => key,
            Platform::Wns => wns_channel_uri(&self.urls.wns_channels, &key),
        };
        DeviceHandle { platform, handle }
    }

    /// The inbox of a device this gateway issued.
    pub(crate) fn inbox(&self, device: &DeviceHandle) -> Option<Inbox> {
        let key = device_key(device.platform, &device.handle)?;
        self.devices.lookup(device.platform, &key)
    }

    /// Forgets a device: later pushes to it are rejected as unknown.
    pub(crate) fn unregister_device(&self, device: &DeviceHandle) -> bool {
        device_key(device.platform, &device.handle)
            .is_some_and(|key| self.devices.unregister(device.platform, &key))
    }

    /// Clears captures (zeroing the counters), inboxes and fault rules;
    /// devices and access tokens stay valid, so a backend holding them can
    /// go on.
    pub(crate) fn reset(&self) {
        self.faults.clear();
        self.captures.reset();
        self.apns_tokens_verified.store(0, Ordering::Relaxed);
        self.devices.clear_inboxes();
        self.feeds.clear_all();
    }
}

impl Shared {
    /// The verdict counters of every gateway and the capture store's.
    pub(crate) fn counters(&self) -> Counters {
        let mut counters = self.captures.counters();
        counters.apns.tokens_issued = self.apns_tokens_verified.load(Ordering::Relaxed);
        counters
    }
}

impl BackendUrls {
    /// The services' own URLs, which the impersonation listener answers
    /// for through hosts entries.
    pub(crate) fn impersonated(apns: crate::config::ApnsEnvironment) -> BackendUrls {
        let apns = match apns {
            crate::config::ApnsEnvironment::Production => "https://api.push.apple.com",
            crate::config::ApnsEnvironment::Development => "https://api.sandbox.push.apple.com",
        };
        BackendUrls {
            apns: apns.to_owned(),
            fcm: "https://fcm.googleapis.com".to_owned(),
            fcm_token: "https://oauth2.googleapis.com/token".to_owned(),
            wns_token: "https://login.live.com/accesstoken.srf".to_owned(),
        }
    }
}

/// JWT validation of the signature and algorithm only: the claims are
/// checked by hand, to answer with each service's own reasons and in its
/// order (APNs ages a token by `iat`, Google checks `aud`, `scope`, `exp`).
fn signature_only(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation
}
