//! What a check observed, and the verdict rules every check shares.
//!
//! A check never picks its own verdict. It records into [`Findings`] what it
//! gathered (its sample), what broke the requirement (violations), what
//! deviated without breaking it (deviations, WARN), what the backend failed
//! to do at all (a setup step refused, a 5xx, a timeout: FAIL), and, only
//! for a condition it cannot judge, why it does not apply. [`judge`] then
//! applies the rules in one place:
//!
//! 1. a harness problem ([`Findings::harness_error`]) is ERROR;
//! 2. a backend failure is FAIL;
//! 3. a violation is the check's level: MUST → FAIL, SHOULD → WARN, INFO →
//!    INFO (evidence of a violation stands however small the sample);
//! 4. a check that does not apply ([`Findings::not_applicable`]) is SKIP,
//!    with the reason and what would enable it;
//! 5. a sample below the check's minimum is ERROR, saying what was
//!    gathered and why no more: never PASS, never SKIP;
//! 6. a deviation is WARN;
//! 7. otherwise PASS.

use crate::device::StepError;
use crate::report::suite::{CheckRecord, Evidence, SampleSize, SkipReason};

use super::evidence;
use super::{CheckInfo, Level, Verdict};

/// At most this many pieces of evidence go into `index.json` per check;
/// all of them go into its evidence file.
pub const INDEX_EVIDENCE: usize = 5;

/// What one check observed.
#[derive(Debug, Default)]
pub struct Findings {
    /// How much of the sample was gathered (probes that count: with their
    /// positive control passed).
    pub gathered: usize,
    /// Why the sample is short, when it is.
    pub shortfalls: Vec<String>,
    pub violations: Vec<Evidence>,
    pub deviations: Vec<Evidence>,
    /// Shown in the evidence file; no effect on the verdict.
    pub notes: Vec<Evidence>,
    pub backend_failures: Vec<Evidence>,
    pub not_applicable: Option<SkipReason>,
    pub harness_error: Option<String>,
    /// The one-line summary; the framework writes one when this is empty.
    pub summary: String,
}

impl Findings {
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Counts `n` more of the sample.
    pub fn gathered(&mut self, n: usize) {
        self.gathered += n;
    }

    /// Records why the sample is short (or a coverage requirement unmet:
    /// a platform, a second user). Any shortfall keeps the check from
    /// passing.
    pub fn shortfall(&mut self, reason: impl Into<String>) {
        self.shortfalls.push(reason.into());
    }

    /// A shortfall unless `condition` holds.
    pub fn require(&mut self, condition: bool, reason: impl Into<String>) {
        if !condition {
            self.shortfall(reason);
        }
    }

    pub fn violation(&mut self, evidence: Evidence) {
        self.violations.push(evidence);
    }

    pub fn deviation(&mut self, evidence: Evidence) {
        self.deviations.push(evidence);
    }

    pub fn note(&mut self, evidence: Evidence) {
        self.notes.push(evidence);
    }

    /// The backend failed a step the check needed (signup, login, a send,
    /// a fetch that must work): FAIL, with the exchange as evidence.
    pub fn backend_failed(&mut self, error: &StepError) {
        self.backend_failures.push(evidence::step(error));
    }

    /// The backend failed in a way the check describes itself.
    pub fn backend_failure(&mut self, evidence: Evidence) {
        self.backend_failures.push(evidence);
    }

    /// The check cannot apply to this target (e.g. TLS on loopback); say
    /// why and what would make it apply.
    pub fn not_applicable(&mut self, reason: impl Into<String>, enable: Option<&str>) {
        self.not_applicable = Some(SkipReason {
            reason: reason.into(),
            enable: enable.map(str::to_owned),
        });
    }

    /// The harness itself failed (the mock plane unreachable, …).
    pub fn harness_error(&mut self, reason: impl Into<String>) {
        self.harness_error.get_or_insert_with(|| reason.into());
    }

