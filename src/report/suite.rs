//! The report of one conformance run (`pushproof check`, and the checks of
//! `pushproof run`): the data `index.json` holds, from which every other
//! view (console, JUnit, SARIF, Markdown, HTML) is rendered.
//!
//! The shape is a contract with the tools that read it: fields are added,
//! never renamed; a change of meaning bumps [`SUITE_FORMAT_VERSION`].

use serde::{Deserialize, Serialize};

use crate::conformance::{leak, Level, Severity, Verdict};

/// Version of the `index.json` shape.
pub const SUITE_FORMAT_VERSION: u32 = 1;

/// Everything one conformance run found, and how it was run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteReport {
    pub format_version: u32,
    pub pushproof_version: String,
    /// Version of the check catalogue the verdicts refer to.
    pub catalogue_version: String,
    pub run: SuiteRun,
    pub target: TargetInfo,
    /// One record per check of the catalogue, in catalogue order, selected
    /// or not (a check left out by `--only`/`--skip` is SKIP, saying so).
    pub checks: Vec<CheckRecord>,
    pub totals: Totals,
    /// Entries of `--expected-failures` whose check no longer fails.
    pub stale_expected_failures: Vec<StaleExpectation>,
    pub verdict: Verdict,
    /// 0 pass, 1 any FAIL or ERROR (or WARN with `--strict`), 2 harness or
    /// usage error.
    pub exit_code: i32,
}

/// How the run was made: enough to replay it and to tell runs apart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SuiteRun {
    /// Unique per run, sortable by time (`20261201T093000Z-<seed>-<nonce>`).
    pub id: String,
    /// RFC 3339.
    pub started_at: String,
    pub duration_s: f64,
    pub seed: u64,
    /// The seed again as a string: JSON readers that use doubles (`jq`,
    /// JavaScript) cannot hold every u64.
    pub seed_text: String,
    pub profile: ProfileRef,
    pub tls: bool,
    pub concurrency: usize,
    pub timeout_s: f64,
    pub devices: usize,
    pub platforms: Vec<String>,
    /// Deliberate flaws of the embedded reference backend, if any.
    pub flaws: Vec<String>,
    /// How the backend's pushes went: `direct` to the gateways or through
    /// the `hub` (`--hub`); `null` for a backend already running, whose
    /// environment the harness did not choose.
    #[serde(default)]
    pub delivery: Option<String>,
    pub strict: bool,
    pub only: Vec<String>,
    pub skip: Vec<String>,
    /// The command line, for a reader who wants to run it again.
    pub command: Vec<String>,
}

/// Which backend profile the run used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileRef {
    pub name: String,
    /// The profile file, as given (`None` for an embedded profile). SARIF
    /// results point at it.
    pub path: Option<String>,
}

/// What was tested.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `embedded`, `command` or `url`.
    pub kind: String,
    /// One line for people: "embedded reference backend", the command, or
    /// the URL.
    pub description: String,
    /// The origin the harness sent its requests to.
    pub origin: String,
    /// Files the backend's stdout and stderr went to, relative to the
    /// report directory.
    pub log_files: Vec<String>,
    /// Set when the backend would not start or died during the run.
    pub failure: Option<TargetFailure>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetFailure {
    pub summary: String,
    /// The last lines of the backend's output.
    pub log_tail: String,
}

