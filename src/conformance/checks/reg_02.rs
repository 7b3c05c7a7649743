//! SP-REG-02: registrations belong to their user. In the Notify Users
//! tutorial `PUT` and `DELETE /api/register/{id}` work on any registration
//! id, and `POST /api/register?handle=H` hands out the registration of any
//! handle: an attacker learns a victim's registration, points it at its own
//! device (the victim's pushes, ids and all, now reach the attacker) or
//! deletes it (the victim's device goes silent). User B tries each on user
//! A's registration and claims A's handle; then A is sent a notification,
//! which A's device must get (the positive control) and B's devices must
//! not, and B is sent one, which must not reach A's device.

use std::collections::BTreeSet;

use pushproof_mocks::Platform;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use super::reg_01::STRAY_WINDOW;
use crate::client::Exchange;
use crate::device::{Api, Device, EnrollError};
use crate::profile::{Request, Values};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-REG-02",
    title: "Registrations belong to their user",
    level: Level::Must,
    severity: Severity::High,
    method: "Per proven platform, users A and B each register a fresh device. B asks for a \
             registration of A's handle (it must not get A's registration id), updates A's \
             registration to a handle of its own (requests.update_registration) and deletes it \
             (requests.unregister), each of which must be refused, and registers A's handle as \
             its own (refused too). Then A is sent a notification: A's device must get it \
             (positive control), B's handles nothing; and B is sent one, which must not reach \
             A's device. Needs every platform whose baseline round trip verified",
    sources: &[
        "OWASP ASVS 5.0 8.2.2 (object-level authorization)",
        "OWASP API Security Top 10 2023 API1",
        "Azure Notification Hubs Notify Users tutorial (PUT and DELETE on any registration id)",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms: Vec<Platform> = probe::proven_platforms(suite).into_iter().collect();
    f.require(
        !platforms.is_empty(),
        "no platform's baseline round trip verified",
    );
    let results = futures::future::join_all(platforms.iter().map(|p| probe_one(suite, *p))).await;
    let mut probed = BTreeSet::new();
    let mut refused = 0;
    for (platform, (sub, attempts)) in platforms.iter().zip(results) {
        if sub.gathered > 0 {
            probed.insert(*platform);
        }
        refused += attempts;
        f.absorb(sub);
    }
    for platform in &platforms {
        f.require(probed.contains(platform), format!("no probe on {platform}"));
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "{refused} attempts on another user's registration or handle were refused on {} \
             platform(s); the owners still got their pushes",
            probed.len()
        ));
    }
    f
}

/// Whether an attempt was refused (a 4xx).
fn refused(exchange: &Exchange) -> bool {
    exchange.status().is_some_and(|s| (400..500).contains(&s))
}

/// Judges B's attempt `what` on A's registration: a refusal counts, an
/// acceptance is a violation, anything else the backend's failure.
fn judge(f: &mut Findings, a: &Device, exchange: &Exchange, what: &str) -> usize {
    match exchange.status() {
        _ if refused(exchange) => return 1,
        Some(status @ 200..=399) => f.violation(evidence::about(
            a,
            format!("{what}: accepted ({status})"),
            Some(exchange),
        )),
        Some(status) => f.backend_failure(evidence::about(
            a,
            format!("{what}: the backend answered {status}"),
            Some(exchange),
        )),
        None => f.backend_failure(evidence::about(
            a,
            format!("{what}: no answer ({})", exchange.describe()),
            Some(exchange),
        )),
    }
    0
}

/// Sends `request` as B, naming `registration` and `handle`.
async fn as_b(
    api: &Api,
    request: &Request,
    b: &Device,
    registration: Option<&str>,
    handle: &str,
    platform: Platform,
) -> Exchange {
    let values = Values {
        registration: registration.map(str::to_owned),
        handle: Some(handle.to_owned()),
        platform: api.profile.platform(platform).map(|p| p.name.clone()),
        ..b.values(api)
    };
    api.call(request, &values, Some(&b.credential)).await
}

/// Sends `message` to `owner`'s user: its device must get it and none of
/// `others` (a push to one of them ends the wait at once). Whether the
/// owner got it and nothing strayed.
async fn control(
    suite: &Suite,
    owner: &Device,
    others: &[&Device],
    message: &str,
    f: &mut Findings,
) -> bool {
    let stray = |device: &Device, push: &pushproof_mocks::Delivery| {
        let mut e = evidence::about(
            device,
            format!(
                "a push for {} ({}) reached another user's device {}",
                owner.name, owner.user, device.name
            ),
            None,
        );
        e.detail = serde_json::json!({ "push": evidence::delivery(push) });
        e
    };
    let watched = futures::future::select_all(
        others
            .iter()
            .map(|d| Box::pin(async move { (*d, d.inbox.recv().await) })),
    );
    let delivered = tokio::select! {
        delivered = suite.deliver(owner, message) => delivered,
        ((device, push), _, _) = watched => {
            match push {
                Some(push) => f.violation(stray(device, &push)),
                None => f.harness_error(format!("the inbox of {} stopped answering", device.name)),
            }
            return false;
        }
    };
    if let Err(e) = delivered {
        let mut evidence = evidence::step(&e);
        evidence.what = format!(
            "positive control failed: after another user's attempts {} does not get its pushes: \
             {e}",
            owner.name
        );
        evidence.subject = Some(evidence::subject(owner));
        f.backend_failure(evidence);
        return false;
    }
    let late = futures::future::join_all(
        others
            .iter()
            .map(|d| async move { (*d, suite.expect_no_push(d, STRAY_WINDOW).await) }),
    )
    .await;
    let mut clean = true;
    for (device, push) in late {
        if let Some(push) = push {
            f.violation(stray(device, &push));
            clean = false;
        }
    }
    clean
}

