//! SP-LEAK-01: no payload in push bodies. Every baseline secret carries
//! three canaries (head, middle, tail); every push and hub request of the
//! baseline is searched for them by the leak scanner, and a sighting in the
//! body's content (a JSON key or value, an XML text or attribute, a raw
//! body), as written or through the body's own escapes, is a violation.
//! Sightings in metadata are SP-LEAK-02's, encoded ones SP-LEAK-03's.

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::pushes::{self, Place};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-01",
    title: "No payload in push bodies",
    level: Level::Must,
    severity: Severity::Critical,
    method: "Every baseline secret carries fresh canaries at its head, middle and tail; every \
             push and hub request the gateways captured during the baseline is searched by the \
             leak scanner in its body: the raw body and every JSON key and value and XML text \
             and attribute, decoded from JSON and XML escapes. Needs an accepted push on every \
             platform of the run",
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
    let secrets = &suite.baseline.secrets;
    let coverage = pushes::scan_baseline(
        suite,
        secrets,
        |hit| pushes::place(&hit.surface) == Place::Content && pushes::as_written(hit),
        "a secret in its body",
        &mut f,
    )
    .await;
    f.summary(
        coverage.summary(secrets.len(), "secrets", "in push bodies", |searched| {
            format!(
                "the {} canaries of {} secrets are absent from the bodies of {searched}",
                secrets.len() * 3,
                secrets.len()
            )
        }),
    );
    f
}
