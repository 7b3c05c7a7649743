//! SP-AUTHZ-01: fetching content needs credentials. Real ids, read by
//! devices out of their pushes, are fetched without any credential: the
//! answer must be 401 with no content; then the owner fetches the same id,
//! proving the 401 was a refusal.

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-01",
    title: "Fetching content needs credentials",
    level: Level::Must,
    severity: Severity::Critical,
    method: "A fresh notification per proven device is fetched without any credential before \
             its owner reads it: the answer must be 401 and carry no content (403 is WARN); the \
             owner then fetches it (positive control). Needs probes on every platform whose \
             baseline round trip verified",
    sources: &[
        "OWASP ASVS 5.0 7.2.1",
        "OWASP API Security Top 10 2023 API2",
    ],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let owners = probe::proven_devices(suite, INFO.sample.min);
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let mut refused = 0;
    for p in &probed {
        let exchange = suite.fetch(None, &p.owner.user, &p.delivered.id).await;
        let leaked = probe::leaks(&exchange, &p.secret);
        let status = exchange.status();
        let e = |what: String| evidence::about(&p.owner, what, Some(&exchange));
        match (status, leaked) {
            (_, true) => f.violation(e(format!(
                "{}'s notification was fetched without credentials: the answer carries its content",
                p.owner.name
            ))),
            (Some(401), false) => refused += 1,
            (Some(403), false) => f.deviation(e(format!(
                "a fetch of {}'s notification without credentials got 403, not 401",
                p.owner.name
            ))),
            (Some(status), false) => f.violation(e(format!(
                "a fetch of {}'s notification without credentials got {status}, not 401",
                p.owner.name
            ))),
            (None, false) => f.backend_failure(e(format!(
                "a fetch without credentials got no answer: {}",
                exchange.describe()
            ))),
        }
        if probe::control(suite, p, &mut f).await {
            f.gathered(1);
        }
    }
    let covered: std::collections::BTreeSet<_> = probed.iter().map(|p| p.owner.platform).collect();
    for platform in probe::proven_platforms(suite) {
        f.require(
            covered.contains(&platform),
            format!("no probe on {platform}"),
        );
    }
    f.summary(format!(
        "{refused} of {} fetches without credentials answered 401 without content; the owners then fetched them",
        probed.len()
    ));
    f
}
