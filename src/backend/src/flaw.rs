//! Deliberate flaws the reference backend can be started with, so that each
//! conformance check is shown to fail on the flaw it exists to catch.

use std::fmt;
use std::str::FromStr;

/// A deliberate flaw. Off by default; each one breaks exactly one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// `leak-payload`: the secret message travels in the push as well as the
    /// id (APNs `aps.alert.body`, FCM `data.message`, WNS raw body
    /// `id\nmessage`). Exists to make SP-LEAK-01 (no payload in push bodies)
    /// fail.
    LeakPayload,
    /// `no-authz`: `GET /api/notifications/{id}` returns the notification to
    /// any authenticated user, not only its recipient (a valid token is still
    /// required). Exists to make SP-AUTHZ-03 (object-level authorization)
    /// fail.
    NoAuthz,
    /// `logout-keeps-token`: `POST /api/logout` answers 204 and drops the
    /// registrations made with the token, but the token itself stays
    /// valid. Exists to make SP-TOK-02 (logout and revocation honoured)
    /// fail, and nothing else: a logged-out device still stops getting
    /// pushes.
    LogoutKeepsToken,
    /// `anonymous-fetch`: `GET /api/notifications/{id}` with no
    /// `Authorization` header at all returns the notification (a bad or
    /// another user's token is still refused). Exists to make SP-AUTHZ-01
    /// (fetching needs credentials) fail, and nothing else.
    AnonymousFetch,
}

impl Flaw {
    /// Every flaw, in a stable order.
    pub const ALL: [Flaw; 4] = [
        Flaw::LeakPayload,
        Flaw::NoAuthz,
        Flaw::LogoutKeepsToken,
        Flaw::AnonymousFetch,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Flaw::LeakPayload => "leak-payload",
            Flaw::NoAuthz => "no-authz",
            Flaw::LogoutKeepsToken => "logout-keeps-token",
            Flaw::AnonymousFetch => "anonymous-fetch",
        }
    }

    /// Every flaw's name, comma-separated, for messages.
    pub fn names() -> String {
        Flaws(&Flaw::ALL).to_string()
    }
}

/// A list of flaws as people read it: `leak-payload, no-authz`, or `none`.
#[derive(Debug, Clone, Copy)]
pub struct Flaws<'a>(pub &'a [Flaw]);

impl fmt::Display for Flaws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, flaw) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(flaw.name())?;
        }
        Ok(())
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flaw name that is not one of [`Flaw::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flaw {0:?} (known: {known})", known = Flaw::names())]
pub struct UnknownFlaw(pub String);

impl FromStr for Flaw {
    type Err = UnknownFlaw;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flaw::ALL
            .into_iter()
            .find(|flaw| flaw.name() == s)
            .ok_or_else(|| UnknownFlaw(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for flaw in Flaw::ALL {
            assert_eq!(flaw.to_string().parse::<Flaw>(), Ok(flaw));
        }
        assert_eq!("leak-payload".parse::<Flaw>(), Ok(Flaw::LeakPayload));
        assert_eq!("no-authz".parse::<Flaw>(), Ok(Flaw::NoAuthz));
        assert_eq!(
            Flaws(&[Flaw::LeakPayload, Flaw::NoAuthz]).to_string(),
            "leak-payload, no-authz"
        );
        assert_eq!(Flaws(&[]).to_string(), "none");
    }

    #[test]
    fn unknown_names_are_rejected() {
        assert_eq!(
            "Leak-Payload".parse::<Flaw>(),
            Err(UnknownFlaw("Leak-Payload".into()))
        );
        assert!("".parse::<Flaw>().is_err());
    }
}
