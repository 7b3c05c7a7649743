//! One simulated device: an app install with a user, a push handle from its
//! gateway and its own session with the backend; and one secret's journey
//! to it (send, push, fetch, verify), timed at each stage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pushproof_mocks::{Delivery, DeviceHandle, Platform};
use serde::Serialize;

use super::api::{Api, StepError};
use crate::client::{Credential, Exchange};
use crate::plane::{DeviceInbox, MockPlane, PlaneError};
use crate::profile::Values;

/// After a failed send, how long a device still waits for a push: a backend
/// may have pushed before failing, but a full timeout per failure would make
/// a broken backend's run crawl.
const GRACE_AFTER_FAILED_SEND: Duration = Duration::from_millis(500);

/// What a device needs to reach the world; cheap to clone into tasks.
#[derive(Clone)]
pub struct Context {
    pub api: Api,
    pub plane: MockPlane,
    /// How long a device waits for a push.
    pub push_timeout: Duration,
}

/// An enrolled device.
#[derive(Debug, Clone)]
pub struct Device {
    pub index: usize,
    /// `device-<index>`, as reports name it.
    pub name: String,
    pub user: String,
    pub password: String,
    pub platform: Platform,
    pub handle: DeviceHandle,
    pub inbox: Arc<DeviceInbox>,
    /// This device's own session (a user's two devices have two).
    pub credential: Credential,
    /// The backend's registration id, when its answer carries one.
    pub registration: Option<String>,
}

/// Why a device could not enrol.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EnrollError {
    /// The backend refused or failed a step: a finding about the backend.
    #[error(transparent)]
    Backend(#[from] StepError),
    /// The mock plane failed: a harness problem.
    #[error(transparent)]
    Plane(#[from] PlaneError),
}

impl Device {
    /// Logs the (existing) user in, takes a handle from the platform's
    /// gateway and registers it with the backend.
    pub async fn enroll(
        ctx: &Context,
        index: usize,
        user: &str,
        password: &str,
        platform: Platform,
    ) -> Result<Device, EnrollError> {
        let credential = ctx.api.credential(user, password).await?;
        Device::enroll_with(ctx, index, user, password, credential, platform).await
    }

    /// [`Device::enroll`] with a credential the caller already has (an
    /// account of another tenant, a short-lived token).
    pub async fn enroll_with(
        ctx: &Context,
        index: usize,
        user: &str,
        password: &str,
        credential: Credential,
        platform: Platform,
    ) -> Result<Device, EnrollError> {
        let handle = ctx.plane.register_device(platform).await?;
        let inbox = Arc::new(ctx.plane.inbox(&handle)?);
        let registration = register(&ctx.api, &credential, user, &handle, &[]).await?;
        Ok(Device {
            index,
            name: format!("device-{index}"),
            user: user.to_owned(),
            password: password.to_owned(),
            platform,
            handle,
            inbox,
            credential,
            registration,
        })
    }

    /// Values naming this device in a request.
    pub fn values(&self, api: &Api) -> Values {
        Values {
            user: Some(self.user.clone()),
            password: Some(self.password.clone()),
            handle: Some(self.handle.handle.clone()),
            platform: api.profile.platform(self.platform).map(|p| p.name.clone()),
            tags: Some(Vec::new()),
            registration: self.registration.clone(),
            token: Some(self.credential.secret().to_owned()),
            ..Values::default()
        }
    }
}

/// Registers `handle` for `user` with `tags`: the register request, then
/// the update when the profile has one. Returns the registration id when
/// the answer carries one.
pub async fn register(
    api: &Api,
    credential: &Credential,
    user: &str,
    handle: &DeviceHandle,
    tags: &[String],
) -> Result<Option<String>, StepError> {
    let requests = &api.profile.requests;
    let mut values = Values {
        user: Some(user.to_owned()),
        handle: Some(handle.handle.clone()),
        platform: api
            .profile
            .platform(handle.platform)
            .map(|p| p.name.clone()),
        tags: Some(tags.to_vec()),
        token: Some(credential.secret().to_owned()),
        ..Values::default()
    };
    let exchange = api
        .step("register", &requests.register, &values, Some(credential))
        .await?;
    let registration = match requests.register.answer.registration.as_deref() {
        None => None,
        Some(pointer) => match Api::answer(&exchange, pointer) {
            Some(id) if !id.is_empty() => Some(id),
            _ => {
                return Err(StepError {
                    step: "register",
                    problem: format!("the answer has no registration id at {pointer:?}"),
                    exchange: Some(Box::new(exchange)),
                })
            }
        },
    };
    if let Some(update) = &requests.update_registration {
        values.registration = registration.clone();
        api.step("update registration", update, &values, Some(credential))
            .await?;
    }
    Ok(registration)
}

/// The sender's request: notify `recipient` (on `platform` when the API
/// takes one) with `message`.
pub async fn notify(
    api: &Api,
    sender: &Credential,
    sender_user: &str,
    recipient: &str,
    platform: Platform,
    message: &str,
) -> Exchange {
    let values = Values {
        user: Some(sender_user.to_owned()),
        recipient: Some(recipient.to_owned()),
        message: Some(message.to_owned()),
        platform: api.profile.platform(platform).map(|p| p.name.clone()),
        token: Some(sender.secret().to_owned()),
        ..Values::default()
    };
    api.call(&api.profile.requests.notify, &values, Some(sender))
        .await
}

/// Fetches notification `id` with `credential` (none: anonymously).
pub async fn fetch(api: &Api, credential: Option<&Credential>, user: &str, id: &str) -> Exchange {
    let values = Values {
        user: Some(user.to_owned()),
        id: Some(id.to_owned()),
        token: credential.map(|c| c.secret().to_owned()),
        ..Values::default()
    };
    api.call(&api.profile.requests.fetch, &values, credential)
        .await
}

/// How one secret's journey ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// The device fetched exactly the content that was sent.
    Verified,
    /// The sender's request to the backend failed.
    SendFailed(String),
    /// No push reached the device in time.
    NoPush,
    /// A push arrived but the profile's id location held no id.
    NoId,
    /// The content fetch failed or was refused.
    FetchFailed(String),
    /// The fetch succeeded with content other than what was sent.
    WrongContent,
}

