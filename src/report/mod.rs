//! Reports. A conformance run's truth is `index.json` ([`suite`], written
//! by [`index`]); the console summary, JUnit, SARIF, Markdown and HTML are
//! views of it ([`console`], [`junit`], [`sarif`], [`markdown`], [`html`],
//! written by [`views`], sharing [`view`]). `pushproof run` also writes
//! `report.json`, the run's counts, latencies and throughput ([`json`]).

pub mod console;
pub mod escape;
pub mod expected;
pub mod html;
pub mod index;
pub mod json;
pub mod junit;
pub mod load;
pub mod markdown;
pub mod sarif;
pub mod suite;
pub mod summary;
pub mod view;
pub mod views;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::conformance::Verdict;
use crate::metrics::StagesSummary;
use suite::{CheckRecord, SuiteReport, Totals};

/// Version of `report.json`'s shape; bumped when a field changes meaning.
pub const FORMAT_VERSION: u32 = 2;

/// `report.json` of `pushproof run`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub pushproof_version: &'static str,
    pub run: RunInfo,
    pub counts: Counts,
    pub latency_ms: StagesSummary,
    pub throughput: Throughput,
    pub captures: CaptureCounts,
    /// The conformance run (also written as `index.json` beside it).
    pub suite: SuiteReport,
    /// The short open-model load phase after the checks (the whole of it
    /// in `load.json` beside this report).
    pub dispatch: Option<Dispatch>,
}

/// The load phase's headline figures.
#[derive(Debug, Clone, Serialize)]
pub struct Dispatch {
    /// `load.json`, relative to the report directory.
    pub file: String,
    pub target_per_sec: f64,
    pub verified_per_sec: f64,
    pub counts: load::Counts,
    pub reconciled: bool,
    pub end_to_end_ms: load::Percentiles,
    pub cpu_us_per_notification: load::CpuPerNotification,
}

impl Dispatch {
    pub fn of(report: &load::LoadReport) -> Dispatch {
        Dispatch {
            file: "load.json".to_owned(),
            target_per_sec: report.rate.target_per_sec,
            verified_per_sec: report.rate.verified_per_sec,
            counts: report.counts,
            reconciled: report.reconciliation.reconciled,
            end_to_end_ms: report.latency_ms.end_to_end,
            cpu_us_per_notification: report.cpu_us_per_notification,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub started_at: String,
    /// Replays the same canaries, users and order with `--seed`.
    pub seed: u64,
    /// The seed as a string, for readers that use doubles.
    pub seed_text: String,
    pub profile: String,
    pub target: String,
    pub flaws: Vec<String>,
    pub devices: usize,
    pub platforms: Vec<String>,
    pub tls: bool,
    pub concurrency: usize,
    pub timeout_s: f64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub devices: usize,
    pub enrolled: usize,
    pub enrol_failed: usize,
    pub sent: usize,
    pub send_failed: usize,
    /// Pushes the gateways accepted.
    pub pushed: usize,
    /// Pushes the gateways rejected (with the platform's error).
    pub push_rejected: usize,
    pub delivered: usize,
    pub fetched: usize,
    pub verified: usize,
    /// Outcome kind → devices, for everything that did not verify.
    pub failures: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Throughput {
    /// Seconds from the first send to the last round trip's end.
    pub dispatch_window_s: f64,
    /// Accepted pushes per second over that window.
    pub pushes_per_s: f64,
    /// Verified round trips per second over that window.
    pub verified_per_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureCounts {
    pub total: u64,
    pub kept: usize,
    pub evicted: u64,
}

/// The totals of a set of records.
pub fn totals(checks: &[CheckRecord]) -> Totals {
    let mut t = Totals::default();
    for c in checks {
        match c.verdict {
            Verdict::Pass => t.pass += 1,
            Verdict::Fail => t.fail += 1,
            Verdict::Warn => t.warn += 1,
            Verdict::Skip => t.skip += 1,
            Verdict::Error => t.error += 1,
            Verdict::Info => t.info += 1,
        }
    }
    t
}

/// The run's verdict and exit code: 1 for any FAIL or ERROR (and any WARN
/// with `strict`) whose failure was not expected, or a backend that died;
/// else 0. The verdict is the worst verdict not excused.
pub fn overall(checks: &[CheckRecord], strict: bool, target_failed: bool) -> (Verdict, i32) {
    let counted = checks.iter().filter(|c| c.expected_failure.is_none());
    let worst = counted
        .map(|c| c.verdict)
        .filter(|v| !matches!(v, Verdict::Skip | Verdict::Info))
        .max()
        .unwrap_or(Verdict::Pass);
    let worst = if target_failed {
        worst.max(Verdict::Fail)
    } else {
        worst
    };
    let failing = match worst {
        Verdict::Fail | Verdict::Error => true,
        Verdict::Warn => strict,
        _ => false,
    };
    (worst, i32::from(failing))
}
