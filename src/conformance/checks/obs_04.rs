//! SP-OBS-04: gateway errors are handled safely. The gateways' answers
//! are instructions, and a backend that ignores them does harm:
//! - a handle answered 410 `Unregistered` (APNs), 404 `UNREGISTERED`
//!   (FCM) or 410 (WNS) is dead, and pushing to it again is what Apple and
//!   Google tell providers to stop (and what gets them throttled);
//! - a 429 or 503 with `Retry-After` asks for quiet until then: retrying at
//!   once is a retry storm;
//! - a 400 is a refusal of this push, never a cue to retry with a "richer"
//!   payload carrying the content.
//!
//! Each case runs on a device of its own, with the fault scoped to its
//! handle, beside a healthy device of the same user that proves the sends
//! went out (the positive control); concurrent checks never see the
//! faults.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use pushproof_mocks::{Capture, CaptureKind, Fault, FaultRule, Platform};

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::{Secret, Suite};
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use super::reg_01::STRAY_WINDOW;
use crate::client::Exchange;
use crate::device::{Device, EnrollError};
use crate::report::suite::Evidence;

/// The quiet a throttled gateway asks for.
const RETRY_AFTER: Duration = Duration::from_secs(2);

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-OBS-04",
    title: "Gateway errors are handled safely",
    level: Level::Must,
    severity: Severity::Medium,
    method: "Per proven platform, three fresh users with two fresh devices each; a fault scoped \
             to one device's handle, the other device proving each send went out (positive \
             control). Dead handle (APNs 410 Unregistered, FCM 404 UNREGISTERED, WNS 410): after \
             its first refusal two more sends must not push to it again. Throttled (APNs and \
             FCM 429, WNS 503, with Retry-After: 2): no other attempt on that handle within the \
             2 s. Bad request (400, once): no later push to that handle may carry the content \
             or have other header names or JSON members than the refused one. Every send must \
             be answered",
    sources: &[
        "Apple: Handling notification responses from APNs (410 Unregistered: stop sending)",
        "Firebase: FCM error codes (UNREGISTERED; 429 and 503 honour Retry-After)",
        "Microsoft: WNS response codes (404/410: stop sending to the channel)",
    ],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "probes",
    },
};

/// The three faults a probe tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Dead,
    Throttled,
    BadRequest,
}

impl Case {
    const ALL: [Case; 3] = [Case::Dead, Case::Throttled, Case::BadRequest];

    fn name(self) -> &'static str {
        match self {
            Case::Dead => "dead",
            Case::Throttled => "throttled",
            Case::BadRequest => "bad-request",
        }
    }

    fn fault(self, platform: Platform) -> Fault {
        match self {
            Case::Dead => Fault::Expire {
                after_ms: Some(0),
                at_unix_ms: None,
            },
            Case::Throttled => Fault::Status {
                status: if platform == Platform::Wns { 503 } else { 429 },
                reason: None,
                retry_after_secs: Some(RETRY_AFTER.as_secs()),
            },
            Case::BadRequest => Fault::Status {
                status: 400,
                reason: None,
                retry_after_secs: None,
            },
        }
    }
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms: Vec<Platform> = probe::proven_platforms(suite).into_iter().collect();
    f.require(
        !platforms.is_empty(),
        "no platform's baseline round trip verified",
    );
    let probes: Vec<(Platform, Case)> = platforms
        .iter()
        .flat_map(|p| Case::ALL.map(|c| (*p, c)))
        .collect();
    let results =
        futures::future::join_all(probes.iter().map(|(p, c)| probe_one(suite, *p, *c))).await;
    let mut covered = BTreeSet::new();
    for ((platform, _), sub) in probes.iter().zip(results) {
        if sub.gathered > 0 {
            covered.insert(*platform);
        }
        f.absorb(sub);
    }
    for platform in &platforms {
        f.require(
            covered.contains(platform),
            format!("no probe on {platform}"),
        );
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "on {} platform(s): dead handles left alone, Retry-After honoured, no richer \
             payload after a 400",
            covered.len()
        ));
    }
    f
}

