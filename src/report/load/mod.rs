//! The load report: `load.json`, the truth of a `pushproof load` run (or of
//! shards merged by `pushproof report merge`), and its views, the
//! Markdown summary ([`markdown`]) and the HTML page with charts
//! ([`html`]).
//!
//! Field names are a contract other tools read: `counts.{planned, sent,
//! accepted, pushed, delivered, fetched, verified, lost, duplicated}`,
//! `rate.{target_per_sec, verified_per_sec}`, `latency_ms.<stage>.{p50,
//! p90, p99, p999, max}` for the stages `send`, `gateway`, `delivered`,
//! `fetched` and `end_to_end`, `cpu_us_per_notification.{backend, mocks,
//! harness}`, and `histograms.<stage>` (each stage's whole HDR histogram
//! of microseconds, base64 of the V2 deflate encoding).

pub mod html;
pub mod markdown;
pub mod merge;
pub mod series;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metrics::Latency;
use series::SecondJson;

/// `load.json`'s `schema`; bumped when a field changes meaning.
pub const SCHEMA: &str = "pushproof-load/1";

/// The encoding of `histograms.*`.
pub const HISTOGRAM_ENCODING: &str = "HdrHistogram V2 deflate, base64; values in microseconds";

/// The latency stages, in the order a notification passes them; every
/// one is measured from the notification's planned instant.
pub const STAGES: [(&str, &str); 5] = [
    ("send", "send API answered"),
    ("gateway", "gateway accepted the push"),
    ("delivered", "push delivered to the device"),
    ("fetched", "content fetched"),
    ("end_to_end", "content verified (end to end)"),
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadReport {
    pub schema: String,
    pub pushproof_version: String,
    pub run_id: String,
    /// The run's seed, as a string so that no JSON reader rounds it.
    pub seed: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub started_unix_ms: u64,
    /// Wall time from the first planned instant to the end of the drain.
    pub wall_s: f64,
    pub target: TargetJson,
    pub profile: String,
    /// `in-process` or the control URL of remote mocks.
    pub mocks: String,
    pub plan: PlanJson,
    pub counts: Counts,
    pub failures: Failures,
    pub reconciliation: Reconciliation,
    pub rate: Rate,
    pub latency_ms: StageFigures,
    /// How late the generator sent, against the plan: a large lag means a
    /// saturated harness, not a slow backend.
    pub generator: Generator,
    pub histograms: Histograms,
    pub cpu_us_per_notification: CpuPerNotification,
    pub cpu: Cpu,
    /// The gateways' own counters over the run (accepted and rejected by
    /// platform), when they could be read.
    pub gateways: Option<serde_json::Value>,
    /// Per second since the start.
    pub series: Vec<SecondJson>,
    pub find_max: Option<FindMax>,
    pub goose: Option<GooseSummary>,
    /// The shards a merged report was made from (empty for one process).
    pub shards: Vec<ShardSummary>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TargetJson {
    pub kind: String,
    pub description: String,
    pub origin: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PlanJson {
    /// `constant` or `poisson`.
    pub arrival: String,
    /// The rate at the start; each stage moves linearly to its target.
    pub start_per_sec: f64,
    pub stages: Vec<StageJson>,
    pub duration_s: f64,
    /// Devices in the whole run (all shards).
    pub devices: u64,
    pub platforms: Vec<String>,
    pub shard: ShardJson,
    /// The shared start instant of a sharded run (`--start-at`).
    pub start_at_unix_ms: Option<u64>,
    /// How long after its planned instant a notification may still
    /// complete; later, it is lost.
    pub timeout_s: f64,
    /// `h2c` or `http1`: how the harness spoke to the backend.
    pub http: String,
    /// Connections the harness held to the backend.
    pub connections: u32,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct StageJson {
    pub duration_s: f64,
    pub target_per_sec: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShardJson {
    pub index: u32,
    pub count: u32,
}

impl Default for ShardJson {
    fn default() -> Self {
        ShardJson { index: 0, count: 1 }
    }
}

/// Every notification, where it got to.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Planned instants in the plan.
    pub planned: u64,
    /// Send requests the harness issued.
    pub sent: u64,
    /// Send requests the backend answered with success.
    pub accepted: u64,
    /// Pushes the gateways accepted for the run's devices (every one,
    /// repeats included).
    pub pushed: u64,
    /// Distinct pushes (by device and id) that reached their device.
    pub delivered: u64,
    /// Content fetches the backend answered with success.
    pub fetched: u64,
    /// Notifications whose content came back exactly as sent, to the
    /// device it was sent to (each counted once).
    pub verified: u64,
    /// Accepted notifications never verified.
    pub lost: u64,
    /// Second deliveries of a notification: the same id again, or the
    /// same content under another id.
    pub duplicated: u64,
}

impl Counts {
    /// Every count by its name, in the order a notification passes them.
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("planned", self.planned),
            ("sent", self.sent),
            ("accepted", self.accepted),
            ("pushed", self.pushed),
            ("delivered", self.delivered),
            ("fetched", self.fetched),
            ("verified", self.verified),
            ("lost", self.lost),
            ("duplicated", self.duplicated),
        ]
    }
}

impl PlanJson {
    /// The plan in one line, for people.
    pub fn describe(&self) -> String {
        format!(
            "{} arrivals over {:.1} s, {} devices ({}), shard {}/{}, {} {} connection(s)",
            self.arrival,
            self.duration_s,
            self.devices,
            self.platforms.join(", "),
            self.shard.index,
            self.shard.count,
            self.connections,
            self.http
        )
    }
}

/// Where the differences between the counts went.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failures {
    /// Planned but never sent (the run was stopped).
    pub unsent: u64,
    /// Send answered with a 4xx.
    pub send_4xx: u64,
    /// Send answered with a 5xx (or another non-success status).
    pub send_5xx: u64,
    /// No answer to the send within the timeout.
    pub send_timeout: u64,
    /// The connection failed.
    pub send_transport: u64,
    /// Pushes whose id could not be read where the profile says.
    pub unreadable_pushes: u64,
    /// The same id delivered to the same device again.
    pub duplicate_pushes: u64,
    /// Deliveries dropped by the gateways' feed because the harness fell
    /// behind.
    pub feed_dropped: u64,
    /// Fetches refused or failed.
    pub fetch_failed: u64,
    /// Fetched content that belongs to no notification of the run, or to
    /// another device's.
    pub wrong_content: u64,
    /// Content of a notification already verified, under another id.
    pub duplicate_content: u64,
    /// Verified although the send had failed from the harness's side (a
    /// timeout after the backend did its work).
    pub verified_unacknowledged: u64,
    /// Verified after the timeout: counted lost too.
    pub late: u64,
}

impl Failures {
    pub fn send_failed(&self) -> u64 {
        self.send_4xx + self.send_5xx + self.send_timeout + self.send_transport
    }
}

/// The identities the counts must satisfy; any that fails means the
/// accounting lost track of something.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Reconciliation {
    pub reconciled: bool,
    pub checks: Vec<Identity>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub rule: String,
    pub left: u64,
    pub right: u64,
    pub holds: bool,
}

