//! SP-LIFE-04: a push lives no longer than its content. A gateway that
//! cannot reach a device stores the push (APNs when `apns-expiration` is
//! absent or in the future, FCM four weeks unless `android.ttl` says
//! otherwise, WNS when caching is on), and delivers it later: an id whose
//! content has expired, and metadata kept by a third party for longer
//! than the backend keeps the content itself.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use pushproof_mocks::{Capture, CaptureKind, Platform};
use serde_json::Value;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::evidence;
use super::super::findings::Findings;
use super::super::probe;
use crate::profile::Capability;
use crate::report::suite::Evidence;

/// How long APNs keeps a push without `apns-expiration` (Apple: "stores
/// the notification and tries to deliver it at least once", for a limited
/// period it does not fix; about 30 days in practice).
const APNS_DEFAULT: Duration = Duration::from_secs(30 * 86_400);
/// FCM's default `ttl`: four weeks.
const FCM_DEFAULT: Duration = Duration::from_secs(2_419_200);
/// Clock and rounding slack allowed beyond the content's lifetime.
const SLACK: Duration = Duration::from_secs(2);

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LIFE-04",
    title: "A push lives no longer than its content",
    level: Level::Info,
    severity: Severity::Low,
    method: "Every push the gateways accepted for the baseline (content living \
             policy.payload_ttl_s), and with requests.short_notify one more per proven device \
             (living policy.short_payload_ttl_s), is read for how long the gateway may hold it: \
             APNs apns-expiration (absent: about 30 days; 0 or past: not stored), FCM \
             message.android.ttl (absent: 4 weeks), WNS X-WNS-TTL when cached (a raw push is not \
             cached unless X-WNS-Cache-Policy says so). It must not exceed the content's \
             lifetime (2 s slack)",
    sources: &[
        "Apple: Sending notification requests to APNs (apns-expiration)",
        "Firebase: Setting the lifespan of a message (ttl, 4 weeks by default)",
        "Microsoft: Push notification service request and response headers (X-WNS-TTL)",
    ],
    needs: &[Capability::PayloadTtl],
    sample: Sample {
        min: 1,
        unit: "pushes",
    },
};

/// How long the gateway may hold a push, from when it was captured.
fn push_lifetime(capture: &Capture) -> Option<Duration> {
    let at = capture.at.duration_since(UNIX_EPOCH).unwrap_or_default();
    match capture.platform {
        Platform::Apns => Some(match capture.header("apns-expiration") {
            None => APNS_DEFAULT,
            Some(value) => {
                let expires = Duration::from_secs(value.trim().parse::<u64>().ok()?);
                // 0 (or a moment already past): delivered once, not stored.
                expires.saturating_sub(at)
            }
        }),
        Platform::Fcm => {
            let body: Value = serde_json::from_slice(&capture.body).ok()?;
            match body.pointer("/message/android/ttl") {
                None => Some(FCM_DEFAULT),
                Some(ttl) => ttl
                    .as_str()?
                    .strip_suffix('s')?
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64),
            }
        }
        Platform::Wns => {
            let raw = capture
                .header("x-wns-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("wns/raw"));
            let cached = match capture.header("x-wns-cache-policy") {
                Some(policy) => policy.eq_ignore_ascii_case("cache"),
                // Toasts, tiles and badges are cached by default, raw is not.
                None => !raw,
            };
            if !cached {
                return Some(Duration::ZERO);
            }
            Some(match capture.header("x-wns-ttl") {
                Some(ttl) => Duration::from_secs(ttl.trim().parse().ok()?),
                // Cached without a TTL: kept until the device comes back.
                None => Duration::MAX,
            })
        }
    }
}

fn describe(d: Duration) -> String {
    if d == Duration::MAX {
        "until the device is back".to_owned()
    } else {
        format!("{} s", d.as_secs())
    }
}

