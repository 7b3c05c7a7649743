//! Push clients for APNs, FCM and WNS, behind one [`Pushers`] front, and
//! the Notification Hub client ([`hub`]) that replaces them in hub mode.
//!
//! Only the notification id travels (unless a push flaw is on: [`flawed`]).
//! Bodies are built with serde_json, never by concatenation, so a message
//! cannot inject keys. Every outcome is data: a failed push is counted and
//! logged, never an error out of the request that caused it.

mod apns;
mod fcm;
pub(crate) mod flawed;
mod h2pool;
mod http;
pub(crate) mod hub;
mod token;
mod wns;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::config::Config;

/// Deadline for each exchange with a gateway or token endpoint, so a stalled
/// gateway gives a failed push instead of a hung request.
pub(crate) const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// A push platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Platform {
    Apns,
    Fcm,
    Wns,
}

impl Platform {
    /// The stored name; `gcm` is stored as `fcm`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Platform::Apns => "apns",
            Platform::Fcm => "fcm",
            Platform::Wns => "wns",
        }
    }

    /// Whether `handle` can be a device address on this platform. APNs
    /// tokens go into the request path, so only hex is accepted; channel
    /// URIs must be absolute http(s) URLs.
    pub(crate) fn valid_handle(self, handle: &str) -> bool {
        if handle.is_empty() || handle.len() > 2048 || handle.chars().any(char::is_control) {
            return false;
        }
        match self {
            Platform::Apns => handle.len() <= 400 && handle.bytes().all(|b| b.is_ascii_hexdigit()),
            Platform::Fcm => handle.len() <= 4096,
            Platform::Wns => wns::channel_uri(handle).is_some(),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "apns" => Ok(Platform::Apns),
            "fcm" | "gcm" => Ok(Platform::Fcm),
            "wns" => Ok(Platform::Wns),
            _ => Err(()),
        }
    }
}

/// Why a push did not go through.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum PushError {
    #[error("{0} is not configured")]
    NotConfigured(Platform),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("transport: {0}")]
    Transport(String),
    #[error("gateway answered {status}: {reason}")]
    Rejected { status: u16, reason: String },
    #[error("auth: {0}")]
    Auth(String),
    #[error("unusable handle: {0}")]
    BadHandle(&'static str),
}

/// What became of one push.
#[derive(Debug, Clone)]
pub(crate) enum PushOutcome {
    /// The gateway accepted it.
    Delivered,
    /// The gateway says the device address is dead: delete the registration.
    Gone { status: u16, reason: String },
    /// Anything else.
    Failed(PushError),
}

/// One push to make.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Push<'a> {
    pub handle: &'a str,
    pub id: &'a str,
    /// What a push flaw makes it carry beyond the id (the name is the
    /// `leak-payload` flaw's, the first); `None` on the sound path.
    pub leaked: Option<&'a flawed::Flawed>,
    /// Seconds the gateway may hold the push for an offline device: the
    /// content's lifetime. `None` sets no expiry, so the gateway's default
    /// applies (APNs stores it, FCM keeps it four weeks): the
    /// `long-push-ttl` flaw.
    pub ttl_s: Option<u64>,
}

/// The configured push clients.
pub(crate) struct Pushers {
    apns: Option<apns::Apns>,
    fcm: Option<fcm::Fcm>,
    wns: Option<wns::Wns>,
}

impl Pushers {
    pub(crate) fn new(config: &Config) -> Pushers {
        Pushers {
            apns: config
                .apns
                .clone()
                .map(|c| apns::Apns::new(c, PUSH_TIMEOUT, &config.trust)),
            fcm: config
                .fcm
                .clone()
                .map(|c| fcm::Fcm::new(c, PUSH_TIMEOUT, &config.trust)),
            wns: config
                .wns
                .clone()
                .map(|c| wns::Wns::new(c, PUSH_TIMEOUT, &config.trust)),
        }
    }

    pub(crate) async fn send(&self, platform: Platform, push: Push<'_>) -> PushOutcome {
        let not_configured = PushOutcome::Failed(PushError::NotConfigured(platform));
        match platform {
            Platform::Apns => match &self.apns {
                Some(client) => client.send(push).await,
                None => not_configured,
            },
            Platform::Fcm => match &self.fcm {
                Some(client) => client.send(push).await,
                None => not_configured,
            },
            Platform::Wns => match &self.wns {
                Some(client) => client.send(push).await,
                None => not_configured,
            },
        }
    }
}

/// The body of `push` as `platform`'s client sends it.
pub(crate) fn body(platform: Platform, push: Push<'_>) -> bytes::Bytes {
    match platform {
        Platform::Apns => apns::body(push.id, push.leaked),
        Platform::Fcm => fcm::body(push.handle, push.id, push.leaked, push.ttl_s),
        Platform::Wns => wns::body(push.id, push.leaked.and_then(|f| f.wns_tail.as_deref())),
    }
}

/// The `reason` of an APNs-style `{"reason": …}` error body, or a short,
/// printable prefix of whatever came back.
pub(crate) fn reason_of(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Reason {
        reason: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Reason>(body) {
        return parsed.reason;
    }
    String::from_utf8_lossy(&body[..body.len().min(200)])
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse() {
        assert_eq!("apns".parse(), Ok(Platform::Apns));
        assert_eq!("gcm".parse(), Ok(Platform::Fcm));
        assert_eq!("FCM".parse(), Ok(Platform::Fcm));
        assert_eq!("wns".parse(), Ok(Platform::Wns));
        assert_eq!("mpns".parse::<Platform>(), Err(()));
    }

    #[test]
    fn handles_are_checked_per_platform() {
        assert!(Platform::Apns.valid_handle(&"ab".repeat(32)));
        assert!(!Platform::Apns.valid_handle("../../3/device/x"));
        assert!(!Platform::Apns.valid_handle(""));
        assert!(Platform::Fcm.valid_handle("fcm-token:abc"));
        assert!(!Platform::Fcm.valid_handle("a\nb"));
        assert!(Platform::Wns.valid_handle("https://dm3p.notify.windows.com/?token=abc"));
        assert!(!Platform::Wns.valid_handle("file:///etc/passwd"));
        assert!(!Platform::Wns.valid_handle("not a uri"));
    }

    #[test]
    fn reasons() {
        assert_eq!(
            reason_of(br#"{"reason":"BadDeviceToken"}"#),
            "BadDeviceToken"
        );
        assert_eq!(reason_of(b"oops\n"), "oops");
    }
}