impl Reconciliation {
    /// The identities of `counts` and `failures`.
    pub fn of(c: &Counts, f: &Failures) -> Reconciliation {
        let mut checks = Vec::new();
        let mut check = |rule: &str, left: u64, right: u64| {
            checks.push(Identity {
                rule: rule.to_owned(),
                left,
                right,
                holds: left == right,
            });
        };
        check("planned = sent + unsent", c.planned, c.sent + f.unsent);
        check(
            "sent = accepted + send_4xx + send_5xx + send_timeout + send_transport",
            c.sent,
            c.accepted + f.send_failed(),
        );
        check(
            "pushed = delivered + duplicate_pushes + unreadable_pushes + feed_dropped",
            c.pushed,
            c.delivered + f.duplicate_pushes + f.unreadable_pushes + f.feed_dropped,
        );
        check(
            "delivered = fetched + fetch_failed",
            c.delivered,
            c.fetched + f.fetch_failed,
        );
        check(
            "fetched = verified + late + wrong_content + duplicate_content",
            c.fetched,
            c.verified + f.late + f.wrong_content + f.duplicate_content,
        );
        check(
            "accepted + verified_unacknowledged = verified + lost",
            c.accepted + f.verified_unacknowledged,
            c.verified + c.lost,
        );
        check(
            "duplicated = duplicate_pushes + duplicate_content",
            c.duplicated,
            f.duplicate_pushes + f.duplicate_content,
        );
        let reconciled = checks.iter().all(|c| c.holds);
        Reconciliation { reconciled, checks }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Rate {
    /// The offered rate: planned notifications over the plan's duration.
    pub target_per_sec: f64,
    pub sent_per_sec: f64,
    /// Pushes landed at the gateways per second.
    pub pushed_per_sec: f64,
    pub verified_per_sec: f64,
    /// The window these are over: the plan's duration, or until the last
    /// verification if that came later.
    pub window_s: f64,
}

/// One stage's percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(latency: &Latency) -> Percentiles {
        let s = latency.summary();
        Percentiles {
            count: s.count,
            p50: s.p50_ms,
            p90: s.p90_ms,
            p99: s.p99_ms,
            p999: s.p999_ms,
            max: s.max_ms,
            mean: s.mean_ms,
        }
    }
}

