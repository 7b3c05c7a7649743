//! SP-LIFE-02: deleted means gone. Once the recipient deletes (or
//! acknowledges) a notification, its content is never served again — not
//! to the recipient, not to anyone: a "delete" that only hides a row, or
//! answers success and keeps it, leaves the content where a later bug or
//! breach finds it (Schemathesis calls the failure `use_after_free`).

use std::collections::BTreeSet;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use crate::profile::{Capability, Replay};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LIFE-02",
    title: "Deleted means gone",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Per proven device, a fresh notification is fetched by its owner (unless the replay \
             policy is single-use), deleted or acknowledged with requests.delete (which must \
             succeed), then fetched again: the answer must be 404 or 410 (another refusal is \
             WARN) without the content. Needs 3 probes and every platform whose baseline round \
             trip verified",
    sources: &[
        "OWASP ASVS 5.0 14.2.7 (data deleted when no longer needed)",
        "Schemathesis use_after_free (404 after DELETE)",
    ],
    needs: &[Capability::Delete],
    sample: Sample {
        min: 3,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let owners = probe::proven_devices(suite, INFO.sample.min);
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let single_use = suite.profile().policy.replay == Replay::SingleUse;
    let mut platforms = BTreeSet::new();
    let mut gone = 0;
    for p in &probed {
        let owner = &p.owner;
        let id = &p.delivered.id;
        // Proof it was there, where fetching does not use it up.
        if !single_use && !probe::control(suite, p, &mut f).await {
            continue;
        }
        let Some(deleted) = suite.delete(&owner.credential, &owner.user, id).await else {
            f.harness_error("the check needs requests.delete");
            return f;
        };
        let succeeded = deleted.status().is_some_and(|s| {
            suite
                .profile()
                .requests
                .delete
                .as_ref()
                .is_some_and(|r| r.template.succeeded(s))
        });
        if !succeeded {
            f.backend_failure(evidence::about(
                owner,
                format!(
                    "{} could not delete its own notification: {}",
                    owner.name,
                    deleted.describe()
                ),
                Some(&deleted),
            ));
            continue;
        }
        let after = suite.fetch(Some(&owner.credential), &owner.user, id).await;
        let e = |what: String| evidence::about(owner, what, Some(&after));
        match after.status() {
            _ if probe::leaks(&after, &p.secret) => f.violation(e(format!(
                "{}'s notification was served after its delete had succeeded",
                owner.name
            ))),
            Some(404 | 410) => gone += 1,
            Some(status @ 400..=499) => f.deviation(e(format!(
                "after the delete, {}'s fetch was refused with {status}, not 404 or 410",
                owner.name
            ))),
            Some(status) => f.backend_failure(e(format!(
                "after the delete, {}'s fetch answered {status}",
                owner.name
            ))),
            None => f.backend_failure(e(format!("no answer: {}", after.describe()))),
        }
        f.gathered(1);
        platforms.insert(owner.platform);
    }
    for platform in probe::proven_platforms(suite) {
        f.require(
            platforms.contains(&platform),
            format!("no probe on {platform}"),
        );
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "{gone} of {} deleted notifications were gone for their owners",
            probed.len()
        ));
    }
    f
}
