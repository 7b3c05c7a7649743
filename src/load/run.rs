//! One `pushproof load` run on an enrolled fleet: a single open-model run,
//! or the steps of `--find-max`, each measured with the CPU time of every
//! component, and the [`LoadReport`] made from them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pushproof_mocks::Platform;

use crate::profile::Profile;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::api::{Api, ProfileApi};
use super::cpu::{self, Component, ThreadSample};
use super::driver::{self, Fleet, Outcome};
use super::findmax::Search;
use super::http::{Client, Protocol};
use super::plane::Plane;
use super::progress::Progress;
use super::schedule::{self, Arrival, Shard};
use super::setup::DriverThread;
use crate::report::load::{
    Cpu, FindMax, FindMaxStep, Generator, GooseSummary, LoadReport, Percentiles, PlanJson, Rate,
    Reconciliation, ShardJson, StageJson, TargetJson, SCHEMA,
};

/// Where the backend's CPU time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendCpu {
    /// In this process, on threads named `pp-backend-*`.
    Threads,
    /// A process tree started by the harness.
    Process(u32),
    /// Elsewhere (a URL): not measured.
    Unmeasured,
}

/// Everything a run drives, set up by the caller.
pub struct Setup {
    pub api: Arc<dyn Api>,
    pub client: Client,
    pub plane: Plane,
    pub fleet: Arc<Fleet>,
    pub target: TargetJson,
    pub profile: String,
    pub backend_cpu: BackendCpu,
    /// Devices in the whole run (every shard).
    pub devices_total: u64,
    pub platforms: Vec<Platform>,
    /// Whether in-process gateways run on threads of their own
    /// (`pp-mocks-*`), so their CPU time can be told from the harness's.
    pub mocks_threads: bool,
    /// The open-model driver's own runtime: one thread (`pp-driver`), on
    /// which the lanes, the receiver and the client's connections all run.
    /// One thread hands a send to its connection without waking another
    /// thread, and writes the requests one tick made due in one system
    /// call; on the command's multi-threaded runtime every hand-off was a
    /// futex wake and most requests a write of their own.
    pub driver: Arc<DriverThread>,
}

/// How to reach the backend and which devices to enrol: what [`prepare`]
/// needs besides the plane and the profile.
#[derive(Debug, Clone)]
pub struct Reach {
    pub origin: String,
    pub target: TargetJson,
    pub backend_cpu: BackendCpu,
    pub protocol: Protocol,
    pub connections: usize,
    pub timeout: Duration,
    /// Devices in the whole run, and this process's share of them.
    pub devices_total: u64,
    pub range: std::ops::Range<usize>,
    pub platforms: Vec<Platform>,
    pub enrol_concurrency: usize,
    pub mocks_threads: bool,
    /// The driver's clock (zero: none, event-driven).
    pub tick: Duration,
}

/// The name of the driver's thread (charged to the harness).
const DRIVER_THREAD: &str = "pp-driver";
/// The driver's clock by default (see [`DriverThread`]): the grain of
/// tokio's timer, which paces the sends already.
pub const DEFAULT_TICK: Duration = Duration::from_millis(1);

/// Connects to the backend and enrols this process's devices on `plane`.
/// `run_tag` names the run's users.
pub async fn prepare(
    reach: Reach,
    plane: Plane,
    profile: Arc<Profile>,
    run_tag: &str,
) -> Result<Setup, String> {
    if reach.range.is_empty() {
        return Err("this share of the run has no device: give more devices".to_owned());
    }
    let client = Client::connect(
        &reach.origin,
        reach.protocol,
        reach.connections,
        reach.timeout,
    )
    .await;
    let api: Arc<dyn Api> = Arc::new(ProfileApi::new(
        profile.clone(),
        &reach.origin,
        reach.timeout,
        run_tag,
    ));
    let fleet = driver::enrol(
        &api,
        &plane,
        &reach.platforms,
        reach.range,
        reach.enrol_concurrency,
    )
    .await
    .map_err(|e| format!("enrolling the fleet: {e}"))?;
    let driver = DriverThread::new(DRIVER_THREAD, Some(reach.tick))
        .map_err(|e| format!("the driver's runtime: {e}"))?;
    Ok(Setup {
        driver: Arc::new(driver),
        api,
        client,
        plane,
        fleet: Arc::new(fleet),
        target: reach.target,
        profile: profile.name.clone(),
        backend_cpu: reach.backend_cpu,
        devices_total: reach.devices_total,
        platforms: reach.platforms,
        mocks_threads: reach.mocks_threads,
    })
}

