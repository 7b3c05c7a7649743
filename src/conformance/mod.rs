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
pub mod idstats;
pub mod leak;
pub mod lookalike;
pub mod probe;
pub mod pushes;
pub mod refusal;
pub mod registry;
pub mod select;
pub mod setup;
pub mod stats;

use serde::{Deserialize, Serialize};

pub use catalogue::{CheckInfo, Level, Sample, Severity};
pub use context::{Suite, SuiteOptions};
pub use findings::Findings;

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
