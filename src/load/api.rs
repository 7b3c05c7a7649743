//! What the driver needs of a backend's API: enrol a device (account,
//! sign-in, registration of its handle), build the notify and fetch
//! requests, and read the id out of a push and the content out of a fetch.
//! [`ProfileApi`] does it as a backend profile describes; tests give the
//! driver fakes of their own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use pushproof_mocks::{Delivery, DeviceHandle, Platform};

use super::http::Prepared;
use crate::client::{BackendClient, Credential};
use crate::device;
use crate::profile::{read_pointer_in, Profile, Rendered, SendPolicy, Values, Var};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A device as the driver keeps it: a few hundred bytes.
#[derive(Debug, Clone)]
pub struct Device {
    pub platform: Platform,
    /// Its user, the recipient of its notifications.
    pub user: Box<str>,
    /// The credential header it fetches with, built once.
    pub auth: (HeaderName, HeaderValue),
    /// Its token as a template value, only when a template needs it.
    pub token: Option<Box<str>>,
}

/// The account notifications are sent from.
#[derive(Debug, Clone)]
pub struct Sender {
    pub user: Box<str>,
    pub auth: (HeaderName, HeaderValue),
    pub token: Option<Box<str>>,
}

/// A backend's API for the load driver.
pub trait Api: Send + Sync + 'static {
    /// Signs in the account notifications are sent from; `None` when each
    /// device's user notifies itself.
    fn sender(&self) -> BoxFuture<'_, Result<Option<Sender>, String>>;

    /// Creates and signs in device `index`'s user and registers `handle`
    /// (the gateway's) with the backend.
    fn enrol<'a>(
        &'a self,
        index: u64,
        platform: Platform,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Device, String>>;

    /// The request that notifies `device`'s user of `message`.
    fn notify(
        &self,
        sender: Option<&Sender>,
        device: &Device,
        message: &str,
    ) -> Result<Prepared, String>;

    /// The request that fetches notification `id` as `device`.
    fn fetch(&self, device: &Device, id: &str) -> Result<Prepared, String>;

    /// The notification id in a push, as the app reads it.
    fn push_id(&self, delivery: &Delivery) -> Option<String>;

    /// The content in a successful fetch answer.
    fn payload(&self, body: &[u8]) -> Option<String>;
}

/// The API as a backend profile describes it: its templates rendered,
/// its auth scheme, where its pushes carry the id and its fetch answers
/// the content. Enrolment goes through the conformance suite's own steps
/// ([`crate::device`]); the hot path renders the templates only.
pub struct ProfileApi {
    api: device::api::Api,
    run_tag: String,
    /// Whether the notify or fetch template needs the caller's token as a
    /// value (besides its header).
    token_values: bool,
}

impl ProfileApi {
    /// `run_tag` keeps this run's user names apart from earlier runs' on a
    /// persistent backend.
    pub fn new(
        profile: Arc<Profile>,
        origin: &str,
        timeout: Duration,
        run_tag: &str,
    ) -> ProfileApi {
        let uses_token = |r: &crate::profile::Request| r.template.vars().contains(&Var::Token);
        let token_values =
            uses_token(&profile.requests.notify) || uses_token(&profile.requests.fetch);
        ProfileApi {
            api: device::api::Api::new(BackendClient::new(origin, timeout), profile),
            run_tag: run_tag.to_owned(),
            token_values,
        }
    }

    fn profile(&self) -> &Profile {
        &self.api.profile
    }

    /// The user of device `index`: a fresh one per device, or one of a
    /// static scheme's fixed users.
    fn user(&self, index: u64) -> String {
        match self.api.static_users() {
            Some(users) if !users.is_empty() => {
                users[(index % users.len() as u64) as usize].clone()
            }
            _ => format!("pp-{}-{index}", self.run_tag),
        }
    }

