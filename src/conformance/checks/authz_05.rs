//! SP-AUTHZ-05: tenant and device scope. Device scope: a fresh user signs
//! in on two devices; a notification delivered to the first is fetched by
//! the second with its own session, and the answer must follow the
//! profile's `policy.other_device` (allowed: it reads it; denied: refused
//! without content, then the first device reads it). Tenant scope, when the
//! profile declares `tenants.names`: a fresh name is made in the first
//! tenant (who gets a notification) and the same name in the second, whose
//! session, and that of another user of the second tenant, must be refused
//! without content; then the owner reads it.

use pushproof_mocks::Platform;
use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use super::super::refusal::Refusal;
use super::super::setup;
use crate::client::Credential;
use crate::profile::Capability;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-05",
    title: "Tenant and device scope",
    level: Level::Must,
    severity: Severity::High,
    method: "Device scope: a fresh user on two devices; a notification delivered to the first \
             is fetched with the second's session and must follow policy.other_device \
             (allowed: it reads the content, a refusal is WARN; denied: 403/404 without content, \
             then the first device reads it). Tenant scope (with tenants.names): a fresh name in \
             the first tenant gets a notification; the same name in the second tenant, and \
             another user of the second tenant, fetch it with their valid sessions: 403/404 \
             without content (401 is WARN); the owner then reads it (positive control)",
    sources: &["OWASP ASVS 5.0 8.4.1", "OWASP ASVS 5.0 8.2.2"],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms: Vec<Platform> = probe::proven_platforms(suite).into_iter().collect();
    let Some(first) = platforms.first().copied() else {
        f.shortfall("no platform's baseline round trip verified");
        return f;
    };
    let second = platforms.get(1).copied().unwrap_or(first);
    let tenants = suite.profile().has(Capability::Tenants);
    let (device, tenant) = tokio::join!(device_scope(suite, first, second), async {
        if tenants {
            Some(tenant_scope(suite, second).await)
        } else {
            None
        }
    });
    f.absorb(device);
    let tenant_part = match tenant {
        Some(sub) => {
            let probes = sub.gathered;
            f.absorb(sub);
            format!("{probes} fetches from another tenant were refused")
        }
        None => {
            f.note(evidence::what(
                "tenant scope not judged: the profile declares no tenants (tenants.names)",
            ));
            "tenant scope not judged (no tenants.names)".to_owned()
        }
    };
    let policy = if suite.profile().policy.other_device {
        "allowed"
    } else {
        "denied"
    };
    // A violation or deviation is summed up by its first evidence.
    if f.violations.is_empty() && f.deviations.is_empty() {
        f.summary(format!(
            "a user's other device is {policy}, as declared; {tenant_part}"
        ));
    }
    f
}

/// The second device of a user fetches what the first got.
async fn device_scope(suite: &Suite, first: Platform, second: Platform) -> Findings {
    let mut f = Findings::new();
    let Some(user) = setup::user(suite, "authz05", &mut f).await else {
        return f;
    };
    let Some(devices) = setup::devices(suite, &user, &[first, second], &mut f).await else {
        return f;
    };
    let (owner, other) = (&devices[0], &devices[1]);
    let mut rng = suite.rng(&format!("{}/device", INFO.id));
    let secret = suite.secret(&mut rng);
    let Some(delivered) = setup::deliver(suite, owner, &secret, &mut f).await else {
        return f;
    };
    let exchange = suite
        .fetch(Some(&other.credential), &other.user, &delivered.id)
        .await;
    let mut e = evidence::about(other, String::new(), Some(&exchange));
    e.detail = json!({ "owner": evidence::subject(owner), "id": delivered.id });
    let whose = format!(
        "{} fetched the notification of {}, the same user's other device",
        other.name, owner.name
    );
    if suite.profile().policy.other_device {
        if suite.fetched(&exchange, secret.text()) {
            f.gathered(1);
            return f;
        }
        e.what = format!(
            "{whose}: {}, although policy.other_device is allowed",
            exchange.describe()
        );
        f.deviation(e);
    } else {
        match Refusal::of(&exchange, &secret) {
            Refusal::Content => {
                e.what = format!("{whose} and read it, although policy.other_device is denied");
                f.violation(e);
            }
            Refusal::NoAnswer(why) => {
                e.what = format!("{whose}: no answer: {why}");
                f.backend_failure(e);
            }
            _ => {}
        }
    }
    if setup::read_back(suite, owner, &delivered.id, &secret, CONTROL, &mut f).await {
        f.gathered(1);
    }
    f
}

