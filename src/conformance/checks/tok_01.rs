//! SP-TOK-01: token expiry is enforced. A fresh user's device gets two
//! notifications; the user then signs in for a short-lived token
//! (`requests.short_login`, which must die after
//! `policy.short_token_lifetime_s`). The token reads the first at once
//! (proving it worked), and once its lifetime and the declared skew have
//! passed, it must be refused the second with 401; the device's own
//! session then reads the second (the positive control). A declared skew
//! beyond 60 s is itself a violation.

use std::time::{Duration, Instant};

use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::refusal::{self, Refusal};
use super::super::setup;
use crate::profile::Capability;

/// The most clock skew a backend may allow past a token's expiry.
const MAX_SKEW: Duration = Duration::from_secs(60);
/// Waited beyond lifetime and skew, for clocks that tick in whole
/// milliseconds or seconds.
const MARGIN: Duration = Duration::from_millis(500);

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-TOK-01",
    title: "Token expiry enforced",
    level: Level::Must,
    severity: Severity::Critical,
    method: "A fresh user's device gets two notifications; a short-lived token \
             (requests.short_login) reads the first at once, then, once \
             policy.short_token_lifetime_s plus policy.expiry_skew_s (at most 60 s) plus 0.5 s \
             have passed since its login answered, must be refused the second with 401 and no \
             content (403 is WARN); the device's own session then reads it (positive control). \
             A declared skew over 60 s is a violation",
    sources: &[
        "OWASP ASVS 5.0 9.2.1",
        "OWASP ASVS 5.0 7.3.1",
        "OWASP API Security Top 10 2023 API2",
    ],
    needs: &[Capability::ShortLivedToken],
    sample: Sample {
        min: 1,
        unit: "probes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let policy = &suite.profile().policy;
    let lifetime = policy
        .short_token_lifetime
        .expect("the check needs policy.short_token_lifetime_s");
    let skew = policy.expiry_skew;
    if skew > MAX_SKEW {
        f.violation(evidence::what(format!(
            "the profile declares policy.expiry_skew_s = {}: a token stays usable more than {} s past its expiry",
            skew.as_secs_f64(),
            MAX_SKEW.as_secs()
        )));
    }
    let Some(platform) = setup::proven_platform(suite, &mut f) else {
        return f;
    };
    let Some((user, device)) = setup::user_with_device(suite, "tok01", platform, &mut f).await
    else {
        return f;
    };
    let mut rng = suite.rng(INFO.id);
    let (early, late) = (suite.secret(&mut rng), suite.secret(&mut rng));
    let mut delivered = Vec::new();
    for secret in [&early, &late] {
        let Some(d) = setup::deliver(suite, &device, secret, &mut f).await else {
            return f;
        };
        delivered.push(d);
    }
    let asked = Instant::now();
    let (short, login) = match suite.short_lived_credential(&user).await {
        Ok(pair) => pair,
        Err(e) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let issued = Instant::now();
    let first = suite
        .fetch(Some(&short), &user.name, &delivered[0].id)
        .await;
    if !suite.fetched(&first, early.text()) {
        if asked.elapsed() >= lifetime {
            f.shortfall(format!(
                "the short-lived token could not be tried within its {} s lifetime",
                lifetime.as_secs_f64()
            ));
        } else {
            f.backend_failure(evidence::about(
                &device,
                format!(
                    "a fresh short-lived token of {} could not read its notification: {}",
                    user.name,
                    first.describe()
                ),
                Some(&first),
            ));
        }
        return f;
    }
    let wait = lifetime + skew.min(MAX_SKEW) + MARGIN;
    tokio::time::sleep_until((issued + wait).into()).await;
    let exchange = suite
        .fetch(Some(&short), &user.name, &delivered[1].id)
        .await;
    let past = issued.elapsed();
    let answer = Refusal::of(&exchange, &late);
    let refused = refusal::expect_unauthorized(&mut f, &answer, false, |tail| {
        let mut e = evidence::about(
            &device,
            format!(
                "{}'s short-lived token, {:.1} s after its login answered (lifetime {} s, skew {} s), \
                 fetched a notification: {tail}",
                user.name,
                past.as_secs_f64(),
                lifetime.as_secs_f64(),
                skew.as_secs_f64()
            ),
            Some(&exchange),
        );
        e.detail = json!({
            "id": delivered[1].id,
            "login": evidence::exchange(&login),
        });
        e
    });
    if setup::read_back(
        suite,
        &device,
        &delivered[1].id,
        &late,
        "positive control failed",
        &mut f,
    )
    .await
    {
        f.gathered(usize::from(refused || answer == Refusal::Forbidden));
    }
    if refused {
        f.summary(format!(
            "a short-lived token worked at once and was refused with 401 {:.1} s after its \
             login (lifetime {} s, skew {} s); the device's own session still read",
            past.as_secs_f64(),
            lifetime.as_secs_f64(),
            skew.as_secs_f64()
        ));
    }
    f
}
