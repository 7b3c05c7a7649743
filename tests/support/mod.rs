//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use pushproof::conformance::{CheckResult, Verdict};
use pushproof::report::Report;
use pushproof::runner::{self, RunPlan};
use pushproof_backend::Flaw;

/// The plan of a small embedded run with reports under `dir`.
pub fn plan(devices: usize, flaws: Vec<Flaw>, dir: &Path) -> RunPlan {
    RunPlan {
        devices,
        flaws,
        seed: 42,
        reports_dir: dir.to_path_buf(),
        concurrency: 64,
        timeout: Duration::from_secs(10),
        ..RunPlan::default()
    }
}

/// A small embedded run with reports under `dir`.
pub async fn run(devices: usize, flaws: Vec<Flaw>, dir: &Path) -> Report {
    run_plan(&plan(devices, flaws, dir)).await
}

pub async fn run_plan(plan: &RunPlan) -> Report {
    let outcome = runner::run(plan).await.expect("the run itself works");
    assert!(outcome.report_path.exists(), "report written");
    outcome.report
}

pub fn check<'a>(report: &'a Report, id: &str) -> &'a CheckResult {
    report
        .checks
        .iter()
        .find(|c| c.info.id == id)
        .unwrap_or_else(|| panic!("{id} missing from the report"))
}

pub fn verdict(report: &Report, id: &str) -> Verdict {
    check(report, id).verdict
}

pub fn assert_every_check_passes(report: &Report) {
    for check in &report.checks {
        assert_eq!(
            check.verdict,
            Verdict::Pass,
            "{}: {}",
            check.info.id,
            check.summary
        );
    }
}
