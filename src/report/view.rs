//! What every view of a [`SuiteReport`] says the same way: check groups
//! and categories, the order failures come in, transform chains, where a
//! hit's byte range points, how much of a long text to show, and the
//! command that replays a run.
//!
//! The views (JUnit, SARIF, Markdown, HTML) differ in markup only; the
//! words and the judgement ("does this WARN fail the gate?") live here.

use std::borrow::Cow;

use base64::Engine as _;

use super::suite::{CapturedPush, CheckRecord, Evidence, Exchange, Hit, SuiteReport, SuiteRun};
use crate::conformance::{Level, Severity, Verdict};

/// The check categories, in the order the reports show them, with a
/// heading each. A check whose category is not listed comes after these,
/// under its own name.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("LEAK", "Secrets in pushes"),
    ("ID", "Notification ids"),
    ("AUTHZ", "Authorization of fetches"),
    ("TOK", "Tokens"),
    ("HTTP", "HTTP and TLS"),
    ("ENUM", "Enumeration"),
    ("LIFE", "Notification lifecycle"),
    ("REG", "Registrations and sending"),
    ("OBS", "Errors and gateway answers"),
    ("FLOW", "End-to-end flow"),
];

/// `SP-LEAK-01` → `SP-LEAK`: the id without its number (JUnit classname).
pub fn group(id: &str) -> &str {
    id.rsplit_once('-').map_or(id, |(group, _)| group)
}

/// `SP-LEAK-01` → `LEAK`.
pub fn category(id: &str) -> &str {
    let group = group(id);
    group.split_once('-').map_or(group, |(_, rest)| rest)
}

/// Position of a category in [`CATEGORIES`] (unknown ones last).
pub fn category_rank(category: &str) -> usize {
    CATEGORIES
        .iter()
        .position(|(c, _)| *c == category)
        .unwrap_or(CATEGORIES.len())
}

/// The heading of a category.
pub fn category_title(category: &str) -> &str {
    CATEGORIES
        .iter()
        .find(|(c, _)| *c == category)
        .map_or(category, |(_, title)| title)
}

/// Order of verdicts when failures come first: FAIL, ERROR, WARN, INFO,
/// SKIP, PASS.
pub fn verdict_rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Fail => 0,
        Verdict::Error => 1,
        Verdict::Warn => 2,
        Verdict::Info => 3,
        Verdict::Skip => 4,
        Verdict::Pass => 5,
    }
}

/// The checks, failures first, in catalogue order within a verdict.
pub fn failures_first(report: &SuiteReport) -> Vec<&CheckRecord> {
    let mut checks: Vec<&CheckRecord> = report.checks.iter().collect();
    checks.sort_by_key(|c| verdict_rank(c.verdict));
    checks
}

/// What a check's verdict means for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counts against the exit code: FAIL, or WARN under `--strict`.
    Failed,
    /// The harness could not judge it: counts against the exit code.
    Errored,
    /// Not judged, by the profile's choice or the selection.
    Skipped,
    /// Failed, but listed in `--expected-failures`: the exit code ignores
    /// it.
    Expected,
    /// PASS, INFO, and WARN without `--strict`.
    Passed,
}

pub fn outcome(run: &SuiteRun, check: &CheckRecord) -> Outcome {
    let failed = match check.verdict {
        Verdict::Fail => true,
        Verdict::Warn => run.strict,
        Verdict::Error => return Outcome::Errored,
        Verdict::Skip => return Outcome::Skipped,
        Verdict::Pass | Verdict::Info => false,
    };
    match (failed, &check.expected_failure) {
        (true, Some(_)) => Outcome::Expected,
        (true, None) => Outcome::Failed,
        (false, _) => Outcome::Passed,
    }
}

pub fn level_word(level: Level) -> &'static str {
    match level {
        Level::Must => "MUST",
        Level::Should => "SHOULD",
        Level::Info => "INFO",
    }
}

pub fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
    }
}

/// `["base64url", "gzip"]` → `base64url → gzip`; a plain match is `plain`.
pub fn transform_chain(transforms: &[String]) -> String {
    if transforms.is_empty() {
        "plain".to_owned()
    } else {
        transforms.join(" → ")
    }
}