    pub fn summary(&mut self, summary: impl Into<String>) {
        self.summary = summary.into();
    }

    /// Adds another part's findings (a sub-probe run concurrently); the
    /// summary stays this one's.
    pub fn absorb(&mut self, other: Findings) {
        self.gathered += other.gathered;
        self.shortfalls.extend(other.shortfalls);
        self.violations.extend(other.violations);
        self.deviations.extend(other.deviations);
        self.notes.extend(other.notes);
        self.backend_failures.extend(other.backend_failures);
        if self.not_applicable.is_none() {
            self.not_applicable = other.not_applicable;
        }
        if let Some(error) = other.harness_error {
            self.harness_error(error);
        }
    }
}

/// The verdict for a broken requirement at this level.
pub fn broken(level: Level) -> Verdict {
    match level {
        Level::Must => Verdict::Fail,
        Level::Should => Verdict::Warn,
        Level::Info => Verdict::Info,
    }
}

/// Applies the verdict rules (see the module's doc) to a check's findings.
pub fn judge(info: &CheckInfo, findings: Findings, duration_ms: f64) -> CheckRecord {
    let sample = SampleSize {
        required: info.sample.min,
        gathered: findings.gathered,
        unit: info.sample.unit.to_owned(),
    };
    let mut skip = None;
    let short = findings.gathered < info.sample.min || !findings.shortfalls.is_empty();
    let why_short = || {
        let mut reasons = findings.shortfalls.clone();
        if findings.gathered < info.sample.min {
            reasons.insert(
                0,
                format!(
                    "gathered {} of the {} {} it needs",
                    findings.gathered, info.sample.min, info.sample.unit
                ),
            );
        }
        reasons.join("; ")
    };
    let (verdict, default_summary, evidence) = if let Some(error) = &findings.harness_error {
        (
            Verdict::Error,
            format!("harness error: {error}"),
            findings.notes,
        )
    } else if !findings.backend_failures.is_empty() {
        let first = findings.backend_failures[0].what.clone();
        let n = findings.backend_failures.len();
        let mut evidence = findings.backend_failures;
        evidence.extend(findings.violations);
        (
            Verdict::Fail,
            if n == 1 {
                format!("the backend failed: {first}")
            } else {
                format!("the backend failed {n} times, first: {first}")
            },
            evidence,
        )
    } else if !findings.violations.is_empty() {
        let n = findings.violations.len();
        let first = findings.violations[0].what.clone();
        (
            broken(info.level),
            format!("{n} violation{}: {first}", if n == 1 { "" } else { "s" }),
            findings.violations,
        )
    } else if let Some(reason) = findings.not_applicable {
        let summary = format!("not applicable: {}", reason.reason);
        skip = Some(reason);
        (Verdict::Skip, summary, findings.notes)
    } else if short {
        (
            Verdict::Error,
            format!("insufficient sample: {}", why_short()),
            findings.notes,
        )
    } else if !findings.deviations.is_empty() {
        let n = findings.deviations.len();
        let first = findings.deviations[0].what.clone();
        (
            Verdict::Warn,
            format!("{n} deviation{}: {first}", if n == 1 { "" } else { "s" }),
            findings.deviations,
        )
    } else {
        (
            Verdict::Pass,
            format!(
                "{} {} judged, no violation",
                findings.gathered, info.sample.unit
            ),
            findings.notes,
        )
    };
    // The check's own summary is kept for a PASS/FAIL/WARN it judged; the
    // framework's stands for ERROR, SKIP and backend failures.
    let summary = match verdict {
        Verdict::Pass | Verdict::Warn | Verdict::Info | Verdict::Fail
            if !findings.summary.is_empty()
                && !default_summary.starts_with("the backend failed") =>
        {
            findings.summary
        }
        _ => default_summary,
    };
    CheckRecord {
        duration_ms,
        sample: Some(sample),
        skip,
        evidence_total: evidence.len(),
        evidence,
        ..record(info, verdict, summary)
    }
}

