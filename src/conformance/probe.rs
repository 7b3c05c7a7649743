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

use super::context::{Delivered, Secret, Suite};
use super::evidence;
use super::findings::Findings;
use crate::client::Exchange;
use crate::device::Device;

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
                suite.deliver(device, &secret.message).await,
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

/// Runs futures concurrently and returns their outputs in order.
pub async fn futures_join<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}

/// Whether an answer carries the secret (its canary, in any case) in its
/// body or any header.
pub fn leaks(exchange: &Exchange, secret: &Secret) -> bool {
    let Some(reply) = exchange.reply() else {
        return false;
    };
    let needle = secret.canary.as_bytes();
    contains_ignore_case(&reply.body, needle)
        || reply
            .headers
            .values()
            .any(|v| contains_ignore_case(v.as_bytes(), needle))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
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
    if suite.fetched(&exchange, &probed.secret.message) {
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
