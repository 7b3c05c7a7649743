//! Latency histograms and counters of a run, mergeable across tasks and
//! (later) shards.
//!
//! Latencies are HDR histograms in microseconds with three significant
//! digits, so percentiles stay exact to 0.1% from 1 µs to an hour and two
//! histograms merge without loss.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram records; longer ones are clamped to it.
const MAX_MICROS: u64 = 3_600_000_000;

/// One stage's latencies.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("bounds 1..1h at 3 digits are valid"),
        }
    }
}

impl Latency {
    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(MAX_MICROS);
        self.histogram
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn merge(&mut self, other: &Latency) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share the same bounds");
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Percentiles in milliseconds, for reports.
    pub fn summary(&self) -> LatencySummary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let h = &self.histogram;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            min_ms: ms(h.min()),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The stages a secure notification goes through, each timed separately.
#[derive(Debug, Clone, Default)]
pub struct Stages {
    /// Device setup: account, login, gateway handle, backend registration.
    pub register: Latency,
    /// Sender's request to the backend until its answer.
    pub send: Latency,
    /// Send start until the push lands in the device's inbox.
    pub push: Latency,
    /// Device's content fetch, request to response.
    pub fetch: Latency,
    /// Send start until the device holds the verified content.
    pub end_to_end: Latency,
}

impl Stages {
    pub fn merge(&mut self, other: &Stages) {
        self.register.merge(&other.register);
        self.send.merge(&other.send);
        self.push.merge(&other.push);
        self.fetch.merge(&other.fetch);
        self.end_to_end.merge(&other.end_to_end);
    }

    pub fn summary(&self) -> StagesSummary {
        StagesSummary {
            register: self.register.summary(),
            send: self.send.summary(),
            push: self.push.summary(),
            fetch: self.fetch.summary(),
            end_to_end: self.end_to_end.summary(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StagesSummary {
    pub register: LatencySummary,
    pub send: LatencySummary,
    pub push: LatencySummary,
    pub fetch: LatencySummary,
    pub end_to_end: LatencySummary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_histograms_keep_every_sample() {
        let mut a = Latency::default();
        let mut b = Latency::default();
        for ms in 1..=99 {
            a.record(Duration::from_millis(ms));
        }
        b.record(Duration::from_secs(2));
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 2000.0).abs() < 2.0, "{s:?}");
    }

    #[test]
    fn empty_histogram_summarises_to_zero() {
        assert_eq!(Latency::default().summary(), LatencySummary::default());
    }

    #[test]
    fn extreme_values_are_clamped_not_lost() {
        let mut l = Latency::default();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(10 * 3600));
        assert_eq!(l.count(), 2);
    }
}
