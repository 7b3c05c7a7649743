//! Pushes as the leak and id checks read them: the baseline's share of the
//! capture stream, the captured push behind a delivery, what the device's
//! app sees of a captured push (where the profile's id location applies),
//! which part of a push a sighting lies in (content or metadata, a
//! grouping field), and evidence that shows the push with each hit marked.

use std::sync::Arc;

use bytes::Bytes;
use pushproof_mocks::{Capture, CaptureKind, Platform};

use super::canary::Secret;
use super::context::Suite;
use super::evidence;
use super::findings::Findings;
use super::leak::{self, Transform};
use crate::device::Device;
use crate::plane::PlaneError;
use crate::report::suite::Evidence;

/// Whether the leak scan reads this capture: a push to a device, or a
/// request a backend made to the mock Notification Hub (what it hands the
/// hub reaches the platform).
pub fn scanned(capture: &Capture) -> bool {
    matches!(capture.kind, CaptureKind::Push | CaptureKind::Hub)
}

/// The captures of the baseline (its enrolment and round trips), oldest
/// first: they carry the baseline's secrets and nothing of the checks.
pub async fn baseline(suite: &Suite) -> Result<Vec<Capture>, PlaneError> {
    let until = suite.baseline.captures_until;
    let mut captures = suite.captures().await?;
    captures.retain(|c| until.is_some_and(|last| c.seq <= last));
    Ok(captures)
}

/// Every capture since the baseline began; a harness failure to read them
/// is recorded in `f`.
pub async fn all(suite: &Suite, f: &mut Findings) -> Option<Vec<Capture>> {
    match suite.captures().await {
        Ok(captures) => Some(captures),
        Err(e) => {
            f.harness_error(e.to_string());
            None
        }
    }
}

/// The pushes of the baseline that a gateway accepted; a harness failure
/// to read them is recorded in `f`.
pub async fn accepted_baseline(suite: &Suite, f: &mut Findings) -> Option<Vec<Capture>> {
    match baseline(suite).await {
        Ok(mut captures) => {
            captures.retain(|c| c.kind == CaptureKind::Push && c.accepted());
            Some(captures)
        }
        Err(e) => {
            f.harness_error(e.to_string());
            None
        }
    }
}

/// A shortfall for every platform of the run (`among` those given) not in
/// `seen`: a check of the baseline's pushes needs one on each.
pub fn require_platforms(
    suite: &Suite,
    among: impl Fn(&Platform) -> bool,
    seen: &std::collections::BTreeSet<Platform>,
    f: &mut Findings,
) {
    for platform in suite.options.platforms.iter().filter(|p| among(p)) {
        f.require(
            seen.contains(platform),
            format!("no accepted push on {platform} was captured in the baseline"),
        );
    }
}

/// The captured push that brought notification `id` to `device`, among
/// `captures`.
pub fn capture_of<'c>(captures: &'c [Capture], device: &Device, id: &str) -> Option<&'c Capture> {
    captures.iter().rev().find(|c| {
        c.kind == CaptureKind::Push
            && c.device.as_deref() == Some(device.handle.handle.as_str())
            && contains(&c.body, id.as_bytes())
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the app on the device sees of a captured push: APNs its payload
/// and `apns-*` headers, FCM the `message` object, WNS the body and its
/// `x-wns-*` and `content-type` headers. Profile id locations point into
/// this.
pub fn device_view(capture: &Capture) -> (Vec<(String, String)>, Bytes) {
    let headers = |keep: &dyn Fn(&str) -> bool| {
        capture
            .headers
            .iter()
            .filter(|(n, _)| keep(n))
            .cloned()
            .collect::<Vec<_>>()
    };
    match capture.platform {
        Platform::Apns => (
            headers(&|n: &str| n.starts_with("apns-")),
            capture.body.clone(),
        ),
        Platform::Fcm => {
            let message = serde_json::from_slice::<serde_json::Value>(&capture.body)
                .ok()
                .and_then(|mut v| v.get_mut("message").map(serde_json::Value::take))
                .map(|m| Bytes::from(m.to_string()))
                .unwrap_or_else(|| capture.body.clone());
            (Vec::new(), message)
        }
        Platform::Wns => (
            headers(&|n: &str| n.starts_with("x-wns-") || n == "content-type"),
            capture.body.clone(),
        ),
    }
}

/// The notification id a captured push carries, read where the profile
/// says the app reads it.
pub fn id_of(suite: &Suite, capture: &Capture) -> Option<String> {
    let (headers, body) = device_view(capture);
    suite
        .profile()
        .platform(capture.platform)?
        .id
        .extract(&headers, &body)
}

/// The device a capture went to, among the baseline's and `extra`.
pub fn device_of<'a>(
    suite: &'a Suite,
    extra: &'a [Arc<Device>],
    capture: &Capture,
) -> Option<&'a Arc<Device>> {
    let handle = capture.device.as_deref()?;
    suite
        .baseline
        .devices
        .iter()
        .chain(extra)
        .find(|d| d.handle.handle == handle)
}

