//! The fleet: many simulated devices as tokio tasks, for several users
//! (some with more than one device), with bounded concurrency.
//!
//! Every device runs in its own task, so the fleet uses every core. A
//! semaphore bounds what is in flight: enough to load the backend, few
//! enough that the harness does not exhaust file descriptors or turn its own
//! scheduling into the bottleneck.

use std::sync::Arc;
use std::time::Instant;

use pushproof_mocks::Platform;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::api::StepError;
use super::device::{round_trip, Context, Device, EnrollError, RoundTrip};
use crate::client::Credential;
use crate::metrics::Latency;
use crate::profile::SendPolicy;

/// How many devices and users, on which platforms, how hard.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    pub devices: usize,
    /// Device `i` belongs to user `i % users`: with fewer users than
    /// devices, the first users have two (or more) devices, on different
    /// platforms.
    pub users: usize,
    /// Devices are spread round-robin over these.
    pub platforms: Vec<Platform>,
    /// Requests in flight at once during enrolment and sends.
    pub concurrency: usize,
    /// Distinguishes this run's user names (and passwords) from earlier
    /// runs' on a persistent backend.
    pub run_tag: String,
}

/// One enrolment that failed, and why.
#[derive(Debug, Clone)]
pub struct EnrolFailure {
    pub device: usize,
    pub user: String,
    pub platform: Platform,
    pub error: EnrollError,
}

/// An enrolled fleet, and what failed.
pub struct Fleet {
    /// Enrolled devices, in index order.
    pub devices: Vec<Arc<Device>>,
    pub enrol_failures: Vec<EnrolFailure>,
    pub enrol_latency: Latency,
    /// The account secrets are sent from (`None` when the backend's policy
    /// is that users notify only themselves, or its sign-in failed).
    pub sender: Option<(String, Credential)>,
    /// Why the sender could not sign in.
    pub sender_failure: Option<StepError>,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("the fleet needs at least one platform")]
    NoPlatform,
}

impl FleetPlan {
    /// The name of user `i` in this run.
    pub fn user_name(&self, i: usize) -> String {
        format!("pp-{}-u{i}", self.run_tag)
    }
}

impl Fleet {
    /// Creates the users, signs in the sender and enrols every device.
    pub async fn enroll(ctx: &Context, plan: &FleetPlan) -> Result<Fleet, FleetError> {
        if plan.platforms.is_empty() {
            return Err(FleetError::NoPlatform);
        }
        let api = &ctx.api;
        let static_users = api.static_users();
        let users: Vec<(String, String)> = (0..plan.users.max(1))
            .map(|i| {
                let name = match &static_users {
                    Some(names) => names[i % names.len()].clone(),
                    None => plan.user_name(i),
                };
                let password = api.password_for(&name, &plan.run_tag);
                (name, password)
            })
            .collect();
        let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));

        // Users first, so each of a user's devices only logs in.
        let mut created = JoinSet::new();
        for (i, (name, password)) in users.iter().cloned().enumerate() {
            let (api, permits) = (api.clone(), permits.clone());
            created.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                (i, api.create_user(&name, &password).await)
            });
        }
        let mut user_failures: Vec<Option<StepError>> = vec![None; users.len()];
        while let Some(joined) = created.join_next().await {
            if let Ok((i, Err(e))) = joined {
                user_failures[i] = Some(e);
            }
        }

        let (sender, sender_failure) = match api.profile.policy.send {
            SendPolicy::SelfOnly => (None, None),
            SendPolicy::AnyUser => {
                let name = match &static_users {
                    Some(names) => names[names.len() - 1].clone(),
                    None => format!("pp-{}-sender", plan.run_tag),
                };
                let password = api.password_for(&name, &plan.run_tag);
                match api.sign_in(&name, &password).await {
                    Ok(credential) => (Some((name, credential)), None),
                    Err(e) => (None, Some(e)),
                }
            }
        };

        let mut tasks = JoinSet::new();
        let mut fleet = Fleet {
            devices: Vec::with_capacity(plan.devices),
            enrol_failures: Vec::new(),
            enrol_latency: Latency::default(),
            sender,
            sender_failure,
        };
        for index in 0..plan.devices {
            let platform = plan.platforms[index % plan.platforms.len()];
            let user = index % users.len();
            let (name, password) = users[user].clone();
            if let Some(error) = &user_failures[user] {
                fleet.enrol_failures.push(EnrolFailure {
                    device: index,
                    user: name,
                    platform,
                    error: EnrollError::Backend(error.clone()),
                });
                continue;
            }
            let (ctx, permits) = (ctx.clone(), permits.clone());
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let started = Instant::now();
                let result = Device::enroll(&ctx, index, &name, &password, platform).await;
                (index, name, platform, started.elapsed(), result)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (index, user, platform, elapsed, result) =
                joined.expect("enrolment tasks do not panic");
            match result {
                Ok(device) => {
                    fleet.enrol_latency.record(elapsed);
                    fleet.devices.push(Arc::new(device));
                }
                Err(error) => fleet.enrol_failures.push(EnrolFailure {
                    device: index,
                    user,
                    platform,
                    error,
                }),
            }
        }
        fleet.devices.sort_by_key(|d| d.index);
        fleet.enrol_failures.sort_by_key(|f| f.device);
        Ok(fleet)
    }

    /// Sends `secrets[device.index]` to each device's user and has each
    /// device receive, fetch and verify it, `concurrency` at a time.
    /// Results come back in device order.
    pub async fn round_trips(
        &self,
        ctx: &Context,
        devices: &[Arc<Device>],
        secrets: &Arc<Vec<String>>,
        concurrency: usize,
    ) -> Vec<RoundTrip> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for device in devices {
            let (ctx, permits, secrets) = (ctx.clone(), permits.clone(), secrets.clone());
            let device = device.clone();
            let sender = self.sender.clone();
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let (user, credential) = match &sender {
                    Some((user, credential)) => (user.clone(), credential.clone()),
                    // Self-notifying backends: the device's user sends.
                    None => (device.user.clone(), device.credential.clone()),
                };
                round_trip(&ctx, &credential, &user, &device, &secrets[device.index]).await
            });
        }
        let mut trips = Vec::with_capacity(devices.len());
        while let Some(joined) = tasks.join_next().await {
            trips.push(joined.unwrap_or_else(|e| RoundTrip::failed(usize::MAX, &e.to_string())));
        }
        trips.sort_by_key(|t| t.device);
        trips
    }
}