/// One platform's probe: its findings and the attempts refused.
async fn probe_one(suite: &Suite, platform: Platform) -> (Findings, usize) {
    let mut f = Findings::new();
    let api = &suite.api;
    let requests = &suite.profile().requests;
    let made = async {
        let a_user = suite.fresh_user("reg02-a").await?;
        let b_user = suite.fresh_user("reg02-b").await?;
        let a = suite.fresh_device(&a_user, platform).await?;
        let b = suite.fresh_device(&b_user, platform).await?;
        // B's second handle, never registered: where A's pushes would go.
        let spy = suite.unregistered_device(&b_user, platform).await?;
        Ok::<_, EnrollError>((a, b, spy))
    };
    let (a, b, spy) = match made.await {
        Ok(devices) => devices,
        Err(EnrollError::Backend(e)) => {
            f.backend_failed(&e);
            return (f, 0);
        }
        Err(EnrollError::Plane(e)) => {
            f.harness_error(e.to_string());
            return (f, 0);
        }
    };
    let mut attempts = 0;
    // B asks for a registration of A's handle.
    let mut asked = Values {
        handle: Some(a.handle.handle.clone()),
        ..b.values(api)
    };
    asked.registration = None;
    let handed = api
        .call(&requests.register, &asked, Some(&b.credential))
        .await;
    let handed_id = requests
        .register
        .answer
        .registration
        .as_deref()
        .and_then(|pointer| Api::answer(&handed, pointer));
    if let (Some(theirs), Some(handed_id)) = (a.registration.as_deref(), handed_id.as_deref()) {
        if theirs == handed_id {
            f.violation(evidence::about(
                &a,
                format!(
                    "{} ({}) asked for a registration of {}'s handle and was given {}'s \
                     registration id",
                    b.name, b.user, a.name, a.user
                ),
                Some(&handed),
            ));
        } else {
            attempts += 1;
        }
    }
    // B points A's registration at a handle of its own.
    match (&requests.update_registration, a.registration.as_deref()) {
        (Some(update), Some(theirs)) => {
            let put = as_b(api, update, &b, Some(theirs), &spy.handle.handle, platform).await;
            attempts += judge(
                &mut f,
                &a,
                &put,
                &format!(
                    "{} updated {}'s registration to its own handle",
                    b.name, a.name
                ),
            );
        }
        _ => f.note(evidence::what(
            "no requests.update_registration or registration id: B's update of A's \
             registration is not tried",
        )),
    }
    // B registers A's handle as its own.
    let claim = crate::device::device::register(api, &b.credential, &b.user, &a.handle, &[]).await;
    match claim {
        Err(e) if e.exchange.as_deref().is_some_and(refused) => attempts += 1,
        Err(e) => f.backend_failed(&e),
        Ok(_) => f.violation(evidence::about(
            &a,
            format!(
                "{} ({}) registered {}'s handle as its own",
                b.name, b.user, a.name
            ),
            None,
        )),
    }
    let mut rng = suite.rng(&format!("{}/{platform}", INFO.id));
    // A's push must reach A, not B's handles (a stray ends the wait).
    let message = suite.secret(&mut rng).text().to_owned();
    if !control(suite, &a, &[&b, &spy], &message, &mut f).await {
        return (f, attempts);
    }
    // B deletes A's registration; A must still get its pushes.
    match (&requests.unregister, a.registration.as_deref()) {
        (Some(unregister), Some(theirs)) => {
            let delete = as_b(
                api,
                unregister,
                &b,
                Some(theirs),
                &a.handle.handle,
                platform,
            )
            .await;
            let refusal = judge(
                &mut f,
                &a,
                &delete,
                &format!("{} deleted {}'s registration", b.name, a.name),
            );
            attempts += refusal;
            let message = suite.secret(&mut rng).text().to_owned();
            if refusal == 0 || !control(suite, &a, &[&b, &spy], &message, &mut f).await {
                return (f, attempts);
            }
        }
        _ => f.note(evidence::what(
            "no requests.unregister or registration id: B's delete of A's registration is not \
             tried",
        )),
    }
    // B's pushes must not reach A's device (a claimed handle would).
    let message = suite.secret(&mut rng).text().to_owned();
    if suite.deliver(&b, &message).await.is_ok() {
        if let Some(stray) = suite.expect_no_push(&a, STRAY_WINDOW).await {
            let mut e = evidence::about(
                &a,
                format!("a push for {} reached {}'s device", b.user, a.name),
                None,
            );
            e.detail = serde_json::json!({ "push": evidence::delivery(&stray) });
            f.violation(e);
        }
    }
    f.gathered(1);
    (f, attempts)
}
