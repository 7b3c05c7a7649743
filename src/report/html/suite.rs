//! The HTML page of a conformance run: a header with the verdict, target,
//! profile, seed and run id; filter buttons by verdict; a matrix of every
//! check by category; then each check as an expandable section with its
//! method, sources, sample, skip or expected-failure reason and evidence.
//!
//! Without its script the page is complete (every section is a native
//! `<details>`); the script adds the filters and expand/collapse.

use std::fmt::Write;

use super::evidence::{self, anchor};
use super::markup::Markup;
use crate::conformance::Verdict;
use crate::report::escape::{push_attr, push_text};
use crate::report::suite::{CheckRecord, SuiteReport};
use crate::report::view;

/// Evidence pieces shown per check; the rest are in the evidence file.
const EVIDENCE_ITEMS: usize = 20;
const VERDICTS: [Verdict; 6] = [
    Verdict::Fail,
    Verdict::Error,
    Verdict::Warn,
    Verdict::Skip,
    Verdict::Info,
    Verdict::Pass,
];

/// Renders the run as one self-contained HTML page.
pub fn render(report: &SuiteReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<a class=\"skip-link\" href=\"#main\">Skip to the checks</a>\n");
    header(&mut out, report);
    filters(&mut out, report);
    out.push_str("<main id=\"main\">\n");
    if let Some(failure) = &report.target.failure {
        out.push_str("<section class=\"note failure\"><h2>The target failed</h2><p>");
        push_text(&mut out, &failure.summary);
        out.push_str("</p><pre><code>");
        push_text(&mut out, &failure.log_tail);
        out.push_str("</code></pre></section>\n");
    }
    let categories = categories(report);
    matrix(&mut out, &categories);
    for (category, checks) in &categories {
        let _ = write!(out, "<section class=\"category\" data-category=\"");
        push_attr(&mut out, category);
        out.push_str("\"><h2>");
        push_text(&mut out, view::category_title(category));
        out.push_str(" <small>(");
        push_text(&mut out, category);
        out.push_str(")</small></h2>\n");
        for check in checks {
            check_section(&mut out, report, check);
        }
        out.push_str("</section>\n");
    }
    stale(&mut out, report);
    replay(&mut out, report);
    out.push_str("</main>\n<footer>");
    let _ = write!(out, "pushproof ");
    push_text(&mut out, &report.pushproof_version);
    out.push_str(", catalogue ");
    push_text(&mut out, &report.catalogue_version);
    let _ = write!(out, ", report format {}.", report.format_version);
    out.push_str(" The full evidence of each check is in the report directory.</footer>");

    let title = format!(
        "pushproof check: {} ({})",
        report.verdict, report.run.profile.name
    );
    super::document(&title, &Markup::trusted(out), true)
}

fn class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "v-pass",
        Verdict::Info => "v-info",
        Verdict::Skip => "v-skip",
        Verdict::Warn => "v-warn",
        Verdict::Fail => "v-fail",
        Verdict::Error => "v-error",
    }
}

fn header(out: &mut String, report: &SuiteReport) {
    let run = &report.run;
    let _ = writeln!(
        out,
        "<header class=\"run {}\"><h1>pushproof check: <span class=\"verdict {}\" id=\"verdict\">{}</span></h1>",
        class(report.verdict),
        class(report.verdict),
        report.verdict
    );
    let _ = writeln!(
        out,
        "<p class=\"sentence\">Exit code {}: {}.</p>",
        report.exit_code,
        view::counts_sentence(report)
    );
    let profile = view::profile_text(run);
    let mode = format!(
        "{}{}, {} devices, concurrency {}, timeout {} s",
        if run.tls { "TLS" } else { "plaintext" },
        if run.strict { ", strict" } else { "" },
        run.devices,
        run.concurrency,
        run.timeout_s
    );
    let duration = format!("{:.2} s", run.duration_s);
    let facts: [(&str, &str, &str); 8] = [
        ("Target", "target", &report.target.description),
        ("Origin", "origin", &report.target.origin),
        ("Profile", "profile", &profile),
        ("Seed", "seed", &run.seed_text),
        ("Run id", "run-id", &run.id),
        ("Started", "started", &run.started_at),
        ("Duration", "duration", &duration),
        ("Mode", "mode", &mode),
    ];
    out.push_str("<dl class=\"facts\">");
    for (name, id, value) in facts {
        let _ = write!(out, "<dt>{name}</dt><dd id=\"run-{id}\">");
        push_text(out, value);
        out.push_str("</dd>");
    }
    if !run.flaws.is_empty() {
        out.push_str("<dt>Flaws</dt><dd>");
        push_text(out, &run.flaws.join(", "));
        out.push_str("</dd>");
    }
    if !report.target.log_files.is_empty() {
        out.push_str("<dt>Backend logs</dt><dd>");
        push_text(out, &report.target.log_files.join(", "));
        out.push_str("</dd>");
    }
    out.push_str("</dl></header>\n");
}

