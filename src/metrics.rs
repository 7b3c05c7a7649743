//! Latency histograms and counters of a run, mergeable across tasks and
//! (later) shards.
//!
//! Latencies are HDR histograms in microseconds with three significant
//! digits, so percentiles stay exact to 0.1% from 1 µs to an hour and two
//! histograms merge without loss. They travel whole in reports as the
//! HdrHistogram "V2 deflate" encoding in base64 (what `HistogramLogReader`
//! and the other HdrHistogram ports read), so shards merge their
//! histograms, never their percentiles.

use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::Serialize;

/// Why a serialized histogram could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram V2 encoding: {0}")]
    Decode(String),
    #[error("values outside the range 1 µs..1 h")]
    Range,
}

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

    /// Records a value in microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        self.histogram
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// The value at `quantile` (0..=1) in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The largest value recorded, in milliseconds; 0 when empty.
    pub fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }

    /// Values recorded at or above `micros` (to the histogram's precision:
    /// values sharing `micros`'s bucket count as at or above it).
    pub fn count_at_or_above(&self, micros: u64) -> u64 {
        let floor = self.histogram.lowest_equivalent(micros);
        let below = if floor == 0 {
            0
        } else {
            self.histogram.count_between(0, floor - 1)
        };
        self.histogram.len().saturating_sub(below)
    }

    /// The percentile spectrum as `(percentile 0..100, value ms)` points,
    /// `ticks` per halving of the remaining tail, ending at the maximum.
    pub fn spectrum(&self, ticks: u32) -> Vec<(f64, f64)> {
        if self.histogram.is_empty() {
            return Vec::new();
        }
        self.histogram
            .iter_quantiles(ticks.max(1))
            .map(|v| {
                (
                    v.quantile_iterated_to() * 100.0,
                    self.histogram.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                )
            })
            .collect()
    }

    /// The histogram as base64 of its V2 deflate encoding.
    pub fn to_base64(&self) -> String {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.histogram, &mut bytes)
            .expect("serializing into memory cannot fail");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads what [`Latency::to_base64`] wrote (or any V2 / V2 deflate
    /// histogram of microseconds within 1 µs..1 h).
    pub fn from_base64(text: &str) -> Result<Latency, HistogramError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim())?;
        let read: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| HistogramError::Decode(format!("{e:?}")))?;
        let mut latency = Latency::default();
        latency
            .histogram
            .add(&read)
            .map_err(|_| HistogramError::Range)?;
        Ok(latency)
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
    #![allow(clippy::unwrap_used)]
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
    fn histograms_round_trip_through_base64_and_merge_like_the_originals() {
        let mut a = Latency::default();
        let mut b = Latency::default();
        for us in 1..=10_000u64 {
            a.record_micros(us * 7);
            b.record_micros(us * 13 + 5);
        }
        let a2 = Latency::from_base64(&a.to_base64()).unwrap();
        let b2 = Latency::from_base64(&b.to_base64()).unwrap();
        assert_eq!(a2.summary(), a.summary());
        let mut merged = a.clone();
        merged.merge(&b);
        let mut merged2 = a2;
        merged2.merge(&b2);
        assert_eq!(merged2.summary(), merged.summary());
        assert!(Latency::from_base64("not base64!").is_err());
        assert!(Latency::from_base64("AAAA").is_err());
    }

    #[test]
    fn counts_above_a_value_and_the_spectrum_end_at_the_max() {
        let mut l = Latency::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.count_at_or_above(91_000), 10);
        let spectrum = l.spectrum(4);
        assert!((spectrum.last().unwrap().0 - 100.0).abs() < 1e-9);
        assert!(
            (spectrum.last().unwrap().1 - 100.0).abs() < 0.2,
            "{spectrum:?}"
        );
    }

    #[test]
    fn extreme_values_are_clamped_not_lost() {
        let mut l = Latency::default();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(10 * 3600));
        assert_eq!(l.count(), 2);
    }
}