/// One line about a hit: which secret, where, through what.
pub fn describe_hit(hit: &Hit) -> String {
    let range = match (hit.start, hit.end) {
        (Some(start), Some(end)) => format!(" bytes {start}..{end}"),
        _ => String::new(),
    };
    format!(
        "{} of {} in {}{range} ({})",
        hit.part,
        hit.secret,
        hit.surface,
        transform_chain(&hit.transforms)
    )
}

/// `2 passed, 4 failed, 1 warnings, 1 errors, 1 skipped, 1 info, of 10
/// checks`.
pub fn counts_sentence(report: &SuiteReport) -> String {
    let t = &report.totals;
    format!(
        "{} passed, {} failed, {} warnings, {} errors, {} skipped, {} info, of {} checks",
        t.pass,
        t.fail,
        t.warn,
        t.error,
        t.skip,
        t.info,
        report.checks.len()
    )
}

/// The profile by name, with its file or `(embedded)`.
pub fn profile_text(run: &SuiteRun) -> String {
    match &run.profile.path {
        Some(path) => format!("{} ({path})", run.profile.name),
        None => format!("{} (embedded)", run.profile.name),
    }
}

/// The skip reason with the key that would enable the check.
pub fn skip_text(check: &CheckRecord) -> Option<String> {
    let skip = check.skip.as_ref()?;
    Some(match &skip.enable {
        Some(key) => format!("{} (enable with `{key}`)", skip.reason),
        None => skip.reason.clone(),
    })
}

/// A body as text: UTF-8 as is; base64 decoded, and shown lossily when it
/// is not UTF-8 after all.
pub fn body_text<'a>(body: &'a str, encoding: &str) -> Cow<'a, str> {
    if encoding.eq_ignore_ascii_case("base64") {
        match base64::engine::general_purpose::STANDARD.decode(body.trim()) {
            Ok(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => Cow::Borrowed(body),
        }
    } else {
        Cow::Borrowed(body)
    }
}

/// Which part of a capture or an exchange a hit's byte range indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// The request path (a capture's path, an exchange's URL).
    Path,
    /// The value of the header with this name (case-insensitive).
    Header(&'a str),
    /// The body: `body`, and every surface found inside it (`json:…`,
    /// `xml…`), whose ranges are offsets into the body as captured.
    Body,
}

/// Where a hit points. In an exchange, surfaces name the response (the
/// backend's answer) unless prefixed with `request:` (`request:body`).
pub fn hit_part(surface: &str) -> (bool, Part<'_>) {
    let (request, surface) = match surface.strip_prefix("request:") {
        Some(rest) => (true, rest),
        None => (false, surface.strip_prefix("response:").unwrap_or(surface)),
    };
    let part = if surface == "path" || surface == "url" {
        Part::Path
    } else if let Some(name) = surface.strip_prefix("header:") {
        Part::Header(name)
    } else {
        Part::Body
    };
    (request, part)
}

/// The hits of `evidence` that fall on `part` of its capture, or of its
/// exchange's request (`request`) or response.
pub fn hits_on<'a>(evidence: &'a Evidence, request: bool, part: Part<'_>) -> Vec<&'a Hit> {
    evidence
        .hits
        .iter()
        .filter(|hit| {
            let (on_request, on) = hit_part(&hit.surface);
            let same_message = evidence.capture.is_some() || on_request == request;
            same_message && on == part
        })
        .collect()
}

/// The text a hit's range indexes, when the evidence has it.
pub fn hit_surface<'a>(evidence: &'a Evidence, hit: &Hit) -> Option<Cow<'a, str>> {
    let (request, part) = hit_part(&hit.surface);
    if let Some(capture) = &evidence.capture {
        return capture_part(capture, part);
    }
    let exchange: &Exchange = evidence.exchange.as_ref()?;
    let message = if request || exchange.response.is_none() {
        &exchange.request
    } else {
        exchange.response.as_ref()?
    };
    match part {
        Part::Path => message.url.as_deref().map(Cow::Borrowed),
        Part::Header(name) => header(&message.headers, name).map(Cow::Borrowed),
        Part::Body => Some(body_text(&message.body, &message.body_encoding)),
    }
}

