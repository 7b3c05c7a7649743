//! The SARIF 2.1.0 view of a conformance run (`--sarif FILE`), for GitHub
//! code scanning (`github/codeql-action/upload-sarif`) and other SARIF
//! readers.
//!
//! - One run. `tool.driver` is pushproof with its version, and its `rules`
//!   are the whole catalogue (every check the report lists, selected or
//!   not), each with its property, method and sources as help, a
//!   `security-severity` from its severity (Critical 9.5, High 8.0,
//!   Medium 5.5, Low 3.0) and a default level from its requirement level
//!   (MUST `error`, SHOULD `warning`, INFO `note`).
//! - One result per FAIL (`error`) and per WARN (`warning`); nothing else
//!   is a finding. A failure listed in `--expected-failures` is still a
//!   result, with an accepted external suppression carrying the reason.
//!   ERROR checks and stale expected failures are tool execution
//!   notifications of the invocation: the harness, not the backend, is
//!   what they are about.
//! - A runtime finding has no line of code, but GitHub rejects a whole
//!   upload when any result lacks a physical location or names a URL. Every
//!   result is located at line 1 of the profile file:
//!   - a relative profile path is used as given (`./` and `\` normalised,
//!     percent-encoded), relative to `%SRCROOT%`, the repository root;
//!   - an absolute path becomes a `file://` URI, which `upload-sarif`
//!     makes relative to its `checkout_path`;
//!   - a run on an embedded profile has no file: its results point at
//!     [`EMBEDDED_PROFILE_URI`] (`pushproof.toml`), where a repository
//!     that writes its profile out would keep it.
//! - `partialFingerprints.primaryLocationLineHash` is a hash of the check
//!   id and the profile, so an alert keeps its identity from run to run
//!   and is closed when the check passes again.
//! - `automationDetails.id` is `pushproof/<profile>/<run id>`: code
//!   scanning keeps the alerts of each profile apart.
//!
//! The tool's `informationUri` is the package's `repository` field in
//! Cargo.toml, and is left out while that is not set.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::suite::{CheckRecord, SuiteReport};
use super::view::{self, Outcome};
use crate::conformance::{Level, Severity, Verdict};

/// Where results point when the profile is embedded (no file given).
pub const EMBEDDED_PROFILE_URI: &str = "pushproof.toml";
/// The base id relative artifact URIs are resolved against: the
/// repository root, as GitHub code scanning reads it.
pub const SOURCE_ROOT: &str = "%SRCROOT%";
/// GitHub accepts at most this many results in one run.
pub const MAX_RESULTS: usize = 25_000;
/// Bytes of a result's message; the rest is in the reports beside it.
const MESSAGE_LIMIT: usize = 8 * 1024;
/// Evidence pieces quoted in a result's message.
const EVIDENCE_ITEMS: usize = 3;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Renders the run as a SARIF 2.1.0 log (pretty-printed JSON).
pub fn render(report: &SuiteReport) -> String {
    serde_json::to_string_pretty(&log(report)).expect("a SARIF log is plain data")
}

/// The `security-severity` GitHub ranks alerts by.
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// The artifact location of a run's results (see the module docs).
pub fn artifact_location(profile_path: Option<&str>) -> ArtifactLocation {
    let Some(path) = profile_path.map(str::trim).filter(|p| !p.is_empty()) else {
        return ArtifactLocation {
            uri: EMBEDDED_PROFILE_URI.to_owned(),
            uri_base_id: Some(SOURCE_ROOT),
        };
    };
    let path = path.replace('\\', "/");
    let windows_drive = path.len() > 2 && path.as_bytes()[1] == b':' && path.as_bytes()[2] == b'/';
    if path.starts_with('/') || windows_drive {
        let absolute = if windows_drive {
            format!("/{path}")
        } else {
            path
        };
        return ArtifactLocation {
            uri: format!("file://{}", encode_path(&absolute)),
            uri_base_id: None,
        };
    }
    let mut relative = path.as_str();
    while let Some(rest) = relative.strip_prefix("./") {
        relative = rest;
    }
    ArtifactLocation {
        uri: encode_path(relative),
        uri_base_id: Some(SOURCE_ROOT),
    }
}

/// Percent-encodes what a URI path may not hold as is (RFC 3986 `pchar`
/// plus `/`).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The fingerprint of a check's finding on a profile: the same for every
/// run of that check against that profile.
pub fn fingerprint(check_id: &str, artifact_uri: &str) -> String {
    let digest = Sha256::digest(format!("{check_id}\n{artifact_uri}").as_bytes());
    format!("{}:1", hex::encode(&digest[..8]))
}