    async fn sign_in(&self, user: &str) -> Result<Credential, String> {
        let password = self.api.password_for(user, &self.run_tag);
        self.api
            .sign_in(user, &password)
            .await
            .map_err(|e| e.to_string())
    }

    fn auth(&self, credential: &Credential) -> Result<(HeaderName, HeaderValue), String> {
        credential
            .header(&self.profile().auth)
            .map_err(|e| e.to_string())
    }

    fn prepared(&self, rendered: Rendered, auth: &(HeaderName, HeaderValue)) -> Prepared {
        Prepared {
            method: rendered.method,
            path_and_query: rendered.target,
            authorization: Some(auth.clone()),
            content_type: rendered.content_type,
            body: rendered.body.into(),
        }
    }
}

impl Api for ProfileApi {
    fn sender(&self) -> BoxFuture<'_, Result<Option<Sender>, String>> {
        Box::pin(async move {
            if self.profile().policy.send == SendPolicy::SelfOnly {
                return Ok(None);
            }
            let user = match self.api.static_users() {
                Some(users) if !users.is_empty() => users[0].clone(),
                _ => format!("pp-{}-sender", self.run_tag),
            };
            let credential = self
                .sign_in(&user)
                .await
                .map_err(|e| format!("the sender: {e}"))?;
            Ok(Some(Sender {
                auth: self.auth(&credential)?,
                token: self.token_values.then(|| credential.secret().into()),
                user: user.into_boxed_str(),
            }))
        })
    }

    fn enrol<'a>(
        &'a self,
        index: u64,
        platform: Platform,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Device, String>> {
        Box::pin(async move {
            if self.profile().platform(platform).is_none() {
                return Err(format!(
                    "profile {} does not describe {platform}",
                    self.profile().name
                ));
            }
            let user = self.user(index);
            let credential = self.sign_in(&user).await?;
            let handle = DeviceHandle {
                platform,
                handle: handle.to_owned(),
            };
            device::device::register(&self.api, &credential, &user, &handle, &[])
                .await
                .map_err(|e| e.to_string())?;
            Ok(Device {
                platform,
                auth: self.auth(&credential)?,
                token: self.token_values.then(|| credential.secret().into()),
                user: user.into_boxed_str(),
            })
        })
    }

    fn notify(
        &self,
        sender: Option<&Sender>,
        device: &Device,
        message: &str,
    ) -> Result<Prepared, String> {
        let (user, auth, token) = match sender {
            Some(s) => (&s.user, &s.auth, &s.token),
            None => (&device.user, &device.auth, &device.token),
        };
        let values = Values {
            user: Some(user.to_string()),
            recipient: Some(device.user.to_string()),
            message: Some(message.to_owned()),
            platform: self
                .profile()
                .platform(device.platform)
                .map(|p| p.name.clone()),
            token: token.as_deref().map(str::to_owned),
            ..Values::default()
        };
        let rendered = self
            .profile()
            .requests
            .notify
            .template
            .render(&values)
            .map_err(|e| e.to_string())?;
        Ok(self.prepared(rendered, auth))
    }

    fn fetch(&self, device: &Device, id: &str) -> Result<Prepared, String> {
        let values = Values {
            user: Some(device.user.to_string()),
            id: Some(id.to_owned()),
            token: device.token.as_deref().map(str::to_owned),
            ..Values::default()
        };
        let rendered = self
            .profile()
            .requests
            .fetch
            .template
            .render(&values)
            .map_err(|e| e.to_string())?;
        Ok(self.prepared(rendered, &device.auth))
    }

    fn push_id(&self, delivery: &Delivery) -> Option<String> {
        self.profile()
            .platform(delivery.platform)?
            .id
            .extract(&delivery.headers, &delivery.body)
    }

    fn payload(&self, body: &[u8]) -> Option<String> {
        let pointer = self.profile().requests.fetch.answer.payload.as_deref()?;
        read_pointer_in(body, pointer)
    }
}
