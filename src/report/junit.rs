//! The JUnit XML view of a conformance run (`--junit FILE`), in the shape
//! GitLab's test report and the common GitHub actions
//! (dorny/test-reporter, mikepenz/action-junit-report,
//! EnricoMi/publish-unit-test-result-action) read:
//!
//! - a `testsuites` root holding one `testsuite` named `pushproof`, with
//!   `tests`, `failures`, `errors`, `skipped`, `time` and `timestamp`, and
//!   `properties` for the seed, run id, target, profile and catalogue
//!   version;
//! - one `testcase` per check of the catalogue: `classname` is the check
//!   group (`SP-LEAK`, which GitLab shows as the suite), `name` is
//!   `SP-LEAK-01 <title>` (unique: GitLab drops repeated names), `file`
//!   the profile file when there is one, `time` in seconds;
//! - FAIL (and WARN under `--strict`) is a `<failure message type>`, ERROR
//!   an `<error>`, SKIP a `<skipped message>`, each with the summary,
//!   evidence, method and sources as text. WARN without `--strict` and
//!   INFO pass, with what they found in `system-out`. A failure listed in
//!   `--expected-failures` is `<skipped type="expected-failure">` with the
//!   reason, as pytest reports an xfail.
//!
//! Every string is escaped, and characters XML 1.0 forbids (ANSI escapes
//! from a backend's log, NULs) are written out as `\u001b`.

use std::collections::HashSet;
use std::fmt::Write;

use super::escape::{push_attr, push_text};
use super::suite::{CheckRecord, SuiteReport};
use super::view::{self, Outcome};
use crate::conformance::Verdict;

/// Evidence pieces written into one testcase; the rest are in the
/// evidence file.
const EVIDENCE_ITEMS: usize = 5;
/// Bytes of text inside one testcase element, so that one check's huge
/// evidence does not make a file CI servers refuse.
const CASE_TEXT_LIMIT: usize = 64 * 1024;