impl Outcome {
    /// A short name for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::SendFailed(_) => "send_failed",
            Outcome::NoPush => "no_push",
            Outcome::NoId => "no_id",
            Outcome::FetchFailed(_) => "fetch_failed",
            Outcome::WrongContent => "wrong_content",
        }
    }
}

/// The timed record of one secret sent to one device.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    pub device: usize,
    pub outcome: Outcome,
    pub send: Option<Duration>,
    pub push: Option<Duration>,
    pub fetch: Option<Duration>,
    pub end_to_end: Option<Duration>,
    /// The notification id the device read from its push.
    pub id: Option<String>,
    /// The push as the device received it.
    pub delivery: Option<Delivery>,
    /// The exchange that decided the outcome: the fetch, or the failed send.
    pub exchange: Option<Exchange>,
}

impl RoundTrip {
    /// A round trip whose task died; kept so counts still add up.
    pub fn failed(device: usize, reason: &str) -> RoundTrip {
        RoundTrip {
            device,
            outcome: Outcome::SendFailed(format!("device task failed: {reason}")),
            send: None,
            push: None,
            fetch: None,
            end_to_end: None,
            id: None,
            delivery: None,
            exchange: None,
        }
    }
}

/// Sends `secret` to the device's user as `sender`, and has the device
/// receive, fetch and verify it. Times are measured from the send start.
pub async fn round_trip(
    ctx: &Context,
    sender: &Credential,
    sender_user: &str,
    device: &Device,
    secret: &str,
) -> RoundTrip {
    let started = Instant::now();
    let mut record = RoundTrip::failed(device.index, "");
    record.outcome = Outcome::NoPush;
    let (deadline_tx, deadline_rx) =
        tokio::sync::watch::channel(tokio::time::Instant::now() + ctx.push_timeout);
    let send = async {
        let exchange = notify(
            &ctx.api,
            sender,
            sender_user,
            &device.user,
            device.platform,
            secret,
        )
        .await;
        let elapsed = started.elapsed();
        let ok = exchange
            .status()
            .is_some_and(|s| ctx.api.profile.requests.notify.template.succeeded(s));
        if !ok {
            let grace = tokio::time::Instant::now() + GRACE_AFTER_FAILED_SEND;
            deadline_tx.send_if_modified(|deadline| {
                let earlier = grace < *deadline;
                if earlier {
                    *deadline = grace;
                }
                earlier
            });
        }
        (exchange, ok, elapsed)
    };
    let receive = async {
        let mut deadline_rx = deadline_rx;
        loop {
            let deadline = *deadline_rx.borrow_and_update();
            tokio::select! {
                delivery = device.inbox.recv() => break delivery,
                () = tokio::time::sleep_until(deadline) => break None,
                changed = deadline_rx.changed() => if changed.is_err() { break None },
            }
        }
    };
    let ((send_exchange, sent_ok, send_elapsed), delivery) = tokio::join!(send, receive);
    record.send = Some(send_elapsed);
    let Some(delivery) = delivery else {
        record.outcome = if sent_ok {
            Outcome::NoPush
        } else {
            Outcome::SendFailed(send_exchange.describe())
        };
        record.exchange = Some(send_exchange);
        return record;
    };
    record.push = Some(delivery.received_at.saturating_duration_since(started));
    let id = ctx
        .api
        .profile
        .platform(device.platform)
        .and_then(|p| p.id.extract(&delivery.headers, &delivery.body));
    record.delivery = Some(delivery);
    let Some(id) = id else {
        record.outcome = Outcome::NoId;
        return record;
    };
    let fetch_started = Instant::now();
    let exchange = fetch(&ctx.api, Some(&device.credential), &device.user, &id).await;
    record.fetch = Some(fetch_started.elapsed());
    record.id = Some(id);
    record.outcome = match &exchange.outcome {
        Err(e) => Outcome::FetchFailed(e.to_string()),
        Ok(reply) if !reply.status.is_success() => {
            Outcome::FetchFailed(format!("backend answered {}", reply.status))
        }
        Ok(_) => {
            if ctx.api.payload(&exchange).as_deref() == Some(secret) {
                record.end_to_end = Some(started.elapsed());
                Outcome::Verified
            } else {
                Outcome::WrongContent
            }
        }
    };
    record.exchange = Some(exchange);
    record
}
