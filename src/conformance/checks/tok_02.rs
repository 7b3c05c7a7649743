//! SP-TOK-02: logout and revocation are honoured. A user with two
//! sessions (two devices) logs one out; a notification then delivered to
//! the other device is fetched with the logged-out token, which must be
//! refused (401, no content), and with the live one, which must work (the
//! positive control).

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use crate::client::Credential;
use crate::profile::{Capability, Values};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-TOK-02",
    title: "Logout and revocation honoured",
    level: Level::Must,
    severity: Severity::High,
    method: "Per platform whose baseline round trip verified, a fresh user signs in on two devices and logs the first out; a \
             notification delivered to the second device is fetched with the logged-out token \
             (must be 401 without content; 403 is WARN) and then with the live one (positive \
             control)",
    sources: &["OWASP ASVS 5.0 7.4.1", "OWASP ASVS 4.0.3 3.3.1"],
    needs: &[Capability::Logout],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    // Platforms whose baseline round trip verified: elsewhere FLOW-01 has
    // already failed, and a probe would prove nothing.
    let platforms: Vec<_> = super::super::probe::proven_platforms(suite)
        .into_iter()
        .collect();
    f.require(
        !platforms.is_empty(),
        "no platform's baseline round trip verified",
    );
    let results = futures::future::join_all(platforms.iter().map(|p| probe(suite, *p))).await;
    let mut refused = 0;
    for (sub, was_refused) in results {
        refused += usize::from(was_refused);
        f.absorb(sub);
    }
    f.summary(format!(
        "{refused} of {} logged-out tokens were refused; the same users' live sessions still fetched",
        platforms.len()
    ));
    f
}

/// One platform's probe: its findings, and whether the old token was
/// refused with 401.
async fn probe(suite: &Suite, platform: pushproof_mocks::Platform) -> (Findings, bool) {
    let mut f = Findings::new();
    let sub = |f: Findings, refused: bool| (f, refused);
    let user = match suite.fresh_user("tok02").await {
        Ok(user) => user,
        Err(e) => {
            f.backend_failed(&e);
            return sub(f, false);
        }
    };
    let mut devices = Vec::new();
    for _ in 0..2 {
        match suite.fresh_device(&user, platform).await {
            Ok(device) => devices.push(device),
            Err(crate::device::EnrollError::Backend(e)) => {
                f.backend_failed(&e);
                return sub(f, false);
            }
            Err(crate::device::EnrollError::Plane(e)) => {
                f.harness_error(e.to_string());
                return sub(f, false);
            }
        }
    }
    let (gone, live) = (&devices[0], &devices[1]);
    let logout = suite
        .profile()
        .requests
        .logout
        .as_ref()
        .expect("the check needs the logout capability");
    let values = Values {
        token: Some(gone.credential.secret().to_owned()),
        ..gone.values(&suite.api)
    };
    if let Err(e) = suite
        .api
        .step("logout", logout, &values, Some(&gone.credential))
        .await
    {
        f.backend_failed(&e);
        return sub(f, false);
    }
    let mut rng = suite.rng(&format!("{}/{platform}", INFO.id));
    let secret = suite.secret(&mut rng);
    let delivered = match suite.deliver(live, secret.text()).await {
        Ok(d) => d,
        Err(e) => {
            f.backend_failed(&e);
            return sub(f, false);
        }
    };
    let old: &Credential = &gone.credential;
    let exchange = suite.fetch(Some(old), &gone.user, &delivered.id).await;
    let leaked = super::super::probe::leaks(&exchange, &secret);
    let what = |tail: String| {
        evidence::about(
            gone,
            format!(
                "{} logged out, then its token fetched a notification of {}: {tail}",
                gone.name, live.name
            ),
            Some(&exchange),
        )
    };
    let mut refused = false;
    match (exchange.status(), leaked) {
        (_, true) => f.violation(what("the answer carries the content".to_owned())),
        (Some(401), false) => refused = true,
        (Some(403), false) => f.deviation(what("refused with 403, not 401".to_owned())),
        (Some(status), false) => f.violation(what(format!("answered {status}, not 401"))),
        (None, false) => f.backend_failure(what(exchange.describe())),
    }
    // Positive control: the same user's live session reads it.
    let control = suite
        .fetch(Some(&live.credential), &live.user, &delivered.id)
        .await;
    if suite.fetched(&control, secret.text()) {
        f.gathered(1);
    } else {
        f.backend_failure(evidence::about(
            live,
            format!(
                "positive control failed: {}'s live session could not fetch notification {}",
                live.name, delivered.id
            ),
            Some(&control),
        ));
    }
    sub(f, refused)
}
