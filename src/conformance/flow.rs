//! SP-FLOW-01: the functional baseline — every device gets its push and
//! fetches exactly its own content. The security checks only mean something
//! on a backend that does this.

use std::collections::BTreeMap;

use serde_json::json;

use super::catalogue::FLOW_01;
use super::{CheckResult, Verdict};
use crate::device::{Outcome, RoundTrip};

/// Judges the fleet's round trips; `enrol_failures` are devices that never
/// got to receive anything.
pub fn check(trips: &[RoundTrip], enrol_failures: &[(usize, String)]) -> CheckResult {
    let verified = trips
        .iter()
        .filter(|t| t.outcome == Outcome::Verified)
        .count();
    let expected = trips.len() + enrol_failures.len();
    if expected == 0 {
        return CheckResult::new(FLOW_01, Verdict::Skip, "no devices");
    }
    let mut by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    for trip in trips.iter().filter(|t| t.outcome != Outcome::Verified) {
        *by_kind.entry(kind(&trip.outcome)).or_default() += 1;
    }
    if !enrol_failures.is_empty() {
        by_kind.insert("enrol_failed", enrol_failures.len());
    }
    let evidence = enrol_failures
        .iter()
        .map(|(device, reason)| json!({ "device": device, "outcome": "enrol_failed", "detail": reason }))
        .chain(
            trips
                .iter()
                .filter(|t| t.outcome != Outcome::Verified)
                .map(|t| json!({ "device": t.device, "outcome": t.outcome })),
        );
    if verified == expected {
        CheckResult::new(
            FLOW_01,
            Verdict::Pass,
            format!("{verified}/{expected} devices verified their content"),
        )
    } else {
        let failures: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
        CheckResult::new(
            FLOW_01,
            CheckResult::broken(&FLOW_01),
            format!(
                "{verified}/{expected} devices verified their content ({})",
                failures.join(", ")
            ),
        )
        .with_evidence(evidence)
    }
}

pub fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Verified => "verified",
        Outcome::SendFailed(_) => "send_failed",
        Outcome::NoPush => "no_push",
        Outcome::NoId => "no_id",
        Outcome::FetchFailed(_) => "fetch_failed",
        Outcome::WrongContent => "wrong_content",
    }
}
