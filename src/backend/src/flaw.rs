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
    /// `forbidden-oracle`: a fetch of someone else's notification answers
    /// 403, an unknown id 404, so a scanner learns which ids exist (the
    /// Rocket.Chat #42033 bug). Exists to make SP-ENUM-01 ("not yours" =
    /// "does not exist") fail.
    ForbiddenOracle,
    /// `timing-oracle`: answers someone else's notification with the same
    /// 404 as an unknown id, but only after a few milliseconds of extra
    /// work (a second lookup and a wait), so timing tells which ids exist.
    /// Exists to make SP-ENUM-02 (no timing oracle) fail.
    TimingOracle,
    /// `no-fetch-throttle`: failed fetches are never throttled, so a
    /// scanner may guess ids as fast as the backend answers. Exists to make
    /// SP-ENUM-03 (failed fetches throttled) warn.
    NoFetchThrottle,
    /// `fragile-ids`: the fetch handler percent-decodes the id itself and
    /// answers an escape that decodes to invalid UTF-8 or a NUL with a 500
    /// carrying the error and a backtrace. Exists to make SP-ENUM-04
    /// (robust id parsing) fail.
    FragileIds,
    /// `no-payload-ttl`: a notification's lifetime is stored (and its
    /// pushes carry it) but never enforced: expired content is still
    /// served and never swept. Exists to make SP-LIFE-01 (content
    /// expires) fail.
    NoPayloadTtl,
    /// `soft-delete`: `DELETE /api/notifications/{id}` answers 204 to the
    /// recipient but keeps the content, which is still served. Exists to
    /// make SP-LIFE-02 (deleted means gone) fail.
    SoftDelete,
    /// `any-ack`: `DELETE /api/notifications/{id}` deletes the
    /// notification whoever asks, so anyone who learns an id can make its
    /// content vanish before its recipient reads it. Exists to make
    /// SP-LIFE-03 (the until-ack replay policy holds) fail.
    AnyAck,
    /// `long-push-ttl`: pushes carry no expiry (no `apns-expiration`, no
    /// FCM `android.ttl`, WNS raw pushes cached without a TTL), so a
    /// gateway may hold an id for weeks after its content expired. Exists
    /// to make SP-LIFE-04 (a push lives no longer than its content) say
    /// INFO.
    LongPushTtl,
    /// `trust-client-tags`: a registration keeps whatever tags the client
    /// sends, `username:<someone else>` included (the tutorial's "add check
    /// if user is allowed to add these tags"), and sends go to every
    /// registration tagged `username:<recipient>`, so a device can
    /// subscribe to another user's pushes. Exists to make SP-REG-01 (no
    /// foreign tags) fail.
    TrustClientTags,
    /// `any-registration`: `PUT` and `DELETE /api/register/{id}` act on any
    /// registration, whoever owns it (the tutorial's bug), so an attacker
    /// can point a victim's registration at its own device, or delete it.
    /// Exists to make SP-REG-02 (registrations owned) fail.
    AnyRegistration,
    /// `tag-expression-injection`: `to_tag` is pasted after `username:` into
    /// a tag expression, as the tutorial does, so `bob || username:carol`
    /// also pushes to carol's devices. Exists to make SP-REG-03 (sends
    /// authorized, messages cannot shape the push) fail.
    TagExpressionInjection,
    /// `logout-keeps-registrations`: logout revokes the token but keeps the
    /// registrations made with it, so a logged-out device still gets its
    /// user's pushes. Exists to make SP-REG-04 (logout stops pushes) fail,
    /// and nothing else: the token is refused as it should be.
    LogoutKeepsRegistrations,
    /// `keeps-dead-handles`: a handle the gateway answered as gone (APNs
    /// 410 Unregistered, FCM 404 UNREGISTERED, WNS 404/410) keeps its
    /// registration and is pushed to again. Exists to make SP-OBS-04
    /// (gateway errors handled safely) fail.
    KeepsDeadHandles,
    /// `ignores-retry-after`: a push the gateway refused with 429 or 503
    /// is retried at once, up to three times, whatever its `Retry-After`
    /// says. Exists to make SP-OBS-04 fail.
    IgnoresRetryAfter,
    /// `richer-fallback`: a push the gateway refused with 400 is retried
    /// with the message in it. Exists to make SP-OBS-04 fail.
    RicherFallback,
}

impl Flaw {
    /// Every flaw, in a stable order.
    pub const ALL: [Flaw; 19] = [
        Flaw::LeakPayload,
        Flaw::NoAuthz,
        Flaw::LogoutKeepsToken,
        Flaw::AnonymousFetch,
        Flaw::ForbiddenOracle,
        Flaw::TimingOracle,
        Flaw::NoFetchThrottle,
        Flaw::FragileIds,
        Flaw::NoPayloadTtl,
        Flaw::SoftDelete,
        Flaw::AnyAck,
        Flaw::LongPushTtl,
        Flaw::TrustClientTags,
        Flaw::AnyRegistration,
        Flaw::TagExpressionInjection,
        Flaw::LogoutKeepsRegistrations,
        Flaw::KeepsDeadHandles,
        Flaw::IgnoresRetryAfter,
        Flaw::RicherFallback,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Flaw::LeakPayload => "leak-payload",
            Flaw::NoAuthz => "no-authz",
            Flaw::LogoutKeepsToken => "logout-keeps-token",
            Flaw::AnonymousFetch => "anonymous-fetch",
            Flaw::ForbiddenOracle => "forbidden-oracle",
            Flaw::TimingOracle => "timing-oracle",
            Flaw::NoFetchThrottle => "no-fetch-throttle",
            Flaw::FragileIds => "fragile-ids",
            Flaw::NoPayloadTtl => "no-payload-ttl",
            Flaw::SoftDelete => "soft-delete",
            Flaw::AnyAck => "any-ack",
            Flaw::LongPushTtl => "long-push-ttl",
            Flaw::TrustClientTags => "trust-client-tags",
            Flaw::AnyRegistration => "any-registration",
            Flaw::TagExpressionInjection => "tag-expression-injection",
            Flaw::LogoutKeepsRegistrations => "logout-keeps-registrations",
            Flaw::KeepsDeadHandles => "keeps-dead-handles",
            Flaw::IgnoresRetryAfter => "ignores-retry-after",
            Flaw::RicherFallback => "richer-fallback",
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
