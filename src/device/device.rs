//! One simulated device: it enrols (account, gateway handle, backend
//! registration), then for each secret sent to its user it waits for the
//! push, reads the id out of it as the app would, fetches the content with
//! its own credential and checks it is exactly what was sent.
//!
//! Every failure along the way is an [`Outcome`], recorded and counted;
//! nothing a backend does ends the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use pushproof_mocks::{DeviceHandle, Gateways, Inbox, Platform};
use serde::Serialize;
use serde_json::json;

use super::account::{sign_in, AccountError};
use super::client::{BackendClient, Credential, StepError};
use crate::profile::Profile;

/// After a failed send, how long a device still waits for a push: a backend
/// may have pushed before failing, but a full timeout per failure would make
/// a broken backend's run crawl.
const GRACE_AFTER_FAILED_SEND: Duration = Duration::from_millis(500);

/// What a device needs to reach the world; cheap to clone into tasks.
#[derive(Clone)]
pub struct Context {
    pub client: BackendClient,
    pub profile: Arc<Profile>,
    pub gateways: Arc<Gateways>,
}

/// An enrolled device.
#[derive(Clone)]
pub struct Device {
    pub index: usize,
    pub user: String,
    pub platform: Platform,
    pub handle: DeviceHandle,
    pub inbox: Inbox,
    pub credential: Credential,
    /// The backend's registration id for this device.
    pub registration: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Step(#[from] StepError),
    #[error("register: the answer is not a JSON string registration id")]
    NoRegistrationId,
    #[error("the gateway has no inbox for the handle it issued")]
    NoInbox,
}

impl Device {
    /// Signs the user in, takes a handle from the platform's gateway and
    /// registers it with the backend.
    pub async fn enroll(
        ctx: &Context,
        index: usize,
        user: String,
        password: &str,
        platform: Platform,
    ) -> Result<Device, EnrollError> {
        let credential = sign_in(&ctx.client, &ctx.profile, &user, password).await?;
        let handle = ctx.gateways.register_device(platform);
        let inbox = ctx.gateways.inbox(&handle).ok_or(EnrollError::NoInbox)?;
        let register = &ctx.profile.api.register;
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("handle", &handle.handle)
            .finish();
        let path = format!("{register}?{query}");
        let reply = ctx
            .client
            .step(
                "register",
                Method::POST,
                &path,
                Some(&credential),
                None,
                &[],
            )
            .await?;
        let registration = reply
            .json()
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or(EnrollError::NoRegistrationId)?;
        let body = json!({
            "Platform": ctx.profile.platform_names.of(platform),
            "Handle": handle.handle,
            "Tags": [],
        });
        let path = format!("{register}/{}", encode_segment(&registration));
        let step = "update registration";
        ctx.client
            .step(
                step,
                Method::PUT,
                &path,
                Some(&credential),
                Some(&body),
                &[],
            )
            .await?;
        Ok(Device {
            index,
            user,
            platform,
            handle,
            inbox,
            credential,
            registration,
        })
    }
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
}

/// Sends `secret` to the device's user as `sender`, and has the device
/// receive, fetch and verify it. Times are measured from the send start.
pub async fn round_trip(
    ctx: &Context,
    sender: &Credential,
    device: &Device,
    secret: &str,
    push_timeout: Duration,
) -> RoundTrip {
    let started = Instant::now();
    let mut record = RoundTrip {
        device: device.index,
        outcome: Outcome::NoPush,
        send: None,
        push: None,
        fetch: None,
        end_to_end: None,
        id: None,
    };
    let send = send(ctx, sender, device, secret);
    tokio::pin!(send);
    let deadline = tokio::time::sleep(push_timeout);
    tokio::pin!(deadline);
    let mut sent: Option<Result<(), String>> = None;
    let delivery = loop {
        tokio::select! {
            delivery = device.inbox.recv() => break Some(delivery),
            result = &mut send, if sent.is_none() => {
                record.send = Some(started.elapsed());
                if result.is_err() {
                    let grace = tokio::time::Instant::now() + GRACE_AFTER_FAILED_SEND;
                    if grace < deadline.deadline() {
                        deadline.as_mut().reset(grace);
                    }
                }
                sent = Some(result);
            }
            () = &mut deadline => break None,
        }
    };
    if let Some(delivery) = &delivery {
        record.push = Some(delivery.received_at.saturating_duration_since(started));
    }
    // The backend may answer the sender after the push has landed.
    let sent = match sent {
        Some(result) => result,
        None => {
            let result = tokio::time::timeout(push_timeout, &mut send)
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {push_timeout:?}")));
            record.send = Some(started.elapsed());
            result
        }
    };
    let Some(delivery) = delivery else {
        record.outcome = match sent {
            Err(reason) => Outcome::SendFailed(reason),
            Ok(()) => Outcome::NoPush,
        };
        return record;
    };
    let Some(id) = ctx
        .profile
        .push_id
        .of(device.platform)
        .extract(&delivery.body)
    else {
        record.outcome = Outcome::NoId;
        return record;
    };
    let fetch_started = Instant::now();
    let reply = ctx
        .client
        .call(
            Method::GET,
            &ctx.profile.api.fetch_path(&id),
            Some(&device.credential),
            None,
        )
        .await;
    record.fetch = Some(fetch_started.elapsed());
    record.id = Some(id);
    record.outcome = match reply {
        Err(e) => Outcome::FetchFailed(e.to_string()),
        Ok(reply) if !reply.status.is_success() => {
            Outcome::FetchFailed(format!("backend answered {}", reply.status))
        }
        Ok(reply) => {
            let payload = reply.json().and_then(|v| {
                v.get(&ctx.profile.api.payload_field)?
                    .as_str()
                    .map(str::to_owned)
            });
            if payload.as_deref() == Some(secret) {
                record.end_to_end = Some(started.elapsed());
                Outcome::Verified
            } else {
                Outcome::WrongContent
            }
        }
    };
    record
}

/// The sender's request: notify the device's user on the device's platform.
async fn send(
    ctx: &Context,
    sender: &Credential,
    device: &Device,
    secret: &str,
) -> Result<(), String> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("pns", ctx.profile.platform_names.of(device.platform))
        .append_pair("to_tag", &device.user)
        .finish();
    let path = format!("{}?{query}", ctx.profile.api.notify);
    let body = serde_json::Value::String(secret.to_owned());
    match ctx
        .client
        .call(Method::POST, &path, Some(sender), Some(&body))
        .await
    {
        Ok(reply) if reply.status.is_success() => Ok(()),
        Ok(reply) => Err(format!("backend answered {}", reply.status)),
        Err(e) => Err(e.to_string()),
    }
}

/// Percent-encodes one path segment.
pub fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}
