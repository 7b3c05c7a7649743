//! SP-REG-04: a logged-out device gets nothing. Logging out ends the
//! session, and the device's registration with it (or the app drops it
//! first, when the backend declares that logout keeps registrations):
//! otherwise the phone of someone who signed out, or handed the phone on,
//! keeps receiving the user's pushes. A user signs in on two devices and
//! logs one out; a notification then reaches the other (the positive
//! control) and not the logged-out one.

use std::collections::BTreeSet;

use pushproof_mocks::Platform;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use super::reg_01::STRAY_WINDOW;
use crate::device::EnrollError;
use crate::profile::{Capability, Values};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-REG-04",
    title: "A logged-out device gets no pushes",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Per proven platform, a fresh user signs in on two fresh devices and logs the first \
             out (requests.logout; when policy.logout_drops_registrations is false the harness \
             first drops that device's registration with requests.unregister, as the app \
             would). A notification to the user must reach the second device (positive \
             control) and not the first, watched 0.5 s past the second's push. Needs every \
             platform whose baseline round trip verified",
    sources: &["OWASP ASVS 5.0 7.4.1", "OWASP ASVS 4.0.3 3.3.1"],
    needs: &[Capability::Logout],
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
            "on {} platform(s) a logged-out device got nothing while the user's other device got \
             its push",
            probed.len()
        ));
    }
    f
}

async fn probe_one(suite: &Suite, platform: Platform) -> Findings {
    let mut f = Findings::new();
    let made = async {
        let user = suite.fresh_user("reg04").await?;
        let gone = suite.fresh_device(&user, platform).await?;
        let live = suite.fresh_device(&user, platform).await?;
        Ok::<_, EnrollError>((gone, live))
    };
    let (gone, live) = match made.await {
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
    let requests = &suite.profile().requests;
    let values = gone.values(&suite.api);
    if !suite.profile().policy.logout_drops_registrations {
        // The backend says logout keeps registrations: the app drops its own.
        match &requests.unregister {
            Some(unregister) => {
                if let Err(e) = suite
                    .api
                    .step("unregister", unregister, &values, Some(&gone.credential))
                    .await
                {
                    f.backend_failed(&e);
                    return f;
                }
            }
            None => f.note(evidence::about(
                &gone,
                "policy.logout_drops_registrations is false and the profile has no \
                 requests.unregister: nothing can stop a logged-out device's pushes",
                None,
            )),
        }
    }
    let logout = requests
        .logout
        .as_ref()
        .expect("the check needs the logout capability");
    let logout_values = Values {
        token: Some(gone.credential.secret().to_owned()),
        ..values
    };
    if let Err(e) = suite
        .api
        .step("logout", logout, &logout_values, Some(&gone.credential))
        .await
    {
        f.backend_failed(&e);
        return f;
    }
    let mut rng = suite.rng(&format!("{}/{platform}", INFO.id));
    let secret = suite.secret(&mut rng);
    let delivered = match suite.deliver(&live, secret.text()).await {
        Ok(d) => d,
        Err(e) => {
            let mut evidence = evidence::step(&e);
            evidence.what = format!(
                "positive control failed: after {} logged out, {} got no push: {e}",
                gone.name, live.name
            );
            evidence.subject = Some(evidence::subject(&live));
            f.backend_failure(evidence);
            return f;
        }
    };
    if let Some(stray) = suite.expect_no_push(&gone, STRAY_WINDOW).await {
        let mut e = evidence::about(
            &gone,
            format!(
                "{} logged out, and still received its user's push",
                gone.name
            ),
            Some(&delivered.send),
        );
        e.detail = serde_json::json!({
            "push": evidence::delivery(&stray),
            "other_device": evidence::subject(&live),
        });
        f.violation(e);
    }
    f.gathered(1);
    f
}
