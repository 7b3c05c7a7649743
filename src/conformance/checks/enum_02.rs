//! SP-ENUM-02: no timing oracle. Even with identical answers, a backend
//! that takes measurably longer for an id that exists (someone else's)
//! than for one that does not tells a scanner which ids are real. Fresh
//! users fetch other users' real ids and unknown ids of the same shape,
//! interleaved, and the two latency samples are compared with a rank test
//! and an effect size; a difference is reported only if a second, fresh
//! run shows it too, in the same direction.

use std::collections::BTreeSet;

use rand::Rng;
use serde_json::json;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::lookalike::lookalike;
use super::super::stats::{self, MannWhitney};
use crate::client::{Credential, Exchange};

/// Requests per class in one run; at least [`MIN_PER_CLASS`] of them must
/// be refusals to time.
const PER_CLASS: usize = 220;
const MIN_PER_CLASS: usize = 200;
/// Pairs fetched first and thrown away (connections, caches).
const WARM_UP: usize = 5;
/// Real ids used at most, each fetched as often as its lookalike.
const MAX_IDS: usize = 6;
/// |z| of a two-sided p below 0.001.
const Z_CRITICAL: f64 = 3.29;
/// An effect counts when A is this far from 0.5 (A ≥ 0.7 or ≤ 0.3, a
/// large effect in Vargha and Delaney's terms): a busy machine's noise
/// shifts both samples alike and stays well inside it.
const MIN_EFFECT: f64 = 0.2;
/// The share of a declared throttle's allowance one caller uses.
const THROTTLE_SHARE: f64 = 0.6;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-ENUM-02",
    title: "No timing oracle between \"not yours\" and \"does not exist\"",
    level: Level::Should,
    severity: Severity::Medium,
    method: "Fresh users with valid sessions fetch other users' real ids (the baseline's \
             verified notifications) and as many unknown ids of the same shape, each id as \
             often as its lookalike, 220 of each class (at least 200 of them refusals) in a seeded \
             random interleaving, spread \
             over enough users to stay under a declared fetch throttle. The latencies are \
             compared with a two-sided Mann-Whitney U test and the Vargha-Delaney effect size A: \
             a difference needs p < 0.001 and A >= 0.7 or <= 0.3, and is reported only if a \
             second run with fresh users and ids shows it in the same direction",
    sources: &[
        "OWASP ASVS 5.0 6.3.8 (no enumeration by timing; applied to objects)",
        "CWE-208 Observable Timing Discrepancy",
    ],
    needs: &[],
    sample: Sample {
        min: 2 * MIN_PER_CLASS,
        unit: "requests",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let verified = suite.verified();
    let real: Vec<&str> = verified.iter().take(MAX_IDS).map(|v| v.id).collect();
    if real.is_empty() {
        f.shortfall("no baseline notification verified: no real id to time");
        return f;
    }
    let first = match measure(suite, &real, "a", &mut f).await {
        Some(run) => run,
        None => return f,
    };
    if first.served > 0 {
        // Existence is plain to see: timing would add nothing.
        let mut e = evidence::about(
            verified[0].device,
            format!(
                "{} fetches of other users' ids were served (2xx) to a fresh user: which ids \
                 exist needs no timing to tell",
                first.served
            ),
            first.example.as_ref(),
        );
        e.detail = json!({ "ids": real });
        f.violation(e);
        return f;
    }
    f.gathered(first.other.len() + first.unknown.len());
    let mut runs = vec![first];
    if runs[0].effect().is_some() {
        // Confirm before reporting: a burst of load can fake one run.
        match measure(suite, &real, "b", &mut f).await {
            Some(second) => runs.push(second),
            None => return f,
        }
    }
    let owner = verified[0].device;
    let summaries: Vec<serde_json::Value> = runs.iter().map(Run::summary).collect();
    let confirmed = match (runs[0].effect(), runs.get(1).and_then(Run::effect)) {
        (Some(a), Some(b)) if a == b => Some(a),
        _ => None,
    };
    let r = runs[0].test();
    let medians = format!(
        "median {:.2} ms for other users' ids, {:.2} ms for unknown ids (A = {:.2}, p = {:.1e})",
        stats::median(&runs[0].other),
        stats::median(&runs[0].unknown),
        r.a,
        r.p
    );
    match confirmed {
        Some(slower) => {
            let mut e = evidence::about(
                owner,
                format!(
                    "{slower} ids are answered measurably slower, in two runs: {medians}",
                    slower = if slower { "other users'" } else { "unknown" }
                ),
                runs[0].example.as_ref(),
            );
            e.detail = json!({ "runs": summaries });
            f.violation(e);
            f.summary(format!("a timing oracle: {medians}"));
        }
        None => {
            let mut e = evidence::about(owner, format!("no timing difference: {medians}"), None);
            e.detail = json!({ "runs": summaries });
            f.note(e);
            f.summary(format!(
                "no timing difference between other users' and unknown ids: {medians}{}",
                if runs.len() > 1 {
                    "; a difference in the first run was not confirmed by the second"
                } else {
                    ""
                }
            ));
        }
    }
    f
}

