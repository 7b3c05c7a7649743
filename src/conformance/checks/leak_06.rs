//! SP-LEAK-06: pushes have the secure-push shape. The pattern sends a
//! signal the app acts on, not something the platform shows: APNs a
//! background push (`content-available: 1`) or an alert whose text is
//! generic; FCM a data-only message (no `notification` block, nor an
//! Android, APNs or Web Push one); WNS a `wns/raw` push. Alert text is
//! generic when the profile allows it (`platforms.<name>.alerts`).
//! Anything else shows something on the lock screen that the backend chose
//! per message: a SHOULD, so WARN.

use pushproof_mocks::{Capture, Platform};
use serde_json::Value;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::pushes;
use crate::report::suite::Hit;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-06",
    title: "Pushes have the secure-push shape",
    level: Level::Should,
    severity: Severity::Medium,
    method: "Every accepted push of the baseline is read as the platform reads it: an APNs \
             payload must be a background push (aps.content-available = 1, no alert) or carry \
             only alert texts the profile allows (platforms.apns.alerts); an FCM message must \
             be data-only (no notification, android.notification, apns.payload.aps.alert or \
             webpush.notification), unless their texts are allowed; a WNS push must be wns/raw \
             (a toast, tile or badge only with allowed texts). Needs an accepted push on every \
             platform of the run",
    sources: &[
        "Microsoft: Notification Hubs Secure Push tutorial (raw, content-available, data)",
        "Firebase: FCM encryption guidance (data messages; the OS renders notification payloads)",
        "Apple: Creating the Remote Notification Payload (background updates)",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "pushes",
    },
};

/// A text the platform would show, and where it is.
struct Shown {
    field: String,
    text: String,
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let Some(captures) = pushes::accepted_baseline(suite, &mut f).await else {
        return f;
    };
    let mut judged = std::collections::BTreeSet::new();
    let mut count = 0;
    for capture in &captures {
        let Some(platform) = suite.profile().platform(capture.platform) else {
            continue;
        };
        count += 1;
        judged.insert(capture.platform);
        let allowed = |text: &str| platform.alerts.iter().any(|a| a.trim() == text.trim());
        let problem = match shape(capture) {
            Shape::Signal => continue,
            Shape::Shows(shown) => {
                let shown: Vec<Shown> = shown.into_iter().filter(|s| !allowed(&s.text)).collect();
                if shown.is_empty() {
                    continue;
                }
                (
                    format!(
                        "shows text the profile does not allow: {}",
                        shown
                            .iter()
                            .map(|s| format!("{} = {:?}", s.field, s.text))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    shown,
                )
            }
            Shape::Other(why) => (why, Vec::new()),
        };
        let device = pushes::device_of(suite, &[], capture);
        let mut e = pushes::sighting(
            format!(
                "push #{} to {} is not a secure-push signal: it {}",
                capture.seq,
                pushes::recipient(capture, device),
                problem.0
            ),
            capture,
            device,
            &[],
        );
        e.hits = problem
            .1
            .iter()
            .map(|s| {
                let (start, end) = pushes::field_range(capture, &s.field, &s.text);
                Hit {
                    surface: s.field.clone(),
                    start,
                    end,
                    transforms: Vec::new(),
                    secret: "visible text".to_owned(),
                    part: "alert".to_owned(),
                }
            })
            .collect();
        f.violation(e);
    }
    f.gathered(count);
    pushes::require_platforms(suite, |_| true, &judged, &mut f);
    if f.violations.is_empty() {
        f.summary(format!(
            "all {count} pushes are background, data-only or raw signals (or show only allowed alert texts)"
        ));
    }
    f
}

/// What a push is, as the platform treats it.
enum Shape {
    /// Nothing is shown: the app is woken and fetches.
    Signal,
    /// Something is shown: these texts.
    Shows(Vec<Shown>),
    /// Neither, for this reason.
    Other(String),
}

fn shape(capture: &Capture) -> Shape {
    match capture.platform {
        Platform::Apns => apns(&capture.body),
        Platform::Fcm => fcm(&capture.body),
        Platform::Wns => wns(capture),
    }
}

fn apns(body: &[u8]) -> Shape {
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return Shape::Other("has a payload that is not JSON".to_owned());
    };
    let aps = &payload["aps"];
    let mut shown = Vec::new();
    texts("/aps/alert", &aps["alert"], &mut shown);
    if !shown.is_empty() {
        return Shape::Shows(shown);
    }
    if aps["content-available"] == 1 {
        Shape::Signal
    } else {
        Shape::Other(
            "is neither a background push (aps.content-available = 1) nor an alert".to_owned(),
        )
    }
}

