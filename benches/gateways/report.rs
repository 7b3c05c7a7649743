//! The results: per platform, the median rate of each target over the
//! rounds and the ratios the requirement sets; the memory check; printed as
//! tables and written as JSON.

use std::path::Path;

use anyhow::Context as _;
use pushproof_mocks::Platform;
use serde::Serialize;

use crate::load::{Load, Tally};
use crate::targets::Target;
use crate::usage::CpuSplit;

/// The mock must reach this fraction of the bare server's rate.
pub const MIN_MOCK_OVER_BARE: f64 = 0.7;
/// Resident memory may grow by less than this over the memory check.
pub const MAX_RSS_GROWTH_BYTES: u64 = 50 * MB;
const MB: u64 = 1_000_000;

/// One measured run of one target.
#[derive(Clone, Debug)]
pub struct Sample {
    pub tally: Tally,
    pub cpu: Option<CpuSplit>,
}

/// One target of a platform over every round.
#[derive(Debug, Serialize)]
pub struct TargetResult {
    pub target: Target,
    pub pushes_per_round: u64,
    /// Median over the rounds of accepted pushes per second.
    pub median_per_s: f64,
    pub rounds_per_s: Vec<f64>,
    /// Pushes not answered 200, over every round.
    pub failed: u64,
    pub first_failure: Option<String>,
    /// Median CPU time of the server side per accepted push.
    pub server_cpu_us_per_push: Option<f64>,
    /// Median CPU time of the load generator per accepted push.
    pub generator_cpu_us_per_push: Option<f64>,
}

impl TargetResult {
    pub fn new(target: Target, pushes_per_round: u64, samples: &[Sample]) -> TargetResult {
        let rounds_per_s: Vec<f64> = samples.iter().map(|s| s.tally.rate()).collect();
        let per_push = |part: fn(&CpuSplit) -> std::time::Duration| {
            let values: Option<Vec<f64>> = samples
                .iter()
                .map(|s| {
                    let cpu = s.cpu.as_ref()?;
                    let ok = s.tally.ok.max(1) as f64;
                    Some(part(cpu).as_secs_f64() * 1e6 / ok)
                })
                .collect();
            values.map(|v| median(&v))
        };
        TargetResult {
            target,
            pushes_per_round,
            median_per_s: median(&rounds_per_s),
            rounds_per_s,
            failed: samples.iter().map(|s| s.tally.failed).sum(),
            first_failure: samples.iter().find_map(|s| s.tally.first_failure.clone()),
            server_cpu_us_per_push: per_push(|c| c.server),
            generator_cpu_us_per_push: per_push(|c| c.generator),
        }
    }
}

/// The three targets of one platform, measured in the same run.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub platform: Platform,
    pub load: Load,
    pub rounds: usize,
    pub targets: Vec<TargetResult>,
    pub mock_over_bare: f64,
    pub mock_over_wiremock: f64,
    /// mock/bare at least [`MIN_MOCK_OVER_BARE`] and mock above wiremock.
    pub meets_target: bool,
}

impl Comparison {
    pub fn new(
        platform: Platform,
        load: Load,
        rounds: usize,
        targets: Vec<TargetResult>,
    ) -> Comparison {
        let rate = |t: Target| {
            targets
                .iter()
                .find(|r| r.target == t)
                .map_or(0.0, |r| r.median_per_s)
        };
        let mock_over_bare = rate(Target::Mock) / rate(Target::Bare).max(1e-9);
        let mock_over_wiremock = rate(Target::Mock) / rate(Target::Wiremock).max(1e-9);
        Comparison {
            platform,
            load,
            rounds,
            meets_target: mock_over_bare >= MIN_MOCK_OVER_BARE && mock_over_wiremock > 1.0,
            mock_over_bare,
            mock_over_wiremock,
            targets,
        }
    }