/// One run's latencies, in milliseconds.
struct Run {
    other: Vec<f64>,
    unknown: Vec<f64>,
    /// A fetch of another user's id, for the evidence.
    example: Option<Exchange>,
    /// Fetches of other users' ids that were served (2xx).
    served: usize,
}

impl Run {
    fn test(&self) -> MannWhitney {
        stats::mann_whitney(&self.other, &self.unknown)
    }

    /// `Some(true)` when other users' ids are slower, `Some(false)` when
    /// unknown ids are, `None` when there is no difference that counts.
    fn effect(&self) -> Option<bool> {
        let r = self.test();
        (r.z.abs() >= Z_CRITICAL && (r.a - 0.5).abs() >= MIN_EFFECT).then_some(r.a > 0.5)
    }

    fn summary(&self) -> serde_json::Value {
        let r = self.test();
        json!({
            "requests": { "other": self.other.len(), "unknown": self.unknown.len() },
            "median_ms": { "other": stats::median(&self.other), "unknown": stats::median(&self.unknown) },
            "a": r.a,
            "z": r.z,
            "p": r.p,
        })
    }
}

/// One run: fresh callers, fresh lookalikes, the pairs in seeded order.
/// `None` when the callers could not be made (recorded in `f`).
async fn measure(suite: &Suite, real: &[&str], round: &str, f: &mut Findings) -> Option<Run> {
    let requests = 2 * (PER_CLASS + WARM_UP);
    let callers_needed = suite
        .profile()
        .policy
        .fetch_throttle
        .map_or(2, |t| {
            let allowance = (f64::from(t.failures) * THROTTLE_SHARE).floor().max(1.0);
            (requests as f64 / allowance).ceil() as usize
        })
        .max(2);
    let mut callers: Vec<(String, Credential)> = Vec::new();
    for _ in 0..callers_needed {
        match suite.fresh_caller("enum02").await {
            Ok((user, credential)) => callers.push((user.name, credential)),
            Err(e) => {
                f.backend_failed(&e);
                return None;
            }
        }
    }
    let mut rng = suite.rng(&format!("{}/{round}", INFO.id));
    let unknown: Vec<String> = real.iter().map(|id| lookalike(id, &mut rng)).collect();
    let mut run = Run {
        other: Vec::with_capacity(PER_CLASS),
        unknown: Vec::with_capacity(PER_CLASS),
        example: None,
        served: 0,
    };
    let mut excluded = BTreeSet::new();
    let mut served = 0;
    for pair in 0..(PER_CLASS + WARM_UP) {
        let k = pair % real.len();
        let (user, credential) = &callers[pair % callers.len()];
        let other_first: bool = rng.gen();
        let order = if other_first {
            [true, false]
        } else {
            [false, true]
        };
        for is_other in order {
            let id = if is_other {
                real[k]
            } else {
                unknown[k].as_str()
            };
            let exchange = suite.fetch(Some(credential), user, id).await;
            let Some(status) = exchange.status() else {
                excluded.insert(format!("no answer ({})", exchange.describe()));
                continue;
            };
            if is_other && (200..300).contains(&status) {
                served += 1;
                run.example.get_or_insert(exchange);
                continue;
            }
            // Only refusals time the lookup; a 429 or a 200 is another
            // check's finding.
            if !(400..500).contains(&status) || status == 429 {
                excluded.insert(format!("status {status}"));
                continue;
            }
            if pair < WARM_UP {
                continue;
            }
            let ms = exchange.elapsed.as_secs_f64() * 1000.0;
            if is_other {
                run.other.push(ms);
                run.example.get_or_insert(exchange);
            } else {
                run.unknown.push(ms);
            }
        }
    }
    if served > 0 {
        run.served = served;
        return Some(run);
    }
    for (class, sample) in [("other users'", &run.other), ("unknown", &run.unknown)] {
        f.require(
            sample.len() >= MIN_PER_CLASS,
            format!(
                "only {} fetches of {class} ids were refusals to time (left out: {})",
                sample.len(),
                excluded.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    Some(run)
}
