//! `pushproof report merge DIR…`: the shards of one run made into one
//! report. Counts add up; every histogram (each stage's, and each second's)
//! is merged and its percentiles read again, never averaged; CPU times add
//! up before they are divided; rates are the sums over the longest window.

use std::path::Path;

use super::series;
use super::{
    Cpu, Failures, Generator, LoadReport, Percentiles, Rate, Reconciliation, ShardSummary,
    StageLatencies,
};
use crate::report::load::Counts;

/// Reads `load.json` in each directory (or each file given) and merges them.
pub fn merge_dirs(paths: &[&Path]) -> Result<LoadReport, String> {
    let mut reports = Vec::new();
    for path in paths {
        let file = if path.is_dir() {
            path.join("load.json")
        } else {
            path.to_path_buf()
        };
        reports.push((file.display().to_string(), LoadReport::read(&file)?));
    }
    merge(&reports)
}

fn add_counts(a: &mut Counts, b: &Counts) {
    a.planned += b.planned;
    a.sent += b.sent;
    a.accepted += b.accepted;
    a.pushed += b.pushed;
    a.delivered += b.delivered;
    a.fetched += b.fetched;
    a.verified += b.verified;
    a.lost += b.lost;
    a.duplicated += b.duplicated;
}

fn add_failures(a: &mut Failures, b: &Failures) {
    a.unsent += b.unsent;
    a.send_4xx += b.send_4xx;
    a.send_5xx += b.send_5xx;
    a.send_timeout += b.send_timeout;
    a.send_transport += b.send_transport;
    a.unreadable_pushes += b.unreadable_pushes;
    a.duplicate_pushes += b.duplicate_pushes;
    a.feed_dropped += b.feed_dropped;
    a.fetch_failed += b.fetch_failed;
    a.wrong_content += b.wrong_content;
    a.duplicate_content += b.duplicate_content;
    a.verified_unacknowledged += b.verified_unacknowledged;
    a.late += b.late;
}

fn add_option(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(a? + b?)
}

/// Merges `(source, report)` pairs: shards of one run (same seed and plan,
/// distinct shard indices of one count).
pub fn merge(reports: &[(String, LoadReport)]) -> Result<LoadReport, String> {
    let Some((_, first)) = reports.first() else {
        return Err("nothing to merge".to_owned());
    };
    let mut seen = std::collections::BTreeSet::new();
    for (source, r) in reports {
        if r.seed != first.seed
            || r.plan.arrival != first.plan.arrival
            || r.plan.stages != first.plan.stages
        {
            return Err(format!(
                "{source}: not a shard of the same run as {} (seed or plan differ)",
                reports[0].0
            ));
        }
        if r.plan.shard.count != first.plan.shard.count {
            return Err(format!(
                "{source}: shard count {} differs from {}",
                r.plan.shard.count, first.plan.shard.count
            ));
        }
        if !seen.insert(r.plan.shard.index) {
            return Err(format!(
                "{source}: shard {} given twice",
                r.plan.shard.index
            ));
        }
        if r.find_max.is_some() {
            return Err(format!(
                "{source}: a --find-max report cannot be merged as a shard"
            ));
        }
    }
    let mut counts = Counts::default();
    let mut failures = Failures::default();
    let mut latencies = StageLatencies::default();
    let mut cpu = Cpu {
        backend_us: Some(0),
        mocks_us: Some(0),
        harness_us: Some(0),
        method: first.cpu.method.clone(),
        notifications: 0,
    };
    let mut target = 0.0;
    let mut window: f64 = 0.0;
    let mut wall: f64 = 0.0;
    let mut max_in_flight = 0;
    let mut shards = Vec::new();
    for (source, r) in reports {
        add_counts(&mut counts, &r.counts);
        add_failures(&mut failures, &r.failures);
        latencies.merge(
            &StageLatencies::from_json(&r.histograms).map_err(|e| format!("{source}: {e}"))?,
        );
        cpu.harness_us = add_option(cpu.harness_us, r.cpu.harness_us);
        cpu.notifications += r.cpu.notifications;
        target += r.rate.target_per_sec;
        window = window.max(r.rate.window_s);
        wall = wall.max(r.wall_s);
        max_in_flight += r.generator.max_in_flight;
        shards.push(ShardSummary {
            run_id: r.run_id.clone(),
            shard: r.plan.shard,
            counts: r.counts,
            verified_per_sec: r.rate.verified_per_sec,
            source: source.clone(),
        });
    }
    // The backend and the mocks are shared by the shards: each shard
    // measured the same processes over about the same window, so their
    // figures are not added up; the largest is the best estimate.
    cpu.backend_us = reports
        .iter()
        .map(|(_, r)| r.cpu.backend_us)
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());
    cpu.mocks_us = reports
        .iter()
        .map(|(_, r)| r.cpu.mocks_us)
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());
    let all_series: Vec<&[series::SecondJson]> =
        reports.iter().map(|(_, r)| r.series.as_slice()).collect();
    let merged_series = series::merge(&all_series)?;
    shards.sort_by_key(|s| s.shard.index);
    let window = window.max(1e-3);
    let mut merged = first.clone();
    merged.run_id = format!("{}-merged", first.run_id);
    merged.plan.shard = super::ShardJson { index: 0, count: 1 };
    merged.wall_s = wall;
    merged.started_unix_ms = reports
        .iter()
        .map(|(_, r)| r.started_unix_ms)
        .min()
        .unwrap_or(0);
    merged.counts = counts;
    merged.failures = failures;
    merged.reconciliation = Reconciliation::of(&counts, &failures);
    merged.rate = Rate {
        target_per_sec: target,
        sent_per_sec: counts.sent as f64 / window,
        pushed_per_sec: counts.pushed as f64 / window,
        verified_per_sec: counts.verified as f64 / window,
        window_s: window,
    };
    merged.latency_ms = latencies.figures();
    merged.generator = Generator {
        lag_ms: Percentiles::of(&latencies.lag),
        max_in_flight,
        lanes: reports.iter().map(|(_, r)| r.generator.lanes).sum(),
    };
    merged.histograms = latencies.to_json();
    merged.cpu_us_per_notification = cpu.per_notification();
    merged.cpu = cpu;
    merged.gateways = None;
    merged.series = merged_series;
    merged.goose = None;
    merged.shards = shards;
    Ok(merged)
}