fn capture_part<'a>(capture: &'a CapturedPush, part: Part<'_>) -> Option<Cow<'a, str>> {
    match part {
        Part::Path => Some(Cow::Borrowed(&capture.path)),
        Part::Header(name) => header(&capture.headers, name).map(Cow::Borrowed),
        Part::Body => Some(body_text(&capture.body, &capture.body_encoding)),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A hit's range in `text`, when it lies within it on character
/// boundaries; `None` means the range cannot be shown.
pub fn hit_range(text: &str, hit: &Hit) -> Option<(usize, usize)> {
    let (start, end) = (hit.start?, hit.end?);
    (start <= end
        && end <= text.len()
        && text.is_char_boundary(start)
        && text.is_char_boundary(end))
    .then_some((start, end))
}

/// The hit with up to `context` bytes either side: `(before, hit, after)`,
/// with `…` where the text was cut.
pub fn hit_excerpt(text: &str, hit: &Hit, context: usize) -> Option<(String, String, String)> {
    let (start, end) = hit_range(text, hit)?;
    let from = floor_boundary(text, start.saturating_sub(context));
    let to = ceil_boundary(text, end.saturating_add(context).min(text.len()));
    let mut before = String::new();
    if from > 0 {
        before.push('…');
    }
    before.push_str(&text[from..start]);
    let mut after = text[end..to].to_owned();
    if to < text.len() {
        after.push('…');
    }
    Some((before, text[start..end].to_owned(), after))
}

/// At most `max` bytes of `text`, cut on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    &text[..floor_boundary(text, max.min(text.len()))]
}

/// [`truncate`], saying how much was left out.
pub fn truncate_marked(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        Cow::Borrowed(text)
    } else {
        let kept = truncate(text, max);
        Cow::Owned(format!("{kept}… [{} more bytes]", text.len() - kept.len()))
    }
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// The command that replays the run: the recorded command line with its
/// seed pinned (`--seed` added when it was not given), shell-quoted.
pub fn replay_command(run: &SuiteRun) -> String {
    let mut args: Vec<String> = if run.command.is_empty() {
        vec!["pushproof".to_owned(), "check".to_owned()]
    } else {
        run.command.clone()
    };
    let mut has_seed = false;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--seed" {
            has_seed = true;
            if let Some(value) = args.get_mut(i + 1) {
                value.clone_from(&run.seed_text);
            }
        } else if args[i].starts_with("--seed=") {
            has_seed = true;
            args[i] = format!("--seed={}", run.seed_text);
        }
        i += 1;
    }
    if !has_seed {
        args.push("--seed".to_owned());
        args.push(run.seed_text.clone());
    }
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// POSIX shell quoting: bare when only safe characters, else in single
/// quotes.
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        Cow::Borrowed(arg)
    } else {
        Cow::Owned(format!("'{}'", arg.replace('\'', r"'\''")))
    }
}

