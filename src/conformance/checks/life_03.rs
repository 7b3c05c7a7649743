//! SP-LIFE-03: the declared replay policy holds. How often one
//! notification's content may be fetched is the backend's choice, declared
//! in `policy.replay`, and the check holds it to it:
//! - `single-use`: one fetch serves it, and only one, even when two race
//!   (a check-then-act race serves both);
//! - `until-ack`: it is served again until its recipient acknowledges it,
//!   and only the recipient's acknowledgement counts (if anyone's did, an
//!   attacker who learned an id could make the content vanish);
//! - `unlimited`: it is always served.
//!
//! A backend stricter than it declares is a WARN: safe, but not what its
//! clients were told.

use std::collections::BTreeSet;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe::{self, Probed};
use crate::client::Exchange;
use crate::profile::Replay;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LIFE-03",
    title: "The declared replay policy holds",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Per proven device, the owner fetches a fresh notification twice at once, then once \
             more. Under policy.replay = single-use exactly one of the racing fetches may serve \
             it and the third must not; under until-ack all three serve it, then another user \
             acknowledges it (requests.delete), which must not succeed, and the owner still \
             fetches it; under unlimited all three serve it. A backend stricter than declared \
             is WARN. Needs 3 probes and every platform whose baseline round trip verified",
    sources: &[
        "OWASP ASVS 5.0 15.4.2 (check-then-act races)",
        "OWASP ASVS 5.0 14.2.7",
        "Azure Notification Hubs Secure Push tutorial (the Read flag it never uses)",
    ],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "probes",
    },
};

/// What one fetch by the owner did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// The content came back.
    Served,
    /// A 4xx.
    Refused(u16),
    /// A 5xx, no answer, or a success without the content.
    Failed,
}

/// What the fetches mean under the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Judged {
    Violation(String),
    Deviation(String),
    BackendFailure(String),
}

/// Judges the two racing fetches and the one after them.
fn judge(replay: Replay, racing: [Fetch; 2], after: Fetch) -> Vec<Judged> {
    let mut out = Vec::new();
    if racing.contains(&Fetch::Failed) || after == Fetch::Failed {
        out.push(Judged::BackendFailure(
            "a fetch by the owner failed (a 5xx, no answer, or no content)".to_owned(),
        ));
        return out;
    }
    let served = racing.iter().filter(|f| **f == Fetch::Served).count();
    match replay {
        Replay::SingleUse => {
            match served {
                0 => out.push(Judged::BackendFailure(
                    "neither of two fetches by the owner served a fresh notification".to_owned(),
                )),
                2 => out.push(Judged::Violation(
                    "two fetches at once both served a single-use notification (a \
                     check-then-act race)"
                        .to_owned(),
                )),
                _ => {}
            }
            if after == Fetch::Served {
                out.push(Judged::Violation(
                    "a single-use notification was served again after it had been served"
                        .to_owned(),
                ));
            }
        }
        Replay::UntilAck | Replay::Unlimited => {
            let refused = racing
                .iter()
                .chain([&after])
                .filter(|f| matches!(f, Fetch::Refused(_)))
                .count();
            if refused > 0 {
                out.push(Judged::Deviation(format!(
                    "{refused} of three fetches by the owner were refused, though the policy \
                     ({}) lets it fetch again",
                    if replay == Replay::UntilAck {
                        "until-ack"
                    } else {
                        "unlimited"
                    }
                )));
            }
        }
    }
    out
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let replay = suite.profile().policy.replay;
    let intruder = if replay == Replay::UntilAck && suite.profile().requests.delete.is_some() {
        match suite.fresh_caller("life03").await {
            Ok(intruder) => Some(intruder),
            Err(e) => {
                f.backend_failed(&e);
                return f;
            }
        }
    } else {
        None
    };
    if replay == Replay::UntilAck && intruder.is_none() {
        f.note(evidence::what(
            "until-ack is declared but requests.delete is not: who may acknowledge is not tried",
        ));
    }
    let owners = probe::proven_devices(suite, INFO.sample.min);
    let probed = probe::deliver_fresh(suite, &owners, INFO.id, &mut f).await;
    let mut platforms = BTreeSet::new();
    for p in &probed {
        let owner = &p.owner;
        let id = &p.delivered.id;
        let (a, b) = tokio::join!(
            suite.fetch(Some(&owner.credential), &owner.user, id),
            suite.fetch(Some(&owner.credential), &owner.user, id),
        );
        let c = suite.fetch(Some(&owner.credential), &owner.user, id).await;
        let outcome = |x: &Exchange| match x.status() {
            _ if suite.fetched(x, p.secret.text()) => Fetch::Served,
            Some(status @ 400..=499) => Fetch::Refused(status),
            _ => Fetch::Failed,
        };
        let judged = judge(replay, [outcome(&a), outcome(&b)], outcome(&c));
        let shown = if outcome(&b) == Fetch::Served { &b } else { &c };
        let mut failed = false;
        for j in judged {
            let e = |what: String| {
                evidence::about(owner, format!("{}: {what}", owner.name), Some(shown))
            };
            match j {
                Judged::Violation(what) => f.violation(e(what)),
                Judged::Deviation(what) => f.deviation(e(what)),
                Judged::BackendFailure(what) => {
                    failed = true;
                    f.backend_failure(e(what));
                }
            }
        }
        if failed {
            continue;
        }
        if let Some((intruder, credential)) = &intruder {
            foreign_ack(suite, p, &intruder.name, credential, &mut f).await;
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
            "{} notifications fetched as policy.replay = {} says{}",
            f.gathered,
            match replay {
                Replay::SingleUse => "single-use",
                Replay::UntilAck => "until-ack",
                Replay::Unlimited => "unlimited",
            },
            if intruder.is_some() {
                "; another user's acknowledgement did not remove them"
            } else {
                ""
            }
        ));
    }
    f
}