fn log(report: &SuiteReport) -> Log<'_> {
    let location = artifact_location(report.run.profile.path.as_deref());
    let rules: Vec<Rule<'_>> = report.checks.iter().map(rule).collect();
    let results: Vec<SarifResult> = report
        .checks
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
        .take(MAX_RESULTS)
        .map(|(index, check)| result(report, check, index, &location))
        .collect();
    let repository = env!("CARGO_PKG_REPOSITORY");
    Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "pushproof",
                    version: &report.pushproof_version,
                    semantic_version: &report.pushproof_version,
                    information_uri: (!repository.is_empty()).then_some(repository),
                    rules,
                },
            },
            automation_details: AutomationDetails {
                id: format!(
                    "pushproof/{}/{}",
                    report.run.profile.name.replace('/', "-"),
                    report.run.id
                ),
            },
            invocations: vec![invocation(report)],
            results,
            properties: RunProperties {
                seed: &report.run.seed_text,
                run_id: &report.run.id,
                target: &report.target.description,
                catalogue_version: &report.catalogue_version,
                verdict: report.verdict,
                exit_code: report.exit_code,
            },
        }],
    }
}

fn rule(check: &CheckRecord) -> Rule<'_> {
    let sources = if check.sources.is_empty() {
        String::new()
    } else {
        format!(" Sources: {}.", check.sources.join("; "))
    };
    let sources_md: String = check
        .sources
        .iter()
        .map(|s| format!("\n- {}", markdown_text(s)))
        .collect();
    Rule {
        id: &check.id,
        name: rule_name(&check.title),
        short_description: Text {
            text: check.title.clone(),
        },
        full_description: Text {
            text: format!(
                "{} ({} {}).",
                check.title,
                view::level_word(check.level),
                view::severity_word(check.severity)
            ),
        },
        help: Help {
            text: format!("{} Method: {}.{sources}", check.title, check.method),
            markdown: format!(
                "**{}** ({} {})\n\n**Method.** {}\n\n**Sources.**{sources_md}",
                markdown_text(&check.title),
                view::level_word(check.level),
                view::severity_word(check.severity),
                markdown_text(&check.method)
            ),
        },
        default_configuration: Configuration {
            level: match check.level {
                Level::Must => "error",
                Level::Should => "warning",
                Level::Info => "note",
            },
        },
        properties: RuleProperties {
            security_severity: security_severity(check.severity),
            tags: &["security"],
            requirement: view::level_word(check.level),
            sources: &check.sources,
        },
    }
}

/// `No payload in any push` → `NoPayloadInAnyPush`: SARIF's rule name is
/// an identifier, unlike the id and the title.
fn rule_name(title: &str) -> String {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect()
}

/// Backslash-escapes Markdown punctuation in text from the catalogue.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\`*_[]<>#|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn result(
    report: &SuiteReport,
    check: &CheckRecord,
    index: usize,
    location: &ArtifactLocation,
) -> SarifResult {
    let mut message = format!("{} {}: {}", check.id, check.verdict, check.summary);
    let evidence = view::evidence_text(check, EVIDENCE_ITEMS);
    if !evidence.is_empty() {
        message.push('\n');
        message.push_str(&evidence);
    }
    message.push_str(&format!(
        "\nTarget: {}. Replay: {}",
        report.target.description,
        view::replay_command(&report.run)
    ));
    let suppressions = match (view::outcome(&report.run, check), &check.expected_failure) {
        (Outcome::Expected, Some(reason)) => vec![Suppression {
            kind: "external",
            status: "accepted",
            justification: format!("listed in --expected-failures: {reason}"),
        }],
        _ => Vec::new(),
    };
    SarifResult {
        rule_id: check.id.clone(),
        rule_index: index,
        level: if check.verdict == Verdict::Fail {
            "error"
        } else {
            "warning"
        },
        message: Text {
            text: view::truncate_marked(&message, MESSAGE_LIMIT).into_owned(),
        },
        locations: vec![Location {
            physical_location: PhysicalLocation {
                artifact_location: location.clone(),
                region: Region { start_line: 1 },
            },
        }],
        partial_fingerprints: Fingerprints {
            primary_location_line_hash: fingerprint(&check.id, &location.uri),
        },
        suppressions,
        properties: ResultProperties {
            verdict: check.verdict,
            evidence_count: check.evidence_total,
            seed: report.run.seed_text.clone(),
            evidence_file: check.evidence_file.clone(),
        },
    }
}

