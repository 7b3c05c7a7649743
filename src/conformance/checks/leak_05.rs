//! SP-LEAK-05: the push is independent of the payload. Whatever a backend
//! does to a secret (encrypt it, hash it, encode it its own way, count its
//! characters), a field that changes when only the secret changes is
//! derived from it (Agrigento's differential). Per proven platform one
//! device gets, in this order, secret A, secret B, A again, a 10-byte
//! message and a 3 KB one; the pushes are compared field by field with
//! the ids masked. A field that differs between A and B but not between A
//! and A again is derived from the content (a field that also differs for
//! the same content is a nonce or a clock, and the order A, B, A keeps a
//! clock from looking like content); a field the leak scanner explains
//! (the secret visible in it) is SP-LEAK-01…04's and only noted here. A
//! push whose size follows the message's length (10 B against 3 KB) is a
//! deviation: the length of the content leaks.

use std::collections::BTreeSet;
use std::sync::Arc;

use pushproof_mocks::Capture;

use super::super::canary::{self, Secret};
use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::leak::{self, Control, Differ, FieldDiff, PartialScanner, Scanner};
use super::super::{evidence, probe, pushes};
use crate::device::Device;
use crate::report::suite::{Evidence, Hit};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-05",
    title: "Push independent of payload",
    level: Level::Must,
    severity: Severity::High,
    method: "Per proven platform one device receives secret A, secret B, A again, a 10-byte \
             message and a 3 KB one. The captured pushes are compared field by field (method, \
             path, each header, each JSON leaf or XML text and attribute, or the raw body) with \
             the notification ids masked: a field that differs between A and B but not between \
             A and A again is derived from the content (violation), unless the leak scanner \
             finds the secret in it (reported by SP-LEAK-01…04). Fields that differ for the same \
             content too (nonces, clocks) are ignored. A push size that differs between the \
             10-byte and the 3 KB message (ids masked) is a deviation. Needs the three \
             comparisons on every proven platform",
    sources: &[
        "Continella et al., NDSS 2017 (Agrigento: differential analysis resilient to obfuscation)",
        "Apple: Creating the Remote Notification Payload (the push as a signal)",
    ],
    needs: &[],
    sample: Sample {
        min: 3,
        unit: "comparisons",
    },
};

/// The short message: ten bytes.
const SHORT: &str = "Meet at 10";
/// The long message's length in bytes.
const LONG: usize = 3000;

/// One platform's five deliveries: (what was sent, the id read).
struct Sent {
    device: Arc<Device>,
    a: Secret,
    b: Secret,
    long: Secret,
    ids: [String; 5],
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms = probe::required_platforms(suite, &mut f);
    let devices = probe::one_per_platform(suite);
    let sent = futures::future::join_all(devices.iter().map(|d| send(suite, d))).await;
    let Some(captures) = pushes::all(suite, &mut f).await else {
        return f;
    };
    let mut judged = BTreeSet::new();
    for result in sent {
        match result {
            Ok(sent) => {
                if judge(&sent, &captures, &mut f) {
                    judged.insert(sent.device.platform);
                }
            }
            Err(e) => f.backend_failure(e),
        }
    }
    for platform in &platforms {
        f.require(
            judged.contains(platform),
            format!("no comparison on {platform}"),
        );
    }
    if f.violations.is_empty() && f.deviations.is_empty() {
        f.summary(format!(
            "on {} platform(s), nothing but the id changes with the content, and the push size \
             is the same for a {}-byte and a {LONG}-byte message",
            judged.len(),
            SHORT.len()
        ));
    }
    f
}

/// The five deliveries to one device, in order.
async fn send(suite: &Suite, device: &Arc<Device>) -> Result<Sent, Evidence> {
    let mut rng = suite.rng(&format!("{}/{}", INFO.id, device.platform));
    let (a, b) = (suite.secret(&mut rng), suite.secret(&mut rng));
    let long = canary::long_secret(&mut rng, 200_000 + device.index, LONG);
    let messages = [a.text(), b.text(), a.text(), SHORT, long.text()];
    let mut ids = Vec::with_capacity(messages.len());
    for message in messages {
        match suite.deliver(device, message).await {
            Ok(delivered) => ids.push(delivered.id),
            Err(error) => {
                let mut e = evidence::step(&error);
                e.subject = Some(evidence::subject(device));
                return Err(e);
            }
        }
    }
    let ids: [String; 5] = ids.try_into().expect("one id per message");
    Ok(Sent {
        device: device.clone(),
        a: a.clone(),
        b: b.clone(),
        long,
        ids,
    })
}

