//! The Markdown summary of a conformance run, in GitHub-flavoured Markdown
//! fit for `$GITHUB_STEP_SUMMARY` (GitHub shows at most 1 MiB per step):
//!
//! 1. the verdict in words, with the counts, target, profile, seed and
//!    run id;
//! 2. a table of every check (id, verdict, level, severity, summary),
//!    failures first;
//! 3. each FAIL, ERROR and WARN with its top evidence: what was seen, the
//!    transform chain that found a secret (`base64url → gzip`) and an
//!    excerpt with the hit marked `⟦…⟧`;
//! 4. skipped checks with the reason and the profile key that would enable
//!    them, expected failures, stale expected failures;
//! 5. how to replay the run (the command with its seed).
//!
//! Text from the backend goes into code spans and fences sized past any
//! backtick run it holds; table cells escape `|`, backticks and the other
//! Markdown punctuation. The whole stays under [`SIZE_LIMIT`]: evidence is
//! cut first, then dropped with a note pointing to the full report.

use std::fmt::Write;

use super::suite::{CheckRecord, Evidence, SuiteReport};
use super::view;
use crate::conformance::Verdict;

/// The summary's ceiling, safely below GitHub's 1 MiB per step.
pub const SIZE_LIMIT: usize = 1000 * 1000;
/// Evidence pieces shown per check.
const EVIDENCE_ITEMS: usize = 3;
/// Bytes of one table cell's summary.
const CELL_LIMIT: usize = 300;
/// Bytes of one excerpt or body shown.
const EXCERPT_LIMIT: usize = 2 * 1024;
/// Bytes either side of a marked hit.
const HIT_CONTEXT: usize = 60;

/// Renders the run as a Markdown summary of at most [`SIZE_LIMIT`] bytes.
pub fn render(report: &SuiteReport) -> String {
    let mut out = String::new();
    headline(&mut out, report);
    table(&mut out, report);

    // The tail (replay) is reserved first so that it always fits.
    let tail = replay(report);
    let budget = SIZE_LIMIT.saturating_sub(tail.len() + 512);

    let mut sections = Vec::new();
    let failing: Vec<&CheckRecord> = view::failures_first(report)
        .into_iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn))
        .collect();
    if !failing.is_empty() {
        sections.push("## Findings\n\n".to_owned());
        sections.extend(failing.iter().map(|c| finding(c)));
    }
    sections.push(skipped(report));
    sections.push(expected(report));

    let mut dropped = 0;
    for section in sections {
        if out.len() + section.len() <= budget {
            out.push_str(&section);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        let _ = writeln!(
            out,
            "_{dropped} section(s) left out to stay within the step summary's size; \
             the full evidence is in the report directory (`index.json`)._\n"
        );
    }
    out.push_str(&tail);
    if out.len() > SIZE_LIMIT {
        // Only a pathological table (thousands of checks) gets here.
        let cut = view::truncate(&out, SIZE_LIMIT - 64).len();
        out.truncate(cut);
        out.push_str("\n\n_Summary cut at the step summary's size limit._\n");
    }
    out
}

fn headline(out: &mut String, report: &SuiteReport) {
    let _ = writeln!(
        out,
        "# pushproof check: {} (exit {})\n",
        report.verdict, report.exit_code
    );
    let _ = writeln!(
        out,
        "**{}**: {}.\n",
        verdict_sentence(report),
        view::counts_sentence(report)
    );
    let run = &report.run;
    let profile = view::profile_text(run);
    let rows = [
        ("Target", report.target.description.as_str()),
        ("Profile", profile.as_str()),
        ("Seed", run.seed_text.as_str()),
        ("Run id", run.id.as_str()),
        ("Started", run.started_at.as_str()),
        ("Catalogue", report.catalogue_version.as_str()),
    ];
    out.push_str("| | |\n|---|---|\n");
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {} |", code_span(value));
    }
    let _ = writeln!(
        out,
        "| Mode | {}{}{} devices, {:.1} s |\n",
        if run.tls { "TLS, " } else { "plaintext, " },
        if run.strict { "strict, " } else { "" },
        run.devices,
        run.duration_s
    );
    if let Some(failure) = &report.target.failure {
        let _ = writeln!(
            out,
            "**The target failed:** {}\n\n{}",
            cell(&failure.summary),
            fenced(view::truncate(&failure.log_tail, EXCERPT_LIMIT), "text")
        );
    }
}

