//! One run: start the gateways and the backend, enrol the fleet, send one
//! secret per device, run the checks and build the report.
//!
//! Everything a backend does wrong is a measurement in the report; only a
//! harness problem (a port that cannot be bound, a report that cannot be
//! written) is a [`RunError`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pushproof_mocks::{CaptureKind, GatewayConfig, Gateways, Platform, TlsSettings};
use rand::SeedableRng;
use tokio_util::sync::CancellationToken;

use crate::backend::{self, Flaw};
use crate::conformance::{self, authz, canary, flow, leak};
use crate::device::device::Context;
use crate::device::{BackendClient, Fleet, FleetPlan, Outcome};
use crate::metrics::Stages;
use crate::profile::Profile;
use crate::report::{self, CaptureCounts, Counts, Report, RunInfo, Throughput};

/// What one `pushproof run` does, validated.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub devices: usize,
    pub platforms: Vec<Platform>,
    pub flaws: Vec<Flaw>,
    pub seed: u64,
    pub reports_dir: PathBuf,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long a device waits for its push, and any request for an answer.
    pub timeout: Duration,
    /// How many fetched notifications the authorization checks probe.
    pub probe_samples: usize,
    /// Serve the gateways over TLS with a per-run (or kept) CA.
    pub tls: Option<TlsSettings>,
}