/// Judges `captures` against `content` (the content's lifetime); the
/// platforms judged.
fn judge(
    suite: &Suite,
    captures: &[&Capture],
    content: Duration,
    f: &mut Findings,
) -> BTreeSet<Platform> {
    let mut platforms = BTreeSet::new();
    for capture in captures {
        let device = capture
            .device
            .as_deref()
            .and_then(|h| suite.baseline.devices.iter().find(|d| d.handle.handle == h));
        let e = |what: String| Evidence {
            what,
            subject: device.map(|d| evidence::subject(d)),
            capture: Some(evidence::capture(capture)),
            ..Evidence::default()
        };
        f.gathered(1);
        platforms.insert(capture.platform);
        match push_lifetime(capture) {
            None => f.violation(e(format!(
                "push #{} on {} carries a lifetime that cannot be read",
                capture.seq, capture.platform
            ))),
            Some(lifetime) if lifetime > content.saturating_add(SLACK) => f.violation(e(format!(
                "push #{} on {} may be held {} while its content lives {} s",
                capture.seq,
                capture.platform,
                describe(lifetime),
                content.as_secs()
            ))),
            Some(_) => {}
        }
    }
    platforms
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let policy = &suite.profile().policy;
    let content = policy.payload_ttl.expect("the check needs payload_ttl_s");
    let captures = match suite.captures().await {
        Ok(c) => c,
        Err(e) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    let baseline_handles: BTreeSet<&str> = suite
        .baseline
        .trips
        .iter()
        .filter_map(|t| suite.baseline.devices.iter().find(|d| d.index == t.device))
        .map(|d| d.handle.handle.as_str())
        .collect();
    // The baseline's own pushes: the first accepted push to each of its
    // devices (later ones may be other checks' sends).
    let mut seen = BTreeSet::new();
    let baseline: Vec<&Capture> = captures
        .iter()
        .filter(|c| c.kind == CaptureKind::Push && c.accepted())
        .filter(|c| {
            c.device
                .as_deref()
                .is_some_and(|h| baseline_handles.contains(h) && seen.insert(h))
        })
        .collect();
    let platforms = judge(suite, &baseline, content, &mut f);
    for platform in probe::proven_platforms(suite) {
        f.require(
            platforms.contains(&platform),
            format!("no baseline push on {platform} was captured"),
        );
    }
    let short = match (
        &suite.profile().requests.short_notify,
        policy.short_payload_ttl,
    ) {
        (Some(request), Some(ttl)) => Some((request, ttl)),
        _ => None,
    };
    if let Some((request, ttl)) = short {
        let owners = probe::proven_devices(suite, 1);
        let mut rng = suite.rng(INFO.id);
        for owner in owners {
            let secret = suite.secret(&mut rng);
            let seconds = Some(ttl.as_secs_f64().ceil() as u64);
            let delivered = match suite
                .deliver_via(&owner, secret.text(), request, seconds)
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    f.backend_failed(&e);
                    continue;
                }
            };
            let pushes = match suite.captures_of(&owner).await {
                Ok(c) => c,
                Err(e) => {
                    f.harness_error(e.to_string());
                    return f;
                }
            };
            // This send's push: the one carrying its id.
            let id = delivered.id.as_bytes();
            let recent: Vec<&Capture> = pushes
                .iter()
                .filter(|c| c.kind == CaptureKind::Push && c.accepted())
                .filter(|c| c.body.windows(id.len()).any(|w| w == id))
                .take(1)
                .collect();
            judge(suite, &recent, ttl, &mut f);
        }
    }
    if f.violations.is_empty() {
        f.summary(format!(
            "{} pushes may be held no longer than their content lives",
            f.gathered
        ));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn capture(platform: Platform, headers: &[(&str, &str)], body: &str) -> Capture {
        Capture {
            seq: 1,
            platform,
            kind: CaptureKind::Push,
            at: UNIX_EPOCH + Duration::from_secs(1_000_000),
            method: "POST".into(),
            path: "/".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            status: 200,
            reason: None,
            device: None,
        }
    }

    #[test]
    fn lifetimes_per_platform() {
        let apns = |h: &[(&str, &str)]| push_lifetime(&capture(Platform::Apns, h, "{}"));
        assert_eq!(apns(&[]), Some(APNS_DEFAULT));
        assert_eq!(apns(&[("apns-expiration", "0")]), Some(Duration::ZERO));
        assert_eq!(
            apns(&[("apns-expiration", "300")]),
            Some(Duration::ZERO),
            "1970"
        );
        assert_eq!(
            apns(&[("apns-expiration", "1003600")]),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(apns(&[("apns-expiration", "soon")]), None);

        let fcm = |body: &str| push_lifetime(&capture(Platform::Fcm, &[], body));
        assert_eq!(fcm(r#"{"message":{"android":{}}}"#), Some(FCM_DEFAULT));
        assert_eq!(
            fcm(r#"{"message":{"android":{"ttl":"3.5s"}}}"#),
            Some(Duration::from_millis(3500))
        );
        assert_eq!(fcm(r#"{"message":{"android":{"ttl":3}}}"#), None);

        let wns = |h: &[(&str, &str)]| push_lifetime(&capture(Platform::Wns, h, "id"));
        assert_eq!(wns(&[("x-wns-type", "wns/raw")]), Some(Duration::ZERO));
        assert_eq!(
            wns(&[("x-wns-type", "wns/raw"), ("x-wns-ttl", "60")]),
            Some(Duration::ZERO),
            "a raw push is not cached"
        );
        assert_eq!(
            wns(&[("x-wns-type", "wns/raw"), ("x-wns-cache-policy", "cache")]),
            Some(Duration::MAX)
        );
        assert_eq!(
            wns(&[("x-wns-type", "wns/toast"), ("x-wns-ttl", "60")]),
            Some(Duration::from_secs(60))
        );
    }
}
