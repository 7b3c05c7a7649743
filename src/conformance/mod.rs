//! Conformance checks: each one a file in [`checks`] (its [`CheckInfo`] and
//! its `run`), an entry in the [`registry`], run against the shared
//! [`context::Suite`] by [`execute`], judged by the rules in [`findings`].
//!
//! Verdicts are graded as in Autobahn and h2spec: a MUST that is broken is
//! FAIL, a SHOULD is WARN, INFO never fails, SKIP only for a capability the
//! profile declares absent or a condition the check cannot judge (saying
//! why), ERROR when the harness failed or the sample was too small to judge.

pub mod canary;
pub mod catalogue;
pub mod checks;
pub mod context;
pub mod evidence;
pub mod execute;
pub mod findings;
pub mod leak;
pub mod probe;
pub mod registry;
pub mod select;

use serde::{Deserialize, Serialize};

pub use catalogue::{CheckInfo, Level, Sample, Severity};
pub use context::{Suite, SuiteOptions};
pub use findings::Findings;

/// At most this many pieces of evidence are kept per check.
const MAX_EVIDENCE: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Info,
    Skip,
    Warn,
    Fail,
    Error,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Info => "INFO",
            Verdict::Skip => "SKIP",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        })
    }
}

/// One check's result, in the leak scanner's older shape (kept for it).
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    #[serde(flatten)]
    pub info: CheckInfo,
    pub verdict: Verdict,
    /// One sentence a CI log can show.
    pub summary: String,
    /// What was observed, for a reader to confirm the verdict.
    pub evidence: Vec<serde_json::Value>,
    /// How many pieces of evidence there were before truncation.
    pub evidence_total: usize,
}

impl CheckResult {
    pub fn new(info: CheckInfo, verdict: Verdict, summary: impl Into<String>) -> CheckResult {
        CheckResult {
            info,
            verdict,
            summary: summary.into(),
            evidence: Vec::new(),
            evidence_total: 0,
        }
    }

    /// Attaches evidence, keeping the first [`MAX_EVIDENCE`] items.
    pub fn with_evidence<T: Serialize>(
        mut self,
        items: impl IntoIterator<Item = T>,
    ) -> CheckResult {
        for item in items {
            self.evidence_total += 1;
            if self.evidence.len() < MAX_EVIDENCE {
                self.evidence
                    .push(serde_json::to_value(item).expect("evidence is plain data"));
            }
        }
        self
    }

    /// The verdict for a broken requirement at this check's level.
    pub fn broken(info: &CheckInfo) -> Verdict {
        match info.level {
            Level::Must => Verdict::Fail,
            Level::Should => Verdict::Warn,
            Level::Info => Verdict::Info,
        }
    }
}
