//! SP-LEAK-08: grouping fields are not sensitive. The fields a platform
//! groups or collapses notifications by (APNs `thread-id` and
//! `apns-collapse-id`, FCM `collapse_key` and notification `tag`, WNS
//! `X-WNS-Tag` and `X-WNS-Group`) are kept, logged and shown by the
//! platform; grouping by conversation or sender writes who talks to whom
//! into them. A fresh recipient gets, per proven platform, two pushes from
//! one fresh sender and one from another (under a self-only send policy:
//! two from one fresh account to itself, one from another account): a
//! grouping field that is the same for one sender and differs for the
//! other is derived from the sender. And no grouping field may carry the
//! name of the sender, the recipient or any account, in any encoding the
//! leak scanner knows.

use std::collections::BTreeSet;
use std::sync::Arc;

use pushproof_mocks::{Capture, Platform};

use super::super::canary::Secret;
use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::{Suite, User};
use super::super::findings::Findings;
use super::super::leak::{self, Scanner};
use super::super::{evidence, probe, pushes};
use crate::client::Credential;
use crate::device::Device;
use crate::profile::SendPolicy;
use crate::report::suite::{Evidence, Hit};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-08",
    title: "Grouping fields not sensitive",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Per proven platform a fresh recipient's fresh device gets two pushes from one fresh \
             sender and one from another (self-only send policy: two from one fresh account to \
             itself and one from another account to itself). Their grouping fields (APNs \
             thread-id and apns-collapse-id, FCM collapse_key, notification tag and forwarded \
             apns-collapse-id, WNS X-WNS-Tag and X-WNS-Group) are compared with the ids masked: \
             one that is equal for one sender and differs for the other encodes the sender \
             (violation). Every grouping field is also searched by the leak scanner for the \
             names of the accounts involved, in any encoding or hash. Needs one comparison on \
             every proven platform",
    sources: &[
        "OWASP MASVS-STORAGE-2",
        "Apple: Payload Key Reference (thread-id, apns-collapse-id)",
        "Firebase: collapsible messages (collapse_key, tag)",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "comparisons",
    },
};

/// Who sends, to which device.
struct Leg {
    device: Arc<Device>,
    sender: String,
    credential: Credential,
}

/// One platform's three pushes: two by the first account, one by the second.
struct Triple {
    platform: Platform,
    legs: [(Arc<Device>, String, String); 3],
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms = probe::required_platforms(suite, &mut f);
    let Some((first, second, names)) = accounts(suite, &platforms, &mut f).await else {
        return f;
    };
    let triples =
        futures::future::join_all(platforms.iter().map(|p| send(suite, *p, &first, &second))).await;
    let Some(captures) = pushes::all(suite, &mut f).await else {
        return f;
    };
    let scanner = Scanner::new(&names);
    let mut judged = BTreeSet::new();
    for triple in triples {
        match triple {
            Ok(triple) => {
                if judge(&triple, &captures, &scanner, &mut f) {
                    judged.insert(triple.platform);
                }
            }
            Err(e) => f.backend_failure(e),
        }
    }
    for platform in &platforms {
        f.require(
            judged.contains(platform),
            format!("no comparison on {platform}"),
        );
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "on {} platform(s) the grouping fields neither follow the sender nor carry an account's name",
            judged.len()
        ));
    }
    f
}

/// The two accounts that send, each with a device per platform to send
/// to, and the names to search for.
async fn accounts(
    suite: &Suite,
    platforms: &[Platform],
    f: &mut Findings,
) -> Option<(Vec<Leg>, Vec<Leg>, Vec<Secret>)> {
    let mut users = Vec::new();
    for purpose in ["leak08-a", "leak08-b", "leak08-r"] {
        users.push(probe::fresh_user(suite, purpose, f).await?);
    }
    let names: Vec<Secret> = users
        .iter()
        .filter_map(|u| Secret::opaque(format!("user {}", u.name), u.name.clone()).ok())
        .collect();
    let self_only = suite.profile().policy.send == SendPolicy::SelfOnly;
    // The recipients: one fresh account (any-user), or each sender itself.
    let recipients: Vec<&User> = if self_only {
        vec![&users[0], &users[1]]
    } else {
        vec![&users[2]]
    };
    let mut devices: Vec<Vec<Arc<Device>>> = Vec::new();
    for recipient in &recipients {
        devices.push(probe::fresh_devices(suite, recipient, platforms, f).await?);
    }
    let mut legs: Vec<Vec<Leg>> = Vec::new();
    for (i, sender) in users.iter().take(2).enumerate() {
        let credential = if self_only {
            devices[i][0].credential.clone()
        } else {
            match suite.api.credential(&sender.name, &sender.password).await {
                Ok(c) => c,
                Err(e) => {
                    f.backend_failed(&e);
                    return None;
                }
            }
        };
        let to = &devices[if self_only { i } else { 0 }];
        legs.push(
            to.iter()
                .map(|d| Leg {
                    device: d.clone(),
                    sender: sender.name.clone(),
                    credential: credential.clone(),
                })
                .collect(),
        );
    }
    let second = legs.pop()?;
    let first = legs.pop()?;
    Some((first, second, names))
}

