//! SP-AUTHZ-03: object-level authorization. User B fetches user A's
//! notification id, taken from A's push, with B's valid session: the
//! answer must be 403 or 404 with none of A's content; then A fetches the
//! same id, proving the refusal was not a deletion or an expiry.

use std::collections::BTreeSet;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;

/// Callers probing each notification.
const CALLERS: usize = 2;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-03",
    title: "Object-level authorization on fetch",
    level: Level::Must,
    severity: Severity::Critical,
    method: "A fresh notification per proven device (user A) is fetched, before A reads it, by \
             up to two devices of other users (B) with their valid sessions: each answer must be \
             403 or 404 and carry none of A's content (401 is WARN); A then fetches it (positive \
             control). Needs at least 6 probes, two owners, two callers and every platform whose \
             baseline round trip verified",
    sources: &[
        "OWASP ASVS 5.0 8.2.2 (IDOR/BOLA)",
        "OWASP API Security Top 10 2023 API1",
    ],
    needs: &[],
    sample: Sample {
        min: 6,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let proven = probe::proven_devices(suite, INFO.sample.min.div_ceil(CALLERS) + 1);
    // Callers: any verified device of another user, other platforms first.
    let verified: Vec<_> = suite.verified().iter().map(|v| v.device.clone()).collect();
    let callers_for = |owner: &crate::device::Device| {
        let mut others: Vec<_> = verified.iter().filter(|d| d.user != owner.user).collect();
        others.sort_by_key(|d| (d.platform == owner.platform, d.index));
        let mut users = BTreeSet::new();
        others
            .into_iter()
            .filter(|d| users.insert(d.user.clone()))
            .take(CALLERS)
            .cloned()
            .collect::<Vec<_>>()
    };
    let owners: Vec<_> = proven
        .iter()
        .filter(|d| !callers_for(d).is_empty())
        .cloned()
        .collect();
    if owners.is_empty() {
        f.shortfall("no proven device has another user's proven device to probe it with (the baseline needs at least two users with verified notifications)");
    }
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let (mut refused, mut probes) = (0, 0);
    let (mut owner_users, mut caller_users, mut platforms) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for p in &probed {
        let mut counted = 0;
        for caller in callers_for(&p.owner) {
            probes += 1;
            let exchange = suite
                .fetch(Some(&caller.credential), &caller.user, &p.delivered.id)
                .await;
            let leaked = probe::leaks(&exchange, &p.secret);
            let mut e = evidence::about(&caller, String::new(), Some(&exchange));
            e.detail = serde_json::json!({
                "owner": evidence::subject(&p.owner),
                "id": p.delivered.id,
            });
            let whose = format!(
                "{} ({}) fetched {}'s notification ({})",
                caller.name, caller.user, p.owner.name, p.owner.user
            );
            match (exchange.status(), leaked) {
                (_, true) => {
                    e.what = format!("{whose} and got its content");
                    f.violation(e);
                }
                (Some(403 | 404), false) => {
                    refused += 1;
                    counted += 1;
                    caller_users.insert(caller.user.clone());
                }
                (Some(401), false) => {
                    e.what = format!("{whose}: refused with 401 although the session is valid");
                    f.deviation(e);
                    counted += 1;
                    caller_users.insert(caller.user.clone());
                }
                (Some(status), false) => {
                    e.what = format!("{whose}: answered {status}, not 403 or 404");
                    f.violation(e);
                }
                (None, false) => {
                    e.what = format!("{whose}: no answer: {}", exchange.describe());
                    f.backend_failure(e);
                }
            }
        }
        if probe::control(suite, p, &mut f).await {
            f.gathered(counted);
            owner_users.insert(p.owner.user.clone());
            platforms.insert(p.owner.platform);
        }
    }
    f.require(
        owner_users.len() >= 2,
        format!(
            "probed notifications of {} user(s); needs 2",
            owner_users.len()
        ),
    );
    f.require(
        caller_users.len() >= 2,
        format!("probed with {} other user(s); needs 2", caller_users.len()),
    );
    for platform in probe::proven_platforms(suite) {
        f.require(
            platforms.contains(&platform),
            format!("no probe on {platform}"),
        );
    }
    f.summary(format!(
        "{refused} of {probes} fetches of another user's notification were refused without content; the owners then fetched them"
    ));
    f
}
