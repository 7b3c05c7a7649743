//! SP-REG-01: no foreign tags. In the Notify Users tutorial a user's
//! pushes go to every registration tagged `username:<user>`, and the
//! registration's tags come from the client ("add check if user is allowed
//! to add these tags"): a device that tags itself `username:victim` gets
//! the victim's pushes, ids and all. An attacker's device registers so;
//! the victim is sent a notification; the victim's device gets it (the
//! positive control) and the attacker's gets nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use pushproof_mocks::Platform;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use crate::device::EnrollError;

/// How long after the victim's push the attacker's device is watched.
pub(crate) const STRAY_WINDOW: Duration = Duration::from_millis(500);

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-REG-01",
    title: "No foreign tags",
    level: Level::Must,
    severity: Severity::Critical,
    method: "Per proven platform, an attacker registers a fresh device asking for the tag \
             username:<victim> (refusing it is right); the victim, a fresh user with a fresh \
             device, is sent a notification. The victim's device must get it (positive \
             control) and the attacker's nothing, watched 0.5 s past the victim's push. Needs \
             every platform whose baseline round trip verified",
    sources: &[
        "Microsoft: Notification Hubs security (a Listen key can register for any tag; the \
         backend must do registrations)",
        "Azure Notification Hubs Notify Users tutorial (RegisterController.Put trusts client \
         tags)",
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
    for (platform, sub) in platforms.iter().zip(results) {
        if sub.gathered > 0 {
            probed.insert(*platform);
        }
        f.absorb(sub);
    }
    for platform in &platforms {
        f.require(probed.contains(platform), format!("no probe on {platform}"));
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "on {} platform(s) a device tagged username:<victim> got none of the victim's pushes",
            probed.len()
        ));
    }
    f
}

async fn probe_one(suite: &Suite, platform: Platform) -> Findings {
    let mut f = Findings::new();
    let users = futures::future::join(
        suite.fresh_user("reg01-victim"),
        suite.fresh_user("reg01-attacker"),
    )
    .await;
    let (victim, attacker) = match users {
        (Ok(v), Ok(a)) => (v, a),
        (Err(e), _) | (_, Err(e)) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let enrolled = async {
        let victim_device = suite.fresh_device(&victim, platform).await?;
        let tags = [format!("username:{}", victim.name)];
        let attacker_device = suite
            .fresh_device_tagged(&attacker, platform, &tags)
            .await?;
        Ok::<_, EnrollError>((victim_device, attacker_device))
    };
    let (victim_device, (spy, registered)) = match enrolled.await {
        Ok(devices) => devices,
        Err(EnrollError::Backend(e)) => {
            f.backend_failed(&e);
            return f;
        }
        Err(EnrollError::Plane(e)) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    match &registered {
        Ok(()) => f.note(evidence::about(
            &spy,
            format!(
                "the registration asking for username:{} was accepted; what matters is where \
                 the pushes go",
                victim.name
            ),
            None,
        )),
        Err(e) => {
            let status = e.exchange.as_ref().and_then(|x| x.status());
            if !status.is_some_and(|s| (400..500).contains(&s)) {
                // Neither accepted nor refused: the backend failed.
                f.backend_failed(e);
                return f;
            }
        }
    }
    let mut rng = suite.rng(&format!("{}/{platform}", INFO.id));
    let secret = suite.secret(&mut rng);
    let delivered = match suite.deliver(&victim_device, secret.text()).await {
        Ok(d) => d,
        Err(e) => {
            f.backend_failed(&e);
            return f;
        }
    };
    if let Some(stray) = suite.expect_no_push(&spy, STRAY_WINDOW).await {
        let mut e = evidence::about(
            &spy,
            format!(
                "{} ({}) registered with the tag username:{} and received the victim's push",
                spy.name, attacker.name, victim.name
            ),
            delivered.send.reply().map(|_| &delivered.send),
        );
        e.detail = serde_json::json!({
            "victim": evidence::subject(&victim_device),
            "push": evidence::delivery(&stray),
            "registration": registered.as_ref().err().map(evidence::step),
        });
        f.violation(e);
    }
    f.gathered(1);
    f
}
