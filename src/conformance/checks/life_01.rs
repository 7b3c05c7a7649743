//! SP-LIFE-01: content expires. Stored content is a liability for as long
//! as it is kept; a backend that declares a lifetime must stop serving the
//! content once it is over. Content that expires within seconds
//! (`requests.short_notify`, or a declared lifetime short enough to wait)
//! is fetched by its owner at once (it is served) and, in a second
//! notification, only after the lifetime (it is gone).

use std::sync::Arc;
use std::time::Duration;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use crate::device::Device;
use crate::profile::{Capability, Request};

/// The longest lifetime this check waits out without `short_notify`.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// Waited past the lifetime: the backend's clock starts when it stores,
/// a little before the send is answered.
const GRACE: Duration = Duration::from_millis(300);

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LIFE-01",
    title: "Content expires after its declared lifetime",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Per proven device, two notifications whose content expires within seconds (sent \
             with requests.short_notify for policy.short_payload_ttl_s, or with the usual send \
             when policy.payload_ttl_s is at most 5 s): the owner fetches the first at once (it \
             must be served) and the second only once the lifetime and 0.3 s have passed: it \
             must be refused, 404 or 410 (another refusal is WARN), without its content. Needs \
             3 probes and every platform whose baseline round trip verified",
    sources: &[
        "OWASP ASVS 5.0 14.2.7 (sensitive data kept only as long as declared)",
        "Firebase: setting the lifespan of a message",
    ],
    needs: &[Capability::PayloadTtl],
    sample: Sample {
        min: 3,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let policy = &suite.profile().policy;
    let requests = &suite.profile().requests;
    let (request, lifetime) = match (&requests.short_notify, policy.short_payload_ttl) {
        (Some(request), Some(ttl)) => (request, ttl),
        _ => {
            let ttl = policy.payload_ttl.expect("the check needs payload_ttl_s");
            if ttl > MAX_WAIT {
                f.not_applicable(
                    format!(
                        "content lives {} s, longer than this check waits ({} s), and the \
                         profile has no send for shorter-lived content",
                        ttl.as_secs(),
                        MAX_WAIT.as_secs()
                    ),
                    Some(Capability::ShortPayloadTtl.key()),
                );
                return f;
            }
            (&requests.notify, ttl)
        }
    };
    let owners = probe::proven_devices(suite, INFO.sample.min);
    let results = futures::future::join_all(
        owners
            .iter()
            .enumerate()
            .map(|(n, owner)| probe_one(suite, owner, request, lifetime, n)),
    )
    .await;
    let mut platforms = std::collections::BTreeSet::new();
    let mut expired = 0;
    for (owner, (sub, gone)) in owners.iter().zip(results) {
        if sub.gathered > 0 {
            platforms.insert(owner.platform);
        }
        expired += usize::from(gone);
        f.absorb(sub);
    }
    for platform in probe::proven_platforms(suite) {
        f.require(
            platforms.contains(&platform),
            format!("no probe on {platform}"),
        );
    }
    if !f.violations.is_empty() {
        // The framework's summary names the first violation.
        return f;
    }
    f.summary(format!(
        "{expired} of {} notifications were gone {:.1} s after they were sent, with a lifetime \
         of {:.1} s; their twins were served at once",
        owners.len(),
        (lifetime + GRACE).as_secs_f64(),
        lifetime.as_secs_f64()
    ));
    f
}

/// One device's probe: its findings and whether the late fetch was
/// refused as it should be.
async fn probe_one(
    suite: &Suite,
    owner: &Arc<Device>,
    request: &Request,
    lifetime: Duration,
    n: usize,
) -> (Findings, bool) {
    let mut f = Findings::new();
    let mut rng = suite.rng(&format!("{}/{n}", INFO.id));
    let (twin, late) = (suite.secret(&mut rng), suite.secret(&mut rng));
    let seconds = Some(lifetime.as_secs_f64().ceil() as u64);
    let served = match suite
        .deliver_via(owner, twin.text(), request, seconds)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            f.backend_failed(&e);
            return (f, false);
        }
    };
    let fetched = suite
        .fetch(Some(&owner.credential), &owner.user, &served.id)
        .await;
    if !suite.fetched(&fetched, twin.text()) {
        f.backend_failure(evidence::about(
            owner,
            format!(
                "{} could not fetch short-lived content at once ({})",
                owner.name,
                fetched.describe()
            ),
            Some(&fetched),
        ));
        return (f, false);
    }
    let delivered = match suite
        .deliver_via(owner, late.text(), request, seconds)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            f.backend_failed(&e);
            return (f, false);
        }
    };
    // The lifetime ran from the store, before the push came.
    tokio::time::sleep(lifetime + GRACE).await;
    let exchange = suite
        .fetch(Some(&owner.credential), &owner.user, &delivered.id)
        .await;
    let e = |what: String| evidence::about(owner, what, Some(&exchange));
    let after = format!(
        "{:.1} s after a send with a {:.1} s lifetime",
        (lifetime + GRACE).as_secs_f64(),
        lifetime.as_secs_f64()
    );
    let mut gone = false;
    match exchange.status() {
        _ if probe::leaks(&exchange, &late) => f.violation(e(format!(
            "{}'s content was still served {after}",
            owner.name
        ))),
        Some(404 | 410) => gone = true,
        Some(status @ 400..=499) => f.deviation(e(format!(
            "{after}, {}'s fetch was refused with {status}, not 404 or 410",
            owner.name
        ))),
        Some(status) => f.backend_failure(e(format!(
            "{after}, {}'s fetch answered {status}",
            owner.name
        ))),
        None => f.backend_failure(e(format!("no answer {after}: {}", exchange.describe()))),
    }
    f.gathered(1);
    (f, gone)
}