/// Two devices of one fresh user: the one to fault, and the healthy one.
async fn pair(
    suite: &Suite,
    platform: Platform,
    case: Case,
) -> Result<(Arc<Device>, Arc<Device>), EnrollError> {
    let user = suite.fresh_user(&format!("obs04-{}", case.name())).await?;
    let faulted = suite.fresh_device(&user, platform).await?;
    let healthy = suite.fresh_device(&user, platform).await?;
    Ok((faulted, healthy))
}

async fn probe_one(suite: &Suite, platform: Platform, case: Case) -> Findings {
    let mut f = Findings::new();
    let (faulted, healthy) = match pair(suite, platform, case).await {
        Ok(devices) => devices,
        Err(EnrollError::Backend(e)) => {
            f.backend_failed(&e);
            return f;
        }
        Err(EnrollError::Plane(e)) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    let mut rule = FaultRule::device(&faulted.handle, case.fault(platform));
    if case != Case::Dead {
        // Only the first push is refused: anything after it is the
        // backend's own doing.
        rule = rule.with_count(1);
    }
    let rule = match suite.plane.set_fault(rule).await {
        Ok(id) => id,
        Err(e) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    let mut rng = suite.rng(&format!("{}/{platform}/{}", INFO.id, case.name()));
    let sends = if case == Case::Dead { 3 } else { 1 };
    let mut secrets = Vec::new();
    for _ in 0..sends {
        let secret = suite.secret(&mut rng);
        // The healthy device proves the send went out.
        match suite.deliver(&healthy, secret.text()).await {
            Ok(_) => {}
            Err(e) if e.step == "send" && e.exchange.as_deref().is_some_and(answered) => {
                // An honest "it failed" from the backend is fine; the
                // healthy device must still have been pushed to.
                match healthy.inbox.recv_within(suite.options.timeout).await {
                    Some(_) => {}
                    None => {
                        f.backend_failed(&e);
                        break;
                    }
                }
            }
            Err(e) => {
                let mut evidence = evidence::step(&e);
                evidence.subject = Some(evidence::subject(&faulted));
                if e.exchange.as_deref().is_some_and(|x| x.reply().is_none()) {
                    evidence.what = format!(
                        "the send got no answer when the gateway refused {} ({}): {e}",
                        faulted.name,
                        case.name()
                    );
                    f.violation(evidence);
                } else {
                    f.backend_failure(evidence);
                }
                break;
            }
        }
        secrets.push(secret);
    }
    if case == Case::Throttled {
        tokio::time::sleep(RETRY_AFTER).await;
    } else {
        tokio::time::sleep(STRAY_WINDOW).await;
    }
    let captures = match suite.captures_of(&faulted).await {
        Ok(c) => c,
        Err(e) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    if let Err(e) = suite.plane.remove_fault(rule).await {
        f.harness_error(e.to_string());
    }
    let pushes: Vec<&Capture> = captures
        .iter()
        .filter(|c| c.kind == CaptureKind::Push)
        .collect();
    if secrets.len() < sends {
        return f;
    }
    let Some(first) = pushes.first() else {
        f.backend_failure(Evidence {
            what: format!(
                "no push was made to {} ({}), though its user's other device got one",
                faulted.name,
                case.name()
            ),
            subject: Some(evidence::subject(&faulted)),
            ..Evidence::default()
        });
        return f;
    };
    let e = |capture: &Capture, what: String| Evidence {
        what,
        subject: Some(evidence::subject(&faulted)),
        capture: Some(evidence::capture(capture)),
        ..Evidence::default()
    };
    match case {
        Case::Dead => {
            if let Some(again) = pushes.get(1) {
                f.violation(e(
                    again,
                    format!(
                        "{} answered {} (dead) and was pushed to again ({} pushes in all)",
                        faulted.name,
                        first.status,
                        pushes.len()
                    ),
                ));
            }
        }
        Case::Throttled => {
            let until = first.at + RETRY_AFTER;
            let storm: Vec<&&Capture> = pushes[1..].iter().filter(|c| c.at < until).collect();
            if let Some(retry) = storm.first() {
                let after = retry.at.duration_since(first.at).unwrap_or_default();
                f.violation(e(
                    retry,
                    format!(
                        "{} answered {} with Retry-After: {}, and was pushed to again {} ms \
                         later ({} attempts inside the window)",
                        faulted.name,
                        first.status,
                        RETRY_AFTER.as_secs(),
                        after.as_millis(),
                        storm.len()
                    ),
                ));
            }
        }
        Case::BadRequest => {
            for later in &pushes[1..] {
                if let Some(problem) = richer(first, later, &secrets[0]) {
                    f.violation(e(
                        later,
                        format!(
                            "after {} answered 400, the backend pushed again {problem}",
                            faulted.name
                        ),
                    ));
                    break;
                }
            }
        }
    }
    f.gathered(1);
    f
}

/// Whether the send's exchange got an HTTP answer (of any status).
fn answered(exchange: &Exchange) -> bool {
    exchange.reply().is_some()
}

/// How a later push to a refused handle is richer than the refused one.
fn richer(refused: &Capture, later: &Capture, secret: &Secret) -> Option<String> {
    let canaries: Vec<String> = secret
        .canaries()
        .iter()
        .map(|c| c.text.to_ascii_lowercase())
        .collect();
    let text = |c: &Capture| {
        let mut t = String::from_utf8_lossy(&c.body).to_ascii_lowercase();
        for (n, v) in &c.headers {
            t.push_str(n);
            t.push_str(&v.to_ascii_lowercase());
        }
        t
    };
    let carries = |c: &Capture| {
        let text = text(c);
        canaries.iter().any(|canary| text.contains(canary))
    };
    if carries(later) && !carries(refused) {
        return Some("with the content in it".to_owned());
    }
    let names = |c: &Capture| {
        c.headers
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<BTreeSet<_>>()
    };
    if names(later) != names(refused) {
        return Some("with other headers".to_owned());
    }
    let keys = |c: &Capture| {
        serde_json::from_slice::<serde_json::Value>(&c.body)
            .ok()
            .map(|v| {
                let mut out = BTreeSet::new();
                keys_of(&v, String::new(), &mut out);
                out
            })
    };
    if keys(later) != keys(refused) {
        return Some("with other JSON members".to_owned());
    }
    None
}

fn keys_of(value: &serde_json::Value, path: String, out: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            let p = format!("{path}/{k}");
            out.insert(p.clone());
            keys_of(v, p, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::UNIX_EPOCH;

    fn capture(headers: &[(&str, &str)], body: &str) -> Capture {
        Capture {
            seq: 0,
            platform: Platform::Apns,
            kind: CaptureKind::Push,
            at: UNIX_EPOCH,
            method: "POST".into(),
            path: "/3/device/ab".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            status: 400,
            reason: None,
            device: None,
        }
    }

    #[test]
    fn a_retry_is_richer_when_it_carries_the_content_or_more() {
        use rand::SeedableRng as _;
        let secret =
            crate::conformance::canary::secret(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1), 0);
        let middle = secret
            .canary(crate::conformance::canary::Part::Middle)
            .expect("a middle canary")
            .to_ascii_lowercase();
        let plain = capture(
            &[("apns-priority", "5")],
            r#"{"aps":{"content-available":1},"secureId":"1"}"#,
        );
        let same = capture(
            &[("apns-priority", "5")],
            r#"{"aps":{"content-available":1},"secureId":"2"}"#,
        );
        assert_eq!(richer(&plain, &same, &secret), None);
        let alert = capture(
            &[("apns-priority", "5")],
            &format!(r#"{{"aps":{{"alert":{{"body":"hi {middle}"}}}},"secureId":"2"}}"#),
        );
        assert!(richer(&plain, &alert, &secret).is_some_and(|w| w.contains("content")));
        let keys = capture(
            &[("apns-priority", "5")],
            r#"{"aps":{"alert":"New message"},"secureId":"2"}"#,
        );
        assert!(richer(&plain, &keys, &secret).is_some_and(|w| w.contains("JSON")));
        let header = capture(
            &[("apns-priority", "10"), ("apns-push-type", "alert")],
            "{}",
        );
        assert!(richer(&plain, &header, &secret).is_some());
    }
}
