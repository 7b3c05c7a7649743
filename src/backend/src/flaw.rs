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
    /// `token-prefix-match`: only the first 16 characters of a bearer token
    /// identify its session (as when a token column is too narrow), so a
    /// token changed after them is still accepted. Exists to make
    /// SP-AUTHZ-02 (bad tokens rejected) fail.
    TokenPrefixMatch,
    /// `bola-case-variant`: a notification id in another letter case skips
    /// the recipient check (the ownership lookup matches the id exactly and
    /// finds no owner to refuse, while the content lookup ignores case).
    /// The canonical id is still checked, so SP-AUTHZ-03 passes; exists to
    /// make SP-AUTHZ-04 (BOLA variants) fail.
    BolaCaseVariant,
    /// `cross-tenant-fetch`: the recipient check compares user names without
    /// their tenant, so a user of another tenant with the same name reads
    /// the notification. Exists to make SP-AUTHZ-05 (tenant scope) fail.
    CrossTenantFetch,
    /// `cached-authz`: a successful fetch is remembered per token and id and
    /// served again from that memory without asking whether the token is
    /// still valid, so a session logged out after reading a notification
    /// can read it again. Exists to make SP-AUTHZ-06 (loss of access applies
    /// now) fail.
    CachedAuthz,
    /// `verbose-fetch`: the fetch answer also carries the sender's account
    /// record (`Sender`). Exists to make SP-AUTHZ-07 (minimal response)
    /// fail.
    VerboseFetch,
    /// `ignore-expiry`: tokens are accepted after they expire. Exists to
    /// make SP-TOK-01 (expiry enforced) fail.
    IgnoreExpiry,
    /// `disabled-still-valid`: disabling an account refuses new logins and
    /// drops its registrations, but the tokens issued before stay valid.
    /// Exists to make SP-TOK-03 (disabled account) fail.
    DisabledStillValid,
    /// `token-in-query`: a request without an `Authorization` header may
    /// carry its token as `?access_token=`. Exists to make SP-TOK-04 (no
    /// tokens in URLs) fail.
    TokenInQuery,
    /// `refresh-as-access`: a refresh token is also accepted where an
    /// access token is due. Exists to make SP-TOK-05 (right token type)
    /// fail.
    RefreshAsAccess,
    /// `cacheable-fetch`: the fetch answer says `Cache-Control: private,
    /// max-age=300` instead of `no-store`. Exists to make SP-HTTP-01 (fetch
    /// not cached, a SHOULD: WARN) warn.
    CacheableFetch,
    /// `insecure-gateway-tls`: the push clients accept any certificate from
    /// an `https://` gateway, from any CA and for any name. Exists to make
    /// SP-HTTP-03 (the backend validates gateway certificates, judged with
    /// `--tls`) fail.
    InsecureGatewayTls,
    /// `no-charset`: every answer's `Content-Type` is `application/json`
    /// without its charset. Exists to make SP-HTTP-04 (Content-Type with
    /// charset) fail.
    NoCharset,
}

impl Flaw {
    /// Every flaw, in a stable order.
    pub const ALL: [Flaw; 16] = [
        Flaw::LeakPayload,
        Flaw::NoAuthz,
        Flaw::LogoutKeepsToken,
        Flaw::AnonymousFetch,
        Flaw::TokenPrefixMatch,
        Flaw::BolaCaseVariant,
        Flaw::CrossTenantFetch,
        Flaw::CachedAuthz,
        Flaw::VerboseFetch,
        Flaw::IgnoreExpiry,
        Flaw::DisabledStillValid,
        Flaw::TokenInQuery,
        Flaw::RefreshAsAccess,
        Flaw::CacheableFetch,
        Flaw::InsecureGatewayTls,
        Flaw::NoCharset,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Flaw::LeakPayload => "leak-payload",
            Flaw::NoAuthz => "no-authz",
            Flaw::LogoutKeepsToken => "logout-keeps-token",
            Flaw::AnonymousFetch => "anonymous-fetch",
            Flaw::TokenPrefixMatch => "token-prefix-match",
            Flaw::BolaCaseVariant => "bola-case-variant",
            Flaw::CrossTenantFetch => "cross-tenant-fetch",
            Flaw::CachedAuthz => "cached-authz",
            Flaw::VerboseFetch => "verbose-fetch",
            Flaw::IgnoreExpiry => "ignore-expiry",
            Flaw::DisabledStillValid => "disabled-still-valid",
            Flaw::TokenInQuery => "token-in-query",
            Flaw::RefreshAsAccess => "refresh-as-access",
            Flaw::CacheableFetch => "cacheable-fetch",
            Flaw::InsecureGatewayTls => "insecure-gateway-tls",
            Flaw::NoCharset => "no-charset",
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
