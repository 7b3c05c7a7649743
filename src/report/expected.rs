//! `--expected-failures FILE`: checks a team knows fail, each with the
//! reason (an issue link, a plan). A listed check that fails keeps its
//! verdict in the report but does not fail the gate; a listed check that no
//! longer fails is reported as stale, so the list cannot rot.
//!
//! ```toml
//! [[expected]]
//! id = "SP-AUTHZ-03"
//! reason = "BOLA on /api/notifications, fix in PROJ-123"
//! ```

use std::path::Path;

use serde::Deserialize;

use super::suite::{CheckRecord, StaleExpectation};
use crate::conformance::Verdict;

/// A validated expected-failures list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedFailures {
    pub entries: Vec<Expectation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: expected[{index}] ({id}): {problem}")]
    Invalid {
        path: String,
        index: usize,
        id: String,
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    expected: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    reason: Option<String>,
}

impl ExpectedFailures {
    /// Reads and validates the file: every entry names a check of the
    /// catalogue (`known`) once, with a non-empty reason.
    pub fn load(path: &Path, known: &[&str]) -> Result<ExpectedFailures, ExpectedError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ExpectedError::Read {
            path: name.clone(),
            source,
        })?;
        ExpectedFailures::parse(&name, &text, known)
    }

    pub fn parse(
        name: &str,
        text: &str,
        known: &[&str],
    ) -> Result<ExpectedFailures, ExpectedError> {
        let raw: Raw = toml::from_str(text).map_err(|source| ExpectedError::Parse {
            path: name.to_owned(),
            source: Box::new(source),
        })?;
        let mut entries: Vec<Expectation> = Vec::new();
        for (index, entry) in raw.expected.into_iter().enumerate() {
            let invalid = |problem: &str| ExpectedError::Invalid {
                path: name.to_owned(),
                index,
                id: entry.id.clone(),
                problem: problem.to_owned(),
            };
            let reason = entry.reason.clone().unwrap_or_default();
            if reason.trim().is_empty() {
                return Err(invalid(
                    "every entry needs a reason (why it fails, and where the fix is tracked)",
                ));
            }
            if !known.contains(&entry.id.as_str()) {
                return Err(invalid("no check of the catalogue has this id"));
            }
            if entries.iter().any(|e| e.id == entry.id) {
                return Err(invalid("listed twice"));
            }
            entries.push(Expectation {
                id: entry.id,
                reason,
            });
        }
        Ok(ExpectedFailures { entries })
    }

    /// Marks the records whose failure was expected and returns the stale
    /// entries (their check did not fail this time).
    pub fn apply(&self, records: &mut [CheckRecord]) -> Vec<StaleExpectation> {
        let mut stale = Vec::new();
        for entry in &self.entries {
            let Some(record) = records.iter_mut().find(|r| r.id == entry.id) else {
                continue;
            };
            if matches!(record.verdict, Verdict::Fail | Verdict::Warn) {
                record.expected_failure = Some(entry.reason.clone());
            } else if matches!(record.verdict, Verdict::Pass | Verdict::Info) {
                stale.push(StaleExpectation {
                    id: entry.id.clone(),
                    reason: entry.reason.clone(),
                    verdict: record.verdict,
                });
            }
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KNOWN: &[&str] = &["SP-AUTHZ-03", "SP-LEAK-01"];

    #[test]
    fn entries_need_a_reason_and_a_known_id() {
        let no_reason = ExpectedFailures::parse("f", "[[expected]]\nid = \"SP-AUTHZ-03\"\n", KNOWN);
        assert!(no_reason
            .unwrap_err()
            .to_string()
            .contains("needs a reason"));
        let blank = ExpectedFailures::parse(
            "f",
            "[[expected]]\nid = \"SP-AUTHZ-03\"\nreason = \" \"\n",
            KNOWN,
        );
        assert!(blank.is_err());
        let unknown = ExpectedFailures::parse(
            "f",
            "[[expected]]\nid = \"SP-X-01\"\nreason = \"r\"\n",
            KNOWN,
        );
        assert!(unknown.unwrap_err().to_string().contains("SP-X-01"));
        let ok = ExpectedFailures::parse(
            "f",
            "[[expected]]\nid = \"SP-AUTHZ-03\"\nreason = \"PROJ-1\"\n",
            KNOWN,
        )
        .unwrap();
        assert_eq!(ok.entries[0].reason, "PROJ-1");
    }
}
