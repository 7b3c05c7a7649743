//! The ledger: where every planned notification got to, its latencies from
//! the planned instant, and the counts that must reconcile at the end.
//!
//! A notification is a 16-byte [`Record`] (planned instant, device, state
//! bits) in a window indexed by its shard-local number, so a long run at a
//! high rate costs a few megabytes, and records older than the timeout are
//! folded into the counts as the run goes. Every event is one short lock:
//! the senders and receivers record as they go and never wait on each
//! other otherwise.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::report::load::series::Series;
use crate::report::load::{Counts, Failures, StageLatencies};

const PLANNED: u8 = 1;
const SENT: u8 = 2;
const ACCEPTED: u8 = 4;
const SEND_FAILED: u8 = 8;
const VERIFIED: u8 = 16;

/// One planned notification.
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    /// Microseconds from the run's start to the planned instant.
    planned_us: u64,
    device: u32,
    state: u8,
}

/// How a send ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendResult {
    Accepted,
    Status(u16),
    Timeout,
    Transport,
}

/// How a fetch of a delivered push ended, once its content was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The content of notification `k` of this shard, to `device`.
    Content { k: u64, device: u32, matches: bool },
    /// Content that names no notification of this shard.
    Unknown,
}

/// Timestamps of a delivered notification's later stages.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// When the gateway accepted the push.
    pub gateway_at: Instant,
    /// When the harness took it off the feed.
    pub delivered_at: Instant,
    /// When the fetch was answered.
    pub fetched_at: Instant,
}

struct Inner {
    base: u64,
    records: VecDeque<Record>,
    counts: Counts,
    failures: Failures,
    latencies: StageLatencies,
    series: Series,
    in_flight: u64,
    max_in_flight: u64,
    /// Seconds from the start of the last verification.
    last_verified: f64,
}

/// The shared ledger of one process's share of a run.
pub struct Ledger {
    start: Instant,
    timeout: Duration,
    inner: Mutex<Inner>,
}

