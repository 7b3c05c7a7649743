//! The shared suite context every check runs against: the backend's API
//! (its client keeps whole exchanges for evidence), the profile, the mock
//! plane, the run's seeded randomness, the baseline fleet, and helpers to
//! make fresh users and devices, send, await a push, fetch with any
//! credential and make raw requests.
//!
//! Checks run concurrently. The baseline's devices are shared, so a check
//! that receives on one takes its lease ([`Suite::deliver`] does) and never
//! sees another check's push; a check that changes state (logout, delete,
//! disable) makes its own users and devices.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use pushproof_mocks::{Capture, Delivery, Platform};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::canary;
pub use super::canary::Secret;
use crate::client::{Credential, Exchange};
use crate::device::device::fetch;
use crate::device::{
    Api, Context, Device, EnrolFailure, EnrollError, Fleet, FleetPlan, Outcome, RoundTrip,
    StepError,
};
use crate::plane::{MockPlane, PlaneError};
use crate::profile::{Profile, Request, SendPolicy, Values};

/// How the suite was asked to run.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    pub seed: u64,
    /// Unique per run: in every user name, so runs against a persistent
    /// backend never collide.
    pub run_tag: String,
    pub platforms: Vec<Platform>,
    /// Devices and users of the baseline fleet.
    pub devices: usize,
    pub users: usize,
    pub concurrency: usize,
    pub timeout: Duration,
    /// The gateways speak TLS.
    pub tls: bool,
    /// The backend's origin.
    pub origin: String,
}

impl SuiteOptions {
    /// Users for `devices` devices over `platforms` platforms: about two
    /// thirds, so that a third of the users have a second device, always
    /// on another platform (device `i` is user `i % users`'s, on platform
    /// `i % platforms`). A user's two devices are told apart only by the
    /// platform the send names, so with one platform, or a notify request
    /// that names none (`separable` false), every user has one device.
    pub fn users_for(devices: usize, platforms: usize, separable: bool) -> usize {
        if !separable || platforms <= 1 || devices <= 2 {
            return devices.max(1);
        }
        let mut users = (devices - devices / 3).max(2);
        if users < devices && users.is_multiple_of(platforms) {
            users += 1;
        }
        users
    }
}

/// The baseline: every selected platform, several users (some with two
/// devices), one secret per device sent and round-tripped, timed.
pub struct Baseline {
    pub devices: Vec<Arc<Device>>,
    pub enrol_failures: Vec<EnrolFailure>,
    pub enrol_latency: crate::metrics::Latency,
    /// Who sends (`None` when users notify themselves, or the sender's
    /// sign-in failed: see `sender_failure`).
    pub sender: Option<(String, Credential)>,
    pub sender_failure: Option<StepError>,
    /// `secrets[i]` went to device `i` (indexes as in `devices[..].index`).
    pub secrets: Vec<Secret>,
    /// One per enrolled device, in device order.
    pub trips: Vec<RoundTrip>,
    /// The capture store's last `seq` before the baseline (`None`: empty).
    pub captures_after: Option<u64>,
    /// The capture store's last `seq` once the baseline's round trips were
    /// done: captures in between are the baseline's own traffic.
    pub captures_until: Option<u64>,
    /// From the first send to the last round trip's end.
    pub dispatch_window: Duration,
}

/// A baseline notification its recipient fetched and verified.
#[derive(Debug, Clone)]
pub struct Verified<'a> {
    pub device: &'a Arc<Device>,
    pub id: &'a str,
    pub secret: &'a Secret,
}

/// A fresh user of the backend, made for one check.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    /// The tenant it was created in (`None`: the first declared, if any).
    pub tenant: Option<String>,
}

/// A secret delivered to a device: the send, the push, the id in it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub send: Exchange,
    pub delivery: Delivery,
    pub id: String,
}

