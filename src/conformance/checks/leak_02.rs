//! SP-LEAK-02: no payload in push metadata. The baseline's pushes and hub
//! requests are searched for every secret's canaries in what the platform
//! routes, groups and files a push by: the request path, every header
//! (`apns-collapse-id`, `apns-id`, `X-WNS-Tag`, …) and the body's metadata
//! fields (APNs `thread-id` and `category`, FCM `collapse_key`, `tag`,
//! `analytics_label`, `topic`, the headers FCM forwards). Gateways log and
//! keep metadata even where they never show it.

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::pushes::{self, Place};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-02",
    title: "No payload in push metadata",
    level: Level::Must,
    severity: Severity::Critical,
    method: "Every push and hub request of the baseline is searched by the leak scanner for \
             every secret's head, middle and tail canaries in its metadata: the path (raw and \
             percent-decoded), every header name and value (apns-collapse-id, apns-id, \
             X-WNS-*), and the body's routing and grouping fields (APNs thread-id, category, \
             target-content-id; FCM topic, condition, collapse_key, notification tag, \
             analytics_label, forwarded apns and webpush headers). Needs an accepted push on \
             every platform of the run",
    sources: &[
        "Apple: Payload Key Reference (no customer information in a push)",
        "Firebase: FCM encryption guidance",
        "OWASP MASWE data-leak-notifications; MASVS-STORAGE-2",
        "Microsoft: Notification Hubs security (X-WNS-* headers are forwarded)",
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
        |hit| pushes::place(&hit.surface) == Place::Metadata && pushes::as_written(hit),
        "a secret in its metadata",
        &mut f,
    )
    .await;
    f.summary(
        coverage.summary(secrets.len(), "secrets", "in push metadata", |searched| {
            format!(
                "no canary of {} secrets in the paths, headers or metadata fields of {searched}",
                secrets.len()
            )
        }),
    );
    f
}