fn verdict_sentence(report: &SuiteReport) -> &'static str {
    match report.verdict {
        Verdict::Pass => "Passed",
        Verdict::Info => "Passed",
        Verdict::Warn if report.exit_code == 0 => "Passed with warnings",
        Verdict::Warn => "Failed on warnings (strict)",
        Verdict::Skip => "Nothing was judged",
        Verdict::Fail if report.exit_code == 0 => "Failed only where failures are expected",
        Verdict::Fail => "Failed",
        Verdict::Error => "Could not be judged",
    }
}

fn table(out: &mut String, report: &SuiteReport) {
    out.push_str("## Checks\n\n| Check | Verdict | Level | Severity | Summary |\n");
    out.push_str("|---|---|---|---|---|\n");
    for check in view::failures_first(report) {
        let mut verdict = check.verdict.to_string();
        if check.expected_failure.is_some() && check.verdict != Verdict::Pass {
            verdict.push_str(" (expected)");
        }
        let _ = writeln!(
            out,
            "| {} | **{}** | {} | {} | {} |",
            cell(&check.id),
            verdict,
            view::level_word(check.level),
            view::severity_word(check.severity),
            cell(&view::truncate_marked(&check.summary, CELL_LIMIT))
        );
    }
    out.push('\n');
}

fn finding(check: &CheckRecord) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### {} {}: {}\n",
        check.verdict,
        cell(&check.id),
        cell(&check.title)
    );
    let _ = writeln!(
        s,
        "{} {}. {}\n",
        view::level_word(check.level),
        view::severity_word(check.severity),
        cell(&check.summary)
    );
    if let Some(sample) = &check.sample {
        let _ = writeln!(
            s,
            "Sample: {} of {} {} required.\n",
            sample.gathered,
            sample.required,
            cell(&sample.unit)
        );
    }
    if let Some(reason) = &check.expected_failure {
        let _ = writeln!(s, "Expected failure: {}\n", cell(reason));
    }
    for (i, evidence) in check.evidence.iter().take(EVIDENCE_ITEMS).enumerate() {
        evidence_item(&mut s, i + 1, evidence);
    }
    let shown = check.evidence.len().min(EVIDENCE_ITEMS);
    if check.evidence_total > shown {
        let file = check
            .evidence_file
            .as_deref()
            .map(|f| format!(" in {}", code_span(f)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{} more piece(s) of evidence{file}.\n",
            check.evidence_total - shown
        );
    }
    let _ = writeln!(
        s,
        "<details><summary>Method and sources</summary>\n\n{}\n\n{}\n</details>\n",
        cell(&check.method),
        check
            .sources
            .iter()
            .map(|src| format!("- {}\n", cell(src)))
            .collect::<String>()
    );
    s
}

fn evidence_item(s: &mut String, n: usize, evidence: &Evidence) {
    let _ = writeln!(s, "{n}. {}", cell(&evidence.what));
    if let Some(sub) = &evidence.subject {
        let _ = writeln!(
            s,
            "   - Subject: {} of user {} on {}, handle {}",
            code_span(&sub.device),
            code_span(&sub.user),
            code_span(&sub.platform),
            code_span(view::truncate(&sub.handle, 200))
        );
    }
    if let Some(c) = &evidence.capture {
        let _ = writeln!(
            s,
            "   - Captured push #{}: {} {} → {}",
            c.seq,
            code_span(&c.platform),
            code_span(&format!("{} {}", c.method, view::truncate(&c.path, 300))),
            c.status
        );
    }
    if let Some(x) = &evidence.exchange {
        let r = &x.request;
        let request = format!(
            "{} {}",
            r.method.as_deref().unwrap_or("?"),
            view::truncate(r.url.as_deref().unwrap_or("?"), 300)
        );
        let answer = match &x.response {
            Some(resp) => resp.status.map_or("?".to_owned(), |st| st.to_string()),
            None => format!(
                "no answer ({})",
                r.error.as_deref().unwrap_or("unknown error")
            ),
        };
        let _ = writeln!(
            s,
            "   - Exchange: {} → {}",
            code_span(&request),
            cell(&answer)
        );
    }
    for hit in &evidence.hits {
        let _ = writeln!(
            s,
            "   - Hit: {} of {} in {} via {}",
            code_span(&hit.part),
            code_span(&hit.secret),
            code_span(&hit.surface),
            code_span(&view::transform_chain(&hit.transforms))
        );
        let excerpt =
            view::hit_surface(evidence, hit).and_then(|t| view::hit_excerpt(&t, hit, HIT_CONTEXT));
        if let Some((before, seen, after)) = excerpt {
            let marked = format!(
                "{before}⟦{}⟧{after}",
                view::truncate_marked(&seen, EXCERPT_LIMIT)
            );
            let fence = fenced(&marked, "text");
            for line in fence.lines() {
                let _ = writeln!(s, "     {line}");
            }
        }
    }
    s.push('\n');
}