/// Renders the run as JUnit XML.
pub fn render(report: &SuiteReport) -> String {
    let run = &report.run;
    let mut counts = Counts::default();
    for check in &report.checks {
        counts.add(view::outcome(run, check));
    }
    let time = format!("{:.3}", run.duration_s.max(0.0));

    let mut out = String::with_capacity(4096 + report.checks.len() * 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite_attrs = format!(
        "name=\"pushproof\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time}\"",
        report.checks.len(),
        counts.failures,
        counts.errors,
        counts.skipped,
    );
    let _ = writeln!(out, "<testsuites {suite_attrs}>");
    let _ = write!(out, "  <testsuite {suite_attrs} timestamp=\"");
    push_attr(&mut out, &run.started_at);
    out.push_str("\">\n    <properties>\n");
    for (name, value) in properties(report) {
        out.push_str("      <property name=\"");
        push_attr(&mut out, name);
        out.push_str("\" value=\"");
        push_attr(&mut out, &value);
        out.push_str("\"/>\n");
    }
    out.push_str("    </properties>\n");

    let mut names = HashSet::new();
    for check in &report.checks {
        testcase(&mut out, report, check, &mut names);
    }

    let suite_err = suite_stderr(report);
    if !suite_err.is_empty() {
        out.push_str("    <system-err>");
        push_text(&mut out, &suite_err);
        out.push_str("</system-err>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[derive(Default)]
struct Counts {
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Failed => self.failures += 1,
            Outcome::Errored => self.errors += 1,
            Outcome::Skipped | Outcome::Expected => self.skipped += 1,
            Outcome::Passed => {}
        }
    }
}

fn properties(report: &SuiteReport) -> Vec<(&'static str, String)> {
    let run = &report.run;
    let mut props = vec![
        ("seed", run.seed_text.clone()),
        ("run_id", run.id.clone()),
        ("target", report.target.description.clone()),
        ("target_kind", report.target.kind.clone()),
        ("origin", report.target.origin.clone()),
        ("profile", run.profile.name.clone()),
        ("catalogue_version", report.catalogue_version.clone()),
        ("pushproof_version", report.pushproof_version.clone()),
        ("verdict", report.verdict.to_string()),
        ("exit_code", report.exit_code.to_string()),
        ("strict", run.strict.to_string()),
        ("tls", run.tls.to_string()),
        ("replay", view::replay_command(run)),
    ];
    if let Some(path) = &run.profile.path {
        props.push(("profile_path", path.clone()));
    }
    props
}

fn testcase(
    out: &mut String,
    report: &SuiteReport,
    check: &CheckRecord,
    names: &mut HashSet<String>,
) {
    let mut name = format!("{} {}", check.id, check.title);
    if !names.insert(name.clone()) {
        // GitLab keeps one of several equal names: number the repeats.
        let mut n = 2;
        while !names.insert(format!("{name} ({n})")) {
            n += 1;
        }
        name = format!("{name} ({n})");
    }
    out.push_str("    <testcase classname=\"");
    push_attr(out, view::group(&check.id));
    out.push_str("\" name=\"");
    push_attr(out, &name);
    out.push('"');
    if let Some(path) = &report.run.profile.path {
        out.push_str(" file=\"");
        push_attr(out, path);
        out.push('"');
    }
    let _ = writeln!(out, " time=\"{:.3}\">", check.duration_ms.max(0.0) / 1000.0);

    let details = case_text(report, check);
    let level = view::level_word(check.level);
    let severity = view::severity_word(check.severity);
    match view::outcome(&report.run, check) {
        Outcome::Failed => element(
            out,
            "failure",
            &check.summary,
            &format!("{} {level} {severity}", check.verdict),
            &details,
        ),
        Outcome::Errored => element(out, "error", &check.summary, "ERROR", &details),
        Outcome::Skipped => {
            let reason = view::skip_text(check).unwrap_or_else(|| check.summary.clone());
            element(out, "skipped", &reason, "SKIP", &details);
        }
        Outcome::Expected => {
            let reason = check.expected_failure.as_deref().unwrap_or_default();
            element(
                out,
                "skipped",
                &format!("expected failure: {reason}"),
                "expected-failure",
                &details,
            );
        }
        Outcome::Passed => {
            // A WARN that does not fail the gate, an INFO, or a PASS: the
            // text stays readable beside the green tick.
            let status = match check.verdict {
                Verdict::Warn => "WARN (not failing without --strict)".to_owned(),
                other => other.to_string(),
            };
            out.push_str("      <system-out>");
            push_text(out, &format!("{status}: {details}"));
            out.push_str("</system-out>\n");
        }
    }
    out.push_str("    </testcase>\n");
}

fn element(out: &mut String, tag: &str, message: &str, kind: &str, text: &str) {
    let _ = write!(out, "      <{tag} message=\"");
    push_attr(out, view::truncate(message, 1024));
    out.push_str("\" type=\"");
    push_attr(out, kind);
    out.push_str("\">");
    push_text(out, text);
    let _ = writeln!(out, "</{tag}>");
}

/// What a testcase says in full: summary, sample, skip or expectation,
/// evidence, method, sources.
fn case_text(report: &SuiteReport, check: &CheckRecord) -> String {
    let mut text = format!(
        "{} {} ({}, {}): {}\n",
        check.id,
        check.verdict,
        view::level_word(check.level),
        view::severity_word(check.severity),
        check.summary
    );
    if let Some(sample) = &check.sample {
        let _ = writeln!(
            text,
            "sample: {} of {} {} required",
            sample.gathered, sample.required, sample.unit
        );
    }
    if let Some(skip) = view::skip_text(check) {
        let _ = writeln!(text, "skipped: {skip}");
    }
    if let Some(reason) = &check.expected_failure {
        let _ = writeln!(text, "expected failure: {reason}");
    }
    text.push_str(&view::evidence_text(check, EVIDENCE_ITEMS));
    let _ = writeln!(text, "method: {}", check.method);
    if !check.sources.is_empty() {
        let _ = writeln!(text, "sources: {}", check.sources.join("; "));
    }
    if matches!(
        check.verdict,
        Verdict::Fail | Verdict::Warn | Verdict::Error
    ) {
        let _ = writeln!(text, "replay: {}", view::replay_command(&report.run));
    }
    view::truncate_marked(&text, CASE_TEXT_LIMIT).into_owned()
}

/// The target's own failure (a backend that would not start or died) and
/// the stale expectations, for the suite's `system-err`.
fn suite_stderr(report: &SuiteReport) -> String {
    let mut text = String::new();
    if let Some(failure) = &report.target.failure {
        let _ = writeln!(text, "target failed: {}", failure.summary);
        text.push_str(view::truncate(&failure.log_tail, CASE_TEXT_LIMIT));
        text.push('\n');
    }
    for stale in &report.stale_expected_failures {
        let _ = writeln!(
            text,
            "stale expected failure: {} is {} now (reason given: {})",
            stale.id, stale.verdict, stale.reason
        );
    }
    text
}
