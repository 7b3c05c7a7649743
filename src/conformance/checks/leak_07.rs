//! SP-LEAK-07: pushes carry only declared keys. Apple's rule of thumb for
//! a push payload is that it be useless outside the app: the secure-push
//! push is the opaque id and fixed constants. The profile declares the
//! shape per platform (`platforms.<name>.constants`: every field beside the
//! id, with its value); every field of every baseline push body that is
//! neither the id, a declared constant with its declared value, nor the
//! FCM message's address (`token`, `topic` or `condition`) or its
//! lifetime (`android.ttl`, SP-LIFE-04's) is a deviation:
//! a SHOULD, so WARN. Headers and the path are SP-LEAK-02's and 08's.

use std::collections::BTreeSet;

use pushproof_mocks::{Capture, Platform};

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::leak::{self, ID_MASK};
use super::super::pushes;
use crate::profile::{Capability, IdLocation, PlatformProfile};
use crate::report::suite::Hit;

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-07",
    title: "Pushes carry only declared keys",
    level: Level::Should,
    severity: Severity::Medium,
    method: "Every accepted baseline push's body is split into fields as the device receives \
             it (each JSON leaf by pointer, each XML text and attribute, or a raw body) with the \
             notification id masked. Allowed: the id where the profile says it is, the \
             constants the profile declares (platforms.<name>.constants) with their declared \
             values, and an FCM message's address (token, topic, condition) and lifetime \
             (android.ttl, judged by SP-LIFE-04). Any other field, \
             or a constant with another value, is a deviation. Needs an accepted push on every \
             platform whose shape the profile declares",
    sources: &[
        "Apple: Payload Key Reference (data meaningless outside the app, e.g. an id)",
        "Microsoft: Notification Hubs Secure Push tutorial (the push carries only the id)",
    ],
    needs: &[Capability::PushShape],
    sample: Sample {
        min: 1,
        unit: "pushes",
    },
};