/// Judges one platform's pushes; whether all five were captured.
fn judge(sent: &Sent, captures: &[Capture], f: &mut Findings) -> bool {
    let device = &sent.device;
    let pushes: Vec<&Capture> = sent
        .ids
        .iter()
        .filter_map(|id| pushes::capture_of(captures, device, id))
        .collect();
    let [a, b, again, short, long] = pushes[..] else {
        f.shortfall(format!(
            "{} of the 5 pushes to {} were captured",
            pushes.len(),
            device.name
        ));
        return false;
    };
    let ids: Vec<&str> = sent.ids.iter().map(String::as_str).collect();
    let differ = Differ::new();
    let ab = differ.compare(a, &[ids[0]], b, &[ids[1]]);
    let same = differ.compare(a, &[ids[0]], again, &[ids[2]]);
    let sizes = differ.compare(short, &[ids[3]], long, &[ids[4]]);
    f.gathered(3);

    let secrets = [sent.a.clone(), sent.b.clone(), sent.long.clone()];
    let sightings = Sightings::new(&secrets, &[a, b, long]);
    let volatile: BTreeSet<&str> = same.fields.iter().map(|d| d.field.as_str()).collect();
    for diff in &ab.fields {
        if volatile.contains(diff.field.as_str()) {
            f.note(evidence::what(format!(
                "on {}, {} differs for the same content too (a nonce or a clock): not judged",
                device.platform, diff.field
            )));
        } else if sightings.explain(&diff.field) {
            f.note(evidence::what(format!(
                "on {}, {} changes with the content because it carries it (see SP-LEAK-01…04)",
                device.platform, diff.field
            )));
        } else {
            f.violation(derived(device, b, diff, &sent.b, again));
        }
    }
    if let Some(size) = &sizes.size {
        let explained = sizes.fields.iter().any(|d| sightings.explain(&d.field));
        if !explained {
            let mut e = pushes::sighting(
                format!(
                    "on {}, the push is {} bytes for a {}-byte message and {} bytes for a \
                     {}-byte one (ids masked): its size follows the content's",
                    device.platform,
                    size.a_masked,
                    SHORT.len(),
                    size.b_masked,
                    sent.long.text().len()
                ),
                long,
                Some(device),
                &[],
            );
            e.detail = serde_json::json!({
                "short": { "capture": short.seq, "bytes": size.a, "bytes_ids_masked": size.a_masked },
                "long": { "capture": long.seq, "bytes": size.b, "bytes_ids_masked": size.b_masked },
                "fields": sizes.fields,
            });
            f.deviation(e);
        }
    }
    true
}

/// A violation: `diff` changed with the content (shown in push `b`, whose
/// secret is `secret`).
fn derived(
    device: &Arc<Device>,
    b: &Capture,
    diff: &FieldDiff,
    secret: &Secret,
    again: &Capture,
) -> Evidence {
    let value = diff.b.clone().unwrap_or_default();
    let (start, end) = pushes::field_range(b, &diff.field, &value);
    let mut e = pushes::sighting(
        format!(
            "on {}, {} changes with the content: it differs between two secrets and stays the \
             same when the first is sent again",
            device.platform, diff.field
        ),
        b,
        Some(device),
        &[],
    );
    e.hits = vec![Hit {
        surface: diff.field.clone(),
        start,
        end,
        transforms: Vec::new(),
        secret: secret.label().to_owned(),
        part: "derived".to_owned(),
    }];
    e.detail = serde_json::json!({
        "field": diff.field,
        "first": diff.a,
        "second": diff.b,
        "first_again_capture": again.seq,
    });
    e
}

/// What the leak scanner sees of the sent secrets in the pushes: the
/// fields that carry them.
struct Sightings {
    surfaces: BTreeSet<String>,
}

impl Sightings {
    fn new(secrets: &[Secret], captures: &[&Capture]) -> Sightings {
        let exact = Scanner::new(secrets);
        let partial = PartialScanner::new(secrets);
        let none = Control::empty();
        let mut surfaces = BTreeSet::new();
        for capture in captures {
            let hits: Vec<leak::Hit> = exact
                .scan(capture)
                .into_iter()
                .chain(partial.scan(capture, &none))
                .collect();
            surfaces.extend(hits.into_iter().map(|h| h.surface));
        }
        Sightings { surfaces }
    }

    /// Whether the scanner saw a secret in `field` (`header:x#2` is
    /// `header:x`'s second value).
    fn explain(&self, field: &str) -> bool {
        let base = field.split('#').next().unwrap_or(field);
        self.surfaces.contains(base)
    }
}
