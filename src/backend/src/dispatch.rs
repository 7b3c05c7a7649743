//! Dispatch: store a message once, push its id to every registration of the
//! recipient, and clean up registrations the platforms report dead.
//!
//! The dispatch flaws live here too: how pushes are sent
//! ([`DispatchFlaws`]) and `stall` and `lose` ([`Switches`], defects the
//! dispatch benchmark must expose).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::auth::Clock;
use super::flaw::{EveryNth, Flaw, LOSE_EVERY, STALL_EVERY, STALL_FOR};
use super::hub_mode::HubMode;
use super::ids::Ids;
use super::push::flawed::{Flawed, PushFlaws};
use super::push::{Platform, Push, PushError, PushOutcome, Pushers};
use super::store::{NewNotification, Registration, Routing, Store, StoreError};

/// What a send did, as returned to the sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Outcome {
    /// Pushes a gateway accepted.
    pub pushed: usize,
    /// Pushes that failed (refused, timed out, dead device, platform off).
    pub failed: usize,
}

/// The dispatch benchmark's flaws that are on. Off, each costs one test
/// of an `Option` per notification or push.
#[derive(Debug, Default)]
pub(crate) struct Switches {
    /// `stall`: counts pushes (in hub mode, sends to the hub).
    stall: Option<EveryNth>,
    /// `lose`: counts notifications that have somewhere to go.
    lose: Option<EveryNth>,
}

impl Switches {
    pub(crate) fn new(flaws: &[Flaw]) -> Switches {
        Switches {
            stall: flaws
                .contains(&Flaw::Stall)
                .then(|| EveryNth::new(STALL_EVERY)),
            lose: flaws
                .contains(&Flaw::Lose)
                .then(|| EveryNth::new(LOSE_EVERY)),
        }
    }

    /// The `stall` flaw: hold this push if it is a 50th.
    async fn before_push(&self) {
        if self.stall.as_ref().is_some_and(EveryNth::hit) {
            tokio::time::sleep(STALL_FOR).await;
        }
    }
}

/// The flaws of how pushes are sent (what they carry is
/// [`PushFlaws`]), read once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DispatchFlaws {
    /// `long-push-ttl`.
    pub no_push_expiry: bool,
    /// `keeps-dead-handles`.
    pub keep_dead: bool,
    /// `ignores-retry-after`.
    pub retry_at_once: bool,
    /// `richer-fallback`.
    pub richer_fallback: bool,
}

/// The flawed paths around one push, none of them taken by a sound
/// backend (`DispatchFlaws::careless` is false for it).
impl DispatchFlaws {
    fn careless(self) -> bool {
        self.retry_at_once || self.richer_fallback
    }
}

/// Pushes once; under the flaws, retries what the gateway refused as the
/// flaw says: at once after a 429 or 503 (`ignores-retry-after`), or with
/// the message in the push after a 400 (`richer-fallback`).
async fn push_carelessly(
    pushers: &Pushers,
    flaws: DispatchFlaws,
    platform: Platform,
    push: Push<'_>,
    richer: &Flawed,
) -> PushOutcome {
    let mut outcome = pushers.send(platform, push).await;
    let refused = |o: &PushOutcome| match o {
        PushOutcome::Failed(PushError::Rejected { status, .. }) => Some(*status),
        _ => None,
    };
    if flaws.retry_at_once {
        for _ in 0..3 {
            if !matches!(refused(&outcome), Some(429 | 503)) {
                break;
            }
            outcome = pushers.send(platform, push).await;
        }
    }
    if flaws.richer_fallback && refused(&outcome) == Some(400) {
        let richer = Push {
            leaked: Some(richer),
            ..push
        };
        outcome = pushers.send(platform, richer).await;
    }
    outcome
}

impl DispatchFlaws {
    pub(crate) fn of(flaws: &[Flaw]) -> DispatchFlaws {
        DispatchFlaws {
            no_push_expiry: flaws.contains(&Flaw::LongPushTtl),
            keep_dead: flaws.contains(&Flaw::KeepsDeadHandles),
            retry_at_once: flaws.contains(&Flaw::IgnoresRetryAfter),
            richer_fallback: flaws.contains(&Flaw::RicherFallback),
        }
    }
}

/// A send as the API hands it over.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub sender: String,
    pub recipient: String,
    pub platform: Option<Platform>,
    pub message: String,
    /// How long the content stays fetchable.
    pub ttl: Duration,
    pub routing: Routing,
}

#[derive(Clone)]
pub(crate) struct Dispatcher {
    store: Store,
    pushers: Arc<Pushers>,
    clock: Clock,
    /// The flaws that change what a push carries (`None`: sound).
    push_flaws: Option<Arc<PushFlaws>>,
    /// How notification ids are made (random unless an id flaw is on).
    ids: Arc<Ids>,
    flaws: DispatchFlaws,
    /// `stall` and `lose`, counted across every send.
    switches: Arc<Switches>,
    /// Hub mode: pushes go through the Notification Hub.
    hub: Option<Arc<HubMode>>,
}

impl Dispatcher {
    pub(crate) fn new(
        store: Store,
        pushers: Pushers,
        clock: Clock,
        push_flaws: Option<PushFlaws>,
        ids: Ids,
        flaws: DispatchFlaws,
        switches: Switches,
    ) -> Dispatcher {
        Dispatcher {
            store,
            pushers: Arc::new(pushers),
            clock,
            push_flaws: push_flaws.map(Arc::new),
            ids: Arc::new(ids),
            flaws,
            switches: Arc::new(switches),
            hub: None,
        }
    }