    pub fn print(&self) {
        println!();
        println!(
            "{} — {}, median of {} rounds",
            self.platform,
            self.load.describe(),
            self.rounds
        );
        println!(
            "  {:<9} {:>10} {:>11} {:>11} {:>11} {:>12} {:>12} {:>7}",
            "target", "pushes", "median/s", "min/s", "max/s", "server µs", "client µs", "failed"
        );
        for t in &self.targets {
            let min = t.rounds_per_s.iter().copied().fold(f64::INFINITY, f64::min);
            let max = t.rounds_per_s.iter().copied().fold(0.0, f64::max);
            println!(
                "  {:<9} {:>10} {:>11.0} {:>11.0} {:>11.0} {:>12} {:>12} {:>7}",
                t.target.as_str(),
                t.pushes_per_round,
                t.median_per_s,
                min,
                max,
                micros(t.server_cpu_us_per_push),
                micros(t.generator_cpu_us_per_push),
                t.failed
            );
            if let Some(failure) = &t.first_failure {
                println!("  {:<9} first failure: {failure}", "");
            }
        }
        println!(
            "  mock/bare {:.2} (target ≥ {MIN_MOCK_OVER_BARE}: {})   mock/wiremock {:.2} (target > 1: {})",
            self.mock_over_bare,
            verdict(self.mock_over_bare >= MIN_MOCK_OVER_BARE),
            self.mock_over_wiremock,
            verdict(self.mock_over_wiremock > 1.0)
        );
    }
}

/// Resident memory before and after many pushes to the mock APNs.
#[derive(Debug, Serialize)]
pub struct MemoryCheck {
    pub load: Load,
    pub capture_capacity: usize,
    pub devices: usize,
    pub inbox_capacity: usize,
    pub warmup_pushes: u64,
    /// Captures kept after the warm-up: the ring is full when it equals
    /// `capture_capacity`.
    pub captures_kept_after_warmup: usize,
    pub pushes: u64,
    pub accepted: u64,
    pub failed: u64,
    pub rate_per_s: f64,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    /// `(pushes sent so far, RSS)` after each slice of the run.
    pub rss_samples: Vec<(u64, u64)>,
    pub growth_bytes: i64,
    pub meets_target: bool,
}

impl MemoryCheck {
    pub fn print(&self) {
        println!();
        println!(
            "memory — mock APNs, captures on (capacity {}, {} kept after a {}-push warm-up), \
             {} devices × inbox {}",
            self.capture_capacity,
            self.captures_kept_after_warmup,
            self.warmup_pushes,
            self.devices,
            self.inbox_capacity
        );
        let samples: Vec<String> = self
            .rss_samples
            .iter()
            .map(|(n, rss)| format!("{}k: {}", n / 1000, mb(*rss)))
            .collect();
        println!(
            "  {} pushes ({} accepted, {} failed) at {:.0}/s; RSS {}",
            self.pushes,
            self.accepted,
            self.failed,
            self.rate_per_s,
            samples.join(", ")
        );
        println!(
            "  RSS before {} → after {}: growth {:+.1} MB (target < {} MB: {})",
            mb(self.rss_before_bytes),
            mb(self.rss_after_bytes),
            self.growth_bytes as f64 / MB as f64,
            MAX_RSS_GROWTH_BYTES / MB,
            verdict(self.meets_target)
        );
    }
}

/// Everything one benchmark run measured.
#[derive(Debug, Serialize)]
pub struct Results {
    pub generated_at: String,
    pub command: String,
    pub cpus: usize,
    /// 1-minute load average at the start and the end of the run.
    pub load_average: (Option<f64>, Option<f64>),
    pub capture_capacity: usize,
    pub devices_per_platform: usize,
    pub inbox_capacity: usize,
    pub platforms: Vec<Comparison>,
    pub memory: Option<MemoryCheck>,
}

impl Results {
    pub fn all_met(&self) -> bool {
        self.platforms.iter().all(|p| p.meets_target)
            && self.memory.as_ref().is_none_or(|m| m.meets_target)
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(self).context("serializing the results")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// The median; 0 for no values.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

fn verdict(met: bool) -> &'static str {
    if met {
        "PASS"
    } else {
        "MISS"
    }
}
