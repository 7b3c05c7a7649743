//! One conformance run, the machinery `run` and `check` share (and `load`
//! will): reach the gateways (in-process, or remote over the control API),
//! start the target, prepare the suite (baseline fleet and round trips),
//! run the selected checks, stop everything, judge and write `index.json`
//! and the evidence.
//!
//! Everything a backend does wrong is a finding in the report, a backend
//! that will not start included; only what the harness itself cannot do (a
//! gateway port, a report directory, unreachable remote mocks) is a
//! [`RunError`], exit 2.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushproof_mocks::{CaptureKind, GatewayConfig, Gateways, Platform, TlsSettings};

use crate::client::BackendClient;
use crate::conformance::catalogue::CATALOGUE_VERSION;
use crate::conformance::execute::{self, all_not_run};
use crate::conformance::select::Selection;
use crate::conformance::{Suite, SuiteOptions};
use crate::device::{Api, Outcome};
use crate::metrics::Stages;
use crate::plane::{MockPlane, PlaneError};
use crate::profile::Profile;
use crate::report::expected::ExpectedFailures;
use crate::report::suite::{
    CheckRecord, ProfileRef, SuiteReport, SuiteRun, TargetInfo, SUITE_FORMAT_VERSION,
};
use crate::report::{self, CaptureCounts, Counts, Throughput};
use crate::target::{self, Target, TargetError, TargetSpec};

/// What one conformance run does, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub profile: Arc<Profile>,
    pub target: TargetSpec,
    /// The control API of remote mocks; in-process gateways when `None`.
    pub mocks_url: Option<String>,
    pub platforms: Vec<Platform>,
    /// Baseline devices and users (users default to about two thirds).
    pub devices: usize,
    pub users: Option<usize>,
    pub seed: u64,
    pub concurrency: usize,
    pub timeout: Duration,
    /// Serve the in-process gateways over TLS.
    pub tls: Option<TlsSettings>,
    pub strict: bool,
    pub selection: Selection,
    pub expected: ExpectedFailures,
    /// The report directory; `reports_root/<run id>` when `None`.
    pub report_dir: Option<PathBuf>,
    pub reports_root: PathBuf,
    /// Checks running at once.
    pub parallel: usize,
    /// The command line, for the report.
    pub command: Vec<String>,
    /// A short load phase after the checks (`run` does one).
    pub load: Option<LoadPhase>,
}