/// The three deliveries on one platform: two by the first account, one by
/// the second; each as (device, sender, id).
async fn send(
    suite: &Suite,
    platform: Platform,
    first: &[Leg],
    second: &[Leg],
) -> Result<Triple, Evidence> {
    let leg = |legs: &[Leg]| {
        legs.iter()
            .find(|l| l.device.platform == platform)
            .map(|l| (l.device.clone(), l.sender.clone(), l.credential.clone()))
    };
    let (Some(a), Some(b)) = (leg(first), leg(second)) else {
        return Err(evidence::what(format!("no device on {platform}")));
    };
    let mut rng = suite.rng(&format!("{}/{platform}", INFO.id));
    let mut out = Vec::new();
    for (device, sender, credential) in [a.clone(), a, b] {
        let secret = suite.secret(&mut rng);
        match suite
            .deliver_from(&device, &sender, &credential, secret.text())
            .await
        {
            Ok(delivered) => out.push((device, sender, delivered.id)),
            Err(error) => {
                let mut e = evidence::step(&error);
                e.subject = Some(evidence::subject(&device));
                return Err(e);
            }
        }
    }
    let legs: [(Arc<Device>, String, String); 3] = out.try_into().expect("three deliveries");
    Ok(Triple { platform, legs })
}

/// Judges one platform's three pushes; whether all were captured.
fn judge(triple: &Triple, captures: &[Capture], scanner: &Scanner, f: &mut Findings) -> bool {
    let pushes: Vec<&Capture> = triple
        .legs
        .iter()
        .filter_map(|(device, _, id)| pushes::capture_of(captures, device, id))
        .collect();
    let [one, again, other] = pushes[..] else {
        f.shortfall(format!(
            "{} of the 3 pushes on {} were captured",
            pushes.len(),
            triple.platform
        ));
        return false;
    };
    f.gathered(1);
    let mut flagged = BTreeSet::new();
    for (capture, (device, _, _)) in pushes.iter().zip(&triple.legs) {
        let named: Vec<leak::Hit> = scanner
            .scan(capture)
            .into_iter()
            .filter(|h| pushes::grouping(&h.surface))
            .collect();
        if let Some(first) = named.first() {
            flagged.extend(named.iter().map(|h| h.surface.clone()));
            f.violation(pushes::sighting(
                format!(
                    "push #{} to {} carries the {} in {} ({})",
                    capture.seq,
                    pushes::recipient(capture, Some(device)),
                    first.label,
                    first.surface,
                    first.chain()
                ),
                capture,
                Some(device),
                &named,
            ));
        }
    }
    // All three were captured, so `pushes` is in the legs' order.
    let field_sets = [0, 1, 2].map(|i| leak::fields(pushes[i], &[triple.legs[i].2.as_str()]));
    let names: BTreeSet<&String> = field_sets
        .iter()
        .flat_map(|fields| fields.keys())
        .filter(|field| pushes::grouping(field))
        .collect();
    for field in names {
        let [v1, v2, v3] = [0, 1, 2].map(|i| field_sets[i].get(field));
        if v1 == v2 && v1 != v3 && !flagged.contains(field.split('#').next().unwrap_or(field)) {
            let (device, sender, _) = &triple.legs[2];
            let value = v3.cloned().unwrap_or_default();
            let (start, end) = pushes::field_range(other, field, &value);
            let mut e = pushes::sighting(
                format!(
                    "on {}, {} follows the sender: {:?} for both pushes from {}, {:?} for the push from {}",
                    triple.platform,
                    field,
                    v1.map_or("", String::as_str),
                    triple.legs[0].1,
                    value,
                    sender
                ),
                other,
                Some(device),
                &[],
            );
            e.hits = vec![Hit {
                surface: field.clone(),
                start,
                end,
                transforms: Vec::new(),
                secret: format!("sender {sender}"),
                part: "grouping field".to_owned(),
            }];
            e.detail = serde_json::json!({
                "field": field,
                "captures": [one.seq, again.seq, other.seq],
                "values": [v1, v2, v3],
            });
            f.violation(e);
        }
    }
    true
}
