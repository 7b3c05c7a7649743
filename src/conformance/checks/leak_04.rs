//! SP-LEAK-04: no partial leak. A push may carry a piece of a secret that
//! holds no whole canary: a "redacted" preview, the first words of a
//! message, a name and an amount. Every run of at least 8 consecutive
//! characters of a baseline secret's text found in a baseline push is a
//! violation, unless the control run shows it too: a few pushes of the same
//! scenario with other secrets, sent by this check, whose text (a generic
//! alert, a shared template) is then no leak. Runs that an exact sighting
//! already accounts for are SP-LEAK-01/02/03's.

use pushproof_mocks::Capture;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::leak::{Hit, PartialScanner, Scanner, K};
use super::super::{probe, pushes};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-LEAK-04",
    title: "No partial leak",
    level: Level::Must,
    severity: Severity::High,
    method: "Every 8-character window (k-gram) of every baseline secret's text (head, middle \
             and tail canaries and the realistic text between them) is indexed; every baseline \
             push and hub request, on every surface and decoded layer, is slid over the index \
             and each secret's longest run of at least 8 characters is kept. The control run: \
             one fresh secret delivered to each proven device (up to six, every proven platform); \
             runs whose k-grams the control pushes also show (generic alert text, shared \
             templates) are excluded. A remaining run is a violation, unless an exact sighting \
             of the same secret covers it. Needs baseline pushes and a control push on every \
             proven platform",
    sources: &[
        "OWASP ASVS 5.0 14.2.6 (return minimal data)",
        "OWASP MASWE data-leak-notifications (previews)",
    ],
    needs: &[],
    sample: Sample {
        min: 1,
        unit: "pushes",
    },
};

/// Most control pushes: one per proven device, as many as the baseline's
/// default fleet.
const CONTROL_PUSHES: usize = 6;

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let proven = probe::proven_platforms(suite);
    f.require(
        !proven.is_empty(),
        "no platform's baseline round trip verified",
    );
    let devices = probe::proven_devices(suite, suite.verified().len().min(CONTROL_PUSHES));
    let control_sent = probe::deliver_fresh(suite, &devices, INFO.id, &mut f).await;
    let (run, all) = match (pushes::baseline(suite).await, suite.captures().await) {
        (Ok(run), Ok(all)) => (run, all),
        (Err(e), _) | (_, Err(e)) => {
            f.harness_error(e.to_string());
            return f;
        }
    };
    let control_pushes: Vec<&Capture> = control_sent
        .iter()
        .filter_map(|p| pushes::capture_of(&all, &p.owner, &p.delivered.id))
        .collect();
    for platform in &proven {
        f.require(
            control_pushes.iter().any(|c| c.platform == *platform),
            format!("no control push on {platform} was captured"),
        );
    }
    let secrets = &suite.baseline.secrets;
    let partial = PartialScanner::new(secrets);
    let control = partial.control(control_pushes.iter().copied());
    let exact = Scanner::new(secrets);
    let (mut scanned, mut to_hub) = (0, 0);
    for capture in run.iter().filter(|c| pushes::scanned(c)) {
        if capture.kind == pushproof_mocks::CaptureKind::Hub {
            to_hub += 1;
        } else {
            scanned += 1;
        }
        let device = pushes::device_of(suite, &[], capture);
        let sighted = exact.scan(capture);
        // The secrets this capture is known to carry: its device's, and
        // any it shows a canary of (a hub request names no device).
        let mut own: Vec<usize> = device
            .map(|d| d.index)
            .filter(|i| *i < secrets.len())
            .into_iter()
            .collect();
        own.extend(sighted.iter().map(|h| h.secret));
        let own: Vec<(usize, String)> = own
            .into_iter()
            .map(|i| (i, secrets[i].text().to_lowercase()))
            .collect();
        let runs = unexplained(partial.scan(capture, &control), &sighted, &own);
        let Some(first) = runs.first() else {
            continue;
        };
        f.violation(pushes::sighting(
            format!(
                "{} #{} to {} carries {} of {}'s text in {} ({}): {:?}{}",
                if capture.kind == pushproof_mocks::CaptureKind::Hub {
                    "hub request"
                } else {
                    "push"
                },
                capture.seq,
                pushes::recipient(capture, device),
                characters(first),
                first.label,
                first.surface,
                first.chain(),
                first.seen,
                match runs.len() {
                    1 => String::new(),
                    n => format!(", and runs of {} more secrets", n - 1),
                }
            ),
            capture,
            device,
            &runs,
        ));
    }
    f.gathered(scanned);
    let leaked = f.violations.len();
    let searched = match to_hub {
        0 => format!("{scanned} captured pushes"),
        n => format!("{scanned} captured pushes and {n} requests to the hub"),
    };
    f.summary(if leaked == 0 {
        format!(
            "no run of {K} or more characters of {} secrets in {searched}, beyond what {} control \
             pushes show ({} shared k-grams excluded)",
            secrets.len(),
            control.pushes(),
            control.excluded_grams()
        )
    } else {
        format!(
            "{leaked} of {searched} carry part of a secret's text that the {} control pushes do not",
            control.pushes()
        )
    });
    f
}

/// The runs no other sighting accounts for. A run is accounted for when an
/// exact sighting (of any secret) lies over the same captured bytes, or
/// when it belongs to another secret than those the capture is known to
/// carry (`own`: its device's, or one it shows a canary of; index and
/// lower-cased text) and is also a piece of one of theirs: secrets share
/// template words ("Card ending", "/12/2026", a first name, the canaries'
/// `SPC1-`), so a piece of the push's own secret also matches pieces of
/// others, and it is the push's own secret that leaked.
fn unexplained(runs: Vec<Hit>, sighted: &[Hit], own: &[(usize, String)]) -> Vec<Hit> {
    runs.into_iter()
        .filter(|run| {
            let by_exact = sighted.iter().any(|s| overlaps(s, run));
            let seen = run.seen.to_lowercase();
            let by_own = !own.iter().any(|(i, _)| *i == run.secret)
                && own.iter().any(|(_, text)| text.contains(&seen));
            !(by_exact || by_own)
        })
        .collect()
}

/// Whether two sightings lie over the same captured bytes (JSON and XML
/// surfaces count in the body).
fn overlaps(a: &Hit, b: &Hit) -> bool {
    let bytes = |surface: &str| -> String {
        if surface.starts_with("json:") || surface.starts_with("xml:") {
            "body".to_owned()
        } else {
            surface.to_owned()
        }
    };
    let (Some(a0), Some(a1), Some(b0), Some(b1)) = (a.start, a.end, b.start, b.end) else {
        return false;
    };
    bytes(&a.surface) == bytes(&b.surface) && a0 < b1 && b0 < a1
}

fn characters(hit: &Hit) -> String {
    format!("a run of {} characters", hit.seen.chars().count())
}
