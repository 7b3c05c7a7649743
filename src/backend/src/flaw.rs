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
    /// `stall`: every 50th push ([`STALL_EVERY`]) waits 400 ms
    /// ([`STALL_FOR`]) before it leaves for its gateway; the send that
    /// caused it waits with it. Exists so that the dispatch benchmark shows
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
    pub const ALL: [Flaw; 6] = [
        Flaw::LeakPayload,
        Flaw::NoAuthz,
        Flaw::LogoutKeepsToken,
        Flaw::AnonymousFetch,
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