impl Default for RunPlan {
    fn default() -> Self {
        RunPlan {
            devices: 300,
            platforms: Platform::ALL.to_vec(),
            flaws: Vec::new(),
            seed: 0,
            reports_dir: PathBuf::from("reports"),
            concurrency: 256,
            timeout: Duration::from_secs(10),
            probe_samples: 32,
            tls: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("starting the mock gateways: {0}")]
    Gateways(#[from] pushproof_mocks::MockError),
    #[error("preparing the run's working directory: {0}")]
    WorkDir(std::io::Error),
    #[error("configuring the reference backend: {0}")]
    BackendConfig(#[from] backend::ConfigError),
    #[error("binding the reference backend's port: {0}")]
    Bind(std::io::Error),
    #[error("{0}")]
    Fleet(#[from] crate::device::fleet::FleetError),
    #[error("writing the report under {dir}: {source}")]
    Report { dir: String, source: std::io::Error },
}

/// A finished run: its report and where it was written.
#[derive(Debug)]
pub struct RunOutcome {
    pub report: Report,
    pub report_path: PathBuf,
}

/// Runs the main job on embedded defaults: mock gateways, the reference
/// backend in-process, and the device fleet.
pub async fn run(plan: &RunPlan) -> Result<RunOutcome, RunError> {
    let started_at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let workdir = tempfile::Builder::new()
        .prefix("pushproof-run-")
        .tempdir()
        .map_err(RunError::WorkDir)?;

    let gateways = Arc::new(
        Gateways::start(GatewayConfig {
            // Every push of the run must still be there for the leak scan.
            capture_capacity: GatewayConfig::default()
                .capture_capacity
                .max(plan.devices * 8),
            tls: plan.tls.clone(),
            ..GatewayConfig::default()
        })
        .await?,
    );
    let env: HashMap<String, String> = gateways
        .write_credentials(workdir.path())?
        .vars
        .into_iter()
        .collect();
    let mut config = backend::Config::from_vars(workdir.path().join("backend.db"), |name| {
        env.get(name).cloned()
    })?;
    config.flaws = plan.flaws.clone();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(RunError::Bind)?;
    let origin = format!("http://{}", listener.local_addr().map_err(RunError::Bind)?);
    let stop_backend = CancellationToken::new();
    let backend_task = tokio::spawn(backend::serve(
        listener,
        config,
        stop_backend.clone().cancelled_owned(),
    ));

    let run_tag = format!("{:08x}", plan.seed as u32);
    let ctx = Context {
        client: BackendClient::new(&origin, plan.timeout),
        profile: Arc::new(Profile::reference()),
        gateways: gateways.clone(),
    };
    let fleet_plan = FleetPlan {
        devices: plan.devices,
        platforms: plan.platforms.clone(),
        concurrency: plan.concurrency,
        push_timeout: plan.timeout,
        run_tag,
    };
    let result = drive(plan, &ctx, &fleet_plan).await;

    stop_backend.cancel();
    match backend_task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "reference backend stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "reference backend task failed"),
    }
    let mut measured = result?;
    drop(ctx);
    if let Ok(gateways) = Arc::try_unwrap(gateways) {
        gateways.shutdown().await;
    }

    let (verdict, exit_code) = report::overall(&measured.checks);
    let report = Report {
        format_version: report::FORMAT_VERSION,
        pushproof_version: env!("CARGO_PKG_VERSION"),
        run: RunInfo {
            id: run_id(started_at, plan.seed),
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            seed: plan.seed,
            profile: "reference".to_owned(),
            target: "embedded reference backend".to_owned(),
            flaws: plan.flaws.iter().map(ToString::to_string).collect(),
            devices: plan.devices,
            platforms: plan.platforms.iter().map(ToString::to_string).collect(),
            duration_s: started.elapsed().as_secs_f64(),
        },
        counts: std::mem::take(&mut measured.counts),
        latency_ms: measured.stages.summary(),
        throughput: measured.throughput,
        captures: measured.captures,
        checks: measured.checks,
        verdict,
        exit_code,
    };
    let report_path =
        report::json::write(&report, &plan.reports_dir).map_err(|source| RunError::Report {
            dir: plan.reports_dir.display().to_string(),
            source,
        })?;
    Ok(RunOutcome {
        report,
        report_path,
    })
}

/// What the fleet and the checks measured.
struct Measured {
    counts: Counts,
    stages: Stages,
    throughput: Throughput,
    captures: CaptureCounts,
    checks: Vec<conformance::CheckResult>,
}

async fn drive(
    plan: &RunPlan,
    ctx: &Context,
    fleet_plan: &FleetPlan,
) -> Result<Measured, RunError> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(plan.seed);
    let planted: Vec<canary::Secret> = (0..plan.devices)
        .map(|i| canary::secret(&mut rng, i))
        .collect();
    let secrets: Arc<Vec<String>> = Arc::new(planted.iter().map(|s| s.text().to_owned()).collect());

    let fleet = Fleet::enroll(ctx, fleet_plan).await?;
    tracing::info!(
        enrolled = fleet.devices.len(),
        failed = fleet.enrol_failures.len(),
        "fleet enrolled"
    );

    let dispatch_started = Instant::now();
    let trips = fleet.round_trips(ctx, &secrets, fleet_plan).await;
    let dispatch_window = dispatch_started.elapsed();

    let captures = ctx.gateways.captures();
    let capture_stats = ctx.gateways.capture_stats();
    let pushes = captures.iter().filter(|c| c.kind == CaptureKind::Push);
    let (pushed, push_rejected) = pushes.fold((0, 0), |(ok, bad), c| {
        if c.status == 200 {
            (ok + 1, bad)
        } else {
            (ok, bad + 1)
        }
    });

    let mut stages = Stages {
        register: fleet.enrol_latency.clone(),
        ..Stages::default()
    };
    let mut counts = Counts {
        devices: plan.devices,
        enrolled: fleet.devices.len(),
        enrol_failed: fleet.enrol_failures.len(),
        sent: trips.len(),
        pushed,
        push_rejected,
        ..Counts::default()
    };
    for trip in &trips {
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
                .entry(flow::kind(&trip.outcome).to_owned())
                .or_default() += 1;
        }
    }
    if !fleet.enrol_failures.is_empty() {
        counts
            .failures
            .insert("enrol_failed".to_owned(), fleet.enrol_failures.len());
    }
    let window = dispatch_window.as_secs_f64().max(f64::EPSILON);
    let throughput = Throughput {
        dispatch_window_s: dispatch_window.as_secs_f64(),
        pushes_per_s: pushed as f64 / window,
        verified_per_s: counts.verified as f64 / window,
    };

    // Probe with notifications their recipients really fetched, spread over
    // the fleet (and so over the platforms).
    let verified: Vec<_> = trips
        .iter()
        .filter(|t| t.outcome == Outcome::Verified)
        .collect();
    let stride = (verified.len() / plan.probe_samples.max(1)).max(1);
    let samples: Vec<authz::Sample> = verified
        .iter()
        .step_by(stride)
        .take(plan.probe_samples)
        .filter_map(|trip| {
            let device = fleet.devices.iter().find(|d| d.index == trip.device)?;
            Some(authz::Sample {
                owner: trip.device,
                id: trip.id.clone()?,
                canary: planted[trip.device]
                    .canary(canary::Part::Head)
                    .unwrap_or_default()
                    .to_owned(),
                credential: device.credential.clone(),
            })
        })
        .collect();

    let checks = vec![
        flow::check(&trips, &fleet.enrol_failures),
        leak::check(&captures, &capture_stats, &planted),
        authz::no_credentials(&ctx.client, &ctx.profile, &samples).await,
        authz::other_user(&ctx.client, &ctx.profile, &samples).await,
    ];
    Ok(Measured {
        counts,
        stages,
        throughput,
        captures: CaptureCounts {
            total: capture_stats.total,
            kept: capture_stats.kept,
            evicted: capture_stats.evicted,
        },
        checks,
    })
}

/// `20261125T104000Z-0000002a`: sortable by time, distinct per seed.
fn run_id(at: time::OffsetDateTime, seed: u64) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    format!(
        "{}-{:08x}",
        at.format(&format).unwrap_or_default(),
        seed as u32
    )
}
