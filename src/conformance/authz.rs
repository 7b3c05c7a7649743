//! Authorization of the content fetch: SP-AUTHZ-01 (no credentials, no
//! content) and SP-AUTHZ-03 (another user's valid credentials, no content).
//!
//! Both use real notification ids, read by devices out of their pushes, so
//! a backend cannot pass by answering 404 to ids it never issued.

use http::Method;
use serde::Serialize;

use super::catalogue::{AUTHZ_01, AUTHZ_03};
use super::{CheckInfo, CheckResult, Verdict};
use crate::device::{BackendClient, Credential};
use crate::profile::Profile;

/// A notification that its recipient fetched successfully.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Index of the recipient device.
    pub owner: usize,
    pub id: String,
    /// The canary planted in its content.
    pub canary: String,
    /// The recipient's credential.
    pub credential: Credential,
}

/// What one probe saw.
#[derive(Debug, Clone, Serialize)]
struct Probe {
    owner: usize,
    /// Device whose credential was used, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<usize>,
    status: Option<u16>,
    content_leaked: bool,
    judgement: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// SP-AUTHZ-01: each sample's id fetched without credentials.
pub async fn no_credentials(
    client: &BackendClient,
    profile: &Profile,
    samples: &[Sample],
) -> CheckResult {
    let mut probes = Vec::with_capacity(samples.len());
    for sample in samples {
        let mut probe = fetch(client, profile, sample, None).await;
        probe.judgement = match (probe.status, probe.content_leaked) {
            (_, true) => Verdict::Fail,
            (Some(401), false) => Verdict::Pass,
            // Refused, but 401 is what tells a client to authenticate.
            (Some(403), false) => Verdict::Warn,
            (None, false) => Verdict::Error,
            _ => Verdict::Fail,
        };
        probes.push(probe);
    }
    judge(
        AUTHZ_01,
        probes,
        "fetches without credentials answered 401 without content",
    )
}

/// SP-AUTHZ-03: each sample's id fetched with the next sample's credential.
pub async fn other_user(
    client: &BackendClient,
    profile: &Profile,
    samples: &[Sample],
) -> CheckResult {
    if samples.len() < 2 {
        return CheckResult::new(
            AUTHZ_03,
            Verdict::Skip,
            "needs two users with fetched notifications",
        );
    }
    let mut probes = Vec::with_capacity(samples.len());
    for (i, sample) in samples.iter().enumerate() {
        let other = &samples[(i + 1) % samples.len()];
        let mut probe = fetch(client, profile, sample, Some(other)).await;
        probe.judgement = match (probe.status, probe.content_leaked) {
            (_, true) => Verdict::Fail,
            (Some(403 | 404), false) => Verdict::Pass,
            // A valid token refused outright: no leak, but not the contract.
            (Some(401), false) => Verdict::Warn,
            (None, false) => Verdict::Error,
            _ => Verdict::Fail,
        };
        probes.push(probe);
    }
    judge(
        AUTHZ_03,
        probes,
        "fetches of another user's notification were refused without content",
    )
}

async fn fetch(
    client: &BackendClient,
    profile: &Profile,
    sample: &Sample,
    caller: Option<&Sample>,
) -> Probe {
    let reply = client
        .call(
            Method::GET,
            &profile.api.fetch_path(&sample.id),
            caller.map(|c| &c.credential),
            None,
        )
        .await;
    let mut probe = Probe {
        owner: sample.owner,
        caller: caller.map(|c| c.owner),
        status: None,
        content_leaked: false,
        judgement: Verdict::Error,
        error: None,
    };
    match reply {
        Ok(reply) => {
            probe.status = Some(reply.status.as_u16());
            probe.content_leaked = contains_ignore_case(&reply.body, sample.canary.as_bytes())
                || reply
                    .headers
                    .values()
                    .any(|v| contains_ignore_case(v.as_bytes(), sample.canary.as_bytes()));
        }
        Err(e) => probe.error = Some(e.to_string()),
    }
    probe
}

/// Worst probe decides; MUST-level failures become the check's level.
fn judge(info: CheckInfo, probes: Vec<Probe>, pass_summary: &str) -> CheckResult {
    if probes.is_empty() {
        return CheckResult::new(
            info,
            Verdict::Skip,
            "no notification was fetched, so there was nothing to probe",
        );
    }
    let worst = probes
        .iter()
        .map(|p| p.judgement)
        .max()
        .unwrap_or(Verdict::Pass);
    let count = |v: Verdict| probes.iter().filter(|p| p.judgement == v).count();
    let total = probes.len();
    let (verdict, summary) = match worst {
        Verdict::Fail => (
            CheckResult::broken(&info),
            format!(
                "{} of {total} probes got content or a non-refusal ({} leaked content)",
                count(Verdict::Fail),
                probes.iter().filter(|p| p.content_leaked).count()
            ),
        ),
        Verdict::Error => (
            Verdict::Error,
            format!("{} of {total} probes got no answer", count(Verdict::Error)),
        ),
        Verdict::Warn => (
            Verdict::Warn,
            format!(
                "{} of {total} probes refused with an unexpected status",
                count(Verdict::Warn)
            ),
        ),
        _ => (Verdict::Pass, format!("{total} {pass_summary}")),
    };
    let evidence: Vec<Probe> = probes
        .into_iter()
        .filter(|p| p.judgement != Verdict::Pass)
        .collect();
    CheckResult::new(info, verdict, summary).with_evidence(evidence)
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
