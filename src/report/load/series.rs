//! Per-second time series of a run, for the throughput and latency charts:
//! counts per second of what happened in that second, and each second's
//! end-to-end latencies in a small histogram (two significant digits,
//! 13 KB), kept whole so shards' seconds merge like their totals.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a second's histogram records, in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;

/// One second of a run.
#[derive(Debug, Clone)]
pub struct Second {
    pub sent: u64,
    pub accepted: u64,
    pub failed: u64,
    /// Pushes that landed at the gateways in this second.
    pub pushed: u64,
    pub verified: u64,
    pub end_to_end: Histogram<u32>,
}

impl Default for Second {
    fn default() -> Second {
        Second {
            sent: 0,
            accepted: 0,
            failed: 0,
            pushed: 0,
            verified: 0,
            end_to_end: Histogram::new_with_bounds(1, MAX_MICROS, 2)
                .expect("bounds 1..1h at 2 digits are valid"),
        }
    }
}

/// What one second looks like in `load.json` (`series[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondJson {
    /// Seconds since the start of the run.
    pub second: u64,
    pub sent: u64,
    pub accepted: u64,
    pub failed: u64,
    pub pushed: u64,
    pub verified: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The second's end-to-end histogram (µs), base64 of V2 deflate.
    pub end_to_end_histogram: String,
}

/// Every second of a run, growing as events come.
#[derive(Debug, Clone, Default)]
pub struct Series {
    seconds: Vec<Second>,
}

impl Series {
    /// The bucket of second `at` (seconds since start, clamped at 0).
    pub fn at(&mut self, at: f64) -> &mut Second {
        // A run is bounded to days: the index fits.
        let i = if at.is_finite() && at > 0.0 {
            at as usize
        } else {
            0
        };
        if i >= self.seconds.len() {
            self.seconds.resize_with(i + 1, Second::default);
        }
        &mut self.seconds[i]
    }

    pub fn record_end_to_end(&mut self, at: f64, micros: u64) {
        self.at(at)
            .end_to_end
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn to_json(&self) -> Vec<SecondJson> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, s)| second_json(i as u64, s))
            .collect()
    }
}

fn second_json(second: u64, s: &Second) -> SecondJson {
    let h = &s.end_to_end;
    let ms = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.highest_equivalent(h.value_at_quantile(q)) as f64 / 1000.0
        }
    };
    SecondJson {
        second,
        sent: s.sent,
        accepted: s.accepted,
        failed: s.failed,
        pushed: s.pushed,
        verified: s.verified,
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        max_ms: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 / 1000.0
        },
        end_to_end_histogram: encode(h),
    }
}

fn encode(h: &Histogram<u32>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode(text: &str) -> Option<Histogram<u32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    let read: Histogram<u32> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()?;
    let mut h = Second::default().end_to_end;
    h.add(&read).ok()?;
    Some(h)
}

/// Merges the series of several shards second by second: counts add up,
/// histograms merge, percentiles are read from the merged histograms.
/// `None` names a histogram that could not be read.
pub fn merge(all: &[&[SecondJson]]) -> Result<Vec<SecondJson>, String> {
    let mut merged: Vec<Second> = Vec::new();
    for series in all {
        for s in *series {
            let i = usize::try_from(s.second).map_err(|_| "a second out of range".to_owned())?;
            if i >= merged.len() {
                merged.resize_with(i + 1, Second::default);
            }
            let m = &mut merged[i];
            m.sent += s.sent;
            m.accepted += s.accepted;
            m.failed += s.failed;
            m.pushed += s.pushed;
            m.verified += s.verified;
            let h = decode(&s.end_to_end_histogram).ok_or_else(|| {
                format!(
                    "second {}: the end-to-end histogram cannot be read",
                    s.second
                )
            })?;
            m.end_to_end
                .add(&h)
                .map_err(|_| format!("second {}: histograms do not merge", s.second))?;
        }
    }
    Ok(merged
        .iter()
        .enumerate()
        .map(|(i, s)| second_json(i as u64, s))
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seconds_grow_on_demand_and_merge_whole() {
        let mut a = Series::default();
        a.at(0.2).sent += 3;
        a.record_end_to_end(2.5, 10_000);
        let mut b = Series::default();
        b.at(2.9).sent += 1;
        b.record_end_to_end(2.1, 30_000);
        let (ja, jb) = (a.to_json(), b.to_json());
        assert_eq!(ja.len(), 3);
        // Two significant digits: within 1 %.
        assert!((ja[2].p99_ms - 10.0).abs() < 0.1, "{:?}", ja[2]);
        let merged = merge(&[&ja, &jb]).unwrap();
        assert_eq!(merged[0].sent, 3);
        assert_eq!(merged[2].sent, 1);
        assert!((merged[2].max_ms - 30.0).abs() < 0.5, "{:?}", merged[2]);
        assert!((merged[2].p50_ms - 10.0).abs() < 0.2, "{:?}", merged[2]);
        let mut broken = jb.clone();
        broken[0].end_to_end_histogram = "x".to_owned();
        assert!(merge(&[&broken]).is_err());
    }
}
