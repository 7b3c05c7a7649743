//! The catalogue of conformance checks: what every check declares about
//! itself ([`CheckInfo`]: stable id, property, sources, level, severity,
//! method, the capabilities it needs and the sample it must gather), and
//! [`ALL`], the catalogue in report order, built from the registry so the
//! two cannot drift.
//!
//! Ids are frozen once published (`SP-GROUP-NN`); a check that changes
//! meaning gets a new id. The level says what a failure means for a CI gate:
//! a MUST that fails is FAIL, a SHOULD is WARN, INFO never fails.

use serde::{Deserialize, Serialize};

use super::registry::{Entry, REGISTRY};
use crate::profile::Capability;

/// Version of the catalogue: bumped when a check is added, removed or
/// changes how it judges. Every report states it.
pub const CATALOGUE_VERSION: &str = "2026.12-3";

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

/// The least a check must observe before its verdict means anything. A
/// check that gathers less is ERROR, never PASS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    pub min: usize,
    /// What is counted: "probes", "pushes", "devices", …
    pub unit: &'static str,
}

/// One entry of the catalogue, declared by the check's own file.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckInfo {
    pub id: &'static str,
    /// The property, in one line.
    pub title: &'static str,
    pub level: Level,
    pub severity: Severity,
    /// What the harness does to test it.
    pub method: &'static str,
    pub sources: &'static [&'static str],
    /// Profile capabilities without which the check SKIPs (naming the key
    /// that would enable it).
    #[serde(skip)]
    pub needs: &'static [Capability],
    /// The minimum sample.
    #[serde(skip)]
    pub sample: Sample,
}

const fn infos<const N: usize>(entries: &[Entry]) -> [&'static CheckInfo; N] {
    let mut out = [entries[0].info; N];
    let mut i = 0;
    while i < N {
        out[i] = entries[i].info;
        i += 1;
    }
    out
}

/// Every check this version of pushproof knows, in report order.
pub const ALL: &[&CheckInfo] = &infos::<{ REGISTRY.len() }>(REGISTRY);

/// A check by id.
pub fn find(id: &str) -> Option<&'static CheckInfo> {
    ALL.iter().copied().find(|c| c.id == id)
}

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
            assert!(check.sample.min > 0, "{} needs no sample", check.id);
            assert!(!check.title.is_empty() && !check.method.is_empty());
        }
    }

    #[test]
    fn the_catalogue_is_the_registry() {
        assert_eq!(ALL.len(), REGISTRY.len());
        for (info, entry) in ALL.iter().zip(REGISTRY) {
            assert!(std::ptr::eq(*info, entry.info), "{}", info.id);
        }
        assert_eq!(find("SP-LEAK-01").map(|c| c.id), Some("SP-LEAK-01"));
    }
}
