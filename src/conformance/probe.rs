//! Building blocks of the "must be refused" checks: fresh notifications on
//! proven devices, probes that look for the secret in an answer, and the
//! positive control (the rightful owner fetches the same id afterwards, so
//! a refusal is known to be a refusal, not a deletion or an expiry).
//!
//! Probes run before the owner's first fetch of each notification, so a
//! backend with a single-use replay policy is judged fairly.

use std::collections::BTreeSet;
use std::sync::Arc;

use pushproof_mocks::Platform;

use super::context::{Delivered, Secret, Suite, User};
use super::evidence;
use super::findings::Findings;
use super::leak::{Hit, Message, Scanner};
use crate::client::Exchange;
use crate::device::{Device, EnrollError};

/// A fresh notification delivered to a device, ready to probe.
pub struct Probed {
    pub owner: Arc<Device>,
    pub secret: Secret,
    pub delivered: Delivered,
}

/// Baseline devices whose baseline round trip verified (a path known to
/// work): at least `total`, and one on every such platform, taken round
/// by round over the platforms, a new user's device first.
pub fn proven_devices(suite: &Suite, total: usize) -> Vec<Arc<Device>> {
    let verified: Vec<Arc<Device>> = suite.verified().iter().map(|v| v.device.clone()).collect();
    let platforms = proven_platforms(suite);
    let mut chosen: Vec<Arc<Device>> = Vec::new();
    loop {
        let before = chosen.len();
        for platform in &platforms {
            let fresh_user = |d: &&Arc<Device>| !chosen.iter().any(|c| c.user == d.user);
            let unused: Vec<&Arc<Device>> = verified
                .iter()
                .filter(|d| d.platform == *platform && !chosen.iter().any(|c| c.index == d.index))
                .collect();
            let next = unused
                .iter()
                .copied()
                .find(fresh_user)
                .or_else(|| unused.first().copied());
            if let Some(device) = next {
                chosen.push(device.clone());
            }
        }
        if chosen.len() >= total || chosen.len() == before {
            return chosen;
        }
    }
}

/// The platforms on which the baseline verified at least one notification:
/// the ones a probing check must cover.
pub fn proven_platforms(suite: &Suite) -> BTreeSet<Platform> {
    suite.verified().iter().map(|v| v.device.platform).collect()
}

/// Delivers a fresh secret (from `purpose`'s generator) to each device;
/// what the backend failed is recorded in `f` as a backend failure.
pub async fn deliver_fresh(
    suite: &Suite,
    devices: &[Arc<Device>],
    purpose: &str,
    f: &mut Findings,
) -> Vec<Probed> {
    let mut rng = suite.rng(purpose);
    let secrets: Vec<Secret> = devices.iter().map(|_| suite.secret(&mut rng)).collect();
    let deliveries = futures_join(devices.iter().zip(&secrets).map(
        |(device, secret)| async move {
            (
                device.clone(),
                secret.clone(),
                suite.deliver(device, secret.text()).await,
            )
        },
    ))
    .await;
    let mut probed = Vec::new();
    for (owner, secret, result) in deliveries {
        match result {
            Ok(delivered) => probed.push(Probed {
                owner,
                secret,
                delivered,
            }),
            Err(error) => {
                let mut e = evidence::step(&error);
                e.subject = Some(evidence::subject(&owner));
                f.backend_failure(e);
            }
        }
    }
    probed
}

/// [`proven_platforms`] in order; none is a shortfall recorded in `f` (a
/// probe would prove nothing where the baseline failed: SP-FLOW-01 says
/// so).
pub fn required_platforms(suite: &Suite, f: &mut Findings) -> Vec<Platform> {
    let platforms: Vec<Platform> = proven_platforms(suite).into_iter().collect();
    f.require(
        !platforms.is_empty(),
        "no platform's baseline round trip verified",
    );
    platforms
}

/// One proven device per proven platform, in platform order.
pub fn one_per_platform(suite: &Suite) -> Vec<Arc<Device>> {
    let platforms = proven_platforms(suite);
    let devices = proven_devices(suite, platforms.len());
    platforms
        .iter()
        .filter_map(|p| devices.iter().find(|d| d.platform == *p).cloned())
        .collect()
}

/// A fresh user for `purpose`; what the backend failed is recorded in `f`.
pub async fn fresh_user(suite: &Suite, purpose: &str, f: &mut Findings) -> Option<User> {
    match suite.fresh_user(purpose).await {
        Ok(user) => Some(user),
        Err(e) => {
            f.backend_failed(&e);
            None
        }
    }
}

/// A fresh device of `user` on each of `platforms`; a backend failure (or
/// the mock plane's) is recorded in `f` and ends the enrolment.
pub async fn fresh_devices(
    suite: &Suite,
    user: &User,
    platforms: &[Platform],
    f: &mut Findings,
) -> Option<Vec<Arc<Device>>> {
    let mut devices = Vec::with_capacity(platforms.len());
    for platform in platforms {
        match suite.fresh_device(user, *platform).await {
            Ok(device) => devices.push(device),
            Err(EnrollError::Backend(e)) => {
                f.backend_failed(&e);
                return None;
            }
            Err(EnrollError::Plane(e)) => {
                f.harness_error(e.to_string());
                return None;
            }
        }
    }
    Some(devices)
}

/// Runs futures concurrently and returns their outputs in order.
pub async fn futures_join<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}

/// Whether an answer carries the secret: any of its canaries, in its body
/// or any header, plain or through any transform the leak scanner knows.
pub fn leaks(exchange: &Exchange, secret: &Secret) -> bool {
    !leak_hits(exchange, secret).is_empty()
}

/// Every sighting of the secret in an answer (none when no answer came).
pub fn leak_hits(exchange: &Exchange, secret: &Secret) -> Vec<Hit> {
    let Some(reply) = exchange.reply() else {
        return Vec::new();
    };
    Scanner::new(std::slice::from_ref(secret))
        .scan_message(&Message::response(&reply.headers, &reply.body))
}

/// The positive control: the owner fetches the notification with its own
/// session and gets exactly its secret. When it does not, the refusals
/// before prove nothing, and the backend failed its own user: recorded as
/// a backend failure. Returns whether the control held.
pub async fn control(suite: &Suite, probed: &Probed, f: &mut Findings) -> bool {
    let owner = &probed.owner;
    let exchange = suite
        .fetch(Some(&owner.credential), &owner.user, &probed.delivered.id)
        .await;
    if suite.fetched(&exchange, probed.secret.text()) {
        return true;
    }
    f.backend_failure(evidence::about(
        owner,
        format!(
            "positive control failed: {}'s owner could not fetch notification {} after the probe ({})",
            owner.name,
            probed.delivered.id,
            exchange
                .status()
                .map_or_else(|| exchange.describe(), |s| format!("status {s}"))
        ),
        Some(&exchange),
    ));
    false
}