fn filters(out: &mut String, report: &SuiteReport) {
    out.push_str(
        "<nav class=\"filters\" id=\"filters\" aria-label=\"Filter checks by verdict\" hidden>",
    );
    let _ = write!(
        out,
        "<button type=\"button\" data-filter=\"all\" aria-pressed=\"true\">All ({})</button>",
        report.checks.len()
    );
    for verdict in VERDICTS {
        let n = report
            .checks
            .iter()
            .filter(|c| c.verdict == verdict)
            .count();
        let _ = write!(
            out,
            "<button type=\"button\" data-filter=\"{verdict}\" aria-pressed=\"false\">{verdict} ({n})</button>"
        );
    }
    out.push_str(
        "<span class=\"sep\"></span><span id=\"filter-status\" role=\"status\" aria-live=\"polite\"></span>\
         <button type=\"button\" id=\"expand-all\">Expand all</button>\
         <button type=\"button\" id=\"collapse-all\">Collapse all</button></nav>\n",
    );
}

/// Checks grouped by category, categories in report order.
fn categories(report: &SuiteReport) -> Vec<(String, Vec<&CheckRecord>)> {
    let mut groups: Vec<(String, Vec<&CheckRecord>)> = Vec::new();
    for check in &report.checks {
        let category = view::category(&check.id);
        match groups.iter_mut().find(|(c, _)| c == category) {
            Some((_, checks)) => checks.push(check),
            None => groups.push((category.to_owned(), vec![check])),
        }
    }
    groups.sort_by_key(|(c, _)| view::category_rank(c));
    groups
}