/// The context of one conformance run.
pub struct Suite {
    pub api: Api,
    pub plane: MockPlane,
    /// The device context (API, plane, push timeout) for device helpers.
    pub ctx: Context,
    pub options: SuiteOptions,
    pub baseline: Baseline,
    names: AtomicUsize,
    leases: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Suite {
    /// Enrols the baseline fleet and round-trips one secret per device.
    /// Backend failures are recorded in the baseline (checks judge them);
    /// only a harness failure is an error.
    pub async fn prepare(
        api: Api,
        plane: MockPlane,
        options: SuiteOptions,
    ) -> Result<Suite, PlaneError> {
        let ctx = Context {
            api: api.clone(),
            plane: plane.clone(),
            push_timeout: options.timeout,
        };
        let plan = FleetPlan {
            devices: options.devices,
            users: options.users,
            platforms: options.platforms.clone(),
            concurrency: options.concurrency,
            run_tag: options.run_tag.clone(),
        };
        let fleet = Fleet::enroll(&ctx, &plan).await.unwrap_or_else(|_| Fleet {
            devices: Vec::new(),
            enrol_failures: Vec::new(),
            enrol_latency: Default::default(),
            sender: None,
            sender_failure: None,
        });
        if let Some(e) = fleet.enrol_failures.iter().find_map(|f| match &f.error {
            EnrollError::Plane(e) => Some(e.clone()),
            EnrollError::Backend(_) => None,
        }) {
            return Err(e);
        }
        let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
        let secrets: Vec<Secret> = (0..options.devices)
            .map(|i| canary::secret(&mut rng, i))
            .collect();
        let captures_after = match plane.capture_stats().await?.total {
            0 => None,
            total => Some(total - 1),
        };
        let messages = Arc::new(
            secrets
                .iter()
                .map(|s| s.text().to_owned())
                .collect::<Vec<_>>(),
        );
        let started = Instant::now();
        let trips = if fleet.sender.is_none() && api.profile.policy.send == SendPolicy::AnyUser {
            // No one can send: every trip fails with the sender's failure.
            Vec::new()
        } else {
            fleet
                .round_trips(&ctx, &fleet.devices, &messages, options.concurrency)
                .await
        };
        let dispatch_window = started.elapsed();
        let captures_until = plane.capture_stats().await?.total.checked_sub(1);
        Ok(Suite {
            api,
            plane,
            ctx,
            baseline: Baseline {
                devices: fleet.devices,
                enrol_failures: fleet.enrol_failures,
                enrol_latency: fleet.enrol_latency,
                sender: fleet.sender,
                sender_failure: fleet.sender_failure,
                secrets,
                trips,
                captures_after,
                captures_until,
                dispatch_window,
            },
            options,
            names: AtomicUsize::new(0),
            leases: Mutex::new(HashMap::new()),
        })
    }

    pub fn profile(&self) -> &Profile {
        &self.api.profile
    }

    /// A generator for one purpose (a check's id), seeded from the run's
    /// seed: the same run replays the same values whatever order the
    /// checks ran in.
    pub fn rng(&self, purpose: &str) -> ChaCha20Rng {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}/{purpose}", self.options.seed).as_bytes());
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&digest);
        ChaCha20Rng::from_seed(seed)
    }

    /// A fresh secret from `rng`: realistic text with three new canaries
    /// (head, middle, tail), labelled apart from the baseline's.
    pub fn secret(&self, rng: &mut ChaCha20Rng) -> Secret {
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        canary::secret(rng, 100_000 + n)
    }

    /// The baseline notifications their recipients verified.
    pub fn verified(&self) -> Vec<Verified<'_>> {
        self.baseline
            .trips
            .iter()
            .filter(|t| t.outcome == Outcome::Verified)
            .filter_map(|t| {
                Some(Verified {
                    device: self.baseline.devices.iter().find(|d| d.index == t.device)?,
                    id: t.id.as_deref()?,
                    secret: self.baseline.secrets.get(t.device)?,
                })
            })
            .collect()
    }

    /// A new user, created on the backend (when it can create users),
    /// named for `purpose`.
    pub async fn fresh_user(&self, purpose: &str) -> Result<User, StepError> {
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        let name = match self.api.static_users() {
            Some(names) => names[n % names.len()].clone(),
            None => format!("pp-{}-{purpose}-{n}", self.options.run_tag),
        };
        let password = self.api.password_for(&name, &self.options.run_tag);
        self.api.create_user(&name, &password).await?;
        Ok(User {
            name,
            password,
            tenant: None,
        })
    }

    /// A user named `name` created in `tenant` (a declared one), with a
    /// password of its own: the same name may exist in another tenant.
    pub async fn user_in(&self, name: &str, tenant: &str) -> Result<User, StepError> {
        let password = self
            .api
            .password_for(&format!("{tenant}/{name}"), &self.options.run_tag);
        self.api
            .create_user_in(name, &password, Some(tenant))
            .await?;
        Ok(User {
            name: name.to_owned(),
            password,
            tenant: Some(tenant.to_owned()),
        })
    }

    /// A fresh name for `purpose`, for [`Suite::user_in`].
    pub fn fresh_name(&self, purpose: &str) -> String {
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        format!("pp-{}-{purpose}-{n}", self.options.run_tag)
    }

    /// A new session of `user` (in its tenant).
    pub async fn sign_in(&self, user: &User) -> Result<Credential, StepError> {
        self.api
            .credential_in(&user.name, &user.password, user.tenant.as_deref())
            .await
    }

    /// A session of `user` from `requests.short_login`, meant to die after
    /// `policy.short_token_lifetime_s`; with the login's answer.
    pub async fn short_lived_credential(
        &self,
        user: &User,
    ) -> Result<(Credential, Exchange), StepError> {
        let (Some(request), Some(lifetime)) = (
            self.api.profile.requests.short_login.as_ref(),
            self.api.profile.policy.short_token_lifetime,
        ) else {
            return Err(StepError {
                step: "short login",
                problem: "the profile has no requests.short_login".to_owned(),
                exchange: None,
            });
        };
        let values = Values {
            lifetime_s: Some(lifetime.as_secs().max(1)),
            ..self
                .api
                .account(&user.name, &user.password, user.tenant.as_deref())
        };
        self.api
            .login_exchange(request, &values, "short login")
            .await
    }

    /// A device index no other device of the run has (for a device a check
    /// enrols by hand).
    pub fn fresh_index(&self) -> usize {
        1_000_000 + self.names.fetch_add(1, Ordering::Relaxed)
    }

    /// A new device of `user` on `platform`: its own session, handle and
    /// registration.
    pub async fn fresh_device(
        &self,
        user: &User,
        platform: Platform,
    ) -> Result<Arc<Device>, EnrollError> {
        let index = self.fresh_index();
        let credential = self.sign_in(user).await?;
        Device::enroll_with(
            &self.ctx,
            index,
            &user.name,
            &user.password,
            credential,
            platform,
        )
        .await
        .map(Arc::new)
    }

    /// A new device of `user` on `platform` whose registration asks for
    /// `tags`. The device comes back even when the backend refuses the
    /// registration (the second result says how), so a check can make sure
    /// it then gets nothing.
    pub async fn fresh_device_tagged(
        &self,
        user: &User,
        platform: Platform,
        tags: &[String],
    ) -> Result<(Arc<Device>, Result<(), StepError>), EnrollError> {
        let mut device = self.unregistered_device(user, platform).await?;
        let registered = crate::device::device::register(
            &self.api,
            &device.credential,
            &user.name,
            &device.handle,
            tags,
        )
        .await;
        let outcome = match registered {
            Ok(registration) => {
                device.registration = registration;
                Ok(())
            }
            Err(e) => Err(e),
        };
        Ok((Arc::new(device), outcome))
    }

    /// A device of `user` on `platform` with its own session and a handle
    /// from the gateway, never registered with the backend: what an
    /// attacker points someone else's registration at.
    pub async fn unregistered_device(
        &self,
        user: &User,
        platform: Platform,
    ) -> Result<Device, EnrollError> {
        let index = 1_000_000 + self.names.fetch_add(1, Ordering::Relaxed);
        let credential = self.api.credential(&user.name, &user.password).await?;
        let handle = self.plane.register_device(platform).await?;
        let inbox = Arc::new(self.plane.inbox(&handle)?);
        Ok(Device {
            index,
            name: format!("device-{index}"),
            user: user.name.clone(),
            password: user.password.clone(),
            platform,
            handle,
            inbox,
            credential,
            registration: None,
        })
    }

    /// Who sends to `recipient` under the backend's policy.
    pub fn sender_for<'a>(
        &'a self,
        recipient: &'a Device,
    ) -> Result<(&'a str, &'a Credential), StepError> {
        match self.api.profile.policy.send {
            SendPolicy::SelfOnly => Ok((&recipient.user, &recipient.credential)),
            SendPolicy::AnyUser => match &self.baseline.sender {
                Some((user, credential)) => Ok((user, credential)),
                None => Err(self.baseline.sender_failure.clone().unwrap_or(StepError {
                    step: "sender",
                    problem: "no sender account".to_owned(),
                    exchange: None,
                })),
            },
        }
    }

    /// Sends `message` to the device's user, waits for the device's push
    /// and reads the id out of it, holding the device's lease so no other
    /// check's push is taken for this one. Any failure is the backend's.
    pub async fn deliver(&self, device: &Device, message: &str) -> Result<Delivered, StepError> {
        let (sender, credential) = self.sender_for(device)?;
        self.deliver_from(device, sender, credential, message).await
    }

    /// [`Suite::deliver`] with a sender of the check's choosing (`sender`
    /// signed in with `credential`).
    pub async fn deliver_from(
        &self,
        device: &Device,
        sender: &str,
        credential: &Credential,
        message: &str,
    ) -> Result<Delivered, StepError> {
        let notify = &self.api.profile.requests.notify;
        self.send_and_wait(device, sender, credential, message, notify, None)
            .await
    }

    /// [`Suite::deliver`] through `request` (the notify request or another
    /// send the profile declares, such as `short_notify`), with
    /// `lifetime_s` for its `{lifetime_s}`.
    pub async fn deliver_via(
        &self,
        device: &Device,
        message: &str,
        request: &Request,
        lifetime_s: Option<u64>,
    ) -> Result<Delivered, StepError> {
        let (sender, credential) = self.sender_for(device)?;
        self.send_and_wait(device, sender, credential, message, request, lifetime_s)
            .await
    }

    /// Sends `message` through `request` as `sender` and waits for the
    /// device's push, holding the device's lease.
    async fn send_and_wait(
        &self,
        device: &Device,
        sender: &str,
        credential: &Credential,
        message: &str,
        request: &Request,
        lifetime_s: Option<u64>,
    ) -> Result<Delivered, StepError> {
        let lease = self.lease(device);
        let _held = lease.lock().await;
        // A push left over from an earlier step of the same check.
        while device.inbox.try_recv().is_some() {}
        let values = Values {
            user: Some(sender.to_owned()),
            recipient: Some(device.user.clone()),
            message: Some(message.to_owned()),
            platform: self
                .profile()
                .platform(device.platform)
                .map(|p| p.name.clone()),
            token: Some(credential.secret().to_owned()),
            lifetime_s,
            ..Values::default()
        };
        let send = self.api.call(request, &values, Some(credential)).await;
        let sent = send.status().is_some_and(|s| request.template.succeeded(s));
        if !sent {
            return Err(StepError {
                step: "send",
                problem: send.describe(),
                exchange: Some(Box::new(send)),
            });
        }
        let wait = self.options.timeout;
        let Some(delivery) = device.inbox.recv_within(wait).await else {
            return Err(StepError {
                step: "push",
                problem: format!(
                    "no push reached {} ({} {}) within {:.0} s of an accepted send",
                    device.name,
                    device.platform,
                    device.user,
                    wait.as_secs_f64()
                ),
                exchange: Some(Box::new(send)),
            });
        };
        let id = self
            .profile()
            .platform(device.platform)
            .and_then(|p| p.id.extract(&delivery.headers, &delivery.body));
        match id {
            Some(id) => Ok(Delivered { send, delivery, id }),
            None => Err(StepError {
                step: "push",
                problem: format!(
                    "the push to {} carries no id where the profile says ({})",
                    device.name,
                    self.profile()
                        .platform(device.platform)
                        .map_or_else(String::new, |p| p.id.describe())
                ),
                exchange: Some(Box::new(send)),
            }),
        }
    }

    fn lease(&self, device: &Device) -> Arc<tokio::sync::Mutex<()>> {
        self.leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(device.handle.handle.clone())
            .or_default()
            .clone()
    }

    /// Fetches notification `id` with `credential` (none: anonymously).
    pub async fn fetch(&self, credential: Option<&Credential>, user: &str, id: &str) -> Exchange {
        fetch(&self.api, credential, user, id).await
    }

    /// Whether a fetch answer is a success carrying exactly `secret`.
    pub fn fetched(&self, exchange: &Exchange, secret: &str) -> bool {
        exchange.reply().is_some_and(|r| r.status.is_success())
            && self.api.payload(exchange).as_deref() == Some(secret)
    }

    /// Any request: `target` is a path and query on the backend (or a
    /// whole URL).
    pub async fn raw(
        &self,
        method: Method,
        target: &str,
        headers: Vec<(String, String)>,
        body: Bytes,
    ) -> Exchange {
        self.api.client.raw(method, target, headers, body).await
    }

    /// Every capture since the baseline began, oldest first.
    pub async fn captures(&self) -> Result<Vec<Capture>, PlaneError> {
        self.plane
            .captures_after(self.baseline.captures_after)
            .await
    }

    /// The captures since the baseline began that were addressed to
    /// `device`'s handle, oldest first.
    pub async fn captures_of(&self, device: &Device) -> Result<Vec<Capture>, PlaneError> {
        let handle = &device.handle.handle;
        Ok(self
            .captures()
            .await?
            .into_iter()
            .filter(|c| c.device.as_deref() == Some(handle.as_str()))
            .collect())
    }

    /// Waits up to `window` for a push to `device`, holding its lease, and
    /// returns it if one comes (or had already come): for a push that must
    /// not arrive. A push to another device of the same send lands at the
    /// same moment on a backend that pushes as it stores, so a short window
    /// after the expected push has arrived is enough.
    pub async fn expect_no_push(&self, device: &Device, window: Duration) -> Option<Delivery> {
        let lease = self.lease(device);
        let _held = lease.lock().await;
        match device.inbox.try_recv() {
            Some(delivery) => Some(delivery),
            None => device.inbox.recv_within(window).await,
        }
    }

    /// A fresh user with a session of its own and no device: a caller for
    /// probes whose own failures (a throttle counts them) must not touch
    /// the baseline's users.
    pub async fn fresh_caller(&self, purpose: &str) -> Result<(User, Credential), StepError> {
        let user = self.fresh_user(purpose).await?;
        let credential = self.api.credential(&user.name, &user.password).await?;
        Ok((user, credential))
    }

    /// Deletes (acknowledges) notification `id` with `credential`, when the
    /// profile declares how (`requests.delete`).
    pub async fn delete(&self, credential: &Credential, user: &str, id: &str) -> Option<Exchange> {
        let request = self.profile().requests.delete.as_ref()?;
        let values = Values {
            user: Some(user.to_owned()),
            id: Some(id.to_owned()),
            token: Some(credential.secret().to_owned()),
            ..Values::default()
        };
        Some(self.api.call(request, &values, Some(credential)).await)
    }

    /// Whether the backend is on a loopback address.
    pub fn loopback(&self) -> bool {
        let host = self
            .options
            .origin
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default();
        let host = host
            .rsplit_once(':')
            .map_or(host, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_second_device_is_always_on_another_platform() {
        for platforms in 1..=3 {
            for devices in 1..=40 {
                let users = SuiteOptions::users_for(devices, platforms, true);
                assert!(users >= 1 && users <= devices);
                for i in 0..devices {
                    for j in (i + 1)..devices {
                        if i % users == j % users {
                            assert_ne!(
                                i % platforms,
                                j % platforms,
                                "{devices} devices, {platforms} platforms"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(SuiteOptions::users_for(6, 3, true), 4);
        assert_eq!(SuiteOptions::users_for(9, 3, false), 9);
    }
}
