//! What the driver needs of a backend's API: enrol a device (account,
//! sign-in, registration of its handle), build the notify and fetch
//! requests, and read the id out of a push and the content out of a fetch.
//! [`ProfileApi`] does it as a backend profile describes; tests give the
//! driver fakes of their own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use http::Method;
use pushproof_mocks::{Delivery, Platform};
use serde_json::json;

use super::http::Prepared;
use crate::device::client::{BackendClient, Credential};
use crate::profile::Profile;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A device as the driver keeps it: a few hundred bytes.
#[derive(Debug, Clone)]
pub struct Device {
    pub platform: Platform,
    /// Its user, the recipient of its notifications.
    pub user: Box<str>,
    /// The `Authorization` value it fetches with.
    pub auth: HeaderValue,
}

/// A backend's API for the load driver.
pub trait Api: Send + Sync + 'static {
    /// Signs in the account notifications are sent from; `None` when each
    /// device's user notifies itself.
    fn sender(&self) -> BoxFuture<'_, Result<Option<HeaderValue>, String>>;

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
        sender: Option<&HeaderValue>,
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

/// The API as a backend profile describes it.
pub struct ProfileApi {
    profile: Arc<Profile>,
    client: BackendClient,
    run_tag: String,
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
        ProfileApi {
            profile,
            client: BackendClient::new(origin, timeout),
            run_tag: run_tag.to_owned(),
        }
    }

    fn password(&self, user: &str) -> String {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(format!("{}/{user}", self.run_tag).as_bytes())[..16])
    }

    async fn credential(&self, user: &str) -> Result<Credential, String> {
        crate::device::account::sign_in(&self.client, &self.profile, user, &self.password(user))
            .await
            .map_err(|e| e.to_string())
    }
}

/// The `Authorization` value of a credential.
fn header(credential: &Credential) -> Result<HeaderValue, String> {
    use base64::Engine as _;
    let text = match credential {
        Credential::Bearer(token) => format!("Bearer {token}"),
        Credential::Basic { user, password } => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ),
    };
    HeaderValue::try_from(text).map_err(|_| "the credential is not a valid header value".to_owned())
}

fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Api for ProfileApi {
    fn sender(&self) -> BoxFuture<'_, Result<Option<HeaderValue>, String>> {
        Box::pin(async move {
            let user = format!("pp-{}-sender", self.run_tag);
            let credential = self
                .credential(&user)
                .await
                .map_err(|e| format!("the sender: {e}"))?;
            Ok(Some(header(&credential)?))
        })
    }

    fn enrol<'a>(
        &'a self,
        index: u64,
        platform: Platform,
        handle: &'a str,
    ) -> BoxFuture<'a, Result<Device, String>> {
        Box::pin(async move {
            let user = format!("pp-{}-{index}", self.run_tag);
            let credential = self.credential(&user).await?;
            let register = &self.profile.api.register;
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("handle", handle)
                .finish();
            let reply = self
                .client
                .step(
                    "register",
                    Method::POST,
                    &format!("{register}?{query}"),
                    Some(&credential),
                    None,
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            let registration = reply
                .json()
                .and_then(|v| v.as_str().map(str::to_owned))
                .ok_or("register: the answer is not a JSON string registration id")?;
            let body = json!({
                "Platform": self.profile.platform_names.of(platform),
                "Handle": handle,
                "Tags": [],
            });
            let path = format!("{register}/{}", encode_segment(&registration));
            self.client
                .step(
                    "update registration",
                    Method::PUT,
                    &path,
                    Some(&credential),
                    Some(&body),
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            Ok(Device {
                platform,
                user: user.into_boxed_str(),
                auth: header(&credential)?,
            })
        })
    }

    fn notify(
        &self,
        sender: Option<&HeaderValue>,
        device: &Device,
        message: &str,
    ) -> Result<Prepared, String> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("pns", self.profile.platform_names.of(device.platform))
            .append_pair("to_tag", &device.user)
            .finish();
        let body = serde_json::to_vec(message).map_err(|e| e.to_string())?;
        Ok(Prepared {
            method: Method::POST,
            path_and_query: format!("{}?{query}", self.profile.api.notify),
            authorization: Some(sender.unwrap_or(&device.auth).clone()),
            content_type: Some("application/json"),
            body: body.into(),
        })
    }

    fn fetch(&self, device: &Device, id: &str) -> Result<Prepared, String> {
        Ok(Prepared {
            method: Method::GET,
            path_and_query: self.profile.api.fetch_path(id),
            authorization: Some(device.auth.clone()),
            content_type: None,
            body: bytes::Bytes::new(),
        })
    }

    fn push_id(&self, delivery: &Delivery) -> Option<String> {
        self.profile
            .push_id
            .of(delivery.platform)
            .extract(&delivery.body)
    }

    fn payload(&self, body: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        value
            .get(&self.profile.api.payload_field)?
            .as_str()
            .map(str::to_owned)
    }
}