fn matrix(out: &mut String, categories: &[(String, Vec<&CheckRecord>)]) {
    out.push_str(
        "<h2>Matrix</h2><table class=\"matrix\"><caption class=\"skip-link\">Every check by category and verdict</caption><tbody>\n",
    );
    for (category, checks) in categories {
        out.push_str("<tr><th scope=\"row\">");
        push_text(out, category);
        out.push_str("</th><td>");
        for check in checks {
            let number = check.id.rsplit('-').next().unwrap_or(&check.id);
            let _ = write!(
                out,
                "<a class=\"cell {}\" data-verdict=\"{}\" href=\"#{}\" title=\"",
                class(check.verdict),
                check.verdict,
                anchor(&check.id)
            );
            push_attr(out, &format!("{}: {}", check.id, check.title));
            out.push_str("\"><span class=\"num\">");
            push_text(out, number);
            let _ = write!(out, "</span><span class=\"v\">{}</span></a>", check.verdict);
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

fn check_section(out: &mut String, report: &SuiteReport, check: &CheckRecord) {
    let open = matches!(check.verdict, Verdict::Fail | Verdict::Error);
    let _ = write!(
        out,
        "<details class=\"check {}\" id=\"{}\" data-verdict=\"{}\"{}>\n<summary><span class=\"verdict {}\">{}</span><code class=\"id\">",
        class(check.verdict),
        anchor(&check.id),
        check.verdict,
        if open { " open" } else { "" },
        class(check.verdict),
        check.verdict,
    );
    push_text(out, &check.id);
    out.push_str("</code><span class=\"title\">");
    push_text(out, &check.title);
    let _ = write!(
        out,
        "</span><span class=\"meta\">{} · {}{}</span><span class=\"line\">",
        view::level_word(check.level),
        view::severity_word(check.severity),
        if check.expected_failure.is_some() {
            " · expected failure"
        } else {
            ""
        }
    );
    push_text(out, &check.summary);
    out.push_str("</span></summary>\n<div class=\"body\">");

    if let Some(skip) = &check.skip {
        out.push_str("<p class=\"note skip\"><strong>Skipped:</strong> ");
        push_text(out, &skip.reason);
        if let Some(key) = &skip.enable {
            out.push_str(" Enable it with <code>");
            push_text(out, key);
            out.push_str("</code>.");
        }
        out.push_str("</p>");
    }
    if let Some(reason) = &check.expected_failure {
        out.push_str("<p class=\"note expected\"><strong>Expected failure:</strong> ");
        push_text(out, reason);
        out.push_str("</p>");
    }
    out.push_str("<dl class=\"facts\">");
    let _ = write!(
        out,
        "<dt>Level</dt><dd>{}</dd><dt>Severity</dt><dd>{}</dd><dt>Duration</dt><dd>{:.1} ms</dd>",
        view::level_word(check.level),
        view::severity_word(check.severity),
        check.duration_ms
    );
    if let Some(sample) = &check.sample {
        out.push_str("<dt>Sample</dt><dd class=\"sample\">");
        push_text(
            out,
            &format!(
                "{} of {} {} required",
                sample.gathered, sample.required, sample.unit
            ),
        );
        out.push_str("</dd>");
    }
    let _ = write!(out, "<dt>Evidence</dt><dd>{}", check.evidence_total);
    if let Some(file) = &check.evidence_file {
        out.push_str(" (<code>");
        push_text(out, file);
        out.push_str("</code>)");
    }
    out.push_str("</dd></dl>");
    out.push_str("<h3>Method</h3><p class=\"method\">");
    push_text(out, &check.method);
    out.push_str("</p>");
    if !check.sources.is_empty() {
        out.push_str("<h3>Sources</h3><ul class=\"sources\">");
        for source in &check.sources {
            out.push_str("<li>");
            push_text(out, source);
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    if !check.evidence.is_empty() {
        let shown = check.evidence.len().min(EVIDENCE_ITEMS);
        let _ = write!(
            out,
            "<h3>Evidence ({shown} of {})</h3>",
            check.evidence_total.max(shown)
        );
        for item in check.evidence.iter().take(EVIDENCE_ITEMS) {
            evidence::render(out, item);
        }
    }
    if matches!(
        check.verdict,
        Verdict::Fail | Verdict::Warn | Verdict::Error
    ) {
        out.push_str("<p class=\"replay\">Replay: <code>");
        push_text(out, &view::replay_command(&report.run));
        out.push_str("</code></p>");
    }
    out.push_str("</div></details>\n");
}

fn stale(out: &mut String, report: &SuiteReport) {
    if report.stale_expected_failures.is_empty() {
        return;
    }
    out.push_str(
        "<section class=\"stale\"><h2>Stale expected failures</h2><p>These entries of \
         <code>--expected-failures</code> no longer fail; remove them.</p><ul>",
    );
    for s in &report.stale_expected_failures {
        out.push_str("<li><code>");
        push_text(out, &s.id);
        let _ = write!(out, "</code> is {} now (reason given: ", s.verdict);
        push_text(out, &s.reason);
        out.push_str(")</li>");
    }
    out.push_str("</ul></section>\n");
}

fn replay(out: &mut String, report: &SuiteReport) {
    out.push_str("<section class=\"replay\"><h2>Replay</h2><p>The same seed replays the same canaries, users and order:</p><pre><code id=\"replay-command\">");
    push_text(out, &view::replay_command(&report.run));
    out.push_str("</code></pre></section>\n");
}