fn invocation(report: &SuiteReport) -> Invocation {
    let mut notifications = Vec::new();
    if let Some(failure) = &report.target.failure {
        notifications.push(Notification {
            level: "error",
            message: Text {
                text: format!(
                    "The target failed: {}\n{}",
                    failure.summary,
                    view::truncate(&failure.log_tail, MESSAGE_LIMIT)
                ),
            },
            descriptor: None,
        });
    }
    for (index, check) in report.checks.iter().enumerate() {
        if check.verdict == Verdict::Error {
            notifications.push(Notification {
                level: "error",
                message: Text {
                    text: format!("{} could not be judged: {}", check.id, check.summary),
                },
                descriptor: Some(Descriptor {
                    id: check.id.clone(),
                    index,
                }),
            });
        }
    }
    for stale in &report.stale_expected_failures {
        notifications.push(Notification {
            level: "warning",
            message: Text {
                text: format!(
                    "Stale expected failure: {} is {} now; remove it from --expected-failures \
                     (reason given: {})",
                    stale.id, stale.verdict, stale.reason
                ),
            },
            descriptor: None,
        });
    }
    Invocation {
        // The harness ran to the end unless it reported its own error.
        execution_successful: report.exit_code != 2,
        exit_code: report.exit_code,
        start_time_utc: report.run.started_at.clone(),
        tool_execution_notifications: notifications,
    }
}

// ------------------------------------------------------------ the shape

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    automation_details: AutomationDetails,
    invocations: Vec<Invocation>,
    results: Vec<SarifResult>,
    properties: RunProperties<'a>,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'a str,
    semantic_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    rules: Vec<Rule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule<'a> {
    id: &'a str,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Help,
    default_configuration: Configuration,
    properties: RuleProperties<'a>,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties<'a> {
    #[serde(rename = "security-severity")]
    security_severity: &'static str,
    tags: &'static [&'static str],
    requirement: &'static str,
    sources: &'a [String],
}

#[derive(Serialize)]
struct AutomationDetails {
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    exit_code: i32,
    start_time_utc: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    level: &'static str,
    message: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    descriptor: Option<Descriptor>,
}

#[derive(Serialize)]
struct Descriptor {
    id: String,
    index: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: Vec<Location>,
    partial_fingerprints: Fingerprints,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    properties: ResultProperties,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

/// A SARIF `artifactLocation`: a URI, relative to `uriBaseId` when set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fingerprints {
    primary_location_line_hash: String,
}

#[derive(Serialize)]
struct Suppression {
    kind: &'static str,
    status: &'static str,
    justification: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultProperties {
    verdict: Verdict,
    evidence_count: usize,
    seed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence_file: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunProperties<'a> {
    seed: &'a str,
    run_id: &'a str,
    target: &'a str,
    catalogue_version: &'a str,
    verdict: Verdict,
    exit_code: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_paths_become_repository_relative_uris() {
        let rel = artifact_location(Some("./scenarios/my backend.toml"));
        assert_eq!(rel.uri, "scenarios/my%20backend.toml");
        assert_eq!(rel.uri_base_id, Some(SOURCE_ROOT));
        assert_eq!(artifact_location(Some(r"ci\p.toml")).uri, "ci/p.toml");
        let abs = artifact_location(Some("/home/ci/repo/p.toml"));
        assert_eq!(abs.uri, "file:///home/ci/repo/p.toml");
        assert_eq!(abs.uri_base_id, None);
        assert_eq!(
            artifact_location(Some(r"C:\repo\p.toml")).uri,
            "file:///C:/repo/p.toml"
        );
        assert_eq!(artifact_location(None).uri, EMBEDDED_PROFILE_URI);
    }

    #[test]
    fn fingerprints_are_per_check_and_profile() {
        let a = fingerprint("SP-LEAK-01", "p.toml");
        assert_eq!(a, fingerprint("SP-LEAK-01", "p.toml"));
        assert_ne!(a, fingerprint("SP-LEAK-02", "p.toml"));
        assert_ne!(a, fingerprint("SP-LEAK-01", "q.toml"));
        assert!(a.ends_with(":1") && a.len() == 18, "{a}");
    }

    #[test]
    fn rule_names_are_identifiers() {
        assert_eq!(rule_name("No payload in any push"), "NoPayloadInAnyPush");
        assert_eq!(
            rule_name("\"Not yours\" = \"doesn't exist\""),
            "NotYoursDoesnTExist"
        );
    }
}