/// What the ledger holds at the end.
#[derive(Debug, Clone)]
pub struct Totals {
    pub counts: Counts,
    pub failures: Failures,
    pub latencies: StageLatencies,
    pub series: Series,
    pub max_in_flight: u64,
    pub last_verified_s: f64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Ledger {
    /// A ledger for a run that starts at `start`; a notification not
    /// verified `timeout` after its planned instant is lost.
    pub fn new(start: Instant, timeout: Duration) -> Ledger {
        Ledger {
            start,
            timeout,
            inner: Mutex::new(Inner {
                base: 0,
                records: VecDeque::new(),
                counts: Counts::default(),
                failures: Failures::default(),
                latencies: StageLatencies::default(),
                series: Series::default(),
                in_flight: 0,
                max_in_flight: 0,
                last_verified: 0.0,
            }),
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the ledger consistent: a panic elsewhere
        // while holding it cannot leave half an event.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    /// Notification `k` is planned `planned_us` after the start, for `device`.
    pub fn plan(&self, k: u64, planned_us: u64, device: u32) {
        let mut inner = self.lock();
        let Some(i) = k.checked_sub(inner.base) else {
            return;
        };
        let i = usize::try_from(i).expect("the window fits in memory");
        if i >= inner.records.len() {
            inner.records.resize(i + 1, Record::default());
        }
        inner.records[i] = Record {
            planned_us,
            device,
            state: PLANNED,
        };
        inner.counts.planned += 1;
    }

    fn with_record<T>(inner: &mut Inner, k: u64, f: impl FnOnce(&mut Record) -> T) -> Option<T> {
        let i = usize::try_from(k.checked_sub(inner.base)?).ok()?;
        let record = inner.records.get_mut(i)?;
        (record.state & PLANNED != 0).then(|| f(record))
    }

    /// The send of `k` is leaving now.
    pub fn sent(&self, k: u64, at: Instant) {
        let mut inner = self.lock();
        let Some(planned_us) = Self::with_record(&mut inner, k, |r| {
            r.state |= SENT;
            r.planned_us
        }) else {
            return;
        };
        inner.counts.sent += 1;
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        let lag = micros(at.saturating_duration_since(self.start)).saturating_sub(planned_us);
        inner.latencies.lag.record_micros(lag);
        let second = self.seconds(at);
        inner.series.at(second).sent += 1;
    }

    /// The send of `k` ended with `result` at `at`.
    pub fn answered(&self, k: u64, at: Instant, result: SendResult) {
        let mut inner = self.lock();
        let accepted = result == SendResult::Accepted;
        let Some(planned_us) = Self::with_record(&mut inner, k, |r| {
            r.state |= if accepted { ACCEPTED } else { SEND_FAILED };
            r.planned_us
        }) else {
            return;
        };
        inner.in_flight = inner.in_flight.saturating_sub(1);
        let second = self.seconds(at);
        match result {
            SendResult::Accepted => {
                inner.counts.accepted += 1;
                let latency =
                    micros(at.saturating_duration_since(self.start)).saturating_sub(planned_us);
                inner.latencies.send.record_micros(latency);
                inner.series.at(second).accepted += 1;
            }
            SendResult::Status(status) => {
                if (400..500).contains(&status) {
                    inner.failures.send_4xx += 1;
                } else {
                    inner.failures.send_5xx += 1;
                }
                inner.series.at(second).failed += 1;
            }
            SendResult::Timeout => {
                inner.failures.send_timeout += 1;
                inner.series.at(second).failed += 1;
            }
            SendResult::Transport => {
                inner.failures.send_transport += 1;
                inner.series.at(second).failed += 1;
            }
        }
    }

    /// A push landed at a gateway at `at` (counted where pushes land).
    pub fn pushed(&self, at: Instant) {
        let mut inner = self.lock();
        inner.counts.pushed += 1;
        let second = self.seconds(at);
        inner.series.at(second).pushed += 1;
    }

    /// A push the gateways dropped from the feed (the harness fell behind).
    pub fn feed_dropped(&self, n: u64) {
        let mut inner = self.lock();
        inner.counts.pushed += n;
        inner.failures.feed_dropped += n;
    }

    /// A push whose id could not be read.
    pub fn unreadable_push(&self) {
        self.lock().failures.unreadable_pushes += 1;
    }

    /// The same id again to the same device.
    pub fn duplicate_push(&self) {
        let mut inner = self.lock();
        inner.failures.duplicate_pushes += 1;
        inner.counts.duplicated += 1;
    }

    /// A distinct push reached its device; its fetch follows.
    pub fn delivered(&self) {
        self.lock().counts.delivered += 1;
    }

    /// The fetch of a delivered push failed.
    pub fn fetch_failed(&self) {
        self.lock().failures.fetch_failed += 1;
    }

    /// The fetch of a delivered push succeeded with `content`.
    pub fn fetched(&self, content: Fetched, arrival: Arrival) {
        let mut inner = self.lock();
        inner.counts.fetched += 1;
        let (k, device, matches) = match content {
            Fetched::Content { k, device, matches } => (k, device, matches),
            Fetched::Unknown => {
                inner.failures.wrong_content += 1;
                return;
            }
        };
        let verified_at = arrival.fetched_at;
        let Some(before) = Self::with_record(&mut inner, k, |r| *r) else {
            // Folded into the counts already (lost), or never planned here.
            inner.failures.late += 1;
            return;
        };
        if !matches || before.device != device {
            inner.failures.wrong_content += 1;
            return;
        }
        if before.state & VERIFIED != 0 {
            inner.failures.duplicate_content += 1;
            inner.counts.duplicated += 1;
            return;
        }
        let since = |at: Instant| {
            micros(at.saturating_duration_since(self.start)).saturating_sub(before.planned_us)
        };
        let end_to_end = since(verified_at);
        if end_to_end > micros(self.timeout) {
            // Too late to count: the record stays unverified, so lost.
            inner.failures.late += 1;
            return;
        }
        Self::with_record(&mut inner, k, |r| r.state |= VERIFIED);
        inner
            .latencies
            .gateway
            .record_micros(since(arrival.gateway_at));
        inner
            .latencies
            .delivered
            .record_micros(since(arrival.delivered_at));
        inner
            .latencies
            .fetched
            .record_micros(since(arrival.fetched_at));
        inner.latencies.end_to_end.record_micros(end_to_end);
        let second = self.seconds(verified_at);
        inner.series.at(second).verified += 1;
        inner.series.record_end_to_end(second, end_to_end);
        inner.last_verified = inner.last_verified.max(second);
    }

    /// Folds records planned more than the timeout before `now` into the
    /// counts, so the window stays small on a long run.
    pub fn retire(&self, now: Instant) {
        let horizon =
            micros(now.saturating_duration_since(self.start)).saturating_sub(micros(self.timeout));
        let mut inner = self.lock();
        while let Some(front) = inner.records.front().copied() {
            if front.state & PLANNED != 0 && front.planned_us >= horizon {
                break;
            }
            if front.state & PLANNED == 0 && inner.records.len() == 1 {
                break;
            }
            inner.records.pop_front();
            inner.base += 1;
            Self::fold(&mut inner, front);
        }
    }

    fn fold(inner: &mut Inner, r: Record) {
        if r.state & PLANNED == 0 {
            return;
        }
        if r.state & SENT == 0 {
            inner.failures.unsent += 1;
        }
        let verified = r.state & VERIFIED != 0;
        if verified {
            inner.counts.verified += 1;
            if r.state & ACCEPTED == 0 {
                inner.failures.verified_unacknowledged += 1;
            }
        } else if r.state & ACCEPTED != 0 {
            inner.counts.lost += 1;
        }
    }

    /// Whether every accepted notification planned so far is verified and
    /// no send is in flight: the drain can stop.
    pub fn settled(&self) -> bool {
        let inner = self.lock();
        inner.in_flight == 0
            && inner.records.iter().all(|r| {
                r.state & PLANNED == 0 || r.state & SEND_FAILED != 0 || r.state & VERIFIED != 0
            })
    }

    /// A snapshot for the progress line: sent, verified so far (folded and
    /// in the window), failures, and the end-to-end p99 in ms.
    pub fn progress(&self) -> Progress {
        let inner = self.lock();
        let verified_window = inner
            .records
            .iter()
            .filter(|r| r.state & VERIFIED != 0)
            .count() as u64;
        Progress {
            planned: inner.counts.planned,
            sent: inner.counts.sent,
            verified: inner.counts.verified + verified_window,
            failed: inner.failures.send_failed()
                + inner.failures.fetch_failed
                + inner.failures.wrong_content,
            p99_ms: inner.latencies.end_to_end.quantile_ms(0.99),
            in_flight: inner.in_flight,
        }
    }

    /// Folds everything and returns the totals.
    pub fn finish(&self) -> Totals {
        let mut inner = self.lock();
        let records = std::mem::take(&mut inner.records);
        for r in records {
            Self::fold(&mut inner, r);
        }
        Totals {
            counts: inner.counts,
            failures: inner.failures,
            latencies: inner.latencies.clone(),
            series: inner.series.clone(),
            max_in_flight: inner.max_in_flight,
            last_verified_s: inner.last_verified,
        }
    }
}

/// What the progress display shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub planned: u64,
    pub sent: u64,
    pub verified: u64,
    pub failed: u64,
    pub p99_ms: f64,
    pub in_flight: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::report::load::Reconciliation;

    fn arrival(at: Instant) -> Arrival {
        Arrival {
            gateway_at: at,
            delivered_at: at,
            fetched_at: at,
        }
    }

    #[test]
    fn every_path_of_a_notification_reconciles() {
        let start = Instant::now();
        let ledger = Ledger::new(start, Duration::from_secs(5));
        let at = start + Duration::from_millis(10);
        for k in 0..6 {
            ledger.plan(k, k * 1000, k as u32);
        }
        // 0: verified; 1: lost after acceptance; 2: refused; 3: never sent;
        // 4: verified twice (duplicate content); 5: timed out but verified.
        for k in [0, 1, 2, 4, 5] {
            ledger.sent(k, at);
        }
        ledger.answered(0, at, SendResult::Accepted);
        ledger.answered(1, at, SendResult::Accepted);
        ledger.answered(2, at, SendResult::Status(503));
        ledger.answered(4, at, SendResult::Accepted);
        ledger.answered(5, at, SendResult::Timeout);
        for (k, times) in [(0u64, 1), (4, 2), (5, 1)] {
            for _ in 0..times {
                ledger.pushed(at);
                ledger.delivered();
                ledger.fetched(
                    Fetched::Content {
                        k,
                        device: k as u32,
                        matches: true,
                    },
                    arrival(at),
                );
            }
        }
        // A push to device 0 again with the same id, and one unreadable.
        ledger.pushed(at);
        ledger.duplicate_push();
        ledger.pushed(at);
        ledger.unreadable_push();
        let t = ledger.finish();
        let c = t.counts;
        assert_eq!(
            (
                c.planned,
                c.sent,
                c.accepted,
                c.pushed,
                c.delivered,
                c.fetched,
                c.verified,
                c.lost,
                c.duplicated
            ),
            (6, 5, 3, 6, 4, 4, 3, 1, 2)
        );
        assert_eq!(t.failures.unsent, 1);
        assert_eq!(t.failures.send_5xx, 1);
        assert_eq!(t.failures.send_timeout, 1);
        assert_eq!(t.failures.verified_unacknowledged, 1);
        let r = Reconciliation::of(&c, &t.failures);
        assert!(r.reconciled, "{r:?}");
        assert_eq!(t.latencies.end_to_end.count(), 3);
    }

    #[test]
    fn content_for_another_device_is_wrong_not_verified() {
        let start = Instant::now();
        let ledger = Ledger::new(start, Duration::from_secs(5));
        ledger.plan(0, 0, 3);
        ledger.sent(0, start);
        ledger.answered(0, start, SendResult::Accepted);
        ledger.pushed(start);
        ledger.delivered();
        ledger.fetched(
            Fetched::Content {
                k: 0,
                device: 4,
                matches: true,
            },
            arrival(start),
        );
        let t = ledger.finish();
        assert_eq!(
            (t.counts.verified, t.counts.lost, t.failures.wrong_content),
            (0, 1, 1)
        );
        assert!(Reconciliation::of(&t.counts, &t.failures).reconciled);
    }

    #[test]
    fn latency_is_measured_from_the_planned_instant_and_late_ones_are_lost() {
        let start = Instant::now();
        let ledger = Ledger::new(start, Duration::from_secs(1));
        ledger.plan(0, 0, 0);
        ledger.plan(1, 0, 1);
        // Sent 300 ms late (a busy generator), answered at 310 ms.
        let sent = start + Duration::from_millis(300);
        for k in 0..2 {
            ledger.sent(k, sent);
            ledger.answered(k, sent + Duration::from_millis(10), SendResult::Accepted);
        }
        ledger.fetched(
            Fetched::Content {
                k: 0,
                device: 0,
                matches: true,
            },
            arrival(start + Duration::from_millis(400)),
        );
        ledger.fetched(
            Fetched::Content {
                k: 1,
                device: 1,
                matches: true,
            },
            arrival(start + Duration::from_millis(1500)),
        );
        let t = ledger.finish();
        assert!((t.latencies.send.quantile_ms(0.5) - 310.0).abs() < 1.0);
        assert!((t.latencies.lag.quantile_ms(0.5) - 300.0).abs() < 1.0);
        assert!((t.latencies.end_to_end.max_ms() - 400.0).abs() < 1.0);
        assert_eq!(
            (t.counts.verified, t.counts.lost, t.failures.late),
            (1, 1, 1)
        );
    }

    #[test]
    fn retiring_keeps_the_counts() {
        let start = Instant::now();
        let ledger = Ledger::new(start, Duration::from_millis(100));
        for k in 0..100 {
            ledger.plan(k, k * 10, 0);
            ledger.sent(k, start);
            ledger.answered(k, start, SendResult::Accepted);
        }
        ledger.retire(start + Duration::from_millis(600));
        assert!(ledger.lock().records.len() < 60);
        let t = ledger.finish();
        assert_eq!((t.counts.planned, t.counts.lost), (100, 100));
    }
}
