//! The state the three gateways share: configuration, credentials, devices,
//! captures and issued access tokens. Built once per [`crate::Gateways`].

use jsonwebtoken::Validation;

use crate::capture::CaptureStore;
use crate::config::GatewayConfig;
use crate::credentials::Credentials;
use crate::devices::Devices;
use crate::oauth::TokenStore;

/// The gateways' public addresses.
pub(crate) struct Urls {
    pub(crate) apns: String,
    pub(crate) fcm: String,
    pub(crate) fcm_token: String,
    pub(crate) wns: String,
    pub(crate) wns_token: String,
}

pub(crate) struct Shared {
    pub(crate) config: GatewayConfig,
    pub(crate) credentials: Credentials,
    pub(crate) urls: Urls,
    pub(crate) devices: Devices,
    pub(crate) captures: CaptureStore,
    pub(crate) fcm_tokens: TokenStore,
    pub(crate) wns_tokens: TokenStore,
    /// Built once: a `Validation` holds sets that are costly to rebuild.
    pub(crate) apns_validation: Validation,
    pub(crate) fcm_validation: Validation,
}

impl Shared {
    pub(crate) fn new(config: GatewayConfig, credentials: Credentials, urls: Urls) -> Shared {
        Shared {
            devices: Devices::new(config.inbox_capacity),
            captures: CaptureStore::new(config.capture_capacity),
            config,
            credentials,
            urls,
            fcm_tokens: TokenStore::default(),
            wns_tokens: TokenStore::default(),
            apns_validation: crate::apns::provider_token_validation(),
            fcm_validation: crate::oauth::assertion_validation(),
        }
    }
}
