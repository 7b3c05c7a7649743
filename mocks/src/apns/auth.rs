//! APNs provider-token (JWT) authentication, per connection: each token's
//! signature is verified once, the first team seen binds the connection,
//! tokens older than an hour are expired, and a connection may switch to a
//! new token at most once every 20 minutes.

use std::sync::{Arc, Mutex};

use http::header::AUTHORIZATION;
use http::HeaderMap;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::Reason;
use crate::reply::{bearer_token, deserialize_numeric_date};
use crate::state::Shared;

/// Provider tokens older than this are expired.
const TOKEN_LIFETIME_SECS: i64 = 3600;
/// APNs lets a connection take a new provider token no sooner than this
/// after the current token's `iat`; faster is `TooManyProviderTokenUpdates`.
const MIN_REFRESH_SECS: i64 = 20 * 60;
/// Distinct provider tokens remembered per connection.
const AUTH_CACHE_SIZE: usize = 4;

/// JWT claims of an APNs provider token. `iat` is a NumericDate: a JSON
/// number, fractions included, as clients that sign `time.time()` send it
/// (PyAPNs2, pyapns-client) and APNs accepts.
#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    #[serde(deserialize_with = "deserialize_numeric_date")]
    iat: i64,
}

/// What a verified token says: its team and when it was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Verified {
    team: Arc<str>,
    iat: i64,
}

/// The provider-token state of one connection.
#[derive(Default)]
pub(super) struct ConnectionAuth {
    state: Mutex<AuthState>,
}

#[derive(Default)]
struct AuthState {
    /// Verdicts of the tokens seen, so a signature is checked once, not
    /// per push.
    cache: Vec<(Box<str>, Result<Verified, Reason>)>,
    next_slot: usize,
    /// The team the connection is bound to: the first one accepted.
    team: Option<Arc<str>>,
    /// The token the connection currently uses, with its `iat`.
    current: Option<(Box<str>, i64)>,
}

impl ConnectionAuth {
    /// Checks the provider token of one push at `now` (Unix seconds).
    /// `verify` checks the signature, and runs once per distinct token.
    pub(super) fn check(
        &self,
        token: &str,
        now: i64,
        verify: impl FnOnce() -> Result<Verified, Reason>,
    ) -> Result<(), Reason> {
        let cached = {
            let state = self.lock();
            // The hot path: the connection's current token.
            if let Some((current, iat)) = &state.current {
                if **current == *token {
                    return unexpired(*iat, now);
                }
            }
            state
                .cache
                .iter()
                .find(|(t, _)| **t == *token)
                .map(|(_, verdict)| verdict.clone())
        };
        let verdict = match cached {
            Some(verdict) => verdict,
            None => {
                // Verify outside the lock: concurrent streams may race to
                // verify the same new token, which is harmless.
                let verdict = verify();
                self.lock().remember(token, verdict.clone());
                verdict
            }
        };
        let verified = verdict?;
        let mut state = self.lock();
        if state
            .team
            .as_ref()
            .is_some_and(|team| *team != verified.team)
        {
            // One team per connection; the first accepted binds it.
            return Err(Reason::InvalidProviderToken);
        }
        unexpired(verified.iat, now)?;
        match &state.current {
            // Another stream switched to this token meanwhile.
            Some((current, _)) if **current == *token => return Ok(()),
            Some((_, previous_iat)) if now.saturating_sub(*previous_iat) < MIN_REFRESH_SECS => {
                // The new token is refused; the current one stays usable.
                return Err(Reason::TooManyProviderTokenUpdates);
            }
            _ => {}
        }
        state.team.get_or_insert(verified.team);
        state.current = Some((token.into(), verified.iat));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AuthState {
    fn remember(&mut self, token: &str, verdict: Result<Verified, Reason>) {
        if self.cache.len() < AUTH_CACHE_SIZE {
            self.cache.push((token.into(), verdict));
        } else {
            let slot = self.next_slot;
            self.cache[slot] = (token.into(), verdict);
            self.next_slot = (slot + 1) % AUTH_CACHE_SIZE;
        }
    }
}

fn unexpired(iat: i64, now: i64) -> Result<(), Reason> {
    if now.saturating_sub(iat) > TOKEN_LIFETIME_SECS {
        return Err(Reason::ExpiredProviderToken);
    }
    Ok(())
}

/// Authenticates a push by its `authorization: bearer <JWT>` header.
pub(super) fn authorize(
    shared: &Shared,
    auth: &ConnectionAuth,
    headers: &HeaderMap,
    now: i64,
) -> Result<(), Reason> {
    let value = headers
        .get(AUTHORIZATION)
        .filter(|v| !v.is_empty())
        .ok_or(Reason::MissingProviderToken)?;
    let token = bearer_token(value).ok_or(Reason::InvalidProviderToken)?;
    auth.check(token, now, || verify_provider_token(shared, token))
}

/// Verifies a provider token's header, signature and team.
fn verify_provider_token(shared: &Shared, token: &str) -> Result<Verified, Reason> {
    shared
        .apns_tokens_verified
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let header = jsonwebtoken::decode_header(token).map_err(|_| Reason::InvalidProviderToken)?;
    if header.alg != Algorithm::ES256
        || header.kid.as_deref() != Some(shared.config.apns_key_id.as_str())
    {
        return Err(Reason::InvalidProviderToken);
    }
    let data = jsonwebtoken::decode::<ProviderClaims>(
        token,
        &shared.credentials.apns.verifying,
        &shared.apns_validation,
    )
    .map_err(|_| Reason::InvalidProviderToken)?;
    let config = &shared.config;
    let iss = data.claims.iss;
    if iss != config.apns_team_id && !config.apns_extra_team_ids.contains(&iss) {
        return Err(Reason::InvalidProviderToken);
    }
    Ok(Verified {
        team: iss.into(),
        iat: data.claims.iat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(team: &str, iat: i64) -> Result<Verified, Reason> {
        Ok(Verified {
            team: team.into(),
            iat,
        })
    }

    #[test]
    fn verifies_each_token_once() {
        let auth = ConnectionAuth::default();
        let mut calls = 0;
        for _ in 0..3 {
            let verdict = auth.check("t1", 100, || {
                calls += 1;
                verified("TEAM", 100)
            });
            assert_eq!(verdict, Ok(()));
        }
        assert_eq!(calls, 1);
        for t in ["a", "b", "c", "d", "e"] {
            assert_eq!(
                auth.check(t, 100, || Err(Reason::InvalidProviderToken)),
                Err(Reason::InvalidProviderToken)
            );
        }
    }

    #[test]
    fn refresh_is_allowed_20_minutes_after_the_current_iat() {
        let auth = ConnectionAuth::default();
        let t0 = 1_000_000;
        assert_eq!(auth.check("old", t0, || verified("T", t0)), Ok(()));
        let early = t0 + MIN_REFRESH_SECS - 1;
        assert_eq!(
            auth.check("new", early, || verified("T", early)),
            Err(Reason::TooManyProviderTokenUpdates)
        );
        // The current token keeps working; the refused one works later.
        assert_eq!(auth.check("old", early, || unreachable!()), Ok(()));
        let later = t0 + MIN_REFRESH_SECS;
        assert_eq!(auth.check("new", later, || unreachable!()), Ok(()));
    }

    #[test]
    fn the_first_team_binds_the_connection() {
        let auth = ConnectionAuth::default();
        assert_eq!(auth.check("a", 0, || verified("A", -2000)), Ok(()));
        assert_eq!(
            auth.check("b", 0, || verified("B", 0)),
            Err(Reason::InvalidProviderToken)
        );
    }
}
