//! The catalogue of conformance checks: stable ids, requirement levels and
//! the sources each check rests on.
//!
//! Ids are frozen once published (`SP-GROUP-NN`); a check that changes
//! meaning gets a new id. The level says what a failure means for a CI gate:
//! a MUST that fails is FAIL, a SHOULD is WARN, INFO never fails.

use serde::{Deserialize, Serialize};

/// RFC 2119 strength of the requirement a check enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
    Info,
}

/// How bad a failure is for the users of the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub level: Level,
    pub severity: Severity,
    /// What the harness does to test it.
    pub method: &'static str,
    pub sources: &'static [&'static str],
}

pub const FLOW_01: CheckInfo = CheckInfo {
    id: "SP-FLOW-01",
    title: "Every device gets its push and fetches exactly its own content",
    level: Level::Must,
    severity: Severity::High,
    method: "One secret per device is sent through the backend; each device reads the id out of \
             its push, fetches with its own token and compares the content with what was sent",
    sources: &["Azure Notification Hubs Secure Push tutorial"],
};

pub const LEAK_01: CheckInfo = CheckInfo {
    id: "SP-LEAK-01",
    title: "No payload in any push",
    level: Level::Must,
    severity: Severity::Critical,
    method: "A high-entropy canary is planted in every secret and searched in every push the \
             gateways captured: path, headers, raw body and every decoded JSON/XML string",
    sources: &[
        "Apple: Creating the Remote Notification Payload (no sensitive data)",
        "Firebase: FCM encryption guidance (fetch from your server)",
        "OWASP MASWE data-leak-notifications; MASVS-PLATFORM-3, MASVS-STORAGE-2",
    ],
};

pub const AUTHZ_01: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-01",
    title: "Fetching content needs credentials",
    level: Level::Must,
    severity: Severity::Critical,
    method: "Each sampled device's notification id is fetched without Authorization: the answer \
             must be 401 and carry no content",
    sources: &[
        "OWASP ASVS 5.0 7.2.1",
        "OWASP API Security Top 10 2023 API2",
    ],
};

pub const AUTHZ_03: CheckInfo = CheckInfo {
    id: "SP-AUTHZ-03",
    title: "Object-level authorization on fetch",
    level: Level::Must,
    severity: Severity::Critical,
    method: "User B fetches user A's notification id, taken from A's push, with B's valid \
             credentials: the answer must be 403 or 404 and carry none of A's content",
    sources: &[
        "OWASP ASVS 5.0 8.2.2 (IDOR/BOLA)",
        "OWASP API Security Top 10 2023 API1",
    ],
};

/// Every check this version of pushproof runs, in report order.
pub const ALL: &[CheckInfo] = &[FLOW_01, LEAK_01, AUTHZ_01, AUTHZ_03];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for check in ALL {
            assert!(seen.insert(check.id), "duplicate id {}", check.id);
            let parts: Vec<&str> = check.id.split('-').collect();
            assert_eq!(parts.len(), 3, "{}", check.id);
            assert_eq!(parts[0], "SP");
            assert!(parts[2].len() == 2 && parts[2].chars().all(|c| c.is_ascii_digit()));
            assert!(!check.sources.is_empty(), "{} cites no source", check.id);
        }
    }
}