/// The evidence of a check as plain text: each piece's line, its subject,
/// and each hit with its excerpt; at most `max_items` pieces.
pub fn evidence_text(check: &CheckRecord, max_items: usize) -> String {
    let mut out = String::new();
    for (i, evidence) in check.evidence.iter().take(max_items).enumerate() {
        out.push_str(&format!("evidence {}: {}\n", i + 1, evidence.what));
        if let Some(s) = &evidence.subject {
            out.push_str(&format!(
                "  subject: {} of user {} ({} {})\n",
                s.device, s.user, s.platform, s.handle
            ));
        }
        if let Some(c) = &evidence.capture {
            out.push_str(&format!(
                "  capture #{} {} {} {} -> {}\n",
                c.seq, c.platform, c.method, c.path, c.status
            ));
        }
        if let Some(x) = &evidence.exchange {
            let r = &x.request;
            out.push_str(&format!(
                "  request {} {}\n",
                r.method.as_deref().unwrap_or("?"),
                r.url.as_deref().unwrap_or("?")
            ));
            match &x.response {
                Some(resp) => out.push_str(&format!(
                    "  response {}\n",
                    resp.status.map_or("?".to_owned(), |s| s.to_string())
                )),
                None => out.push_str(&format!(
                    "  no response: {}\n",
                    r.error.as_deref().unwrap_or("unknown error")
                )),
            }
        }
        for hit in &evidence.hits {
            out.push_str(&format!("  hit: {}\n", describe_hit(hit)));
            let excerpt = hit_surface(evidence, hit).and_then(|t| hit_excerpt(&t, hit, 40));
            if let Some((before, seen, after)) = excerpt {
                out.push_str(&format!("    {before}[[{seen}]]{after}\n"));
            }
        }
    }
    let shown = check.evidence.len().min(max_items);
    if check.evidence_total > shown {
        out.push_str(&format!(
            "({} more pieces of evidence{})\n",
            check.evidence_total - shown,
            check
                .evidence_file
                .as_deref()
                .map(|f| format!(" in {f}"))
                .unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(surface: &str, start: usize, end: usize) -> Hit {
        Hit {
            surface: surface.to_owned(),
            start: Some(start),
            end: Some(end),
            transforms: vec!["base64url".to_owned(), "gzip".to_owned()],
            secret: "secret-1".to_owned(),
            part: "head".to_owned(),
        }
    }

    #[test]
    fn ids_split_into_group_and_category() {
        assert_eq!(group("SP-LEAK-01"), "SP-LEAK");
        assert_eq!(category("SP-LEAK-01"), "LEAK");
        assert_eq!(category("SP-AUTHZ-03"), "AUTHZ");
        assert!(category_rank("LEAK") < category_rank("FLOW"));
        assert_eq!(category_rank("NEW"), CATEGORIES.len());
    }

    #[test]
    fn chains_and_hits_read_as_one_line() {
        let h = hit("body", 3, 9);
        assert_eq!(transform_chain(&h.transforms), "base64url → gzip");
        assert_eq!(transform_chain(&[]), "plain");
        assert_eq!(
            describe_hit(&h),
            "head of secret-1 in body bytes 3..9 (base64url → gzip)"
        );
    }

    #[test]
    fn excerpts_respect_ranges_and_boundaries() {
        let text = "ééé-SECRET-ééé";
        let start = text.find("SECRET").expect("present");
        let h = hit("body", start, start + 6);
        let (before, seen, after) = hit_excerpt(text, &h, 3).expect("in range");
        assert_eq!(seen, "SECRET");
        assert!(before.starts_with('…') && before.ends_with('-'), "{before}");
        assert!(after.starts_with('-') && after.ends_with('…'), "{after}");
        // Out of range or inside a character: not shown.
        assert!(hit_excerpt(text, &hit("body", 0, 99), 3).is_none());
        assert!(hit_excerpt(text, &hit("body", 1, 3), 3).is_none());
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate_marked("abcdef", 2), "ab… [4 more bytes]");
    }

    #[test]
    fn surfaces_name_the_part_and_the_message() {
        assert_eq!(hit_part("path"), (false, Part::Path));
        assert_eq!(hit_part("header:apns-id"), (false, Part::Header("apns-id")));
        assert_eq!(hit_part("json:/data/secureId"), (false, Part::Body));
        assert_eq!(hit_part("request:body"), (true, Part::Body));
    }

    #[test]
    fn replay_pins_the_seed_and_quotes() {
        let mut run: SuiteRun = serde_json::from_value(serde_json::json!({
            "id": "r", "started_at": "2026-12-01T09:30:00Z", "duration_s": 1.0,
            "seed": 7, "seed_text": "7",
            "profile": {"name": "reference", "path": null},
            "tls": false, "concurrency": 1, "timeout_s": 1.0, "devices": 1,
            "platforms": [], "flaws": [], "strict": false, "only": [], "skip": [],
            "command": ["pushproof", "check", "--backend-cmd", "java -jar app.jar"]
        }))
        .expect("a run");
        assert_eq!(
            replay_command(&run),
            "pushproof check --backend-cmd 'java -jar app.jar' --seed 7"
        );
        run.command = vec![
            "pushproof".into(),
            "check".into(),
            "--seed".into(),
            "1".into(),
        ];
        assert_eq!(replay_command(&run), "pushproof check --seed 7");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