#[derive(Debug, Clone)]
pub struct Options {
    pub run_id: String,
    pub rates: schedule::Profile,
    pub arrival: Arrival,
    pub shard: Shard,
    pub seed: u64,
    pub timeout: Duration,
    pub lanes: usize,
    /// The shared start of a sharded run, in Unix milliseconds.
    pub start_at_unix_ms: Option<u64>,
    pub find_max: Option<Search>,
    pub progress: bool,
}

/// One measured open-model run.
pub struct Measured {
    pub outcome: Outcome,
    pub cpu: Cpu,
    pub gateways: Option<Value>,
    pub rates: schedule::Profile,
    pub started: SystemTime,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The instant of a Unix time in milliseconds (now if it has passed).
fn instant_of(unix_ms_at: u64) -> Instant {
    let at = UNIX_EPOCH + Duration::from_millis(unix_ms_at);
    match at.duration_since(SystemTime::now()) {
        Ok(wait) => Instant::now() + wait,
        Err(late) => {
            tracing::warn!(
                late_ms = late.duration().as_millis() as u64,
                "--start-at has passed; starting now"
            );
            Instant::now()
        }
    }
}

/// A closed-model run to make beside the open model (goose): a blocking
/// job that returns its summary.
pub type Beside = Box<dyn FnOnce() -> Result<GooseSummary, String> + Send>;

/// Runs `options` on `setup`; `stop` ends it early (what was not sent is
/// counted unsent). `beside` runs on a thread of its own during the
/// open-model run (not with `--find-max`), and its summary joins the report.
pub async fn execute(
    setup: &Setup,
    options: &Options,
    stop: CancellationToken,
    beside: Option<Beside>,
) -> LoadReport {
    let Some(search) = &options.find_max else {
        let closed = beside.map(tokio::task::spawn_blocking);
        let measured = measure(
            setup,
            options,
            options.rates.clone(),
            options.start_at_unix_ms,
            "",
            &stop,
        )
        .await;
        let mut report = report(setup, options, &measured, None);
        if let Some(closed) = closed {
            match closed.await {
                Ok(Ok(mut goose)) => {
                    // The open model's requests: every send and every fetch.
                    let requests = report.counts.sent + report.counts.delivered;
                    goose.open_model_cpu_us_per_request = report
                        .cpu
                        .harness_us
                        .filter(|_| requests > 0)
                        .map(|us| us as f64 / requests as f64);
                    report.goose = Some(goose);
                    report.cpu.method.push(
                        "the backend's and the mocks' figures include goose's traffic beside the open model".to_owned(),
                    );
                }
                Ok(Err(error)) => tracing::warn!(%error, "the closed-model run failed"),
                Err(error) => tracing::warn!(%error, "the closed-model run panicked"),
            }
        }
        return report;
    };
    let mut steps: Vec<(f64, bool)> = Vec::new();
    let mut runs: Vec<(Measured, FindMaxStep)> = Vec::new();
    let mut start_at = options.start_at_unix_ms;
    while let Some(rate) = search.next(&steps) {
        if stop.is_cancelled() {
            break;
        }
        let rates =
            schedule::Profile::constant(rate, search.step).expect("find-max rates are validated");
        let label = format!("step {} at {rate:.0}/s  ", steps.len() + 1);
        let measured = measure(setup, options, rates, start_at.take(), &label, &stop).await;
        let step = judge(search, rate, &measured);
        steps.push((rate, step.held));
        if options.progress {
            eprintln!(
                "find-max: {rate:.0}/s {} (verified {:.0}/s, p99 {:.1} ms, errors {:.3} %)",
                if step.held { "held" } else { "broke the SLO" },
                step.verified_per_sec,
                step.p99_ms,
                step.error_percent
            );
        }
        runs.push((measured, step));
    }
    let max_held = Search::max_held(&steps);
    let min_broken = steps
        .iter()
        .filter(|(_, held)| !held)
        .map(|(r, _)| *r)
        .reduce(f64::min);
    // The report's figures are those of the best step that held, or of the
    // last step when none did.
    let best = max_held
        .and_then(|rate| {
            runs.iter()
                .position(|(_, s)| s.held && s.target_per_sec == rate)
        })
        .unwrap_or(runs.len().saturating_sub(1));
    let mut curve: Vec<FindMaxStep> = runs.iter().map(|(_, s)| s.clone()).collect();
    curve.sort_by(|a, b| a.target_per_sec.total_cmp(&b.target_per_sec));
    let find_max = FindMax {
        slo: search.slo.to_string(),
        step_duration_s: search.step.as_secs_f64(),
        max_rate_held: max_held,
        min_rate_broken: min_broken,
        steps: curve,
    };
    match runs.get(best) {
        Some((measured, _)) => report(setup, options, measured, Some(find_max)),
        None => {
            // Stopped before the first step: an empty run.
            let measured = measure(setup, options, options.rates.clone(), None, "", &stop).await;
            report(setup, options, &measured, Some(find_max))
        }
    }
}

fn judge(search: &Search, rate: f64, m: &Measured) -> FindMaxStep {
    let t = &m.outcome.totals;
    let figures_of = t.latencies.figures();
    let window = window_s(m);
    let verified_per_sec = t.counts.verified as f64 / window;
    let error_percent = if t.counts.planned == 0 {
        100.0
    } else {
        100.0 * (t.counts.planned - t.counts.verified.min(t.counts.planned)) as f64
            / t.counts.planned as f64
    };
    let figures = super::slo::Figures {
        latency: search
            .slo
            .quantiles()
            .into_iter()
            .filter_map(|(stage, q)| {
                let latency = t.latencies.get(stage)?;
                let value = if q >= 1.0 {
                    latency.max_ms()
                } else {
                    latency.quantile_ms(q)
                };
                // No sample at all holds no latency bound.
                let value = if latency.count() == 0 {
                    f64::INFINITY
                } else {
                    value
                };
                Some((stage, q, value))
            })
            .collect(),
        error_percent,
        throughput_percent: 100.0 * verified_per_sec / rate.max(f64::MIN_POSITIVE),
    };
    let objectives = search.slo.judge(&figures);
    FindMaxStep {
        target_per_sec: rate,
        verified_per_sec,
        p99_ms: figures_of.end_to_end.p99,
        error_percent,
        held: objectives.iter().all(|o| o.held),
        objectives,
        counts: t.counts,
    }
}

async fn measure(
    setup: &Setup,
    options: &Options,
    rates: schedule::Profile,
    start_at: Option<u64>,
    label: &str,
    stop: &CancellationToken,
) -> Measured {
    let backend_before = backend_cpu_us(setup.backend_cpu);
    let mocks_before = setup.plane.remote_cpu_us().await;
    let counters_before = setup.plane.counters().await;
    let threads_before = ThreadSample::now();
    let start = start_at.map(instant_of);
    let started = SystemTime::now()
        + start.map_or(Duration::ZERO, |s| {
            s.saturating_duration_since(Instant::now())
        });
    let plan = driver::Plan {
        rates: rates.clone(),
        arrival: options.arrival,
        shard: options.shard,
        seed: options.seed,
        timeout: options.timeout,
        lanes: options.lanes,
        start_at: start,
        run_tag: options.run_id.clone(),
        clock: setup.driver.clock(),
    };
    let progress = options.progress.then(|| Progress::stderr(label));
    let run = driver::run(
        setup.api.clone(),
        setup.client.clone(),
        setup.plane.clone(),
        setup.fleet.clone(),
        plan,
        progress,
        stop.clone(),
    );
    let outcome = match setup.driver.handle().spawn(run).await {
        Ok(outcome) => outcome,
        // A panic in the driver is a bug of the harness: surface it.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the driver's runtime ended mid-run: {e}"),
    };
    let threads_after = ThreadSample::now();
    let spent = threads_after.since(&threads_before);
    let backend_after = backend_cpu_us(setup.backend_cpu);
    let mocks_after = setup.plane.remote_cpu_us().await;
    let counters_after = setup.plane.counters().await;
    let mut method = Vec::new();
    let measured_here = !threads_after.is_empty();
    let backend_us = match setup.backend_cpu {
        BackendCpu::Threads if measured_here => {
            method.push("backend: CPU time of this process's pp-backend-* and backend-store-* threads (/proc/self/task/*/schedstat)".to_owned());
            Some(spent.get(&Component::Backend).copied().unwrap_or(0))
        }
        BackendCpu::Process(pid) => {
            method.push(format!("backend: CPU time of process {pid} and its descendants (/proc/<pid>/stat, user + system, 10 ms ticks)"));
            backend_after
                .zip(backend_before)
                .map(|(a, b)| a.saturating_sub(b))
        }
        _ => {
            method.push("backend: not measured (a backend behind a URL)".to_owned());
            None
        }
    };
    let mocks_us = match &setup.plane {
        Plane::Local { .. } if measured_here && setup.mocks_threads => {
            method.push("mocks: CPU time of this process's pp-mocks-* threads".to_owned());
            Some(spent.get(&Component::Mocks).copied().unwrap_or(0))
        }
        Plane::Local { .. } => {
            method.push(
                "mocks: not measured apart (the in-process gateways share the harness's threads)"
                    .to_owned(),
            );
            None
        }
        Plane::Remote(_) => {
            method.push("mocks: the remote mocks process's CPU time, from its control API (/__pushproof/process)".to_owned());
            mocks_after
                .zip(mocks_before)
                .map(|(a, b)| a.saturating_sub(b))
        }
    };
    let harness_us = measured_here.then(|| {
        method.push("harness: CPU time of every other thread of this process (the driver, the receiver, their HTTP connections)".to_owned());
        spent.get(&Component::Harness).copied().unwrap_or(0)
    });
    let cpu = Cpu {
        backend_us,
        mocks_us,
        harness_us,
        method,
        notifications: outcome.totals.counts.sent,
    };
    let gateways = counters_after
        .zip(counters_before)
        .map(|(after, before)| json_delta(&after, &before));
    Measured {
        outcome,
        cpu,
        gateways,
        rates,
        started,
    }
}

fn backend_cpu_us(source: BackendCpu) -> Option<u64> {
    match source {
        BackendCpu::Process(pid) => cpu::process_tree_us(pid),
        _ => None,
    }
}

/// `after - before` for every number in two JSON documents of one shape.
fn json_delta(after: &Value, before: &Value) -> Value {
    match (after, before) {
        (Value::Object(a), Value::Object(b)) => Value::Object(
            a.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        b.get(k).map_or_else(|| v.clone(), |w| json_delta(v, w)),
                    )
                })
                .collect(),
        ),
        (Value::Number(a), Value::Number(b)) => match (a.as_u64(), b.as_u64()) {
            (Some(a), Some(b)) => Value::from(a.saturating_sub(b)),
            _ => Value::Number(a.clone()),
        },
        _ => after.clone(),
    }
}

