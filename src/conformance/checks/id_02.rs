//! SP-ID-02: ids are unique and never reused. An id that names two
//! notifications, for two users or one after the other, sends one user's
//! device to another's content the day an authorization check slips, and
//! makes a deleted notification's id live again. Three fresh users get
//! five notifications each; every id read from every push to a device the
//! harness knows (the baseline's and these) must belong to one user and
//! one notification. When the profile can delete notifications
//! (`requests.delete`), three are deleted and three more sent: no push
//! after the deletes may carry a deleted id, whoever it is for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pushproof_mocks::Capture;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::{evidence, probe, pushes};
use crate::device::Device;
use crate::profile::{Capability, Values};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-ID-02",
    title: "Ids unique, never reused",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Three fresh users, each with a fresh device on a proven platform, get five \
             notifications each; the ids in every captured push to a known device (the \
             baseline's and these) must each name one notification of one user (an id seen \
             for two users, or for two of the check's own sends, is a violation). With \
             requests.delete: one user deletes three of its notifications (each delete must \
             succeed), then three more are sent; no push captured after the deletes may carry \
             a deleted id. Needs 20 ids over three users, and the three deletes when the \
             profile can delete",
    sources: &[
        "OWASP ASVS 5.0 8.4.1 (cross-tenant and cross-user isolation)",
        "OWASP ASVS 5.0 11.5.1",
        "Schemathesis use_after_free (a deleted resource stays gone)",
    ],
    needs: &[],
    sample: Sample {
        min: 20,
        unit: "ids",
    },
};