/// One check's verdict and what it rests on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRecord {
    pub id: String,
    /// The property, in one line.
    pub title: String,
    pub level: Level,
    pub severity: Severity,
    pub method: String,
    pub sources: Vec<String>,
    pub verdict: Verdict,
    /// One sentence a CI log can show.
    pub summary: String,
    pub duration_ms: f64,
    /// The sample the check needs and the one it gathered; a check that
    /// gathered less than it needs is ERROR, never PASS.
    pub sample: Option<SampleSize>,
    /// Why a check was skipped, and what would enable it.
    pub skip: Option<SkipReason>,
    /// The reason given in `--expected-failures`, when this check's
    /// failure was expected (the verdict stays; the exit code ignores it).
    pub expected_failure: Option<String>,
    /// The first pieces of evidence; all of them are in `evidence_file`.
    pub evidence: Vec<Evidence>,
    pub evidence_total: usize,
    /// `evidence/<id>.json`, relative to the report directory.
    pub evidence_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleSize {
    pub required: usize,
    pub gathered: usize,
    /// What was counted: "probes", "pushes", "ids", …
    pub unit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkipReason {
    pub reason: String,
    /// The profile key that would enable the check (`capabilities.logout`),
    /// or the flag (`--tls`).
    pub enable: Option<String>,
}

/// One observation behind a FAIL or WARN (or a PASS worth showing).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// What was seen, in one line.
    pub what: String,
    /// The device and user concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    /// The HTTP exchange with the backend, when the evidence is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
    /// The captured push, when the evidence is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CapturedPush>,
    /// Where a secret was found in `capture` or `exchange`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub hits: Vec<Hit>,
    /// Anything else the check measured (statistics, timings).
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub detail: serde_json::Value,
}

/// Names a simulated device and its user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subject {
    /// `device-7`
    pub device: String,
    pub user: String,
    pub platform: String,
    pub handle: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    pub request: HttpMessage,
    /// `None` when no answer came (the error is in `HttpMessage::error`).
    pub response: Option<HttpMessage>,
}

/// A request (method and URL set) or a response (status set).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HttpMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    /// UTF-8 as is, anything else in base64 (`body_encoding`).
    pub body: String,
    pub body_encoding: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A push as a mock gateway captured it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapturedPush {
    pub seq: u64,
    pub platform: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_encoding: String,
    pub status: u16,
}

/// A secret sighted in a capture or an exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    /// `path`, `header:<name>`, `body`, `json:<pointer>`, `xml`, …
    pub surface: String,
    /// Byte range of the match in the surface as captured (before any
    /// decoding), when it can be pinned down.
    pub start: Option<usize>,
    pub end: Option<usize>,
    /// The transforms that turn the secret into what was seen, in order
    /// of application (`["base64url", "gzip"]`); empty for a plain match.
    pub transforms: Vec<String>,
    /// Which secret or canary, and which part of it (`head`, `middle`,
    /// `tail`, `whole`, `partial`).
    pub secret: String,
    pub part: String,
}

impl From<&leak::Hit> for Hit {
    /// The scanner's sighting as the report keeps it: surface, byte range,
    /// the transform chain by name, the secret's label and the part.
    fn from(hit: &leak::Hit) -> Hit {
        Hit {
            surface: hit.surface.clone(),
            start: hit.start,
            end: hit.end,
            transforms: hit.transform_names(),
            secret: hit.label.clone(),
            part: hit.part.as_str().to_owned(),
        }
    }
}

impl From<leak::Hit> for Hit {
    fn from(hit: leak::Hit) -> Hit {
        Hit::from(&hit)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
    pub error: usize,
    pub info: usize,
}

/// An `--expected-failures` entry whose check passed this time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaleExpectation {
    pub id: String,
    pub reason: String,
    pub verdict: Verdict,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::canary::Part;
    use crate::conformance::leak::Transform;

    #[test]
    fn a_scanner_hit_becomes_the_reports_hit_with_its_chain() {
        let hit = leak::Hit {
            surface: "json:/blob".into(),
            start: Some(8),
            end: Some(120),
            transforms: vec![Transform::Gzip, Transform::Base64Url],
            label: "secret-3".into(),
            part: Part::Tail,
            secret: 3,
            capture: Some(7),
            seen: "SPC1-…".into(),
        };
        let record = Hit::from(&hit);
        assert_eq!(record.surface, "json:/blob");
        assert_eq!((record.start, record.end), (Some(8), Some(120)));
        assert_eq!(record.transforms, ["gzip", "base64url"]);
        assert_eq!(
            crate::report::view::transform_chain(&record.transforms),
            "gzip → base64url"
        );
        assert_eq!(
            (record.secret.as_str(), record.part.as_str()),
            ("secret-3", "tail")
        );
        assert_eq!(Hit::from(hit).part, "tail");
    }
}
