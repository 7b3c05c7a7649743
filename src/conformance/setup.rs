//! The steps checks that change state share: a fresh user and its devices,
//! a notification delivered to one, and a device reading one back. Each
//! records what went wrong in the check's [`Findings`] (the backend's
//! failure as FAIL, the plane's as ERROR) and returns `None`, so a check
//! reads as its method: `let Some(x) = step(…, &mut f).await else { return f };`.

use std::sync::Arc;

use pushproof_mocks::Platform;

use super::context::{Delivered, Secret, Suite, User};
use super::evidence;
use super::findings::Findings;
use super::probe;
use crate::client::Exchange;
use crate::device::{Device, EnrollError, Outcome};
use crate::profile::{Request, Values};

/// The first platform whose baseline round trip verified (a shortfall
/// when none did).
pub fn proven_platform(suite: &Suite, f: &mut Findings) -> Option<Platform> {
    let first = probe::proven_platforms(suite).into_iter().next();
    if first.is_none() {
        f.shortfall("no platform's baseline round trip verified");
    }
    first
}

/// A fresh user named for `purpose`.
pub async fn user(suite: &Suite, purpose: &str, f: &mut Findings) -> Option<User> {
    match suite.fresh_user(purpose).await {
        Ok(user) => Some(user),
        Err(e) => {
            f.backend_failed(&e);
            None
        }
    }
}

/// Records an enrolment failure where it belongs.
pub fn enrol_failed(error: EnrollError, f: &mut Findings) {
    match error {
        EnrollError::Backend(e) => f.backend_failed(&e),
        EnrollError::Plane(e) => f.harness_error(e.to_string()),
    }
}

/// One device of `user` per platform given, each with its own session.
pub async fn devices(
    suite: &Suite,
    user: &User,
    platforms: &[Platform],
    f: &mut Findings,
) -> Option<Vec<Arc<Device>>> {
    let mut devices = Vec::new();
    for platform in platforms {
        match suite.fresh_device(user, *platform).await {
            Ok(device) => devices.push(device),
            Err(e) => {
                enrol_failed(e, f);
                return None;
            }
        }
    }
    Some(devices)
}

/// A fresh user and one device of it on `platform`.
pub async fn user_with_device(
    suite: &Suite,
    purpose: &str,
    platform: Platform,
    f: &mut Findings,
) -> Option<(User, Arc<Device>)> {
    let user = user(suite, purpose, f).await?;
    let mut devices = devices(suite, &user, &[platform], f).await?;
    let device = devices.pop()?;
    Some((user, device))
}

/// Delivers `secret` to `device` ([`Suite::deliver`]).
pub async fn deliver(
    suite: &Suite,
    device: &Device,
    secret: &Secret,
    f: &mut Findings,
) -> Option<Delivered> {
    match suite.deliver(device, secret.text()).await {
        Ok(delivered) => Some(delivered),
        Err(e) => {
            f.backend_failed(&e);
            None
        }
    }
}

/// `device` reads notification `id` with its own session and gets exactly
/// `secret`; otherwise a backend failure that says `why` it had to (the
/// positive control, or a read the check builds on).
pub async fn read_back(
    suite: &Suite,
    device: &Device,
    id: &str,
    secret: &Secret,
    why: &str,
    f: &mut Findings,
) -> bool {
    let exchange = suite
        .fetch(Some(&device.credential), &device.user, id)
        .await;
    if suite.fetched(&exchange, secret.text()) {
        return true;
    }
    f.backend_failure(evidence::about(
        device,
        format!(
            "{why}: {}'s own session could not read notification {id} ({})",
            device.name,
            exchange.describe()
        ),
        Some(&exchange),
    ));
    false
}

/// Every verified baseline fetch: the device, and its fetch's exchange (the
/// recipient reading exactly its own content).
pub fn verified_fetches(suite: &Suite) -> Vec<(&Arc<Device>, &Exchange)> {
    let baseline = &suite.baseline;
    baseline
        .trips
        .iter()
        .filter(|trip| trip.outcome == Outcome::Verified)
        .filter_map(|trip| {
            let device = baseline.devices.iter().find(|d| d.index == trip.device)?;
            Some((device, trip.exchange.as_ref()?))
        })
        .collect()
}

/// Runs a request of the profile that must succeed (a logout, a disable)
/// as `device`, with its session.
pub async fn step_as(
    suite: &Suite,
    step: &'static str,
    request: &Request,
    device: &Device,
    f: &mut Findings,
) -> bool {
    let values = Values {
        token: Some(device.credential.secret().to_owned()),
        ..device.values(&suite.api)
    };
    match suite
        .api
        .step(step, request, &values, Some(&device.credential))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            f.backend_failed(&e);
            false
        }
    }
}