/// FCM fields that carry nothing of the message: its address (`token`,
/// `topic`, `condition`) and how long FCM may hold it (`android.ttl`,
/// judged by SP-LIFE-04).
const FCM_NOT_CONTENT: [&str; 4] = ["/token", "/topic", "/condition", "/android/ttl"];

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let Some(captures) = pushes::accepted_baseline(suite, &mut f).await else {
        return f;
    };
    let mut judged = BTreeSet::new();
    let mut count = 0;
    for capture in &captures {
        let Some(platform) = suite.profile().platform(capture.platform) else {
            continue;
        };
        let Some(constants) = &platform.constants else {
            continue;
        };
        let Some(id) = pushes::id_of(suite, capture) else {
            // SP-FLOW-01 reports a push without its id.
            continue;
        };
        count += 1;
        judged.insert(capture.platform);
        let extra = undeclared(capture, &id, platform, constants);
        if extra.is_empty() {
            continue;
        }
        let device = pushes::device_of(suite, &[], capture);
        let mut e = pushes::sighting(
            format!(
                "push #{} to {} carries what the profile does not declare: {}",
                capture.seq,
                pushes::recipient(capture, device),
                extra
                    .iter()
                    .map(|(field, value, why)| format!("{field} = {value:?}{why}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            capture,
            device,
            &[],
        );
        e.hits = extra
            .iter()
            .map(|(field, value, _)| {
                let (start, end) = pushes::field_range(capture, field, value);
                Hit {
                    surface: field.clone(),
                    start,
                    end,
                    transforms: Vec::new(),
                    secret: "the push".to_owned(),
                    part: "undeclared field".to_owned(),
                }
            })
            .collect();
        f.deviation(e);
    }
    f.gathered(count);
    let declared = |p: &Platform| {
        suite
            .profile()
            .platform(*p)
            .is_some_and(|pp| pp.constants.is_some())
    };
    pushes::require_platforms(suite, declared, &judged, &mut f);
    for p in suite.options.platforms.iter().filter(|p| !declared(p)) {
        f.note(super::super::evidence::what(format!(
            "platforms.{p}.constants is not declared: {p} pushes were not judged"
        )));
    }
    if f.deviations.is_empty() {
        f.summary(format!(
            "all {count} pushes carry only the id and the declared constants"
        ));
    }
    f
}

/// The body fields of `capture` that are neither its id nor declared:
/// (field, value as captured, why).
fn undeclared(
    capture: &Capture,
    id: &str,
    platform: &PlatformProfile,
    constants: &[(String, serde_json::Value)],
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (field, value) in leak::fields(capture, &[id]) {
        let Some(name) = device_field(capture.platform, &field) else {
            continue;
        };
        let is_id = match &platform.id {
            IdLocation::JsonPointer(pointer) => field.starts_with("json:") && name == *pointer,
            IdLocation::RawBody => field == "body",
            IdLocation::Regex(_) => value.contains(ID_MASK),
            IdLocation::Header(_) => false,
        };
        if is_id && (value == ID_MASK || matches!(platform.id, IdLocation::Regex(_))) {
            continue;
        }
        if capture.platform == Platform::Fcm && FCM_NOT_CONTENT.contains(&name.as_str()) {
            continue;
        }
        let unmasked = value.replace(ID_MASK, id);
        match constants.iter().find(|(key, _)| *key == name) {
            Some((_, declared)) if same(declared, &value) => {}
            Some((_, declared)) => {
                out.push((field, unmasked, format!(" (declared {declared})")));
            }
            None => out.push((field, unmasked, String::new())),
        }
    }
    out
}

/// The name a body field has in the profile: a JSON pointer into the push
/// as the device receives it (an FCM message's, without `/message`), or an
/// `xml:` path; `None` for what is not the body (method, path, headers).
fn device_field(platform: Platform, field: &str) -> Option<String> {
    if let Some(pointer) = field.strip_prefix("json:") {
        let pointer = match platform {
            Platform::Fcm => pointer.strip_prefix("/message").unwrap_or(pointer),
            _ => pointer,
        };
        return Some(pointer.to_owned());
    }
    (field.starts_with("xml:") || field == "body").then(|| field.to_owned())
}

/// Whether a captured value (as the differential writes it: strings as
/// they are, anything else as JSON) is the declared one.
fn same(declared: &serde_json::Value, value: &str) -> bool {
    match declared {
        serde_json::Value::String(s) => s == value,
        other => serde_json::from_str::<serde_json::Value>(value).is_ok_and(|v| v == *other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushproof_mocks::CaptureKind;

    fn capture(platform: Platform, body: &str) -> Capture {
        Capture {
            seq: 1,
            platform,
            kind: CaptureKind::Push,
            at: std::time::SystemTime::now(),
            method: "POST".into(),
            path: "/".into(),
            headers: vec![("apns-topic".into(), "t".into())],
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            status: 200,
            reason: None,
            device: None,
        }
    }

    fn profile(id: IdLocation, constants: &[(&str, serde_json::Value)]) -> PlatformProfile {
        PlatformProfile {
            name: "p".into(),
            id,
            constants: Some(
                constants
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
            alerts: Vec::new(),
        }
    }

    #[test]
    fn the_id_and_declared_constants_pass_anything_else_does_not() {
        let apns = profile(
            IdLocation::JsonPointer("/secureId".into()),
            &[("/aps/content-available", serde_json::json!(1))],
        );
        let c = capture(
            Platform::Apns,
            r#"{"aps":{"content-available":1},"secureId":"abc"}"#,
        );
        assert!(undeclared(
            &c,
            "abc",
            &apns,
            apns.constants.as_deref().unwrap_or_default()
        )
        .is_empty());
        let c = capture(
            Platform::Apns,
            r#"{"aps":{"content-available":0},"secureId":"abc","from":"alice"}"#,
        );
        let extra = undeclared(
            &c,
            "abc",
            &apns,
            apns.constants.as_deref().unwrap_or_default(),
        );
        let fields: Vec<&str> = extra.iter().map(|(f, _, _)| f.as_str()).collect();
        assert_eq!(fields, ["json:/aps/content-available", "json:/from"]);
        assert!(extra[0].2.contains("declared 1"));
    }

    #[test]
    fn fcm_addresses_and_raw_bodies() {
        let fcm = profile(
            IdLocation::JsonPointer("/data/secureId".into()),
            &[("/android/priority", serde_json::json!("HIGH"))],
        );
        let c = capture(
            Platform::Fcm,
            r#"{"message":{"token":"t1","data":{"secureId":"n1"},"android":{"priority":"HIGH"}}}"#,
        );
        assert!(
            undeclared(&c, "n1", &fcm, fcm.constants.as_deref().unwrap_or_default()).is_empty()
        );
        let wns = profile(IdLocation::RawBody, &[]);
        let c = capture(Platform::Wns, "n1");
        assert!(undeclared(&c, "n1", &wns, &[]).is_empty());
        let c = capture(Platform::Wns, "n1\nhello");
        assert_eq!(undeclared(&c, "n1", &wns, &[]).len(), 1);
    }
}