/// `latency_ms`: every stage, from the planned instant.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct StageFigures {
    pub send: Percentiles,
    pub gateway: Percentiles,
    pub delivered: Percentiles,
    pub fetched: Percentiles,
    pub end_to_end: Percentiles,
}

impl StageFigures {
    pub fn get(&self, stage: &str) -> Option<&Percentiles> {
        match stage {
            "send" => Some(&self.send),
            "gateway" => Some(&self.gateway),
            "delivered" => Some(&self.delivered),
            "fetched" => Some(&self.fetched),
            "end_to_end" => Some(&self.end_to_end),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Generator {
    /// Actual send instant minus planned instant.
    pub lag_ms: Percentiles,
    /// Send requests in flight at once, at most.
    pub max_in_flight: u64,
    /// Sending tasks.
    pub lanes: u32,
}

/// `histograms`: each stage's whole histogram.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Histograms {
    pub encoding: String,
    pub send: String,
    pub gateway: String,
    pub delivered: String,
    pub fetched: String,
    pub end_to_end: String,
    pub lag: String,
}

/// The stage histograms in memory.
#[derive(Debug, Clone, Default)]
pub struct StageLatencies {
    pub send: Latency,
    pub gateway: Latency,
    pub delivered: Latency,
    pub fetched: Latency,
    pub end_to_end: Latency,
    pub lag: Latency,
}

impl StageLatencies {
    pub fn merge(&mut self, other: &StageLatencies) {
        self.send.merge(&other.send);
        self.gateway.merge(&other.gateway);
        self.delivered.merge(&other.delivered);
        self.fetched.merge(&other.fetched);
        self.end_to_end.merge(&other.end_to_end);
        self.lag.merge(&other.lag);
    }

    pub fn get(&self, stage: &str) -> Option<&Latency> {
        match stage {
            "send" => Some(&self.send),
            "gateway" => Some(&self.gateway),
            "delivered" => Some(&self.delivered),
            "fetched" => Some(&self.fetched),
            "end_to_end" => Some(&self.end_to_end),
            "lag" => Some(&self.lag),
            _ => None,
        }
    }

    pub fn figures(&self) -> StageFigures {
        StageFigures {
            send: Percentiles::of(&self.send),
            gateway: Percentiles::of(&self.gateway),
            delivered: Percentiles::of(&self.delivered),
            fetched: Percentiles::of(&self.fetched),
            end_to_end: Percentiles::of(&self.end_to_end),
        }
    }

    pub fn to_json(&self) -> Histograms {
        Histograms {
            encoding: HISTOGRAM_ENCODING.to_owned(),
            send: self.send.to_base64(),
            gateway: self.gateway.to_base64(),
            delivered: self.delivered.to_base64(),
            fetched: self.fetched.to_base64(),
            end_to_end: self.end_to_end.to_base64(),
            lag: self.lag.to_base64(),
        }
    }

    /// Reads `histograms` back; the error names the stage.
    pub fn from_json(h: &Histograms) -> Result<StageLatencies, String> {
        let read = |name: &str, text: &str| {
            Latency::from_base64(text).map_err(|e| format!("histograms.{name}: {e}"))
        };
        Ok(StageLatencies {
            send: read("send", &h.send)?,
            gateway: read("gateway", &h.gateway)?,
            delivered: read("delivered", &h.delivered)?,
            fetched: read("fetched", &h.fetched)?,
            end_to_end: read("end_to_end", &h.end_to_end)?,
            lag: read("lag", &h.lag)?,
        })
    }
}

/// CPU time per sent notification, in microseconds; `null` where it could
/// not be measured (a backend behind a URL, mocks without `/process`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuPerNotification {
    pub backend: Option<f64>,
    pub mocks: Option<f64>,
    pub harness: Option<f64>,
}

/// The CPU time behind [`CpuPerNotification`], and how it was measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    pub backend_us: Option<u64>,
    pub mocks_us: Option<u64>,
    pub harness_us: Option<u64>,
    /// What each figure is, in words.
    pub method: Vec<String>,
    /// The divisor: notifications sent.
    pub notifications: u64,
}