/// Where in a push something was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The payload's content: the body's strings (alert text, data values,
    /// a raw body, toast text).
    Content,
    /// What the platform routes, groups or files the push by: the path,
    /// the headers and the body's metadata fields (`thread-id`,
    /// `category`, FCM `collapse_key`, `tag`, `analytics_label`, `topic`,
    /// the headers FCM forwards to APNs and Web Push).
    Metadata,
}

/// Body fields, as JSON pointers (an FCM message's without its leading
/// `/message`), that are metadata rather than content.
const METADATA_FIELDS: &[&str] = &[
    "/aps/thread-id",
    "/aps/category",
    "/aps/target-content-id",
    "/aps/filter-criteria",
    "/topic",
    "/condition",
    "/token",
    "/name",
    "/fcm_options/analytics_label",
    "/android/collapse_key",
    "/android/restricted_package_name",
    "/android/notification/tag",
    "/android/notification/channel_id",
    "/android/fcm_options/analytics_label",
    "/apns/fcm_options/analytics_label",
    "/apns/payload/aps/thread-id",
    "/apns/payload/aps/category",
    "/webpush/fcm_options/analytics_label",
];

/// Body fields whose whole subtree is metadata (forwarded headers).
const METADATA_TREES: &[&str] = &["/apns/headers/", "/webpush/headers/"];

/// Fields the platforms group or collapse notifications by: headers by
/// lowercase name, body fields as in [`METADATA_FIELDS`].
const GROUPING_HEADERS: &[&str] = &[
    "apns-collapse-id",
    "apns-thread-id",
    "x-wns-tag",
    "x-wns-group",
];
const GROUPING_FIELDS: &[&str] = &[
    "/aps/thread-id",
    "/android/collapse_key",
    "/android/notification/tag",
    "/apns/headers/apns-collapse-id",
    "/apns/payload/aps/thread-id",
    "/webpush/headers/topic",
];

/// The JSON pointer of a `json:` surface or field, without an FCM
/// message's leading `/message`.
fn body_pointer(surface: &str) -> Option<&str> {
    let pointer = surface.strip_prefix("json:")?;
    Some(pointer.strip_prefix("/message").unwrap_or(pointer))
}

/// Which part of a push a surface (`path`, `header:…`, `json:…`, `xml:…`,
/// `body`) names.
pub fn place(surface: &str) -> Place {
    if surface == "path" || surface.starts_with("header:") || surface.starts_with("header-name:") {
        return Place::Metadata;
    }
    match body_pointer(surface) {
        Some(pointer)
            if METADATA_FIELDS.contains(&pointer)
                || METADATA_TREES.iter().any(|t| pointer.starts_with(t)) =>
        {
            Place::Metadata
        }
        _ => Place::Content,
    }
}

/// Whether a field (`header:<name>`, `json:<pointer>`) is one the platform
/// groups or collapses notifications by.
pub fn grouping(field: &str) -> bool {
    if let Some(name) = field.strip_prefix("header:") {
        let name = name.split('#').next().unwrap_or(name);
        return GROUPING_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name));
    }
    body_pointer(field).is_some_and(|p| GROUPING_FIELDS.iter().any(|g| g.eq_ignore_ascii_case(p)))
}

/// Whether a hit shows the secret as written: plain, or only through the
/// escapes of the text that carries it (JSON `\u`, XML entities, percent
/// encoding). Anything else is an encoding, a compression or a hash.
pub fn as_written(hit: &leak::Hit) -> bool {
    hit.transforms.iter().all(|t| {
        matches!(
            t,
            Transform::JsonEscape | Transform::XmlEntity | Transform::Percent
        )
    })
}

/// Evidence of sightings in one captured push: the push, the device and
/// user it went to, and each hit with its surface, byte range and
/// transform chain.
pub fn sighting(
    what: impl Into<String>,
    capture: &Capture,
    device: Option<&Arc<Device>>,
    hits: &[leak::Hit],
) -> Evidence {
    Evidence {
        what: what.into(),
        subject: device.map(|d| evidence::subject(d)),
        capture: Some(evidence::capture(capture)),
        hits: hits.iter().map(Into::into).collect(),
        ..Evidence::default()
    }
}

