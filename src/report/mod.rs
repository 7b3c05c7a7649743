//! Reports of a run. The JSON report is the source of truth; the console
//! summary, and the JUnit, SARIF, Markdown and HTML views of a conformance
//! run's [`suite::SuiteReport`], are rendered from it.

pub mod escape;
pub mod html;
pub mod json;
pub mod junit;
pub mod load;
pub mod markdown;
pub mod sarif;
pub mod suite;
pub mod summary;
pub mod view;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::conformance::{CheckResult, Verdict};
use crate::metrics::StagesSummary;

/// Version of the report's JSON shape; bumped when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub pushproof_version: &'static str,
    pub run: RunInfo,
    pub counts: Counts,
    pub latency_ms: StagesSummary,
    pub throughput: Throughput,
    pub captures: CaptureCounts,
    pub checks: Vec<CheckResult>,
    pub verdict: Verdict,
    pub exit_code: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub started_at: String,
    /// Replays the same canaries, users and order with `--seed`.
    pub seed: u64,
    pub profile: String,
    pub target: String,
    pub flaws: Vec<String>,
    pub devices: usize,
    pub platforms: Vec<String>,
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

/// The run's verdict and exit code from its checks: any FAIL is a failed
/// target (1); otherwise an ERROR is a harness problem (2); else 0.
pub fn overall(checks: &[CheckResult]) -> (Verdict, i32) {
    if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        (Verdict::Fail, 1)
    } else if checks.iter().any(|c| c.verdict == Verdict::Error) {
        (Verdict::Error, 2)
    } else if checks.iter().any(|c| c.verdict == Verdict::Warn) {
        (Verdict::Warn, 0)
    } else {
        (Verdict::Pass, 0)
    }
}
