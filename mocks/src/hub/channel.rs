//! The push services the mock hub fans out to, as the hub names them in
//! each of its APIs: installation `platform`s (`apns`, `fcmv1`, `gcm`,
//! `wns`), `*RegistrationDescription` kinds (`Apple`, `FcmV1`, `Gcm`,
//! `Windows`) and `ServiceBusNotification-Format`s (`apple`, `fcmv1`,
//! `gcm`, `windows`, and `template` for all of them). FcmV1 and legacy Gcm
//! are separate platforms with separate registrations, as on the service
//! since the FCM v1 migration; both reach the mock FCM gateway.

use crate::platform::Platform;

use super::error::HubError;

/// A push service the hub delivers through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Channel {
    Apns,
    FcmV1,
    Gcm,
    Wns,
}

impl Channel {
    pub(crate) const ALL: [Channel; 4] =
        [Channel::Apns, Channel::FcmV1, Channel::Gcm, Channel::Wns];

    /// The mock gateway that delivers it.
    pub(crate) fn gateway(self) -> Platform {
        match self {
            Channel::Apns => Platform::Apns,
            Channel::FcmV1 | Channel::Gcm => Platform::Fcm,
            Channel::Wns => Platform::Wns,
        }
    }

    /// The installation `platform` value.
    pub(crate) fn installation_name(self) -> &'static str {
        match self {
            Channel::Apns => "apns",
            Channel::FcmV1 => "fcmv1",
            Channel::Gcm => "gcm",
            Channel::Wns => "wns",
        }
    }

    /// The installation platform, case-insensitively (the REST reference
    /// spells `FCMV1`, the JS SDK `fcmv1`, the .NET SDK `Apns`).
    pub(crate) fn from_installation(name: &str) -> Result<Channel, HubError> {
        if let Some(c) = Channel::ALL
            .into_iter()
            .find(|c| name.eq_ignore_ascii_case(c.installation_name()))
        {
            return Ok(c);
        }
        let known = ["adm", "baidu", "browser", "xiaomi", "mpns"];
        Err(HubError::bad_request(
            if known.iter().any(|k| name.eq_ignore_ascii_case(k)) {
                format!(
                    "Installation validation failed: the platform {name:?} is not served by this mock \
                     hub (apns, fcmv1, gcm and wns are)."
                )
            } else {
                format!("Installation validation failed: the platform {name:?} is not valid.")
            },
        ))
    }

    /// The `*RegistrationDescription` kind.
    pub(crate) fn registration_kind(self) -> &'static str {
        match self {
            Channel::Apns => "Apple",
            Channel::FcmV1 => "FcmV1",
            Channel::Gcm => "Gcm",
            Channel::Wns => "Windows",
        }
    }

    /// The element of a registration description that holds the handle.
    pub(crate) fn handle_element(self) -> &'static str {
        match self {
            Channel::Apns => "DeviceToken",
            Channel::FcmV1 => "FcmV1RegistrationId",
            Channel::Gcm => "GcmRegistrationId",
            Channel::Wns => "ChannelUri",
        }
    }

    /// The `ServiceBusNotification-Format` of its native notifications,
    /// also the `ApplicationPlatform` of a test send's results.
    pub(crate) fn format(self) -> &'static str {
        match self {
            Channel::Apns => "apple",
            Channel::FcmV1 => "fcmv1",
            Channel::Gcm => "gcm",
            Channel::Wns => "windows",
        }
    }

    /// A handle in the form the hub compares: APNs device tokens are hex,
    /// compared case-insensitively (the JS SDK even upper-cases them in
    /// its by-channel filter); the others exactly.
    pub(crate) fn handle_key(self, handle: &str) -> String {
        match self {
            Channel::Apns => handle.trim().to_ascii_lowercase(),
            _ => handle.trim().to_owned(),
        }
    }
}

/// What a send addresses: one platform's native registrations, or the
/// template registrations of every platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Native(Channel),
    Template,
}

impl Format {
    /// The `ServiceBusNotification-Format` header, case-insensitively.
    pub(crate) fn parse(value: &str) -> Result<Format, HubError> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("template") {
            return Ok(Format::Template);
        }
        if let Some(c) = Channel::ALL
            .into_iter()
            .find(|c| value.eq_ignore_ascii_case(c.format()))
        {
            return Ok(Format::Native(c));
        }
        let known = [
            "baidu",
            "adm",
            "browser",
            "xiaomi",
            "windowsphone",
            "nokiax",
        ];
        Err(HubError::bad_request(
            if known.iter().any(|k| value.eq_ignore_ascii_case(k)) {
                format!(
                    "The notification format {value:?} is not served by this mock hub (apple, \
                     fcmv1, gcm, windows and template are)."
                )
            } else {
                format!("The ServiceBusNotification-Format header value {value:?} is not valid.")
            },
        ))
    }

    /// The gateway a capture of this send is filed under.
    pub(crate) fn platform(self) -> Option<Platform> {
        match self {
            Format::Native(c) => Some(c.gateway()),
            Format::Template => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for c in Channel::ALL {
            assert_eq!(
                Channel::from_installation(&c.installation_name().to_uppercase()).unwrap(),
                c
            );
            assert_eq!(Format::parse(c.format()).unwrap(), Format::Native(c));
        }
        assert_eq!(Format::parse("Template").unwrap(), Format::Template);
        assert!(Format::parse("baidu")
            .unwrap_err()
            .detail
            .contains("not served"));
        assert!(Format::parse("nope").is_err());
        assert!(Channel::from_installation("browser").is_err());
    }
}