/// A record of `info` with a verdict and summary and nothing else.
fn record(info: &CheckInfo, verdict: Verdict, summary: String) -> CheckRecord {
    CheckRecord {
        id: info.id.to_owned(),
        title: info.title.to_owned(),
        level: info.level,
        severity: info.severity,
        method: info.method.to_owned(),
        sources: info.sources.iter().map(|s| (*s).to_owned()).collect(),
        verdict,
        summary,
        duration_ms: 0.0,
        sample: None,
        skip: None,
        expected_failure: None,
        evidence: Vec::new(),
        evidence_total: 0,
        evidence_file: None,
    }
}

/// The record of a check that did not run: left out by `--only`/`--skip`,
/// or needing a capability the profile does not declare.
pub fn skipped(info: &CheckInfo, reason: String, enable: Option<String>) -> CheckRecord {
    CheckRecord {
        skip: Some(SkipReason {
            reason: reason.clone(),
            enable,
        }),
        ..record(info, Verdict::Skip, format!("skipped: {reason}"))
    }
}

/// The record of a check that could not run because the backend is gone.
pub fn not_run(info: &CheckInfo, why: &str) -> CheckRecord {
    record(info, Verdict::Fail, format!("not run: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::catalogue::Sample;
    use crate::conformance::Severity;

    const INFO: CheckInfo = CheckInfo {
        id: "SP-TEST-01",
        title: "t",
        level: Level::Must,
        severity: Severity::High,
        method: "m",
        sources: &["s"],
        needs: &[],
        sample: Sample {
            min: 3,
            unit: "probes",
        },
    };

    fn ev(what: &str) -> Evidence {
        Evidence {
            what: what.to_owned(),
            ..Evidence::default()
        }
    }

    #[test]
    fn a_short_sample_is_error_never_pass_or_skip() {
        let mut f = Findings::new();
        f.gathered(2);
        let r = judge(&INFO, f, 0.0);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.summary.contains("gathered 2 of the 3 probes"),
            "{}",
            r.summary
        );

        let mut f = Findings::new();
        f.gathered(5);
        f.shortfall("only one user");
        assert_eq!(judge(&INFO, f, 0.0).verdict, Verdict::Error);
    }

    #[test]
    fn a_violation_stands_on_any_sample_and_follows_the_level() {
        let mut f = Findings::new();
        f.violation(ev("leaked"));
        assert_eq!(judge(&INFO, f, 0.0).verdict, Verdict::Fail);
        let should = CheckInfo {
            level: Level::Should,
            ..INFO
        };
        let mut f = Findings::new();
        f.violation(ev("leaked"));
        assert_eq!(judge(&should, f, 0.0).verdict, Verdict::Warn);
    }

    #[test]
    fn the_order_of_the_rules() {
        let mut f = Findings::new();
        f.gathered(3);
        f.deviation(ev("403 not 401"));
        assert_eq!(judge(&INFO, f, 0.0).verdict, Verdict::Warn);

        let mut f = Findings::new();
        f.gathered(3);
        assert_eq!(judge(&INFO, f, 0.0).verdict, Verdict::Pass);

        let mut f = Findings::new();
        f.not_applicable("loopback", Some("--backend-url"));
        let r = judge(&INFO, f, 0.0);
        assert_eq!(r.verdict, Verdict::Skip);
        assert_eq!(
            r.skip.and_then(|s| s.enable).as_deref(),
            Some("--backend-url")
        );

        let mut f = Findings::new();
        f.gathered(3);
        f.backend_failure(ev("signup answered 500"));
        f.harness_error("plane down");
        assert_eq!(judge(&INFO, f, 0.0).verdict, Verdict::Error);

        let mut f = Findings::new();
        f.backend_failure(ev("signup answered 500"));
        let r = judge(&INFO, f, 0.0);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.summary.contains("signup answered 500"));
    }
}
