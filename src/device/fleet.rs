//! The fleet: thousands of simulated devices as tokio tasks.
//!
//! Every device runs in its own task, so the fleet uses every core. A
//! semaphore bounds what is in flight: enough to load the backend, few
//! enough that the harness does not exhaust file descriptors or turn its own
//! scheduling into the bottleneck.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pushproof_mocks::Platform;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::account::sign_in;
use super::client::Credential;
use super::device::{round_trip, Context, Device, Outcome, RoundTrip};
use crate::metrics::Latency;

/// How many devices, on which platforms, how hard.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    pub devices: usize,
    /// Devices are spread round-robin over these.
    pub platforms: Vec<Platform>,
    /// Requests in flight at once during enrolment and sends.
    pub concurrency: usize,
    /// How long a device waits for its push.
    pub push_timeout: Duration,
    /// Distinguishes this run's user names from earlier runs' on a
    /// persistent backend.
    pub run_tag: String,
}

/// An enrolled fleet, and the devices that failed to enrol.
pub struct Fleet {
    /// Enrolled devices, in index order.
    pub devices: Vec<Arc<Device>>,
    /// `(device index, reason)` of each device that could not enrol.
    pub enrol_failures: Vec<(usize, String)>,
    pub enrol_latency: Latency,
    /// The account secrets are sent from.
    pub sender: Credential,
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("the sender account could not sign in: {0}")]
    Sender(String),
    #[error("the fleet needs at least one platform")]
    NoPlatform,
}

/// A password for a simulated user, unique per user and run.
fn password_for(run_tag: &str, user: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(format!("{run_tag}/{user}").as_bytes())[..16])
}

impl Fleet {
    /// Signs in the sender and enrols every device.
    pub async fn enroll(ctx: &Context, plan: &FleetPlan) -> Result<Fleet, FleetError> {
        if plan.platforms.is_empty() {
            return Err(FleetError::NoPlatform);
        }
        let sender_user = format!("pp-{}-sender", plan.run_tag);
        let sender = sign_in(
            &ctx.client,
            &ctx.profile,
            &sender_user,
            &password_for(&plan.run_tag, &sender_user),
        )
        .await
        .map_err(|e| FleetError::Sender(e.to_string()))?;

        let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for index in 0..plan.devices {
            let (ctx, permits) = (ctx.clone(), permits.clone());
            let platform = plan.platforms[index % plan.platforms.len()];
            let user = format!("pp-{}-{index}", plan.run_tag);
            let password = password_for(&plan.run_tag, &user);
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let started = Instant::now();
                let result = Device::enroll(&ctx, index, user, &password, platform).await;
                (index, started.elapsed(), result)
            });
        }
        let mut fleet = Fleet {
            devices: Vec::with_capacity(plan.devices),
            enrol_failures: Vec::new(),
            enrol_latency: Latency::default(),
            sender,
        };
        while let Some(joined) = tasks.join_next().await {
            let (index, elapsed, result) = joined.expect("enrolment tasks do not panic");
            match result {
                Ok(device) => {
                    fleet.enrol_latency.record(elapsed);
                    fleet.devices.push(Arc::new(device));
                }
                Err(e) => fleet.enrol_failures.push((index, e.to_string())),
            }
        }
        fleet.devices.sort_by_key(|d| d.index);
        fleet.enrol_failures.sort();
        Ok(fleet)
    }

    /// Sends `secrets[device.index]` to each device's user and has each
    /// device receive, fetch and verify it. Results come back in device
    /// order.
    pub async fn round_trips(
        &self,
        ctx: &Context,
        secrets: &Arc<Vec<String>>,
        plan: &FleetPlan,
    ) -> Vec<RoundTrip> {
        let permits = Arc::new(Semaphore::new(plan.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for device in &self.devices {
            let (ctx, permits, secrets) = (ctx.clone(), permits.clone(), secrets.clone());
            let (device, sender) = (device.clone(), self.sender.clone());
            let timeout = plan.push_timeout;
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                round_trip(&ctx, &sender, &device, &secrets[device.index], timeout).await
            });
        }
        let mut trips = Vec::with_capacity(self.devices.len());
        while let Some(joined) = tasks.join_next().await {
            trips.push(joined.unwrap_or_else(|e| RoundTrip::failed(usize::MAX, &e.to_string())));
        }
        trips.sort_by_key(|t| t.device);
        trips
    }
}

impl RoundTrip {
    /// A round trip whose task died; kept so counts still add up.
    fn failed(device: usize, reason: &str) -> RoundTrip {
        RoundTrip {
            device,
            outcome: Outcome::SendFailed(format!("device task failed: {reason}")),
            send: None,
            push: None,
            fetch: None,
            end_to_end: None,
            id: None,
        }
    }
}
