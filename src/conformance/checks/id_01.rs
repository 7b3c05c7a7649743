//! SP-ID-01: notification ids are unguessable. An id travels through the
//! platform in clear; if it can be guessed, whoever can call the fetch
//! endpoint can try the neighbours (and any authorization slip becomes a
//! mass leak). A fresh user gets 1000 notifications; their ids, in the
//! order the device received them, must not be integers, time-based UUIDs
//! (v1, v6, v7) or otherwise follow the order of issue, must not repeat,
//! and must carry an estimated 128 bits of entropy.
//!
//! The sample is the catalogue's 1000 ids: enough that the per-position
//! entropy estimate of 128 random bits has a spread of about 0.02 bits
//! (a UUIDv4's 122 bits stand six bits below the bar) and that a random
//! order's Kendall τ stays within ±0.07 while a counter's is near 1.
//! They come fast because nothing waits on each one: the sends go out
//! concurrently to one fresh device per proven platform (the fast path: no
//! fetch, no per-send wait for the push), while a reader per device drains
//! its pushes as they arrive.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use pushproof_mocks::Delivery;

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::Suite;
use super::super::findings::Findings;
use super::super::idstats::IdStats;
use super::super::{evidence, probe};
use crate::client::{Credential, Exchange};
use crate::device::device::notify;
use crate::device::{Device, StepError};

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-ID-01",
    title: "Unguessable notification ids",
    level: Level::Must,
    severity: Severity::High,
    method: "A fresh user with one fresh device per proven platform is sent 1000 short, \
             distinct messages, 16 at a time, while each device's pushes are drained as they \
             arrive; the 1000 ids read out of the pushes, in arrival order, must not be \
             integers, version 1, 6 or 7 UUIDs, or ordered like their issue (Kendall's |τ| \
             above 0.5), must not repeat, and must carry at least 127.5 bits by a per-position \
             Miller–Madow entropy estimate capped by their alphabet (128 random bits estimate \
             at 127.95 ± 0.02; a UUIDv4 at 122). 1000 ids make both statistics decisive",
    sources: &[
        "OWASP ASVS 5.0 11.5.1 (CSPRNG, at least 128 bits; UUIDs do not qualify)",
        "OWASP ASVS 4.0.3 6.3.1, 6.3.2",
        "OWASP API Security Top 10 2023 API1 (prefer random ids)",
    ],
    needs: &[],
    sample: Sample {
        min: 1000,
        unit: "ids",
    },
};

/// Sends in flight at once.
const IN_FLIGHT: usize = 16;
/// Retries of a send the backend throttled (429).
const THROTTLE_RETRIES: usize = 3;

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let platforms = probe::required_platforms(suite, &mut f);
    let Some(user) = probe::fresh_user(suite, "id01", &mut f).await else {
        return f;
    };
    let Some(devices) = probe::fresh_devices(suite, &user, &platforms, &mut f).await else {
        return f;
    };
    let Some(first) = devices.first() else {
        return f;
    };
    let (sender, credential) = match suite.sender_for(first) {
        Ok((s, c)) => (s.to_owned(), c.clone()),
        Err(e) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let started = Instant::now();
    let (expected, done) = tokio::sync::watch::channel(None::<Owed>);
    let readers = futures::future::join_all(
        devices
            .iter()
            .enumerate()
            .map(|(i, d)| drain(d, i, done.clone())),
    );
    let sends = send_all(suite, &devices, &sender, &credential, INFO.sample.min);
    let separable = suite
        .profile()
        .requests
        .notify
        .template
        .vars()
        .contains(&crate::profile::Var::Platform);
    let (delivered, outcome) = tokio::join!(readers, async {
        let outcome = sends.await;
        // The readers now know how many pushes each device is owed: its
        // own sends, or every send when a send reaches all the user's
        // devices.
        let total: usize = outcome.accepted.iter().sum();
        let owed = Owed {
            pushes: if separable {
                outcome.accepted.clone()
            } else {
                vec![total; devices.len()]
            },
            deadline: Instant::now() + suite.options.timeout,
        };
        let _ = expected.send(Some(owed));
        outcome
    });
    let _ = done;
    let failures = outcome.failures;
    for (exchange, why) in failures.iter().take(3) {
        let mut e = evidence::about(first, why.clone(), Some(exchange));
        e.subject = Some(evidence::subject(first));
        f.backend_failure(e);
    }
    if failures.len() > 3 {
        f.note(evidence::what(format!(
            "{} more sends failed",
            failures.len() - 3
        )));
    }
    // Every push, across devices, in the order it arrived.
    let mut pushes: Vec<(Instant, usize, Delivery)> = delivered.into_iter().flatten().collect();
    pushes.sort_by_key(|(at, i, _)| (*at, *i));
    let mut ids = Vec::with_capacity(pushes.len());
    let mut last = None;
    let mut unreadable = 0;
    for (_, i, delivery) in &pushes {
        let device = &devices[*i];
        match suite
            .profile()
            .platform(device.platform)
            .and_then(|p| p.id.extract(&delivery.headers, &delivery.body))
        {
            Some(id) => {
                last = Some((device.clone(), id.clone()));
                ids.push(id);
            }
            None => unreadable += 1,
        }
    }
    f.gathered(ids.len());
    if unreadable > 0 {
        f.note(evidence::what(format!(
            "{unreadable} pushes carried no id where the profile says"
        )));
    }
    let elapsed = started.elapsed();
    let stats = IdStats::of(&ids);
    let detail = serde_json::json!({
        "statistics": stats,
        "sent": outcome.sent,
        "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
        "first_ids": ids.iter().take(10).collect::<Vec<_>>(),
    });
    if ids.len() < INFO.sample.min {
        f.note(evidence::what(format!(
            "{} of {} sends brought a push with an id within {:.0} s",
            ids.len(),
            outcome.sent,
            suite.options.timeout.as_secs_f64()
        )));
    }
    let problems = stats.problems();
    if ids.len() >= 2 && !problems.is_empty() {
        // The last push, with its id marked, shows what the ids look like.
        let captures = match suite.captures().await {
            Ok(captures) => captures,
            Err(e) => {
                f.harness_error(e.to_string());
                Vec::new()
            }
        };
        let shown = last.as_ref().and_then(|(device, id)| {
            super::super::pushes::capture_of(&captures, device, id).map(|c| (c, device, id))
        });
        for problem in &problems {
            let what = format!("{problem} ({} ids from pushes to {})", ids.len(), user.name);
            let mut e = match shown {
                Some((capture, device, id)) => super::super::pushes::id_sighting(
                    what,
                    capture,
                    Some(device),
                    id,
                    "guessable id",
                ),
                None => evidence::about(first, what, None),
            };
            e.detail = detail.clone();
            f.violation(e);
        }
    } else {
        let mut e = evidence::what(format!(
            "{} ids ({}), τ = {:.3}, about {:.1} bits each",
            stats.ids, stats.alphabet_name, stats.tau, stats.entropy_bits
        ));
        e.detail = detail;
        f.note(e);
        f.summary(format!(
            "{} ids in {:.1} s: {} alphabet, no order (τ = {:.3}), no repeat, about {:.1} bits of entropy each",
            stats.ids,
            elapsed.as_secs_f64(),
            stats.alphabet_name,
            stats.tau,
            stats.entropy_bits
        ));
    }
    f
}