const USERS: usize = 3;
const PER_USER: usize = 5;
const DELETES: usize = 3;

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms: Vec<_> = probe::proven_platforms(suite).into_iter().collect();
    if platforms.is_empty() {
        f.shortfall("no platform's baseline round trip verified");
        return f;
    }
    let mut devices: Vec<Arc<Device>> = Vec::new();
    for n in 0..USERS {
        let Some(user) = probe::fresh_user(suite, "id02", &mut f).await else {
            return f;
        };
        let platform = [platforms[n % platforms.len()]];
        let Some(device) = probe::fresh_devices(suite, &user, &platform, &mut f).await else {
            return f;
        };
        devices.extend(device);
    }
    let mut rng = suite.rng(INFO.id);
    let secrets: Vec<Vec<_>> = devices
        .iter()
        .map(|_| (0..PER_USER).map(|_| suite.secret(&mut rng)).collect())
        .collect();
    // Users in parallel, each user's notifications one after the other.
    let delivered = futures::future::join_all(devices.iter().zip(&secrets).map(
        |(device, secrets)| async move {
            let mut ids = Vec::new();
            for secret in secrets {
                match suite.deliver(device, secret.text()).await {
                    Ok(d) => ids.push(d.id),
                    Err(e) => return Err(e),
                }
            }
            Ok(ids)
        },
    ))
    .await;
    let mut own: Vec<(usize, String)> = Vec::new();
    for (i, result) in delivered.into_iter().enumerate() {
        match result {
            Ok(ids) => own.extend(ids.into_iter().map(|id| (i, id))),
            Err(e) => {
                f.backend_failed(&e);
                return f;
            }
        }
    }
    if suite.profile().has(Capability::Delete) {
        deletes(suite, &devices, &mut f).await;
    }
    let Some(captures) = pushes::all(suite, &mut f).await else {
        return f;
    };
    // The check's own sends: distinct notifications, distinct ids.
    let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, id) in &own {
        by_id.entry(id.as_str()).or_default().push(*i);
    }
    for (id, owners) in &by_id {
        if owners.len() < 2 {
            continue;
        }
        let device = &devices[owners[0]];
        let what = format!(
            "id {id} was given to {} of the check's notifications ({})",
            owners.len(),
            owners
                .iter()
                .map(|i| devices[*i].user.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut e = match pushes::capture_of(&captures, device, id) {
            Some(capture) => pushes::id_sighting(what, capture, Some(device), id, "reused id"),
            None => evidence::about(device, what, None),
        };
        e.detail = serde_json::json!({ "id": id });
        f.violation(e);
    }
    let users = across_users(suite, &devices, &captures, &mut f);
    f.require(
        users >= USERS,
        format!("ids of {users} user(s) were seen; needs {USERS}"),
    );

    if f.violations.is_empty() {
        f.summary(format!(
            "{} ids of {users} users each name one notification of one user{}",
            f.gathered,
            if suite.profile().has(Capability::Delete) {
                format!("; {DELETES} deleted ids were not handed out again")
            } else {
                String::new()
            }
        ));
    }
    f
}

/// Every id in every captured push to a known device: an id pushed to
/// devices of two users names two notifications. Counts the ids into the
/// sample; returns how many users' ids were seen.
fn across_users(
    suite: &Suite,
    devices: &[Arc<Device>],
    captures: &[Capture],
    f: &mut Findings,
) -> usize {
    let mut users_of: BTreeMap<String, BTreeMap<String, &Capture>> = BTreeMap::new();
    for capture in captures
        .iter()
        .filter(|c| c.kind == pushproof_mocks::CaptureKind::Push && c.accepted())
    {
        let Some(device) = pushes::device_of(suite, devices, capture) else {
            continue;
        };
        let Some(id) = pushes::id_of(suite, capture) else {
            continue;
        };
        users_of
            .entry(id)
            .or_default()
            .entry(device.user.clone())
            .or_insert(capture);
    }
    f.gathered(users_of.len());
    let mut users = BTreeSet::new();
    for (id, owners) in &users_of {
        users.extend(owners.keys().cloned());
        if owners.len() < 2 {
            continue;
        }
        let (second_user, capture) = owners.iter().nth(1).expect("two owners");
        let device = pushes::device_of(suite, devices, capture);
        let mut e = pushes::id_sighting(
            format!(
                "id {id} names notifications of {} users: {} and {second_user} (push #{})",
                owners.len(),
                owners.keys().next().map_or("", String::as_str),
                capture.seq
            ),
            capture,
            device,
            id,
            "reused id",
        );
        e.detail = serde_json::json!({
            "id": id,
            "pushes": owners.iter().map(|(u, c)| serde_json::json!({"user": u, "capture": c.seq})).collect::<Vec<_>>(),
        });
        f.violation(e);
    }
    users.len()
}

/// The delete probe: the first device's user deletes three of its
/// notifications, then three more are sent (to it and to the next user);
/// no push captured after the deletes may carry a deleted id.
async fn deletes(suite: &Suite, devices: &[Arc<Device>], f: &mut Findings) {
    let Some(request) = suite.profile().requests.delete.as_ref() else {
        return;
    };
    let owner = &devices[0];
    let mut rng = suite.rng(&format!("{}/delete", INFO.id));
    let mut deleted = Vec::new();
    for _ in 0..DELETES {
        let secret = suite.secret(&mut rng);
        let delivered = match suite.deliver(owner, secret.text()).await {
            Ok(d) => d,
            Err(e) => {
                f.backend_failed(&e);
                return;
            }
        };
        let values = Values {
            id: Some(delivered.id.clone()),
            ..owner.values(&suite.api)
        };
        if let Err(e) = suite
            .api
            .step("delete", request, &values, Some(&owner.credential))
            .await
        {
            f.backend_failed(&e);
            return;
        }
        // Pushes from here on must not carry this id.
        match suite.plane.capture_stats().await {
            Ok(stats) => deleted.push((delivered.id, stats.total.checked_sub(1))),
            Err(e) => {
                f.harness_error(e.to_string());
                return;
            }
        }
    }
    let mark = deleted.first().and_then(|(_, mark)| *mark);
    for device in [owner, &devices[1 % devices.len()], owner] {
        let secret = suite.secret(&mut rng);
        if let Err(e) = suite.deliver(device, secret.text()).await {
            f.backend_failed(&e);
            return;
        }
    }
    let after = match suite.plane.captures_after(mark).await {
        Ok(captures) => captures,
        Err(e) => {
            f.harness_error(e.to_string());
            return;
        }
    };
    let mut reported = BTreeSet::new();
    for (id, mark) in &deleted {
        if !reported.insert(id) {
            continue;
        }
        let reissued = after.iter().find(|c| {
            c.kind == pushproof_mocks::CaptureKind::Push
                && mark.is_none_or(|m| c.seq > m)
                && c.body.windows(id.len()).any(|w| w == id.as_bytes())
        });
        if let Some(capture) = reissued {
            let device = pushes::device_of(suite, devices, capture);
            let mut e = pushes::id_sighting(
                format!(
                    "id {id}, deleted by {}, was handed out again: push #{} to {} carries it",
                    owner.user,
                    capture.seq,
                    pushes::recipient(capture, device)
                ),
                capture,
                device.or(Some(owner)),
                id,
                "reissued id",
            );
            e.detail = serde_json::json!({ "id": id, "deleted_by": owner.user });
            f.violation(e);
        }
    }
}