impl Cpu {
    pub fn per_notification(&self) -> CpuPerNotification {
        let per = |us: Option<u64>| {
            us.filter(|_| self.notifications > 0)
                .map(|us| us as f64 / self.notifications as f64)
        };
        CpuPerNotification {
            backend: per(self.backend_us),
            mocks: per(self.mocks_us),
            harness: per(self.harness_us),
        }
    }
}

/// `--find-max`: every step, and the highest rate that held.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FindMax {
    pub slo: String,
    pub step_duration_s: f64,
    /// The highest offered rate whose step held the SLO, if any did.
    pub max_rate_held: Option<f64>,
    /// The lowest offered rate whose step broke it, if any did.
    pub min_rate_broken: Option<f64>,
    pub steps: Vec<FindMaxStep>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FindMaxStep {
    pub target_per_sec: f64,
    pub verified_per_sec: f64,
    pub p99_ms: f64,
    pub error_percent: f64,
    pub held: bool,
    /// Each objective's value.
    pub objectives: Vec<Judged>,
    pub counts: Counts,
}

/// How one SLO objective fared in a step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Judged {
    pub objective: String,
    pub value: f64,
    pub held: bool,
}

/// The closed-model goose run beside the open model, when asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GooseSummary {
    pub users: u64,
    pub duration_s: f64,
    pub requests: u64,
    pub failures: u64,
    pub requests_per_sec: f64,
    /// goose's own CPU (its threads) per request, in microseconds.
    pub cpu_us_per_request: Option<f64>,
    /// The open-model driver's harness CPU per request (send + fetch) in
    /// the same run, for comparison.
    pub open_model_cpu_us_per_request: Option<f64>,
    /// Per transaction: name, requests, failures, p50/p99 ms (goose's own
    /// figures).
    pub transactions: Vec<GooseTransaction>,
    /// goose's thresholds and whether they held.
    pub thresholds: Vec<String>,
    pub thresholds_held: Option<bool>,
    /// goose's own report files, relative to the report directory.
    pub report_files: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GooseTransaction {
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One shard of a merged report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ShardSummary {
    pub run_id: String,
    pub shard: ShardJson,
    pub counts: Counts,
    pub verified_per_sec: f64,
    pub source: String,
}

impl LoadReport {
    /// Reads a `load.json`.
    pub fn read(path: &Path) -> Result<LoadReport, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let report: LoadReport = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a load report: {e}", path.display()))?;
        if report.schema != SCHEMA {
            return Err(format!(
                "{}: schema {:?}, this pushproof reads {SCHEMA:?}",
                path.display(),
                report.schema
            ));
        }
        Ok(report)
    }

    /// Writes `load.json`, `load.md` and `load.html` into `dir` (created),
    /// each to a temporary name first so no reader sees half a file.
    /// Returns the path of `load.json`.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(&dir.join("load.json"), &json)?;
        write_atomic(&dir.join("load.md"), markdown::render(self).as_bytes())?;
        write_atomic(&dir.join("load.html"), html::render(self).as_bytes())?;
        Ok(dir.join("load.json"))
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_run_reconciles_and_a_missing_count_does_not() {
        let c = Counts {
            planned: 10,
            sent: 10,
            accepted: 10,
            pushed: 10,
            delivered: 10,
            fetched: 10,
            verified: 10,
            lost: 0,
            duplicated: 0,
        };
        let f = Failures::default();
        assert!(Reconciliation::of(&c, &f).reconciled);
        let broken = Counts { verified: 9, ..c };
        let r = Reconciliation::of(&broken, &f);
        assert!(!r.reconciled);
        assert!(r
            .checks
            .iter()
            .any(|i| !i.holds && i.rule.starts_with("fetched")));
        // One lost: acknowledged, never pushed.
        let lost = Counts {
            pushed: 9,
            delivered: 9,
            fetched: 9,
            verified: 9,
            lost: 1,
            ..c
        };
        assert!(Reconciliation::of(&lost, &f).reconciled);
    }
}