/// A send that failed: its exchange, and why.
type Failure = (Exchange, String);

/// How the sends went.
struct Sent {
    sent: usize,
    /// Sends the backend accepted, per device.
    accepted: Vec<usize>,
    failures: Vec<Failure>,
}

/// What the readers wait for once the sends are done.
#[derive(Debug, Clone)]
struct Owed {
    /// Pushes each device is owed.
    pushes: Vec<usize>,
    /// When to stop waiting for them.
    deadline: Instant,
}

/// `count` distinct short messages to `devices`' user, round-robin over
/// the devices' platforms, [`IN_FLIGHT`] at a time.
async fn send_all(
    suite: &Suite,
    devices: &[Arc<Device>],
    sender: &str,
    credential: &Credential,
    count: usize,
) -> Sent {
    let results: Vec<(usize, Result<(), Failure>)> = futures::stream::iter(0..count)
        .map(|n| {
            let at = n % devices.len();
            let message = format!("Sample {n}: your order has shipped");
            async move {
                let result = send_one(suite, &devices[at], sender, credential, &message).await;
                (at, result)
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let mut accepted = vec![0; devices.len()];
    let mut failures = Vec::new();
    for (at, result) in results {
        match result {
            Ok(()) => accepted[at] += 1,
            Err(failure) => failures.push(failure),
        }
    }
    Sent {
        sent: count,
        accepted,
        failures,
    }
}

/// One send, retried when the backend throttles it.
async fn send_one(
    suite: &Suite,
    device: &Device,
    sender: &str,
    credential: &Credential,
    message: &str,
) -> Result<(), Failure> {
    let template = &suite.api.profile.requests.notify.template;
    for attempt in 0..=THROTTLE_RETRIES {
        let send = notify(
            &suite.api,
            credential,
            sender,
            &device.user,
            device.platform,
            message,
        )
        .await;
        match send.status() {
            Some(s) if template.succeeded(s) => return Ok(()),
            Some(429) if attempt < THROTTLE_RETRIES => {
                let wait = send
                    .reply()
                    .and_then(|r| r.headers.get(http::header::RETRY_AFTER))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(Duration::from_millis(200), |s| {
                        Duration::from_secs(s.min(1))
                    });
                tokio::time::sleep(wait).await;
            }
            _ => {
                let why = StepError {
                    step: "send",
                    problem: send.describe(),
                    exchange: None,
                }
                .to_string();
                return Err((send, why));
            }
        }
    }
    unreachable!("the last attempt returns")
}

/// Every push to `device` until it has what it is owed (known once the
/// sends are done) or the deadline passes, tagged with its position.
async fn drain(
    device: &Device,
    position: usize,
    mut done: tokio::sync::watch::Receiver<Option<Owed>>,
) -> Vec<(Instant, usize, Delivery)> {
    let mut got = Vec::new();
    loop {
        let owed = done.borrow().clone();
        if let Some(owed) = &owed {
            if got.len() >= owed.pushes.get(position).copied().unwrap_or(0) {
                break;
            }
        }
        let deadline = owed.as_ref().map(|o| o.deadline);
        let wait = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            delivery = device.inbox.recv() => match delivery {
                Some(d) => got.push((d.received_at, position, d)),
                None => break,
            },
            changed = done.changed(), if deadline.is_none() => {
                if changed.is_err() {
                    break;
                }
            }
            () = wait => break,
        }
    }
    got
}
