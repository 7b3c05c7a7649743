//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use pushproof::conformance::Verdict;
use pushproof::report::suite::{CheckRecord, SuiteReport};
use pushproof::runner::{self, Finished, Plan};
use pushproof::target::TargetSpec;
use pushproof_backend::Flaw;

/// A plan on the embedded reference backend with reports under `dir`.
pub fn plan(flaws: Vec<Flaw>, dir: &Path) -> Plan {
    let mut plan = Plan::embedded(TargetSpec::embedded(flaws), dir);
    plan.seed = 42;
    plan.timeout = Duration::from_secs(10);
    plan
}

/// Runs a plan; the run itself must work (a harness error panics).
pub async fn run(plan: &Plan) -> Finished {
    let finished = runner::run(plan).await.expect("the run itself works");
    let index = finished.index.as_ref().expect("index.json written");
    assert!(index.exists(), "index.json on disk");
    finished
}

pub fn record<'a>(report: &'a SuiteReport, id: &str) -> &'a CheckRecord {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{id} missing from the report"))
}

pub fn verdict(report: &SuiteReport, id: &str) -> Verdict {
    record(report, id).verdict
}

/// The ids with this verdict.
pub fn with(report: &SuiteReport, verdict: Verdict) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| c.verdict == verdict)
        .map(|c| c.id.clone())
        .collect()
}

/// Whether a check SKIPs for a condition of the run, not of the backend:
/// SP-HTTP-02 on a loopback target, SP-HTTP-03 without `--tls`.
pub fn skipped_by_the_run(check: &CheckRecord) -> bool {
    check.verdict == Verdict::Skip
        && (check.id == "SP-HTTP-02"
            || (check.id == "SP-HTTP-03"
                && check.skip.as_ref().and_then(|s| s.enable.as_deref()) == Some("--tls")))
}

/// Every check passed, except those that cannot apply to a loopback
/// target or a plaintext run (SKIP, saying why).
pub fn assert_sound(report: &SuiteReport) {
    for check in &report.checks {
        let fine = check.verdict == Verdict::Pass || skipped_by_the_run(check);
        assert!(fine, "{} {}: {}", check.id, check.verdict, check.summary);
    }
    assert_eq!(report.exit_code, 0);
}

/// The checks that did not pass (FAIL, WARN, INFO, ERROR or a SKIP the
/// backend caused), less those that cannot apply to this run: what a flaw
/// broke.
pub fn broken(report: &SuiteReport) -> BTreeSet<String> {
    report
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Pass && !skipped_by_the_run(c))
        .map(|c| c.id.clone())
        .collect()
}

pub fn ids(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Like [`assert_sound`], for a run that selected some checks: those left
/// out are SKIP by selection.
pub fn assert_sound_or_selected(report: &SuiteReport) {
    for check in &report.checks {
        let selected_out = check.verdict == Verdict::Skip
            && check
                .skip
                .as_ref()
                .is_some_and(|s| s.reason.contains("--only") || s.reason.contains("--skip"));
        let fine = check.verdict == Verdict::Pass || selected_out || skipped_by_the_run(check);
        assert!(fine, "{} {}: {}", check.id, check.verdict, check.summary);
    }
    assert_eq!(report.exit_code, 0);
}