/// `device-3 (apns)` or, for a capture to a device the check does not
/// know, its platform and kind.
pub fn recipient(capture: &Capture, device: Option<&Arc<Device>>) -> String {
    match device {
        Some(d) => format!("{} ({})", d.name, d.platform),
        None if capture.kind == CaptureKind::Hub => "the notification hub".to_owned(),
        None => format!("a device on {}", capture.platform),
    }
}

/// Where a field's value (`header:<name>`, or a body field with its value
/// as the differential shows it) lies in the captured push, when it can be
/// found: the header value whole, or the value's first occurrence in the
/// body (as a JSON string, or as written).
pub fn field_range(capture: &Capture, field: &str, value: &str) -> (Option<usize>, Option<usize>) {
    if let Some(name) = field.strip_prefix("header:") {
        let name = name.split('#').next().unwrap_or(name);
        return match capture.header(name) {
            Some(v) => (Some(0), Some(v.len())),
            None => (None, None),
        };
    }
    if field == "path" {
        return (Some(0), Some(capture.path.len()));
    }
    let quoted = serde_json::to_string(value).unwrap_or_default();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(value);
    for needle in [inner, value] {
        if needle.is_empty() {
            continue;
        }
        if let Some(at) = capture
            .body
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
        {
            return (Some(at), Some(at + needle.len()));
        }
    }
    (None, None)
}

/// Evidence about a notification id in a captured push: the push, with
/// the id marked in its body (`part` says what is wrong with it).
pub fn id_sighting(
    what: impl Into<String>,
    capture: &Capture,
    device: Option<&Arc<Device>>,
    id: &str,
    part: &str,
) -> Evidence {
    let at = capture
        .body
        .windows(id.len().max(1))
        .position(|w| w == id.as_bytes());
    let mut e = sighting(what, capture, device, &[]);
    e.hits = vec![crate::report::suite::Hit {
        surface: "body".to_owned(),
        start: at,
        end: at.map(|a| a + id.len()),
        transforms: Vec::new(),
        secret: format!("id {id}"),
        part: part.to_owned(),
    }];
    e
}

/// One line on where and how a secret was seen: `head canary of secret-2 in
/// json:/aps/alert/body (gzip → base64url)`.
pub fn describe(hit: &leak::Hit) -> String {
    let part = match hit.part {
        super::canary::Part::Whole => "the whole text".to_owned(),
        super::canary::Part::Partial => format!("a run of {} characters", hit.seen.chars().count()),
        part => format!("the {part} canary"),
    };
    format!(
        "{part} of {} in {} ({})",
        hit.label,
        hit.surface,
        hit.chain()
    )
}

/// What [`scan_baseline`] covered.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Pushes searched.
    pub scanned: usize,
    /// Requests to the Notification Hub searched.
    pub to_hub: usize,
    /// Pushes and hub requests with a sighting.
    pub leaky: usize,
    pub leaky_to_hub: usize,
    /// Secrets sighted at least once.
    pub leaked: std::collections::BTreeSet<usize>,
}