/// Another user acknowledges the owner's notification; then the owner
/// fetches it, which must still work. Records what went wrong in `f`.
async fn foreign_ack(
    suite: &Suite,
    p: &Probed,
    intruder: &str,
    credential: &crate::client::Credential,
    f: &mut Findings,
) {
    let owner = &p.owner;
    let Some(ack) = suite.delete(credential, intruder, &p.delivered.id).await else {
        return;
    };
    let accepted = ack.status().is_some_and(|s| (200..300).contains(&s));
    let after = suite
        .fetch(Some(&owner.credential), &owner.user, &p.delivered.id)
        .await;
    let kept = suite.fetched(&after, p.secret.text());
    let mut e = evidence::about(owner, String::new(), Some(&after));
    e.detail = serde_json::json!({ "acknowledgement": evidence::exchange(&ack) });
    match (accepted, kept) {
        (false, true) => {}
        (true, true) => {
            e.what = format!(
                "another user's acknowledgement of {}'s notification was answered {}, though it \
                 changed nothing",
                owner.name,
                ack.status().unwrap_or_default()
            );
            f.deviation(e);
        }
        (true, false) => {
            e.what = format!(
                "another user ({intruder}) acknowledged {}'s notification, and it was gone for \
                 its owner",
                owner.name
            );
            f.violation(e);
        }
        (false, false) => {
            e.what = format!(
                "after another user's refused acknowledgement, {} could not fetch its \
                 notification ({})",
                owner.name,
                after.describe()
            );
            f.backend_failure(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(j: &[Judged]) -> Vec<&'static str> {
        j.iter()
            .map(|j| match j {
                Judged::Violation(_) => "violation",
                Judged::Deviation(_) => "deviation",
                Judged::BackendFailure(_) => "failure",
            })
            .collect()
    }

    #[test]
    fn single_use_allows_one_serve_and_catches_the_race_and_the_replay() {
        use Fetch::*;
        assert!(judge(Replay::SingleUse, [Served, Refused(404)], Refused(404)).is_empty());
        assert!(judge(Replay::SingleUse, [Refused(410), Served], Refused(410)).is_empty());
        assert_eq!(
            kinds(&judge(Replay::SingleUse, [Served, Served], Refused(404))),
            ["violation"],
            "the racy check-then-act"
        );
        assert_eq!(
            kinds(&judge(Replay::SingleUse, [Served, Refused(404)], Served)),
            ["violation"],
            "replayed"
        );
        assert_eq!(
            kinds(&judge(
                Replay::SingleUse,
                [Refused(404), Refused(404)],
                Refused(404)
            )),
            ["failure"]
        );
    }

    #[test]
    fn until_ack_and_unlimited_serve_every_time_and_stricter_is_a_deviation() {
        use Fetch::*;
        for replay in [Replay::UntilAck, Replay::Unlimited] {
            assert!(judge(replay, [Served, Served], Served).is_empty());
            assert_eq!(
                kinds(&judge(replay, [Served, Refused(404)], Refused(404))),
                ["deviation"]
            );
            assert_eq!(kinds(&judge(replay, [Served, Failed], Served)), ["failure"]);
        }
    }
}
