//! SP-ENUM-03: failed fetches are throttled. A scanner guessing ids fails
//! fetch after fetch; past the declared number of failures within the
//! declared window the backend must answer 429 with `Retry-After`, and
//! only to the scanner: other users keep fetching, and the scanner's own
//! fetches work again once the wait is over. The burst is sent a few
//! requests at a time, so it lands well inside the window even on a busy
//! machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::catalogue::{CheckInfo, Level, Sample, Severity};
use super::super::context::{Delivered, Secret, Suite};
use super::super::evidence;
use super::super::findings::Findings;
use super::super::lookalike::lookalike;
use super::super::probe;
use crate::client::{Credential, Exchange};
use crate::device::{Device, EnrollError};
use crate::profile::{Capability, FetchThrottle, ThrottleScope};

/// Requests of the burst in flight at once.
const IN_FLIGHT: usize = 8;
/// The longest Retry-After the check waits out to see the scanner's own
/// fetches work again.
const MAX_WAIT: Duration = Duration::from_secs(5);

pub const INFO: CheckInfo = CheckInfo {
    id: "SP-ENUM-03",
    title: "Failed fetches are throttled",
    level: Level::Should,
    severity: Severity::Medium,
    method: "A fresh user (the scanner) fetches unknown ids shaped like a real one, a few at a \
             time, up to the declared policy.fetch_throttle.failures plus a tenth (at least 5) \
             more: a 429 with a Retry-After of at most the window must come by then. While it \
             is throttled another user still fetches its own notification, and its second \
             session is throttled too (scope user) or not (scope token); once Retry-After has \
             passed (when it is at most 5 s) the scanner fetches its own notification again",
    sources: &[
        "OWASP ASVS 5.0 2.4.1 (anti-automation)",
        "OWASP API Security Top 10 2023 API4 (unrestricted resource consumption)",
    ],
    needs: &[Capability::FetchThrottle],
    sample: Sample {
        min: 1,
        unit: "bursts",
    },
};

/// A fresh user's device with a fresh notification of its own.
struct Own {
    device: Arc<Device>,
    secret: Secret,
    delivered: Delivered,
}

pub async fn run(suite: &Suite) -> Findings {
    let mut f = Findings::new();
    let throttle = suite
        .profile()
        .policy
        .fetch_throttle
        .expect("the check needs the fetch_throttle capability");
    let Some(platform) = probe::proven_platforms(suite).into_iter().next() else {
        f.shortfall("no platform's baseline round trip verified");
        return f;
    };
    let (scanner, victim) = tokio::join!(
        own_notification(suite, platform, "enum03-scanner"),
        own_notification(suite, platform, "enum03-victim"),
    );
    let (scanner, victim) = match (scanner, victim) {
        (Ok(s), Ok(v)) => (s, v),
        (Err(sub), _) | (_, Err(sub)) => {
            f.absorb(sub);
            return f;
        }
    };
    let second = match suite
        .api
        .credential(&scanner.device.user, &scanner.device.password)
        .await
    {
        Ok(credential) => credential,
        Err(e) => {
            f.backend_failed(&e);
            return f;
        }
    };
    let budget = throttle.failures as usize + (throttle.failures as usize / 10).max(5);
    let burst = burst(suite, &scanner, &throttle, budget).await;
    let s = &scanner.device;
    let Some(throttled) = &burst.throttled else {
        let mut e = evidence::about(
            s,
            format!(
                "no 429 after {} failed fetches in {:.2} s (the profile declares {} per {} s)",
                burst.failures,
                burst.elapsed.as_secs_f64(),
                throttle.failures,
                throttle.window.as_secs_f64()
            ),
            burst.last.as_ref(),
        );
        e.detail = serde_json::json!({ "statuses": burst.statuses });
        f.violation(e);
        if let Some(other) = &burst.odd {
            f.note(evidence::about(
                s,
                "an answer in the burst that was not a refusal",
                Some(other),
            ));
        }
        return f;
    };
    f.gathered(1);
    let retry_after = retry_after(throttled);
    match retry_after {
        None => f.deviation(evidence::about(
            s,
            "the 429 carries no usable Retry-After (whole seconds or an HTTP date)",
            Some(throttled),
        )),
        Some(wait) if wait > throttle.window + Duration::from_secs(1) => {
            f.deviation(evidence::about(
                s,
                format!(
                    "Retry-After asks for {} s, longer than the declared {} s window",
                    wait.as_secs(),
                    throttle.window.as_secs_f64()
                ),
                Some(throttled),
            ))
        }
        Some(_) => {}
    }
    // Throttled: others are not, and the scope is as declared.
    let v = &victim.device;
    let theirs = suite
        .fetch(Some(&v.credential), &v.user, &victim.delivered.id)
        .await;
    if !suite.fetched(&theirs, victim.secret.text()) {
        f.violation(evidence::about(
            v,
            format!(
                "while {} was throttled, another user ({}) could not fetch its own notification",
                s.user, v.user
            ),
            Some(&theirs),
        ));
    }
    let other_session = suite
        .fetch(Some(&second), &s.user, &scanner.delivered.id)
        .await;
    let served = suite.fetched(&other_session, scanner.secret.text());
    match (throttle.scope, served) {
        (ThrottleScope::User, true) => f.violation(evidence::about(
            s,
            "the throttle is declared per user, yet the scanner's second session fetches freely: \
             logging in again escapes it",
            Some(&other_session),
        )),
        (ThrottleScope::Token, false) => f.deviation(evidence::about(
            s,
            "the throttle is declared per token, yet the scanner's second session is refused too",
            Some(&other_session),
        )),
        _ => {}
    }
    // Once the wait is over, the scanner reads its own notifications again.
    let wait = retry_after.unwrap_or(throttle.window);
    if wait <= MAX_WAIT {
        tokio::time::sleep(wait + Duration::from_millis(100)).await;
        let own = suite
            .fetch(Some(&s.credential), &s.user, &scanner.delivered.id)
            .await;
        if !suite.fetched(&own, scanner.secret.text()) {
            f.violation(evidence::about(
                s,
                format!(
                    "{} s after the 429 the scanner still cannot fetch its own notification",
                    wait.as_secs_f64()
                ),
                Some(&own),
            ));
        }
    } else {
        f.note(evidence::what(format!(
            "the wait ({} s) is longer than this check waits; the scanner's recovery was not tried",
            wait.as_secs()
        )));
    }
    f.summary(format!(
        "429 after {} failed fetches in {:.2} s, Retry-After {}; another user still fetched",
        burst.failures,
        burst.elapsed.as_secs_f64(),
        retry_after.map_or_else(|| "absent".to_owned(), |w| format!("{} s", w.as_secs()))
    ));
    f
}