/// The exact scan the leak checks share: every push and hub request of the
/// baseline searched for `secrets` by the leak scanner; the hits `keep`
/// selects become one violation per capture, saying what it carries
/// (`kind`: `a secret in its body`, …). The sample is the pushes searched
/// (the hub's requests are searched too); every platform of the run must
/// have an accepted push among them, and none may have been evicted.
pub async fn scan_baseline(
    suite: &Suite,
    secrets: &[Secret],
    keep: impl Fn(&leak::Hit) -> bool,
    kind: &str,
    f: &mut Findings,
) -> Coverage {
    let mut coverage = Coverage::default();
    let captures = match baseline(suite).await {
        Ok(captures) => captures,
        Err(e) => {
            f.harness_error(e.to_string());
            return coverage;
        }
    };
    let scanner = leak::Scanner::new(secrets);
    let mut platforms = std::collections::BTreeSet::new();
    for capture in captures.iter().filter(|c| scanned(c)) {
        let push = capture.kind == CaptureKind::Push;
        if push {
            coverage.scanned += 1;
            if capture.accepted() {
                platforms.insert(capture.platform);
            }
        } else {
            coverage.to_hub += 1;
        }
        let hits: Vec<leak::Hit> = scanner.scan(capture).into_iter().filter(&keep).collect();
        let Some(first) = hits.first() else {
            continue;
        };
        coverage.leaked.extend(hits.iter().map(|h| h.secret));
        if push {
            coverage.leaky += 1;
        } else {
            coverage.leaky_to_hub += 1;
        }
        let device = device_of(suite, &[], capture);
        let what = format!(
            "{} #{} to {} carries {kind}: {}{}",
            if push { "push" } else { "hub request" },
            capture.seq,
            recipient(capture, device),
            describe(first),
            match hits.len() {
                1 => String::new(),
                n => format!(
                    ", and {} more sighting{}",
                    n - 1,
                    if n == 2 { "" } else { "s" }
                ),
            }
        );
        f.violation(sighting(what, capture, device, &hits));
    }
    f.gathered(coverage.scanned);
    match suite.plane.capture_stats().await {
        Ok(stats) if stats.evicted > 0 => f.shortfall(format!(
            "{} captures were evicted before the scan: raise the capture capacity",
            stats.evicted
        )),
        Ok(_) => {}
        Err(e) => f.harness_error(e.to_string()),
    }
    require_platforms(suite, |_| true, &platforms, f);
    coverage
}

impl Coverage {
    /// ` and 3 requests to the hub`, when there were any.
    pub fn hub_text(&self) -> String {
        match self.to_hub {
            0 => String::new(),
            n => format!(" and {n} requests to the hub"),
        }
    }

    /// The check's summary: `clean` (given the pushes searched, with the
    /// hub's requests) when nothing was found, otherwise `2 of 6 secrets
    /// found in push bodies (2 of 6 pushes)`.
    pub fn summary(
        &self,
        secrets: usize,
        what: &str,
        found_in: &str,
        clean: impl FnOnce(String) -> String,
    ) -> String {
        if self.leaked.is_empty() {
            clean(format!(
                "{} captured pushes{}",
                self.scanned,
                self.hub_text()
            ))
        } else {
            format!(
                "{} of {secrets} {what} found {found_in} ({})",
                self.leaked.len(),
                self.where_text()
            )
        }
    }

    /// `4 of 6 pushes` (`, 6 of 6 requests to the hub`): where the
    /// sightings were.
    pub fn where_text(&self) -> String {
        let mut text = format!("{} of {} pushes", self.leaky, self.scanned);
        if self.to_hub > 0 {
            text.push_str(&format!(
                ", {} of {} requests to the hub",
                self.leaky_to_hub, self.to_hub
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_the_path_headers_and_routing_fields() {
        assert_eq!(place("path"), Place::Metadata);
        assert_eq!(place("header:apns-collapse-id"), Place::Metadata);
        assert_eq!(place("json:/aps/thread-id"), Place::Metadata);
        assert_eq!(place("json:/message/android/collapse_key"), Place::Metadata);
        assert_eq!(
            place("json:/message/apns/headers/apns-collapse-id"),
            Place::Metadata
        );
        assert_eq!(place("json:/aps/alert/body"), Place::Content);
        assert_eq!(place("json:/message/data/secureId"), Place::Content);
        assert_eq!(place("xml:/toast/visual/binding/text"), Place::Content);
        assert_eq!(place("body"), Place::Content);
    }

    #[test]
    fn grouping_fields() {
        assert!(grouping("header:apns-collapse-id"));
        assert!(grouping("header:X-WNS-Tag"));
        assert!(grouping("json:/aps/thread-id"));
        assert!(grouping("json:/message/android/notification/tag"));
        assert!(!grouping("json:/aps/alert/body"));
        assert!(!grouping("header:authorization"));
    }

    #[test]
    fn the_device_sees_the_fcm_message_object() {
        let capture = Capture {
            seq: 1,
            platform: Platform::Fcm,
            kind: CaptureKind::Push,
            at: std::time::SystemTime::now(),
            method: "POST".into(),
            path: "/v1/projects/p/messages:send".into(),
            headers: vec![("authorization".into(), "Bearer x".into())],
            body: Bytes::from_static(br#"{"message":{"token":"t","data":{"secureId":"n1"}}}"#),
            status: 200,
            reason: None,
            device: Some("t".into()),
        };
        let (headers, body) = device_view(&capture);
        assert!(headers.is_empty());
        let id = crate::profile::IdLocation::JsonPointer("/data/secureId".into())
            .extract(&headers, &body);
        assert_eq!(id.as_deref(), Some("n1"));
    }
}