/// Why the owner reads its notification after the probes.
const CONTROL: &str = "positive control failed";

/// The same name, and another user, in the second tenant fetch a
/// notification of the first tenant's account.
async fn tenant_scope(suite: &Suite, platform: Platform) -> Findings {
    let mut f = Findings::new();
    let tenants = &suite.profile().tenants;
    let (home, other) = (&tenants[0], &tenants[1]);
    let name = suite.fresh_name("authz05t");
    let stranger = suite.fresh_name("authz05s");
    let made = tokio::join!(
        suite.user_in(&name, home),
        suite.user_in(&name, other),
        suite.user_in(&stranger, other),
    );
    let (owner_user, namesake, stranger) = match made {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (a, b, c) => {
            for e in [a.err(), b.err(), c.err()].into_iter().flatten() {
                f.backend_failed(&e);
            }
            return f;
        }
    };
    let Some(mut owner) = setup::devices(suite, &owner_user, &[platform], &mut f).await else {
        return f;
    };
    let owner = owner.remove(0);
    let mut callers: Vec<(String, Credential)> = Vec::new();
    for (what, user) in [
        (
            format!("{name} of tenant {other} (the same name)"),
            &namesake,
        ),
        (format!("{} of tenant {other}", stranger.name), &stranger),
    ] {
        match suite.sign_in(user).await {
            Ok(credential) => callers.push((what, credential)),
            Err(e) => {
                f.backend_failed(&e);
                return f;
            }
        }
    }
    let mut rng = suite.rng(&format!("{}/tenant", INFO.id));
    let secret = suite.secret(&mut rng);
    let Some(delivered) = setup::deliver(suite, &owner, &secret, &mut f).await else {
        return f;
    };
    let mut judged = 0;
    for (what, credential) in &callers {
        let exchange = suite
            .fetch(Some(credential), &owner_user.name, &delivered.id)
            .await;
        let mut e = evidence::about(&owner, String::new(), Some(&exchange));
        e.detail = json!({ "caller": what, "caller_tenant": other, "owner_tenant": home, "id": delivered.id });
        let whose = format!(
            "{what} fetched the notification of {} ({name} of tenant {home})",
            owner.name
        );
        match (Refusal::of(&exchange, &secret), exchange.status()) {
            (Refusal::Content, _) => {
                e.what = format!("{whose} and read it");
                f.violation(e);
            }
            (Refusal::Unauthorized, _) => {
                e.what = format!("{whose}: refused with 401 although its session is valid");
                f.deviation(e);
                judged += 1;
            }
            (Refusal::NoAnswer(why), _) => {
                e.what = format!("{whose}: no answer: {why}");
                f.backend_failure(e);
            }
            (_, Some(403 | 404)) => judged += 1,
            (_, status) => {
                e.what = format!(
                    "{whose}: answered {}, not 403 or 404",
                    status.map_or_else(String::new, |s| s.to_string())
                );
                f.violation(e);
            }
        }
    }
    if setup::read_back(suite, &owner, &delivered.id, &secret, CONTROL, &mut f).await {
        f.gathered(judged);
    }
    f.require(
        judged == callers.len(),
        "not every fetch from the other tenant was judged",
    );
    f
}