fn fcm(body: &[u8]) -> Shape {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Shape::Other("has a message that is not JSON".to_owned());
    };
    let message = &request["message"];
    let mut shown = Vec::new();
    for (pointer, block) in [
        ("/message/notification", &message["notification"]),
        (
            "/message/android/notification",
            &message["android"]["notification"],
        ),
        (
            "/message/apns/payload/aps/alert",
            &message["apns"]["payload"]["aps"]["alert"],
        ),
        (
            "/message/webpush/notification",
            &message["webpush"]["notification"],
        ),
    ] {
        if block.is_null() {
            continue;
        }
        let before = shown.len();
        texts(pointer, block, &mut shown);
        if shown.len() == before {
            // A notification block with no text still shows a notification.
            shown.push(Shown {
                field: format!("json:{pointer}"),
                text: block.to_string(),
            });
        }
    }
    if shown.is_empty() {
        Shape::Signal
    } else {
        Shape::Shows(shown)
    }
}

fn wns(capture: &Capture) -> Shape {
    match capture.header("x-wns-type") {
        Some(t) if t.eq_ignore_ascii_case("wns/raw") => Shape::Signal,
        Some(t) => {
            // A toast, tile or badge: every text and attribute it shows.
            let fields = super::super::leak::fields(capture, &[]);
            let shown: Vec<Shown> = fields
                .into_iter()
                .filter(|(field, text)| field.starts_with("xml:") && !text.trim().is_empty())
                .map(|(field, text)| Shown { field, text })
                .collect();
            if shown.is_empty() {
                Shape::Other(format!("is a {t} push rather than wns/raw"))
            } else {
                Shape::Shows(shown)
            }
        }
        None => Shape::Other("has no X-WNS-Type".to_owned()),
    }
}

/// The texts of an alert value (a string, or an object's strings), with
/// their fields.
fn texts(pointer: &str, alert: &Value, out: &mut Vec<Shown>) {
    match alert {
        Value::String(text) => out.push(Shown {
            field: format!("json:{pointer}"),
            text: text.clone(),
        }),
        Value::Object(map) => {
            for (key, value) in map {
                texts(&format!("{pointer}/{key}"), value, out);
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                texts(&format!("{pointer}/{i}"), value, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(shape: Shape) -> Vec<String> {
        match shape {
            Shape::Shows(s) => s.into_iter().map(|s| s.field).collect(),
            Shape::Signal => vec!["signal".into()],
            Shape::Other(why) => vec![why],
        }
    }

    #[test]
    fn apns_background_and_alerts() {
        assert_eq!(
            shown(apns(br#"{"aps":{"content-available":1},"secureId":"x"}"#)),
            ["signal"]
        );
        assert_eq!(
            shown(apns(
                br#"{"aps":{"content-available":1,"alert":{"title":"Hi","body":"Bob: lunch?"}}}"#
            )),
            ["json:/aps/alert/body", "json:/aps/alert/title"]
        );
        assert_eq!(
            shown(apns(br#"{"aps":{"alert":"x"}}"#)),
            ["json:/aps/alert"]
        );
        assert!(shown(apns(br#"{"secureId":"x"}"#))[0].contains("neither"));
    }

    #[test]
    fn fcm_data_only_and_notification_blocks() {
        assert_eq!(
            shown(fcm(br#"{"message":{"token":"t","data":{"secureId":"x"}}}"#)),
            ["signal"]
        );
        assert_eq!(
            shown(fcm(
                br#"{"message":{"token":"t","android":{"notification":{"title":"New"}}}}"#
            )),
            ["json:/message/android/notification/title"]
        );
        assert_eq!(
            shown(fcm(br#"{"message":{"notification":{}}}"#)),
            ["json:/message/notification"]
        );
    }
}
