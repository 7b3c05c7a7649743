//! The console summary of a conformance run: one line per check, the
//! totals, where the report is. Plain text, the same on a terminal and in
//! a CI log.

use std::fmt::Write;

use super::suite::{CheckRecord, SuiteReport};

/// One check's line.
pub fn line(check: &CheckRecord) -> String {
    let expected = match &check.expected_failure {
        Some(reason) => format!(" [expected: {reason}]"),
        None => String::new(),
    };
    format!(
        "  {:<5} {:<12} {} — {}{expected}",
        check.verdict.to_string(),
        check.id,
        check.title,
        check.summary
    )
}

pub fn render(report: &SuiteReport) -> String {
    let mut out = String::new();
    let run = &report.run;
    let _ = writeln!(
        out,
        "pushproof check {} — profile {}, target {}, seed {}, catalogue {}",
        run.id,
        run.profile.name,
        report.target.description,
        run.seed_text,
        report.catalogue_version
    );
    if let Some(failure) = &report.target.failure {
        let _ = writeln!(out, "backend   FAILED: {}", failure.summary);
        for l in failure.log_tail.lines() {
            let _ = writeln!(out, "          | {l}");
        }
    }
    let _ = writeln!(out, "checks");
    for check in &report.checks {
        let _ = writeln!(out, "{}", line(check));
    }
    for stale in &report.stale_expected_failures {
        let _ = writeln!(
            out,
            "stale     {} is listed in --expected-failures ({}) but is {} now: remove the entry",
            stale.id, stale.reason, stale.verdict
        );
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "result    {} (exit {}) — {} pass, {} fail, {} warn, {} skip, {} error, {} info",
        report.verdict, report.exit_code, t.pass, t.fail, t.warn, t.skip, t.error, t.info
    );
    out
}