impl Plan {
    /// A plan for the embedded reference backend with defaults.
    pub fn embedded(target: TargetSpec, reports_root: &Path) -> Plan {
        Plan {
            profile: Arc::new(Profile::reference()),
            target,
            mocks_url: None,
            platforms: Platform::ALL.to_vec(),
            devices: 6,
            users: None,
            seed: 1,
            concurrency: 64,
            timeout: Duration::from_secs(10),
            tls: None,
            strict: false,
            selection: Selection::default(),
            expected: ExpectedFailures::default(),
            report_dir: None,
            reports_root: reports_root.to_path_buf(),
            load: None,
            parallel: execute::DEFAULT_PARALLEL,
            command: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("starting the mock gateways: {0}")]
    Gateways(#[from] pushproof_mocks::MockError),
    #[error("preparing the run's working directory: {0}")]
    WorkDir(std::io::Error),
    #[error("{0}")]
    Plane(#[from] PlaneError),
    #[error("{0}")]
    Target(String),
    #[error("{0}")]
    Usage(String),
    #[error("interrupted; the backend was stopped")]
    Interrupted,
    #[error("writing the report under {dir}: {source}")]
    Report { dir: String, source: std::io::Error },
}

/// What the baseline measured, for `pushproof run`'s summary.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub counts: Counts,
    pub stages: Stages,
    pub throughput: Throughput,
    pub captures: CaptureCounts,
    /// The short open-model load phase after the checks, when asked for.
    pub dispatch: Option<Box<crate::report::load::LoadReport>>,
}

/// `run`'s short load phase: a few seconds of the open-model benchmark
/// (`pushproof load`) on the same target and gateways, after the checks.
#[derive(Debug, Clone)]
pub struct LoadPhase {
    pub rate: f64,
    pub duration: Duration,
    pub devices: usize,
}

impl Default for LoadPhase {
    fn default() -> LoadPhase {
        LoadPhase {
            rate: 1000.0,
            duration: Duration::from_secs(3),
            devices: 300,
        }
    }
}

/// A finished run: its report, where it went, and what the baseline
/// measured.
#[derive(Debug)]
pub struct Finished {
    pub report: SuiteReport,
    pub dir: PathBuf,
    /// `index.json`, when it could be written (the error otherwise: the
    /// summary is still printed).
    pub index: Result<PathBuf, String>,
    pub measured: Measured,
}

/// `20261125T104000Z-0000002a-3f9c1b7e`: sortable by time, the seed, and a
/// random nonce so two runs in the same second with the same seed differ.
pub fn run_id(at: time::OffsetDateTime, seed: u64) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    format!(
        "{}-{:08x}-{:08x}",
        at.format(&format).unwrap_or_default(),
        seed as u32,
        rand::random::<u32>()
    )
}

/// The contract environment for a target: the in-process gateways' (keys
/// written to `work`), or this process's `PUSHPROOF_*` (set from the env
/// file of remote mocks).
pub fn contract_env(
    gateways: Option<&Gateways>,
    work: &Path,
) -> Result<Vec<(String, String)>, RunError> {
    match gateways {
        Some(g) => Ok(g.write_credentials(work)?.vars),
        None => Ok(std::env::vars()
            .filter(|(k, _)| k.starts_with("PUSHPROOF_") && k != "PUSHPROOF_LISTEN")
            .collect()),
    }
}

/// Runs the plan to the end.
pub async fn run(plan: &Plan) -> Result<Finished, RunError> {
    let started_at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let id = run_id(started_at, plan.seed);
    let dir = plan
        .report_dir
        .clone()
        .unwrap_or_else(|| plan.reports_root.join(&id));
    report::index::validate_dir(&dir).map_err(|source| RunError::Report {
        dir: dir.display().to_string(),
        source,
    })?;
    let unsupported: Vec<String> = plan
        .platforms
        .iter()
        .filter(|p| plan.profile.platform(**p).is_none())
        .map(ToString::to_string)
        .collect();
    if !unsupported.is_empty() {
        return Err(RunError::Usage(format!(
            "profile {} does not describe platform(s) {} (add [platforms.<name>] or choose --platforms)",
            plan.profile.name,
            unsupported.join(", ")
        )));
    }
    let work = tempfile::Builder::new()
        .prefix("pushproof-run-")
        .tempdir()
        .map_err(RunError::WorkDir)?;

    let gateways = match &plan.mocks_url {
        Some(_) => None,
        None => Some(Arc::new(
            Gateways::start(GatewayConfig {
                tls: plan.tls.clone(),
                ..GatewayConfig::default()
            })
            .await?,
        )),
    };
    let plane = match (&plan.mocks_url, &gateways) {
        (Some(url), _) => MockPlane::remote(url, plan.timeout).await?,
        (None, Some(g)) => MockPlane::local(g.clone()),
        (None, None) => unreachable!("gateways start when no mocks URL is given"),
    };
    let env = contract_env(gateways.as_deref(), work.path())?;
    let dirs = target::Dirs {
        work: work.path().to_path_buf(),
        logs: dir.clone(),
    };

    let (checks, target_info, measured) = match Target::start(&plan.target, &env, &dirs).await {
        Err(TargetError::Harness(why)) => return Err(RunError::Target(why)),
        Err(TargetError::Failed(info)) => {
            let why = info.failure.as_ref().map_or_else(
                || "the backend did not start".to_owned(),
                |f| f.summary.clone(),
            );
            (
                all_not_run(&plan.selection, &why),
                *info,
                Measured::default(),
            )
        }
        Ok(target) => {
            // Ctrl-C still stops a started backend (it runs in a process
            // group of its own, so the terminal's SIGINT does not reach it).
            let result = tokio::select! {
                result = test(plan, &target, plane.clone(), &id) => result,
                _ = tokio::signal::ctrl_c() => Err(RunError::Interrupted),
            };
            let info = target.stop(&dir).await;
            let (checks, measured) = result?;
            (checks, info, measured)
        }
    };
    drop(plane);
    if let Some(gateways) = gateways.and_then(|g| Arc::try_unwrap(g).ok()) {
        gateways.shutdown().await;
    }
    Ok(finish(
        plan,
        id,
        started_at,
        started,
        dir,
        checks,
        target_info,
        measured,
    ))
}

/// Prepares the suite on a started target and runs the checks.
async fn test(
    plan: &Plan,
    target: &Target,
    plane: MockPlane,
    id: &str,
) -> Result<(Vec<CheckRecord>, Measured), RunError> {
    let api = Api::new(
        BackendClient::new(target.origin(), plan.timeout),
        plan.profile.clone(),
    );
    let options = SuiteOptions {
        seed: plan.seed,
        run_tag: id.rsplit('-').next().unwrap_or(id).to_owned(),
        platforms: plan.platforms.clone(),
        devices: plan.devices,
        users: plan.users.unwrap_or_else(|| {
            let separable = plan
                .profile
                .requests
                .notify
                .template
                .vars()
                .contains(&crate::profile::Var::Platform);
            SuiteOptions::users_for(plan.devices, plan.platforms.len(), separable)
        }),
        concurrency: plan.concurrency,
        timeout: plan.timeout,
        tls: plan.tls.is_some(),
        origin: target.origin().to_owned(),
    };
    let suite = Arc::new(Suite::prepare(api, plane, options).await?);
    let measured = measure(&suite).await;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let total = crate::conformance::catalogue::ALL.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = |record: &CheckRecord| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if interactive {
            eprintln!(
                "[{n}/{total}] {:<5} {} ({:.0} ms)",
                record.verdict.to_string(),
                record.id,
                record.duration_ms
            );
        }
    };
    let checks = execute::run(suite.clone(), &plan.selection, plan.parallel, &progress).await;
    if let Some(failure) = target.failure() {
        tracing::warn!(summary = %failure.summary, "the backend died during the run");
    }
    let mut measured = measured;
    if let Some(phase) = &plan.load {
        measured.dispatch = dispatch(plan, phase, target, &suite.plane, id)
            .await
            .map(Box::new);
    }
    Ok((checks, measured))
}

