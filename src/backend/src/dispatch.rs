//! Dispatch: store a message once, push its id to every registration of the
//! recipient, and clean up registrations the platforms report dead.
//!
//! The dispatch flaws live here too ([`Switches`]): `leak-payload` (the
//! message rides in the push), `stall` and `lose` (defects the dispatch
//! benchmark must expose).

use std::sync::Arc;

use tokio::task::JoinSet;

use super::auth::{random_id, Clock};
use super::flaw::{EveryNth, Flaw, LOSE_EVERY, STALL_EVERY, STALL_FOR};
use super::push::{Platform, Push, PushOutcome, Pushers};
use super::store::{Registration, Store, StoreError};

/// What a send did, as returned to the sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Outcome {
    /// Pushes a gateway accepted.
    pub pushed: usize,
    /// Pushes that failed (refused, timed out, dead device, platform off).
    pub failed: usize,
}

/// The dispatch flaws that are on. Off, each costs one test of a `bool`
/// or an `Option` per notification or push.
#[derive(Debug, Default)]
pub(crate) struct Switches {
    /// `leak-payload`.
    leak: bool,
    /// `stall`: counts pushes.
    stall: Option<EveryNth>,
    /// `lose`: counts notifications that have somewhere to go.
    lose: Option<EveryNth>,
}

impl Switches {
    pub(crate) fn new(flaws: &[Flaw]) -> Switches {
        Switches {
            leak: flaws.contains(&Flaw::LeakPayload),
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

#[derive(Clone)]
pub(crate) struct Dispatcher {
    store: Store,
    pushers: Arc<Pushers>,
    clock: Clock,
    flaws: Arc<Switches>,
}

impl Dispatcher {
    pub(crate) fn new(store: Store, pushers: Pushers, clock: Clock, flaws: Switches) -> Dispatcher {
        Dispatcher {
            store,
            pushers: Arc::new(pushers),
            clock,
            flaws: Arc::new(flaws),
        }
    }

    /// Stores `message` for `recipient` and pushes its id to the recipient's
    /// registrations (of `platform` only, if given), waiting for the pushes.
    /// An unknown recipient gets nothing stored and nothing pushed.
    pub(crate) async fn notify(
        &self,
        sender: &str,
        recipient: &str,
        platform: Option<Platform>,
        message: String,
    ) -> Result<Outcome, StoreError> {
        let id: Arc<str> = random_id().into();
        let message: Arc<str> = message.into();
        let leaked = self.flaws.leak.then(|| Arc::clone(&message));
        let targets = self
            .store
            .create_notification(
                Arc::clone(&id),
                recipient.into(),
                sender.to_owned(),
                message,
                platform,
                self.clock.now_ms(),
            )
            .await?;
        let targets = targets.unwrap_or_default();
        if !targets.is_empty() && self.flaws.lose.as_ref().is_some_and(EveryNth::hit) {
            // The `lose` flaw: stored, answered as pushed, never pushed.
            tracing::debug!(notification = %id, "lose flaw: not pushing");
            return Ok(Outcome {
                pushed: targets.len(),
                failed: 0,
            });
        }

        let mut outcome = Outcome::default();
        let mut died = 0;
        let mut gone = Vec::new();
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
                gone.push(registration.id);
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
            };
            self.flaws.before_push().await;
            let result = self.pushers.send(only.platform, push).await;
            tally(only.clone(), result);
        } else {
            let mut pushes = JoinSet::new();
            for registration in targets {
                let (pushers, id, leaked) =
                    (Arc::clone(&self.pushers), Arc::clone(&id), leaked.clone());
                let flaws = Arc::clone(&self.flaws);
                pushes.spawn(async move {
                    flaws.before_push().await;
                    let push = Push {
                        handle: &registration.handle,
                        id: &id,
                        leaked: leaked.as_deref(),
                    };
                    let result = pushers.send(registration.platform, push).await;
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