/// A fresh user with a device and a fresh notification delivered to it;
/// what failed is in the findings given back.
async fn own_notification(
    suite: &Suite,
    platform: pushproof_mocks::Platform,
    purpose: &str,
) -> Result<Own, Findings> {
    let mut f = Findings::new();
    let user = match suite.fresh_user(purpose).await {
        Ok(user) => user,
        Err(e) => {
            f.backend_failed(&e);
            return Err(f);
        }
    };
    let device = match suite.fresh_device(&user, platform).await {
        Ok(device) => device,
        Err(EnrollError::Backend(e)) => {
            f.backend_failed(&e);
            return Err(f);
        }
        Err(EnrollError::Plane(e)) => {
            f.harness_error(e.to_string());
            return Err(f);
        }
    };
    let secret = suite.secret(&mut suite.rng(&format!("{}/{purpose}", INFO.id)));
    match suite.deliver(&device, secret.text()).await {
        Ok(delivered) => Ok(Own {
            device,
            secret,
            delivered,
        }),
        Err(e) => {
            f.backend_failed(&e);
            Err(f)
        }
    }
}

/// What the burst saw.
struct Burst {
    failures: usize,
    elapsed: Duration,
    /// The first 429.
    throttled: Option<Exchange>,
    /// The last refusal before it (or of the whole burst).
    last: Option<Exchange>,
    /// An answer that was neither a refusal nor a 429.
    odd: Option<Exchange>,
    statuses: Vec<Option<u16>>,
}

/// Fails fetches as the scanner until a 429, `budget` of them at most
/// within the window (more while the burst is slower than the window, so
/// a busy machine cannot make a sound backend look unthrottled).
async fn burst(suite: &Suite, scanner: &Own, throttle: &FetchThrottle, budget: usize) -> Burst {
    let s = &scanner.device;
    let mut rng = suite.rng(&format!("{}/burst", INFO.id));
    let started = Instant::now();
    let mut seen = Burst {
        failures: 0,
        elapsed: Duration::ZERO,
        throttled: None,
        last: None,
        odd: None,
        statuses: Vec::new(),
    };
    let cap = budget * 4;
    while seen.statuses.len() < cap {
        let within_window = started.elapsed() < throttle.window;
        if seen.statuses.len() >= budget && within_window {
            break;
        }
        let ids: Vec<String> = (0..IN_FLIGHT)
            .map(|_| lookalike(&scanner.delivered.id, &mut rng))
            .collect();
        let answers = probe::futures_join(
            ids.iter()
                .map(|id| suite.fetch(Some(&s.credential as &Credential), &s.user, id)),
        )
        .await;
        for answer in answers {
            let status = answer.status();
            seen.statuses.push(status);
            match status {
                Some(429) => {
                    seen.throttled.get_or_insert(answer);
                }
                Some(400..=499) => {
                    seen.failures += 1;
                    seen.last = Some(answer);
                }
                _ => {
                    seen.odd.get_or_insert(answer);
                }
            }
        }
        if seen.throttled.is_some() {
            break;
        }
    }
    seen.elapsed = started.elapsed();
    seen
}

/// The wait a 429 asks for: whole seconds, or an HTTP date.
fn retry_after(answer: &Exchange) -> Option<Duration> {
    let value = answer
        .reply()?
        .headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate(value.trim())?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110
/// requires senders to use.
fn httpdate(text: &str) -> Option<std::time::SystemTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    let [_weekday, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: i64 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = u64::try_from(days * 86_400 + h * 3600 + m * 60 + sec).ok()?;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let when = httpdate("Sun, 06 Nov 1994 08:49:37 GMT").expect("an IMF-fixdate");
        assert_eq!(
            when.duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
            784_111_777
        );
        assert!(httpdate("tomorrow").is_none());
    }
}