/// The load phase: the open-model driver on the run's target and gateways.
/// A phase that cannot run is a warning, not a failed run: the checks
/// stand on their own.
async fn dispatch(
    plan: &Plan,
    phase: &LoadPhase,
    target: &Target,
    plane: &MockPlane,
    id: &str,
) -> Option<crate::report::load::LoadReport> {
    use crate::load::{plane::Plane, run as load};
    let result = async {
        let plane = Plane::of(plane, plan.timeout)
            .await
            .map_err(|e| e.to_string())?;
        let backend_cpu = match (target.thread_prefix(), target.pid()) {
            (Some(_), _) => load::BackendCpu::Threads,
            (None, Some(pid)) => load::BackendCpu::Process(pid),
            _ => load::BackendCpu::Unmeasured,
        };
        let reach = load::Reach {
            origin: target.origin().to_owned(),
            target: crate::report::load::TargetJson {
                kind: target.spec().kind().to_owned(),
                description: target.spec().description(),
                origin: target.origin().to_owned(),
            },
            backend_cpu,
            protocol: crate::load::http::Protocol::Auto,
            connections: 4,
            timeout: plan.timeout,
            devices_total: phase.devices as u64,
            range: 0..phase.devices,
            platforms: plan.platforms.clone(),
            enrol_concurrency: plan.concurrency,
            tick: crate::load::run::DEFAULT_TICK,
            mocks_threads: false,
        };
        let run_tag = format!("{}-load", id.rsplit('-').next().unwrap_or(id));
        let setup = load::prepare(reach, plane, plan.profile.clone(), &run_tag).await?;
        let rates = crate::load::schedule::Profile::constant(phase.rate, phase.duration)
            .map_err(|e| e.to_string())?;
        let options = load::Options {
            run_id: format!("{id}-load"),
            rates,
            arrival: crate::load::schedule::Arrival::Constant,
            shard: crate::load::schedule::Shard::default(),
            seed: plan.seed,
            timeout: plan.timeout,
            lanes: 2,
            start_at_unix_ms: None,
            find_max: None,
            progress: false,
        };
        let report = load::execute(
            &setup,
            &options,
            tokio_util::sync::CancellationToken::new(),
            None,
        )
        .await;
        setup.plane.close().await;
        Ok::<_, String>(report)
    }
    .await;
    match result {
        Ok(report) => Some(report),
        Err(error) => {
            tracing::warn!(%error, "the load phase could not run");
            None
        }
    }
}

