//! SP-ID-03: an id is not derived from the content. An id made from the
//! message (a hash, a fingerprint for deduplication) tells whoever sees the
//! push which messages are the same, and lets them confirm a guess of the
//! content. Per proven platform one device gets message P, another message
//! Q, then P again, twice over: the two ids of P must be no more alike than
//! either is to Q's (alike: equal, or sharing a run of 8 or more
//! characters, 4 more than with Q). A counter makes all three alike, which
//! is SP-ID-01's to report, not this check's.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::{evidence, probe, pushes};
use crate::device::Device;
use crate::report::suite::Evidence;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-ID-03",
    title: "Id not derived from content",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Per proven platform one device receives message P, message Q, then P again, two \
             rounds with fresh messages. The two ids of P must differ, and their longest \
             common run of characters must not reach 8 while exceeding by 4 or more the \
             longest run either shares with Q's id (Q is the control: ids that are alike \
             whatever the message, like a counter's, are SP-ID-01's). Needs two rounds on \
             every proven platform",
    sources: &[
        "OWASP ASVS 5.0 11.5.1 (ids from a CSPRNG)",
        "Security research: ids that hash the content",
    ],
    needs: &[],
    sample: Sample {
        min: 2,
        unit: "pairs",
    },
};

const ROUNDS: usize = 2;
/// A common run this long between the two ids of one message, and this
/// much longer than with the other message's, relates them.
const ALIKE: usize = 8;
const MARGIN: usize = 4;

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms = probe::required_platforms(suite, &mut f);
    let devices = probe::one_per_platform(suite);
    let results = futures::future::join_all(devices.iter().map(|d| rounds(suite, d))).await;
    let Some(captures) = pushes::all(suite, &mut f).await else {
        return f;
    };
    let mut judged = BTreeSet::new();
    for (device, result) in devices.iter().zip(results) {
        match result {
            Ok(triples) => {
                for (p1, q, p2) in &triples {
                    f.gathered(1);
                    if let Some(what) = related(p1, q, p2) {
                        let what = format!("on {}, {what}", device.platform);
                        let mut e = match pushes::capture_of(&captures, device, p2) {
                            Some(capture) => pushes::id_sighting(
                                what,
                                capture,
                                Some(device),
                                p2,
                                "id of a message sent before",
                            ),
                            None => evidence::about(device, what, None),
                        };
                        e.detail = serde_json::json!({
                            "same_message": [p1, p2],
                            "other_message": q,
                        });
                        f.violation(e);
                    }
                }
                judged.insert(device.platform);
            }
            Err(e) => f.backend_failure(e),
        }
    }
    for platform in &platforms {
        f.require(judged.contains(platform), format!("no pair on {platform}"));
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "{} pairs of ids of one message are no more alike than ids of different messages",
            f.gathered
        ));
    }
    f
}

/// The rounds on one device: the ids of (P, Q, P) each.
async fn rounds(
    suite: &Suite,
    device: &Arc<Device>,
) -> Result<Vec<(String, String, String)>, Evidence> {
    let mut rng = suite.rng(&format!("{}/{}", INFO.id, device.platform));
    let mut out = Vec::new();
    for _ in 0..ROUNDS {
        let (p, q) = (suite.secret(&mut rng), suite.secret(&mut rng));
        let mut ids = Vec::new();
        for message in [p.text(), q.text(), p.text()] {
            match suite.deliver(device, message).await {
                Ok(d) => ids.push(d.id),
                Err(error) => {
                    let mut e = evidence::step(&error);
                    e.subject = Some(evidence::subject(device));
                    return Err(e);
                }
            }
        }
        out.push((ids[0].clone(), ids[1].clone(), ids[2].clone()));
    }
    Ok(out)
}

/// Why the ids of one message (`p1`, `p2`) are related, given the control
/// `q`; `None` when they are not.
fn related(p1: &str, q: &str, p2: &str) -> Option<String> {
    if p1 == p2 {
        return Some(format!("the same message got the same id twice ({p1})"));
    }
    let same = common_run(p1, p2);
    let control = common_run(p1, q).max(common_run(q, p2));
    (same >= ALIKE && same >= control + MARGIN).then(|| {
        format!(
            "the ids of one message share a run of {same} characters ({p1}, {p2}); with another \
             message's id at most {control}"
        )
    })
}

/// The length of the longest run of characters two strings share.
fn common_run(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut best = 0;
    let mut previous = vec![0usize; b.len() + 1];
    for x in &a {
        let mut row = vec![0usize; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            if x == y {
                row[j + 1] = previous[j] + 1;
                best = best.max(row[j + 1]);
            }
        }
        previous = row;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_relations() {
        assert_eq!(common_run("abcdef", "xxcdey"), 3);
        assert_eq!(common_run("", "abc"), 0);
        // A content hash prefix.
        assert!(related(
            "9f86d081884c7d65a1b2c3d4e5f60718",
            "2c26b46b68ffc68f0123456789abcdef",
            "9f86d081884c7d6577aa88bb99cc00dd"
        )
        .is_some());
        // A counter: alike whatever the message.
        assert!(related(
            "00000000000000000005f2a1b2c3d4e1",
            "00000000000000000005f2a1b2c3d4e2",
            "00000000000000000005f2a1b2c3d4e3"
        )
        .is_none());
        assert!(related("a1", "b2", "a1").is_some());
        assert!(related(
            "3f1e0c9a7b5d2e4f6a8c0e1d3b5f7a9c",
            "c4e2a0f8d6b4c2a0e8f6d4b2a0c8e6f4",
            "7d5b3f1e9c7a5e3d1b9f7d5c3a1e9b7d"
        )
        .is_none());
    }
}
