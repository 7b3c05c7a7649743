//! SP-LEAK-01: no payload in any push. Every baseline secret carries a
//! canary; every push the gateways captured is searched for every canary
//! by the leak scanner.

use std::collections::BTreeSet;

use pushproof_mocks::CaptureKind;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::leak::Scanner;
use crate::report::suite::{Evidence, Hit};

pub const INFO: CheckInfo = CheckInfo {
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
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "pushes",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let captures = match suite.captures().await {
        Ok(captures) => captures,
        Err(e) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    let secrets = &suite.baseline.secrets;
    let scanner = Scanner::new(secrets.iter().map(|s| s.canary.as_bytes()));
    let mut scanned = 0usize;
    let mut platforms = BTreeSet::new();
    let mut leaked = BTreeSet::new();
    for capture in captures.iter().filter(|c| c.kind == CaptureKind::Push) {
        scanned += 1;
        if capture.accepted() {
            platforms.insert(capture.platform);
        }
        let hits = scanner.scan(capture);
        if hits.is_empty() {
            continue;
        }
        let device = capture.device.as_deref().and_then(|handle| {
            suite
                .baseline
                .devices
                .iter()
                .find(|d| d.handle.handle == handle)
        });
        let owners: BTreeSet<usize> = hits.iter().map(|h| h.secret).collect();
        leaked.extend(owners.iter().copied());
        let names: Vec<String> = owners.iter().map(|i| format!("device-{i}'s")).collect();
        let surfaces: BTreeSet<&str> = hits.iter().map(|h| h.surface.as_str()).collect();
        f.violation(Evidence {
            what: format!(
                "push #{} to {} carries {} secret in {}",
                capture.seq,
                device.map_or_else(|| capture.platform.to_string(), |d| d.name.clone()),
                names.join(", "),
                surfaces.into_iter().collect::<Vec<_>>().join(", ")
            ),
            subject: device.map(|d| evidence::subject(d)),
            capture: Some(evidence::capture(capture)),
            hits: hits
                .iter()
                .map(|h| Hit {
                    surface: h.surface.clone(),
                    start: None,
                    end: None,
                    transforms: Vec::new(),
                    secret: secrets
                        .get(h.secret)
                        .map_or_else(String::new, |s| s.canary.clone()),
                    part: "whole".to_owned(),
                })
                .collect(),
            ..Evidence::default()
        });
    }
    f.gathered(scanned);
    match suite.plane.capture_stats().await {
        Ok(stats) if stats.evicted > 0 => f.shortfall(format!(
            "{} captures were evicted before the scan: raise the capture capacity",
            stats.evicted
        )),
        Ok(_) => {}
        Err(e) => f.harness_error(e.to_string()),
    }
    for platform in &suite.options.platforms {
        f.require(
            platforms.contains(platform),
            format!("no accepted push on {platform} was captured"),
        );
    }
    if leaked.is_empty() {
        f.summary(format!(
            "{} canaries absent from {scanned} captured pushes",
            secrets.len()
        ));
    } else {
        f.summary(format!(
            "{} of {} secrets found in pushes ({} of {scanned} pushes)",
            leaked.len(),
            secrets.len(),
            f.violations.len()
        ));
    }
    f
}
