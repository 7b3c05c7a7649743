//! Hub mode: with `PUSHPROOF_NH_CONNECTION_STRING` set, the backend sends
//! through an Azure Notification Hub instead of calling APNs, FCM and WNS,
//! as the Notification Hubs tutorial's backend does. The HTTP API does
//! not change; behind it:
//!
//! - registering a device (`PUT /api/register/{id}`) creates or replaces
//!   the hub installation of its handle, tagged `username:<user>` (and
//!   the client's own tags); a handle the registration held before is
//!   deleted from the hub;
//! - deleting a registration, or logging out the session that made it,
//!   deletes its installation;
//! - a send stores the message as before and asks the hub, once per
//!   platform the recipient has devices on, to push the id to the tag
//!   `username:<recipient>`: the hub finds the devices.
//!
//! The backend's own registrations stay the truth for who owns which
//! handle; the hub holds only what routes pushes.

use std::sync::Arc;

use super::auth::Caller;
use super::config::{Config, HubConfig};
use super::dispatch::Outcome;
use super::push::flawed::Flawed;
use super::push::hub::Hub;
use super::push::{Platform, Push, PushError, PushOutcome, PUSH_TIMEOUT};
use super::store::{Registration, Store, StoreError};

/// The hub and the store whose registrations it mirrors.
pub(crate) struct HubMode {
    hub: Hub,
    store: Store,
}

impl HubMode {
    /// Hub mode, when the configuration names a hub.
    pub(crate) fn new(config: &Config, store: Store) -> Option<Arc<HubMode>> {
        let hub: &HubConfig = config.hub.as_ref()?;
        tracing::info!(
            hub = %hub.hub,
            origin = %hub.origin,
            key_name = %hub.key_name,
            "pushes go through the Notification Hub"
        );
        Some(Arc::new(HubMode {
            hub: Hub::new(hub, PUSH_TIMEOUT, &config.trust),
            store,
        }))
    }

    /// The handle registration `id` of `caller` holds now (before an
    /// update changes it); `None` if it holds none or is not theirs.
    pub(crate) async fn current_handle(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .registration_handle(id.to_owned(), caller.username.to_string())
            .await?
            .flatten())
    }

    /// A registration now holds `handle` (and no longer `previous`): its
    /// installation carries `tags`, and the one of `previous` is gone.
    pub(crate) async fn registered(
        &self,
        platform: Platform,
        handle: &str,
        tags: &[String],
        previous: Option<String>,
    ) -> Result<(), PushError> {
        if let Some(previous) = previous.filter(|p| p != handle) {
            self.hub.delete_installation(&previous).await?;
        }
        self.hub.put_installation(platform, handle, tags).await
    }

    /// Deletes the installation of `handle` from the hub.
    pub(crate) async fn unregistered(&self, handle: &str) -> Result<(), PushError> {
        self.hub.delete_installation(handle).await
    }

    /// The handles the session of `caller` registered, before it ends.
    pub(crate) async fn session_handles(&self, caller: &Caller) -> Result<Vec<String>, StoreError> {
        self.store.session_handles(caller.token_hash()).await
    }

    /// A session ended: its devices leave the hub. A device the hub would
    /// not let go is logged; the session ends all the same.
    pub(crate) async fn logged_out(&self, handles: Vec<String>) {
        for handle in handles {
            if let Err(error) = self.hub.delete_installation(&handle).await {
                tracing::warn!(%error, "could not delete a logged-out device's installation");
            }
        }
    }

    /// Pushes `id` to `recipient` through the hub: one send per platform
    /// among `targets` (the recipient's registrations), all at once.
    pub(crate) async fn push(
        &self,
        recipient: &str,
        targets: &[Registration],
        id: &str,
        leaked: Option<&Flawed>,
        ttl_s: Option<u64>,
    ) -> Outcome {
        let tag = format!("username:{}", crate::auth::tag_name(recipient));
        let push = Push {
            handle: "",
            id,
            leaked,
            ttl_s,
        };
        let send = |platform: Platform| {
            let wanted = targets.iter().any(|t| t.platform == platform);
            let tag = &tag;
            async move {
                if wanted {
                    Some(self.hub.send(platform, tag, push).await)
                } else {
                    None
                }
            }
        };
        let (apns, fcm, wns) = tokio::join!(
            send(Platform::Apns),
            send(Platform::Fcm),
            send(Platform::Wns)
        );
        let mut outcome = Outcome::default();
        for (platform, result) in [
            (Platform::Apns, apns),
            (Platform::Fcm, fcm),
            (Platform::Wns, wns),
        ] {
            match result {
                None => {}
                Some(PushOutcome::Delivered) => outcome.pushed += 1,
                Some(PushOutcome::Failed(error)) => {
                    tracing::warn!(%platform, %error, "the hub refused a send");
                    outcome.failed += 1;
                }
                Some(PushOutcome::Gone { status, reason }) => {
                    tracing::warn!(%platform, status, %reason, "the hub refused a send");
                    outcome.failed += 1;
                }
            }
        }
        outcome
    }
}
