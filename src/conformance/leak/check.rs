//! SP-LEAK-01: no secret in any push, through any transform the scanner
//! knows.

use std::collections::BTreeSet;

use pushproof_mocks::{Capture, CaptureKind, CaptureStats};

use super::Scanner;
use crate::conformance::canary::Secret;
use crate::conformance::catalogue::LEAK_01;
use crate::conformance::{CheckResult, Verdict};

/// Scans every captured push for every secret; `secrets[i]` belongs to
/// device `i`.
pub fn check(captures: &[Capture], stats: &CaptureStats, secrets: &[Secret]) -> CheckResult {
    let scanner = Scanner::new(secrets);
    let mut scanned = 0usize;
    let mut hits = Vec::new();
    for capture in captures.iter().filter(|c| c.kind == CaptureKind::Push) {
        scanned += 1;
        hits.extend(scanner.scan(capture));
    }
    if !hits.is_empty() {
        let leaked: BTreeSet<usize> = hits.iter().map(|h| h.secret).collect();
        return CheckResult::new(
            LEAK_01,
            CheckResult::broken(&LEAK_01),
            format!(
                "{} of {} secrets found in pushes ({} sightings in {scanned} pushes)",
                leaked.len(),
                secrets.len(),
                hits.len()
            ),
        )
        .with_evidence(hits);
    }
    if stats.evicted > 0 {
        return CheckResult::new(
            LEAK_01,
            Verdict::Error,
            format!(
                "{} captures were evicted before the scan: raise the capture capacity",
                stats.evicted
            ),
        );
    }
    if scanned == 0 {
        return CheckResult::new(LEAK_01, Verdict::Skip, "no push was captured");
    }
    CheckResult::new(
        LEAK_01,
        Verdict::Pass,
        format!(
            "{} secrets absent from {scanned} captured pushes, plain, encoded, compressed \
             or hashed",
            secrets.len()
        ),
    )
}
