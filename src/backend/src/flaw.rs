//! Deliberate flaws the reference backend can be started with, so that each
//! conformance check is shown to fail on the flaw it exists to catch, and
//! each defect the dispatch benchmark must expose is shown to show.
//!
//! A flaw is a switch read once at start; the sound path pays at most a
//! test of a `bool` or an `Option` for it, never a lock or a counter.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A deliberate flaw. Off by default; each one breaks one property (and
/// says which others notice it).
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
    /// `leak-collapse-id`: APNs pushes carry the message's first 64 bytes
    /// as `apns-collapse-id`. Exists to make SP-LEAK-02 (no payload in push
    /// metadata) fail.
    LeakCollapseId,
    /// `leak-encoded`: APNs and FCM pushes carry the message gzipped and
    /// base64url'd in a `blob` key. Exists to make SP-LEAK-03 (no encoded,
    /// compressed or hashed payload) fail; SP-LEAK-07 warns of the key.
    LeakEncoded,
    /// `leak-preview`: APNs and FCM pushes carry a "redacted" preview in a
    /// `preview` key: the message's first 40 characters once every word
    /// with a digit or longer than 12 characters is masked, so no canary
    /// survives but names and places do. Exists to make SP-LEAK-04 (no
    /// partial leak) fail; SP-LEAK-07 warns of the key.
    LeakPreview,
    /// `size-tracks-payload`: APNs and FCM pushes carry the message (its
    /// first 2 KB) "encrypted" under a fixed keystream in a `sealed` key: it
    /// changes with the content and is as long as the message. Exists to make
    /// SP-LEAK-05 (push independent of payload) fail; SP-LEAK-07 warns of
    /// the key.
    SizeTracksPayload,
    /// `visible-alert`: FCM messages carry a `notification` block ("New
    /// message", "<sender> sent you a message"), so they are no longer
    /// data-only. Exists to make SP-LEAK-06 (pattern-shaped push) warn;
    /// SP-LEAK-07 warns of the keys.
    VisibleAlert,
    /// `extra-push-keys`: APNs and FCM pushes carry the sender's user name
    /// in a `sender` key. Exists to make SP-LEAK-07 (only declared keys)
    /// warn, and nothing else.
    ExtraPushKeys,
    /// `thread-by-sender`: pushes are grouped by the sender's user name
    /// (APNs `aps.thread-id`, FCM `android.collapse_key`). Exists to make
    /// SP-LEAK-08 (grouping fields not sensitive) fail; SP-LEAK-07 warns of
    /// the keys.
    ThreadBySender,
    /// `leak-token`: APNs and FCM pushes carry the sender's bearer token in
    /// an `auth` key. Exists to make SP-LEAK-09 (no credentials in pushes)
    /// fail; SP-LEAK-07 warns of the key.
    LeakToken,
    /// `sequential-ids`: notification ids are a counter (32 hex digits,
    /// started from the time in microseconds). Exists to make SP-ID-01
    /// (unguessable ids) fail.
    SequentialIds,
    /// `reused-ids`: the id of a deleted notification is handed to the next
    /// notification, whoever it is for. Exists to make SP-ID-02 (ids unique,
    /// never reused) fail.
    ReusedIds,
    /// `content-ids`: a notification id starts with the first 64 bits of
    /// the message's SHA-256. Exists to make SP-ID-03 (id not derived from
    /// content) fail; SP-LEAK-03 finds the hash too.
    ContentIds,
    /// `echo-in-errors`: every error answer echoes the request's method and
    /// target (path and query) in a `request` field, as debug error pages
    /// do. Exists to make SP-OBS-02 (no payload in errors) fail.
    EchoInErrors,
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
    /// `stall`: every 50th push ([`STALL_EVERY`]) waits 400 ms
    /// ([`STALL_FOR`]) before it leaves for its gateway (in hub mode, every
    /// 50th send to the hub); the send that caused it waits with it. Exists so that the dispatch benchmark shows
    /// it in its p99 (an open-model driver sees the stall as latency; a
    /// closed loop would hide it as lower throughput).
    Stall,
    /// `lose`: every 100th notification ([`LOSE_EVERY`]) that has somewhere
    /// to go is stored and acknowledged to the sender as pushed, but never
    /// pushed. Exists so that the dispatch benchmark's reconciliation shows
    /// 1% lost.
    Lose,
}

/// The `stall` flaw holds every this-many-th push...
pub const STALL_EVERY: u64 = 50;
/// ...for this long.
pub const STALL_FOR: Duration = Duration::from_millis(400);
/// The `lose` flaw drops every this-many-th notification.
pub const LOSE_EVERY: u64 = 100;

impl Flaw {
    /// Every flaw, in a stable order.
    pub const ALL: [Flaw; 45] = [
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
        Flaw::LeakCollapseId,
        Flaw::LeakEncoded,
        Flaw::LeakPreview,
        Flaw::SizeTracksPayload,
        Flaw::VisibleAlert,
        Flaw::ExtraPushKeys,
        Flaw::ThreadBySender,
        Flaw::LeakToken,
        Flaw::SequentialIds,
        Flaw::ReusedIds,
        Flaw::ContentIds,
        Flaw::EchoInErrors,
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
        Flaw::Stall,
        Flaw::Lose,
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
            Flaw::LeakCollapseId => "leak-collapse-id",
            Flaw::LeakEncoded => "leak-encoded",
            Flaw::LeakPreview => "leak-preview",
            Flaw::SizeTracksPayload => "size-tracks-payload",
            Flaw::VisibleAlert => "visible-alert",
            Flaw::ExtraPushKeys => "extra-push-keys",
            Flaw::ThreadBySender => "thread-by-sender",
            Flaw::LeakToken => "leak-token",
            Flaw::SequentialIds => "sequential-ids",
            Flaw::ReusedIds => "reused-ids",
            Flaw::ContentIds => "content-ids",
            Flaw::EchoInErrors => "echo-in-errors",
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
            Flaw::Stall => "stall",
            Flaw::Lose => "lose",
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

/// Counts events, and picks every `n`th: the `n`th, the `2n`th, and so on,
/// whichever request they come from. Shared by every request, lock-free.
#[derive(Debug)]
pub(crate) struct EveryNth {
    n: u64,
    seen: AtomicU64,
}

impl EveryNth {
    pub(crate) fn new(n: u64) -> EveryNth {
        EveryNth {
            n: n.max(1),
            seen: AtomicU64::new(0),
        }
    }

    /// Counts one event; `true` if it is an `n`th.
    pub(crate) fn hit(&self) -> bool {
        // Relaxed: only the count matters, and fetch_add never loses one.
        (self.seen.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(self.n)
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

    #[test]
    fn every_nth_picks_exactly_the_nth_events() {
        let every = EveryNth::new(STALL_EVERY);
        let hits: Vec<u64> = (1..=200).filter(|_| every.hit()).collect();
        assert_eq!(
            hits,
            (1..=200u64)
                .filter(|i| i.is_multiple_of(50))
                .collect::<Vec<_>>()
        );
        assert_eq!(hits, [50, 100, 150, 200]);
    }

    #[test]
    fn every_nth_counts_every_event_from_many_threads() {
        let every = std::sync::Arc::new(EveryNth::new(LOSE_EVERY));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let every = std::sync::Arc::clone(&every);
                std::thread::spawn(move || (0..2_500).filter(|_| every.hit()).count())
            })
            .collect();
        let hits: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(hits, 8 * 2_500 / 100);
    }
}