    /// The same dispatcher, pushing through the hub when there is one.
    pub(crate) fn with_hub(mut self, hub: Option<Arc<HubMode>>) -> Dispatcher {
        self.hub = hub;
        self
    }

    /// Whether a push flaw needs the sender's bearer token.
    pub(crate) fn wants_token(&self) -> bool {
        self.push_flaws.as_ref().is_some_and(|f| f.wants_token())
    }

    /// How ids are made, for the API's delete (the `reused-ids` flaw).
    pub(crate) fn ids(&self) -> &Ids {
        &self.ids
    }

    /// Stores the message for the recipient and pushes its id to the
    /// recipient's registrations (of the send's platform only, if given),
    /// waiting for the pushes. An unknown recipient gets nothing stored and
    /// nothing pushed. Each push expires with the content: a gateway that
    /// cannot deliver at once holds the id no longer than it can be
    /// fetched. `token` is the sender's, read only under the `leak-token`
    /// flaw.
    pub(crate) async fn notify(
        &self,
        send: Outgoing,
        token: Option<&str>,
    ) -> Result<Outcome, StoreError> {
        let Outgoing {
            sender,
            recipient,
            platform,
            message,
            ttl,
            routing,
        } = send;
        let id: Arc<str> = self.ids.next(&message).into();
        let leaked: Option<Arc<Flawed>> = self
            .push_flaws
            .as_deref()
            .map(|flaws| Arc::new(Flawed::new(flaws, &sender, &message, token)));
        // Kept only for the flaws that retry: the push a `leak-payload`
        // backend would send.
        let fallback: Option<Arc<Flawed>> = self.flaws.careless().then(|| {
            Arc::new(Flawed::new(
                &PushFlaws::payload_only(),
                &sender,
                &message,
                None,
            ))
        });
        let now = self.clock.now_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let ttl_s = (!self.flaws.no_push_expiry).then_some(ttl.as_secs());
        // Hub mode pushes to the recipient's tag.
        let tag_of = self.hub.is_some().then(|| recipient.clone());
        let targets = self
            .store
            .create_notification(
                NewNotification {
                    id: Arc::clone(&id),
                    recipient: recipient.into(),
                    sender,
                    payload: message.into(),
                    platform,
                    created_at_ms: now,
                    expires_at_ms: now.saturating_add(ttl_ms),
                },
                routing,
            )
            .await?;
        let targets = targets.unwrap_or_default();
        if !targets.is_empty() && self.switches.lose.as_ref().is_some_and(EveryNth::hit) {
            // The `lose` flaw: stored, answered as pushed, never pushed.
            tracing::debug!(notification = %id, "lose flaw: not pushing");
            return Ok(Outcome {
                pushed: targets.len(),
                failed: 0,
            });
        }
        if let (Some(hub), Some(recipient)) = (&self.hub, tag_of) {
            // The hub makes the pushes; what this backend can hold is its
            // send to the hub.
            self.switches.before_push().await;
            return Ok(hub
                .push(&recipient, &targets, &id, leaked.as_deref(), ttl_s)
                .await);
        }

        let mut outcome = Outcome::default();
        let mut died = 0;
        let mut gone = Vec::new();
        let keep_dead = self.flaws.keep_dead;
        let mut tally = |registration: Registration, result: PushOutcome| match result {
            PushOutcome::Delivered => outcome.pushed += 1,
            PushOutcome::Gone { status, reason } => {
                tracing::info!(
                    registration = %registration.id,
                    platform = %registration.platform,
                    status,
                    reason = %reason,
                    "device address is dead; removing the registration"
                );
                outcome.failed += 1;
                if !keep_dead {
                    gone.push(registration.id);
                }
            }
            PushOutcome::Failed(error) => {
                tracing::warn!(
                    registration = %registration.id,
                    platform = %registration.platform,
                    error = %error,
                    "push failed"
                );
                outcome.failed += 1;
            }
        };

        if let [only] = targets.as_slice() {
            // The common case: no task to spawn.
            let push = Push {
                handle: &only.handle,
                id: &id,
                leaked: leaked.as_deref(),
                ttl_s,
            };
            self.switches.before_push().await;
            let result = match &fallback {
                None => self.pushers.send(only.platform, push).await,
                Some(richer) => {
                    push_carelessly(&self.pushers, self.flaws, only.platform, push, richer).await
                }
            };
            tally(only.clone(), result);
        } else {
            let mut pushes = JoinSet::new();
            for registration in targets {
                let (pushers, id, leaked) =
                    (Arc::clone(&self.pushers), Arc::clone(&id), leaked.clone());
                let (fallback, flaws) = (fallback.clone(), self.flaws);
                let switches = Arc::clone(&self.switches);
                pushes.spawn(async move {
                    switches.before_push().await;
                    let push = Push {
                        handle: &registration.handle,
                        id: &id,
                        leaked: leaked.as_deref(),
                        ttl_s,
                    };
                    let platform = registration.platform;
                    let result = match &fallback {
                        None => pushers.send(platform, push).await,
                        Some(richer) => {
                            push_carelessly(&pushers, flaws, platform, push, richer).await
                        }
                    };
                    (registration, result)
                });
            }
            while let Some(joined) = pushes.join_next().await {
                match joined {
                    Ok((registration, result)) => tally(registration, result),
                    Err(error) => {
                        tracing::error!(%error, "push task died");
                        died += 1;
                    }
                }
            }
        }

        outcome.failed += died;
        if !gone.is_empty() {
            // The pushes are done either way; a failed cleanup is retried
            // the next time that device gets a push.
            if let Err(error) = self.store.delete_registrations(gone).await {
                tracing::warn!(%error, "could not remove dead registrations");
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests;