fn window_s(m: &Measured) -> f64 {
    m.rates
        .duration()
        .as_secs_f64()
        .max(m.outcome.totals.last_verified_s)
        .max(1e-3)
}

/// The report of one measured run.
pub fn report(
    setup: &Setup,
    options: &Options,
    m: &Measured,
    find_max: Option<FindMax>,
) -> LoadReport {
    let t = &m.outcome.totals;
    let window = window_s(m);
    let duration = m.rates.duration().as_secs_f64();
    let started_at = time::OffsetDateTime::from(m.started)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    LoadReport {
        schema: SCHEMA.to_owned(),
        pushproof_version: env!("CARGO_PKG_VERSION").to_owned(),
        run_id: options.run_id.clone(),
        seed: options.seed.to_string(),
        started_at,
        started_unix_ms: unix_ms(m.started),
        wall_s: m.outcome.wall.as_secs_f64(),
        target: setup.target.clone(),
        profile: setup.profile.clone(),
        mocks: setup.plane.describe(),
        plan: PlanJson {
            arrival: options.arrival.to_string(),
            start_per_sec: m.rates.start,
            stages: m
                .rates
                .stages
                .iter()
                .map(|s| StageJson {
                    duration_s: s.duration.as_secs_f64(),
                    target_per_sec: s.target,
                })
                .collect(),
            duration_s: duration,
            devices: setup.devices_total,
            platforms: setup.platforms.iter().map(|p| p.to_string()).collect(),
            shard: ShardJson {
                index: options.shard.index,
                count: options.shard.count,
            },
            start_at_unix_ms: options.start_at_unix_ms,
            timeout_s: options.timeout.as_secs_f64(),
            http: setup.client.protocol().to_string(),
            connections: setup.client.connections() as u32,
        },
        counts: t.counts,
        failures: t.failures,
        reconciliation: Reconciliation::of(&t.counts, &t.failures),
        rate: Rate {
            target_per_sec: t.counts.planned as f64 / duration.max(1e-3),
            sent_per_sec: t.counts.sent as f64 / window,
            pushed_per_sec: t.counts.pushed as f64 / window,
            verified_per_sec: t.counts.verified as f64 / window,
            window_s: window,
        },
        latency_ms: t.latencies.figures(),
        generator: Generator {
            lag_ms: Percentiles::of(&t.latencies.lag),
            max_in_flight: t.max_in_flight,
            lanes: options.lanes as u32,
        },
        histograms: t.latencies.to_json(),
        cpu_us_per_notification: m.cpu.per_notification(),
        cpu: m.cpu.clone(),
        gateways: m.gateways.clone(),
        series: t.series.to_json(),
        find_max,
        goose: None,
        shards: Vec::new(),
        ceiling: None,
        ceiling_ratio: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counter_deltas_subtract_numbers_and_keep_the_shape() {
        let before = json!({ "apns": { "accepted": 5, "rejected": 1 }, "name": "x" });
        let after = json!({ "apns": { "accepted": 9, "rejected": 1 }, "name": "x", "new": 3 });
        assert_eq!(
            json_delta(&after, &before),
            json!({ "apns": { "accepted": 4, "rejected": 0 }, "name": "x", "new": 3 })
        );
    }
}