/// The baseline's counts, latencies and throughput.
async fn measure(suite: &Suite) -> Measured {
    let baseline = &suite.baseline;
    let captures = suite.captures().await.unwrap_or_default();
    let stats = suite.plane.capture_stats().await.unwrap_or_default();
    let (pushed, push_rejected) = captures
        .iter()
        .filter(|c| c.kind == CaptureKind::Push)
        .fold((0, 0), |(ok, bad), c| {
            if c.accepted() {
                (ok + 1, bad)
            } else {
                (ok, bad + 1)
            }
        });
    let mut stages = Stages {
        register: baseline.enrol_latency.clone(),
        ..Stages::default()
    };
    let mut counts = Counts {
        devices: suite.options.devices,
        enrolled: baseline.devices.len(),
        enrol_failed: baseline.enrol_failures.len(),
        sent: baseline.trips.len(),
        pushed,
        push_rejected,
        ..Counts::default()
    };
    for trip in &baseline.trips {
        if let Some(d) = trip.send {
            stages.send.record(d);
        }
        if let Some(d) = trip.push {
            stages.push.record(d);
            counts.delivered += 1;
        }
        if let Some(d) = trip.fetch {
            stages.fetch.record(d);
        }
        if let Some(d) = trip.end_to_end {
            stages.end_to_end.record(d);
        }
        match &trip.outcome {
            Outcome::Verified => {
                counts.fetched += 1;
                counts.verified += 1;
            }
            Outcome::WrongContent => counts.fetched += 1,
            Outcome::SendFailed(_) => counts.send_failed += 1,
            _ => {}
        }
        if trip.outcome != Outcome::Verified {
            *counts
                .failures
                .entry(trip.outcome.kind().to_owned())
                .or_default() += 1;
        }
    }
    if !baseline.enrol_failures.is_empty() {
        counts
            .failures
            .insert("enrol_failed".to_owned(), baseline.enrol_failures.len());
    }
    let window = baseline.dispatch_window.as_secs_f64().max(f64::EPSILON);
    Measured {
        dispatch: None,
        throughput: Throughput {
            dispatch_window_s: baseline.dispatch_window.as_secs_f64(),
            pushes_per_s: pushed as f64 / window,
            verified_per_s: counts.verified as f64 / window,
        },
        counts,
        stages,
        captures: CaptureCounts {
            total: stats.total,
            kept: stats.kept,
            evicted: stats.evicted,
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    plan: &Plan,
    id: String,
    started_at: time::OffsetDateTime,
    started: Instant,
    dir: PathBuf,
    mut checks: Vec<CheckRecord>,
    target: TargetInfo,
    measured: Measured,
) -> Finished {
    let stale = plan.expected.apply(&mut checks);
    let (verdict, exit_code) = report::overall(&checks, plan.strict, target.failure.is_some());
    let mut suite = SuiteReport {
        format_version: SUITE_FORMAT_VERSION,
        pushproof_version: env!("CARGO_PKG_VERSION").to_owned(),
        catalogue_version: CATALOGUE_VERSION.to_owned(),
        run: SuiteRun {
            id,
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            duration_s: started.elapsed().as_secs_f64(),
            seed: plan.seed,
            seed_text: plan.seed.to_string(),
            profile: ProfileRef {
                name: plan.profile.name.clone(),
                path: plan.profile.path.clone(),
            },
            tls: plan.tls.is_some(),
            concurrency: plan.concurrency,
            timeout_s: plan.timeout.as_secs_f64(),
            devices: plan.devices,
            platforms: plan.platforms.iter().map(ToString::to_string).collect(),
            flaws: plan
                .target
                .flaws()
                .iter()
                .map(ToString::to_string)
                .collect(),
            delivery: plan.target.delivery().map(|d| d.name().to_owned()),
            strict: plan.strict,
            only: plan.selection.only.clone(),
            skip: plan.selection.skip.clone(),
            command: plan.command.clone(),
        },
        target,
        totals: report::totals(&checks),
        checks,
        stale_expected_failures: stale,
        verdict,
        exit_code,
    };
    let index = report::index::write(&mut suite, &dir)
        .map_err(|e| format!("writing {}: {e}", dir.display()));
    Finished {
        report: suite,
        dir,
        index,
        measured,
    }
}
