//! SP-FLOW-01: the functional baseline. Every device gets its push and
//! fetches exactly its own content; the security checks only mean something
//! on a backend that does this.

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use crate::device::{EnrollError, Outcome};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-FLOW-01",
    title: "Every device gets its push and fetches exactly its own content",
    level: Level::Must,
    severity: Severity::High,
    method: "One secret per baseline device is sent through the backend; each device reads the \
             id out of its push as the app would, fetches with its own session and compares \
             the content with what was sent",
    sources: &["Azure Notification Hubs Secure Push tutorial"],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "devices",
    },
};

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let baseline = &suite.baseline;
    if let Some(error) = &baseline.sender_failure {
        f.backend_failed(error);
    }
    for failure in &baseline.enrol_failures {
        match &failure.error {
            EnrollError::Backend(error) => {
                let mut e = evidence::step(error);
                e.what = format!(
                    "device-{} ({} of {}) could not enrol: {error}",
                    failure.device, failure.platform, failure.user
                );
                f.backend_failure(e);
            }
            EnrollError::Plane(error) => f.harness_error(error.to_string()),
        }
    }
    let mut verified = 0;
    for trip in &baseline.trips {
        f.gathered(1);
        if trip.outcome == Outcome::Verified {
            verified += 1;
            continue;
        }
        let Some(device) = baseline.devices.iter().find(|d| d.index == trip.device) else {
            f.harness_error(format!(
                "a round trip for an unknown device {}",
                trip.device
            ));
            continue;
        };
        let what = match &trip.outcome {
            Outcome::SendFailed(why) => format!("the send to {}'s user failed: {why}", device.name),
            Outcome::NoPush => format!("no push reached {} in time", device.name),
            Outcome::NoId => format!(
                "{}'s push carries no id where the profile says",
                device.name
            ),
            Outcome::FetchFailed(why) => {
                format!("{} could not fetch its notification: {why}", device.name)
            }
            Outcome::WrongContent => {
                format!("{} fetched content other than what was sent", device.name)
            }
            Outcome::Verified => unreachable!("verified trips are skipped above"),
        };
        let mut e = evidence::about(device, what, trip.exchange.as_ref());
        if let Some(delivery) = &trip.delivery {
            e.detail = serde_json::json!({ "push": evidence::delivery(delivery), "id": trip.id });
        }
        f.violation(e);
    }
    for platform in &suite.options.platforms {
        let any = baseline.devices.iter().any(|d| d.platform == *platform)
            || baseline
                .enrol_failures
                .iter()
                .any(|e| e.platform == *platform);
        f.require(any, format!("no baseline device on {platform}"));
    }
    let total = baseline.trips.len() + baseline.enrol_failures.len();
    f.summary(format!("{verified}/{total} devices verified their content"));
    f
}