fn skipped(report: &SuiteReport) -> String {
    let skips: Vec<&CheckRecord> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Skip)
        .collect();
    if skips.is_empty() {
        return String::new();
    }
    let mut s = String::from("## Skipped\n\n| Check | Reason | Enable with |\n|---|---|---|\n");
    for check in skips {
        let (reason, enable) = match &check.skip {
            Some(skip) => (
                skip.reason.as_str(),
                skip.enable.as_deref().map(code_span).unwrap_or_default(),
            ),
            None => (check.summary.as_str(), String::new()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            cell(&check.id),
            cell(&view::truncate_marked(reason, CELL_LIMIT)),
            enable
        );
    }
    s.push('\n');
    s
}

fn expected(report: &SuiteReport) -> String {
    let mut s = String::new();
    let expected: Vec<&CheckRecord> = report
        .checks
        .iter()
        .filter(|c| c.expected_failure.is_some() && c.verdict != Verdict::Pass)
        .collect();
    if !expected.is_empty() {
        s.push_str("## Expected failures\n\n");
        for check in expected {
            let _ = writeln!(
                s,
                "- {} ({}): {}",
                cell(&check.id),
                check.verdict,
                cell(check.expected_failure.as_deref().unwrap_or_default())
            );
        }
        s.push('\n');
    }
    if !report.stale_expected_failures.is_empty() {
        s.push_str(
            "## Stale expected failures\n\nThese entries of `--expected-failures` no longer \
             fail; remove them:\n\n",
        );
        for stale in &report.stale_expected_failures {
            let _ = writeln!(
                s,
                "- {} is {} now (reason given: {})",
                cell(&stale.id),
                stale.verdict,
                cell(&stale.reason)
            );
        }
        s.push('\n');
    }
    s
}

fn replay(report: &SuiteReport) -> String {
    let command = view::replay_command(&report.run);
    let command = view::truncate_marked(&command, 16 * 1024);
    format!(
        "## Replay\n\nThe same seed replays the same canaries, users and order:\n\n{}\n",
        fenced(&command, "sh")
    )
}

/// Text for a table cell or a line: Markdown punctuation escaped, line
/// breaks folded, so that backend text can neither end the cell nor
/// format the page.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '!' | '$' | '&' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A code span that holds `text` whatever backticks it has (CommonMark:
/// a delimiter longer than any backtick run inside, padded by spaces).
/// `|` is still escaped: GFM splits table rows before reading spans.
pub fn code_span(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let text = text.replace('|', "\\|");
    format!("{fence} {text} {fence}")
}

/// A fenced code block that `text` cannot close early.
pub fn fenced(text: &str, info: &str) -> String {
    let fence = "`".repeat((longest_run(text, '`') + 1).max(3));
    let text: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect();
    format!("{fence}{info}\n{text}\n{fence}\n")
}

fn longest_run(text: &str, wanted: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in text.chars() {
        if c == wanted {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b`c\nd"), "a\\|b\\`c d");
        assert_eq!(cell("<img src=x>"), "\\<img src=x\\>");
        assert_eq!(code_span("a`b"), "`` a`b ``");
        assert_eq!(code_span("x|y"), "` x\\|y `");
    }

    #[test]
    fn fences_outlast_the_text() {
        let f = fenced("```\nnot the end", "text");
        assert!(f.starts_with("````text\n"), "{f}");
        assert!(f.ends_with("\n````\n"), "{f}");
    }
}
