//! SP-AUTHZ-06: loss of access applies at once. A device reads its
//! notification (so any cache of that decision is warm), then loses the
//! right to it: its session logs out (`requests.logout`), or its account is
//! disabled (`requests.disable_account`). Asking for the same notification
//! again must be denied. After a logout the user's other session still
//! reads it (the positive control: nothing was deleted or expired).

use std::sync::Arc;

use pushproof_mocks::Platform;
use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::{Delivered, Secret, Suite};
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use super::super::setup;
use crate::device::Device;
use crate::profile::{Capability, Replay};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-06",
    title: "Loss of access applies at once",
    level: Level::Must,
    severity: Severity::Medium,
    method: "A fresh user's device reads a fresh notification, then loses its right: its \
             session logs out (requests.logout; the user's second device keeps its session) \
             and, in another probe, its account is disabled (requests.disable_account). The \
             same notification asked for again with the same token must be denied (any 4xx, no \
             content); after the logout the second device then reads it (positive control). \
             Needs a notification fetchable more than once (policy.replay not single-use)",
    sources: &["OWASP ASVS 5.0 8.3.2", "OWASP ASVS 5.0 7.4.1"],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let profile = suite.profile();
    let (logout, disable) = (
        profile.has(Capability::Logout),
        profile.has(Capability::DisableAccount),
    );
    if !logout && !disable {
        f.not_applicable(
            "the profile declares no way to take a session's right away (no logout, no account disable)",
            Some("requests.logout or requests.disable_account"),
        );
        return f;
    }
    if profile.policy.replay == Replay::SingleUse {
        f.not_applicable(
            "policy.replay is single-use: a second fetch is refused anyway, so a revoked right \
             cannot be told from a spent notification",
            Some("policy.replay = \"unlimited\" or \"until-ack\""),
        );
        return f;
    }
    let platforms: Vec<Platform> = probe::proven_platforms(suite).into_iter().collect();
    let Some(first) = platforms.first().copied() else {
        f.shortfall("no platform's baseline round trip verified");
        return f;
    };
    let second = platforms.get(1).copied().unwrap_or(first);
    let (by_logout, by_disable) = tokio::join!(
        async {
            if logout {
                Some(after_logout(suite, first, second).await)
            } else {
                None
            }
        },
        async {
            if disable {
                Some(after_disable(suite, second).await)
            } else {
                None
            }
        },
    );
    let mut ways = Vec::new();
    for (way, sub) in [("logout", by_logout), ("account disable", by_disable)] {
        if let Some(sub) = sub {
            ways.push(way);
            f.absorb(sub);
        }
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "a notification read before was denied right after {}",
            ways.join(" and after ")
        ));
    }
    f
}

/// The steps both probes share: a fresh user, its devices on `platforms`,
/// a notification delivered to the first and read by it.
struct Setup {
    devices: Vec<Arc<Device>>,
    secret: Secret,
    delivered: Delivered,
}

async fn prepare(
    suite: &Suite,
    purpose: &str,
    platforms: &[Platform],
    f: &mut Findings,
) -> Option<Setup> {
    let user = setup::user(suite, purpose, f).await?;
    let devices = setup::devices(suite, &user, platforms, f).await?;
    let mut rng = suite.rng(&format!("{}/{purpose}", INFO.id));
    let secret = suite.secret(&mut rng);
    let delivered = setup::deliver(suite, &devices[0], &secret, f).await?;
    let read = setup::read_back(
        suite,
        &devices[0],
        &delivered.id,
        &secret,
        "before its right was taken away",
        f,
    )
    .await;
    if !read {
        return None;
    }
    Some(Setup {
        devices,
        secret,
        delivered,
    })
}

/// The same token asks again: denied is any 4xx without content.
async fn asked_again(suite: &Suite, s: &Setup, after: &str, f: &mut Findings) -> bool {
    let device = &s.devices[0];
    let exchange = suite
        .fetch(Some(&device.credential), &device.user, &s.delivered.id)
        .await;
    let mut e = evidence::about(device, String::new(), Some(&exchange));
    e.detail = json!({ "id": s.delivered.id, "revoked_by": after });
    let whose = format!(
        "{} read notification {}, then its right was taken away ({after}); asked again",
        device.name, s.delivered.id
    );
    if probe::leaks(&exchange, &s.secret) {
        e.what = format!("{whose}, it got the content again");
        f.violation(e);
        return false;
    }
    match exchange.status() {
        Some(400..=499) => true,
        Some(status @ 200..=399) => {
            e.what = format!("{whose}, the backend answered {status}");
            f.violation(e);
            false
        }
        _ => {
            e.what = format!("{whose}: {}", exchange.describe());
            f.backend_failure(e);
            false
        }
    }
}

async fn after_logout(suite: &Suite, first: Platform, second: Platform) -> Findings {
    let mut f = Findings::new();
    let Some(s) = prepare(suite, "authz06", &[first, second], &mut f).await else {
        return f;
    };
    let logout = suite
        .profile()
        .requests
        .logout
        .as_ref()
        .expect("run checks the logout capability");
    if !setup::step_as(suite, "logout", logout, &s.devices[0], &mut f).await {
        return f;
    }
    if !asked_again(suite, &s, "logout", &mut f).await {
        return f;
    }
    // Positive control: the user's other session still reads it.
    let live = &s.devices[1];
    if setup::read_back(
        suite,
        live,
        &s.delivered.id,
        &s.secret,
        "positive control failed",
        &mut f,
    )
    .await
    {
        f.gathered(1);
    }
    f
}

async fn after_disable(suite: &Suite, platform: Platform) -> Findings {
    let mut f = Findings::new();
    let Some(s) = prepare(suite, "authz06d", &[platform], &mut f).await else {
        return f;
    };
    let disable = suite
        .profile()
        .requests
        .disable_account
        .as_ref()
        .expect("run checks the disable capability");
    if !setup::step_as(suite, "disable account", disable, &s.devices[0], &mut f).await {
        return f;
    }
    // No session of a disabled account is left to read it back; the read
    // before the disable is what shows the right existed.
    if asked_again(suite, &s, "account disabled", &mut f).await {
        f.gathered(1);
    }
    f
}
