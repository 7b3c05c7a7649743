//! The closed set of push platforms the mocks imitate, and how their names
//! are spelled on the command line, in profiles and in reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A push platform: Apple APNs, Firebase Cloud Messaging (HTTP v1) or
/// Windows Push Notification Services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Apple Push Notification service (HTTP/2 provider API).
    Apns,
    /// Firebase Cloud Messaging, HTTP v1 API.
    Fcm,
    /// Windows Push Notification Services.
    Wns,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 3] = [Platform::Apns, Platform::Fcm, Platform::Wns];

    /// The lowercase name used everywhere (`apns`, `fcm`, `wns`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Platform::Apns => "apns",
            Platform::Fcm => "fcm",
            Platform::Wns => "wns",
        }
    }

    /// A dense index (0..3), for per-platform tables.
    pub(crate) const fn index(self) -> usize {
        match self {
            Platform::Apns => 0,
            Platform::Fcm => 1,
            Platform::Wns => 2,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name that is none of apns, fcm (gcm) or wns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform {0:?} (expected apns, fcm or wns)")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    /// Case-insensitive; `gcm` is accepted as FCM because the Azure tutorial
    /// backends (and many of their descendants) still call it that.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("apns") {
            Ok(Platform::Apns)
        } else if s.eq_ignore_ascii_case("fcm") || s.eq_ignore_ascii_case("gcm") {
            Ok(Platform::Fcm)
        } else if s.eq_ignore_ascii_case("wns") {
            Ok(Platform::Wns)
        } else {
            Err(UnknownPlatform(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for p in Platform::ALL {
            assert_eq!(p.to_string().parse::<Platform>().unwrap(), p);
        }
    }

    #[test]
    fn gcm_is_an_alias_of_fcm() {
        assert_eq!("GCM".parse::<Platform>().unwrap(), Platform::Fcm);
        assert!("mpns".parse::<Platform>().is_err());
    }

    #[test]
    fn serde_uses_lowercase_names() {
        assert_eq!(serde_json::to_string(&Platform::Wns).unwrap(), "\"wns\"");
        let p: Platform = serde_json::from_str("\"apns\"").unwrap();
        assert_eq!(p, Platform::Apns);
    }
}
