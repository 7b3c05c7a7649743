//! `pushproof load`: the open-model dispatch benchmark's flags, turned
//! into a typed plan before anything starts; and `pushproof report merge`.

use crate::cli::stdout::{out, outln};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use pushproof_mocks::{FaultPlan, GatewayConfig, Platform};
use tokio_util::sync::CancellationToken;

use crate::load::ceiling::BareServer;
use crate::load::findmax::Search;
use crate::load::http::Protocol;
use crate::load::plane::Plane;
use crate::load::run::{self, BackendCpu, Options};
use crate::load::schedule::{self, Arrival, Shard};
use crate::load::setup;
use crate::load::slo::Slo;
use crate::profile::Profile;
use crate::report::load::{merge, TargetJson};
use crate::runner;
use crate::target::{self, embedded, Delivery, Target, TargetError, TargetSpec};
use pushproof_backend::Flaw;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Backend profile (TOML); the reference backend's by default.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Start the backend with this command (run by `sh -c`, given the
    /// backend contract's PUSHPROOF_* environment and PUSHPROOF_LISTEN);
    /// its CPU time is measured as its process tree's.
    #[arg(long, value_name = "CMD", conflicts_with = "backend_url")]
    pub backend_cmd: Option<String>,
    /// Load a backend already running beside `pushproof mocks` (its
    /// origin, http://host:port; needs --mocks-url).
    #[arg(long, value_name = "URL")]
    pub backend_url: Option<String>,
    /// Use the gateways of a `pushproof mocks` elsewhere, by the origin of
    /// its control API.
    #[arg(long, value_name = "URL", env = "PUSHPROOF_CONTROL_URL")]
    pub mocks_url: Option<String>,
    /// Hub mode: the backend (embedded or --backend-cmd) is given the mock
    /// Notification Hub instead of the gateways' variables, so its pushes go
    /// through the hub. A --backend-url backend sends as it was started.
    #[arg(long, conflicts_with = "backend_url")]
    pub hub: bool,
    /// Faults for the in-process gateways from the start: a TOML file of
    /// [[rule]]s (see scenarios/faults/).
    #[arg(long, value_name = "FILE", conflicts_with = "mocks_url")]
    pub faults: Option<PathBuf>,
    /// Start the embedded reference backend with a deliberate flaw
    /// (repeatable).
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<Flaw>,
    /// Notifications per second, for --duration.
    #[arg(long, value_name = "R", conflicts_with = "stages")]
    pub rate: Option<f64>,
    /// How long to send at --rate (30s, 2m, 500ms).
    #[arg(long, value_name = "D", default_value = "10s", value_parser = schedule::parse_duration)]
    pub duration: Duration,
    /// Stages instead of one rate: DURATION:RATE,… each moving the rate
    /// linearly to its target, from 0 (e.g. 30s:1000,60s:5000).
    #[arg(long, value_name = "STAGES")]
    pub stages: Option<String>,
    /// Arrivals at constant spacing or as a Poisson process.
    #[arg(long, default_value = "constant")]
    pub arrival: Arrival,
    /// Step the rate up until --slo breaks, then bisect; report the
    /// highest rate that held and the curve.
    #[arg(long, requires = "slo")]
    pub find_max: bool,
    /// The objective of --find-max, e.g. "p99<=100ms,errors<=0.1%".
    #[arg(long, value_name = "SLO")]
    pub slo: Option<Slo>,
    /// The first rate --find-max tries (default: --rate, else 500).
    #[arg(long, value_name = "R")]
    pub start_rate: Option<f64>,
    /// Each --find-max step multiplies the rate by this until the SLO breaks.
    #[arg(long, default_value_t = 2.0)]
    pub step_factor: f64,
    /// --find-max never offers more than this.
    #[arg(long, default_value_t = 200_000.0)]
    pub max_rate: f64,
    /// The length of each --find-max step.
    #[arg(long, default_value = "5s", value_parser = schedule::parse_duration)]
    pub step_duration: Duration,
    /// Bisections after the first step that broke the SLO.
    #[arg(long, default_value_t = 3)]
    pub refine: u32,
    /// Simulated devices in the whole run (every shard), spread over the
    /// platforms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=2_000_000))]
    pub devices: u64,
    /// Platforms the devices use, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = Platform::ALL.to_vec())]
    pub platforms: Vec<Platform>,
    /// Seed of the arrival times and the content; the same seed replays a run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long after its planned instant a notification may still be
    /// verified; later it is lost. Also each request's deadline.
    #[arg(long, default_value = "10s", value_parser = schedule::parse_duration)]
    pub timeout: Duration,
    /// Run shard i of N: rate/N, its own range of devices.
    #[arg(long, value_name = "i/N", default_value = "0/1")]
    pub shard: Shard,
    /// The shared start instant of the shards: Unix seconds or RFC 3339.
    #[arg(long, value_name = "T", value_parser = parse_start_at)]
    pub start_at: Option<u64>,
    /// How to speak to the backend: auto (h2c when it answers it), h2c, http1.
    #[arg(long, default_value = "auto")]
    pub http: Protocol,
    /// HTTP/2 connections to spread requests over, taking turns by the
    /// millisecond (the requests of one tick share a connection and a write).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub connections: u32,
    /// Sending tasks.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub lanes: u32,
    /// The driver's clock: whenever it runs out of work it sleeps to the
    /// next tick, so a tick's requests share one write and their answers
    /// one read; each stage is seen up to a tick late. 0 wakes on every
    /// event instead (finer latency, more CPU per request).
    #[arg(long, value_name = "D", default_value = "1ms", value_parser = parse_tick)]
    pub tick: Duration,
    /// Devices enrolled at once.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub enrol_concurrency: u32,
    /// Where load.json, load.md and load.html go (default reports/<run id>).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// No live progress on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Also run goose, embedded, as a closed model beside the open one:
    /// this many users, each logging in, registering, then sending and
    /// fetching in a loop for the run's duration; each driver's CPU per
    /// request is reported (0: no goose).
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub goose_users: u32,
    /// A goose threshold for its run (goose's syntax: `p95<500ms`,
    /// `error-rate<1%`; repeatable).
    #[arg(long, value_name = "RULE", requires = "goose_users")]
    pub goose_threshold: Vec<String>,
    /// After the target, run the same schedule (or the same --find-max
    /// search) on the same mocks, with a fresh fleet, against a bare hyper
    /// server making the same HTTP exchanges per notification from memory;
    /// report it as `ceiling` and the target's share as `ceiling_ratio`.
    /// The reference profile's API only.
    #[arg(long)]
    pub ceiling: bool,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the load.json of shards into one report: counts add up,
    /// histograms merge (never percentiles averaged).
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Directories holding load.json (or the files themselves).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged load.json, load.md and load.html go.
    #[arg(long, value_name = "DIR", default_value = "reports/merged")]
    pub out: PathBuf,
}

/// Unix seconds (`1767225600`, `1767225600.5`) or RFC 3339, as Unix ms.
fn parse_start_at(text: &str) -> Result<u64, String> {
    if let Ok(seconds) = text.trim().parse::<f64>() {
        if seconds.is_finite() && seconds > 0.0 && seconds < 1e11 {
            return Ok((seconds * 1000.0) as u64);
        }
    }
    let at =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| format!("{text:?} is neither Unix seconds nor an RFC 3339 time"))?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("{text:?} is before 1970"))
}

fn run_id(seed: u64) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    // Unique per process and instant, so two runs never share a directory.
    let nonce =
        (now.unix_timestamp_nanos() as u64) ^ u64::from(std::process::id()) ^ seed.rotate_left(17);
    format!("{stamp}-{:08x}", nonce as u32)
}

/// The validated plan: every flag checked before anything starts.
struct Plan {
    rates: schedule::Profile,
    search: Option<Search>,
    platforms: Vec<Platform>,
    seed: u64,
    run_id: String,
    report_dir: PathBuf,
}

fn plan(args: &LoadArgs) -> anyhow::Result<Plan> {
    let rates = match (&args.stages, args.rate) {
        (Some(stages), _) => schedule::Profile::parse_stages(stages).context("--stages")?,
        (None, rate) => {
            schedule::Profile::constant(rate.unwrap_or(1000.0), args.duration).context("--rate")?
        }
    };
    if args.goose_users > 0 && args.find_max {
        anyhow::bail!("--goose-users runs beside a --rate or --stages run, not --find-max");
    }
    let search = args
        .slo
        .as_ref()
        .filter(|_| args.find_max)
        .map(|slo| Search {
            slo: slo.clone(),
            start: args.start_rate.or(args.rate).unwrap_or(500.0),
            factor: args.step_factor,
            max_rate: args.max_rate,
            step: args.step_duration,
            refine: args.refine,
        });
    if let Some(s) = &search {
        if !(s.factor > 1.0 && s.factor <= 100.0) {
            anyhow::bail!("--step-factor must be in (1, 100]");
        }
        schedule::Profile::constant(s.start, s.step).context("--start-rate")?;
        schedule::Profile::constant(s.max_rate, s.step).context("--max-rate")?;
    }
    let mut platforms = args.platforms.clone();
    platforms.dedup();
    if !args.flaws.is_empty() && (args.backend_cmd.is_some() || args.backend_url.is_some()) {
        anyhow::bail!("--flaw applies to the embedded reference backend only, not to --backend-cmd or --backend-url");
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let run_id = run_id(seed);
    let report_dir = args
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
    Ok(Plan {
        rates,
        search,
        platforms,
        seed,
        run_id,
        report_dir,
    })
}

/// Runs `pushproof load`; the exit code: 0 when the counts reconcile (and
/// a find-max found a rate that held), 1 otherwise.
pub async fn load(args: LoadArgs) -> anyhow::Result<i32> {
    let plan = plan(&args)?;
    let faults = args.faults.as_deref().map(FaultPlan::load).transpose()?;
    // A report directory that cannot be made fails now, not after the run.
    std::fs::create_dir_all(&plan.report_dir).with_context(|| {
        format!(
            "creating the report directory {}",
            plan.report_dir.display()
        )
    })?;
    let profile = Arc::new(match &args.profile {
        Some(path) => Profile::load(path)?,
        None => Profile::reference(),
    });
    if args.ceiling && profile.name != "reference" {
        anyhow::bail!(
            "--ceiling speaks the reference profile's API; profile {} is another",
            profile.name
        );
    }
    let work = tempfile::Builder::new()
        .prefix("pushproof-load-")
        .tempdir()?;

    if args.backend_url.is_some() && args.mocks_url.is_none() {
        anyhow::bail!(
            "--backend-url needs --mocks-url (or PUSHPROOF_CONTROL_URL): the control API of the `pushproof mocks` the backend sends to"
        );
    }
    let unsupported: Vec<String> = plan
        .platforms
        .iter()
        .filter(|p| profile.platform(**p).is_none())
        .map(ToString::to_string)
        .collect();
    if !unsupported.is_empty() {
        anyhow::bail!(
            "profile {} does not describe platform(s) {} (add [platforms.<name>] or choose --platforms)",
            profile.name,
            unsupported.join(", ")
        );
    }
    let spec = match (&args.backend_cmd, &args.backend_url) {
        (Some(command), _) => TargetSpec::Command {
            command: command.clone(),
            startup_timeout: profile.start.startup_timeout,
            ready_path: profile.start.ready_path.clone(),
            delivery: Delivery::Direct,
        },
        (None, Some(url)) => {
            if !url.starts_with("http://") {
                anyhow::bail!("--backend-url {url:?} is not an http:// URL");
            }
            TargetSpec::Url {
                url: url.clone(),
                ready_path: profile.start.ready_path.clone(),
            }
        }
        (None, None) => TargetSpec::Embedded(embedded::Options {
            flaws: args.flaws.clone(),
            ..embedded::Options::default()
        }),
    };
    let spec = if args.hub {
        spec.with_delivery(Delivery::Hub)
    } else {
        spec
    };

    // The gateways: in this process on threads of their own, or remote.
    let local_mocks = match &args.mocks_url {
        Some(_) => None,
        None => Some(
            setup::start_mocks(
                GatewayConfig {
                    // A load run scans no captures: a small ring keeps the
                    // memory of a long run flat.
                    capture_capacity: 10_000,
                    ..GatewayConfig::default()
                },
                1,
            )
            .await
            .map_err(anyhow::Error::msg)?,
        ),
    };
    if let (Some(plan), Some(mocks)) = (faults, &local_mocks) {
        mocks.gateways.set_faults(plan.rules)?;
    }
    let plane = match (&args.mocks_url, &local_mocks) {
        (Some(url), _) => Plane::remote(url, args.timeout).await?,
        (None, Some(mocks)) => Plane::local(mocks.gateways.clone()),
        (None, None) => unreachable!("local mocks are started when no --mocks-url is given"),
    };

    // The backend, started (or reached) as `check` does.
    let env = runner::contract_env(local_mocks.as_ref().map(|m| &*m.gateways), work.path())?;
    let dirs = target::Dirs {
        work: work.path().to_path_buf(),
        logs: plan.report_dir.clone(),
    };
    let started = match Target::start(&spec, &env, &dirs).await {
        Ok(target) => target,
        Err(TargetError::Harness(why)) => anyhow::bail!(why),
        Err(TargetError::Failed(info)) => {
            match &info.failure {
                Some(f) => eprintln!(
                    "pushproof load: the backend failed: {}\n{}",
                    f.summary, f.log_tail
                ),
                None => eprintln!("pushproof load: the backend did not start"),
            }
            return Ok(1);
        }
    };
    let origin = started.origin().to_owned();
    let backend_cpu = match (started.thread_prefix(), started.pid()) {
        (Some(_), _) => BackendCpu::Threads,
        (None, Some(pid)) => BackendCpu::Process(pid),
        _ => BackendCpu::Unmeasured,
    };
    let target = TargetJson {
        kind: spec.kind().to_owned(),
        description: spec.description(),
        origin: origin.clone(),
    };
    let beside = goose_beside(&args, &plan, &profile, local_mocks.as_ref(), &origin).await?;
    let result = drive(
        &args,
        &plan,
        profile.clone(),
        plane,
        (origin, target, backend_cpu),
        (beside, args.start_at),
    )
    .await;
    // Stopped before the ceiling runs, so that nothing of it is left
    // busy beside the bare server.
    let info = started.stop(&plan.report_dir).await;
    let mut report = result?;
    if args.ceiling {
        let bare = ceiling(&args, &plan, profile, local_mocks.as_ref(), env).await?;
        report.set_ceiling(&bare);
    }
    drop(local_mocks);
    if let Some(failure) = &info.failure {
        eprintln!(
            "pushproof load: the backend died during the run: {}",
            failure.summary
        );
    }
    let path = report
        .write(&plan.report_dir)
        .with_context(|| format!("writing the report into {}", plan.report_dir.display()))?;
    out!("{}", summary(&report));
    outln!("report    {}", path.display());
    let held = report
        .find_max
        .as_ref()
        .is_none_or(|f| f.max_rate_held.is_some());
    // A ceiling whose counts do not reconcile is no ceiling to compare to.
    let ceiling_sound = report
        .ceiling
        .as_ref()
        .is_none_or(|c| c.reconciliation.reconciled);
    Ok(
        if report.reconciliation.reconciled && held && ceiling_sound && info.failure.is_none() {
            0
        } else {
            1
        },
    )
}

/// The ceiling (`--ceiling`): the plan again, on the same gateways (a
/// feed of its own, a fresh fleet), against the bare server.
async fn ceiling(
    args: &LoadArgs,
    plan: &Plan,
    profile: Arc<Profile>,
    local: Option<&setup::LocalMocks>,
    env: Vec<(String, String)>,
) -> anyhow::Result<crate::report::load::LoadReport> {
    let plane = match (local, &args.mocks_url) {
        (Some(mocks), _) => Plane::local(mocks.gateways.clone()),
        (None, Some(url)) => Plane::remote(url, args.timeout).await?,
        (None, None) => anyhow::bail!("the ceiling needs the gateways"),
    };
    let server = BareServer::start(env, args.timeout, &plan.platforms)
        .await
        .map_err(anyhow::Error::msg)?;
    let origin = server.origin().to_owned();
    let target = TargetJson {
        kind: "bare".to_owned(),
        description: "bare hyper server (the ceiling: the same exchanges, from memory)".to_owned(),
        origin: origin.clone(),
    };
    // The shared start instant is the target's, long past: start now.
    let report = drive(
        args,
        plan,
        profile,
        plane,
        (origin, target, BackendCpu::Threads),
        (None, None),
    )
    .await;
    drop(server);
    report
}

/// Enrols the fleet and runs the plan on a started target (with a
/// closed-model run beside it, from a shared start instant).
async fn drive(
    args: &LoadArgs,
    plan: &Plan,
    profile: Arc<Profile>,
    plane: Plane,
    (origin, target, backend_cpu): (String, TargetJson, BackendCpu),
    (beside, start_at): (Option<run::Beside>, Option<u64>),
) -> anyhow::Result<crate::report::load::LoadReport> {
    let range = args
        .shard
        .devices(usize::try_from(args.devices).unwrap_or(usize::MAX));
    if range.is_empty() {
        anyhow::bail!(
            "shard {} of {} devices has no device: give more --devices",
            args.shard,
            args.devices
        );
    }
    if !args.quiet {
        eprintln!(
            "pushproof load {} — {}, mocks {}, {} devices (shard {}), seed {}",
            plan.run_id,
            target.description,
            plane.describe(),
            range.len(),
            args.shard,
            plan.seed
        );
    }
    let reach = run::Reach {
        origin,
        target,
        backend_cpu,
        protocol: args.http,
        connections: args.connections as usize,
        timeout: args.timeout,
        devices_total: args.devices,
        range,
        platforms: plan.platforms.clone(),
        enrol_concurrency: args.enrol_concurrency as usize,
        tick: args.tick,
        mocks_threads: true,
    };
    let run_tag = format!("{}-{}", plan.run_id, args.shard.index);
    let setup = run::prepare(reach, plane, profile, &run_tag)
        .await
        .map_err(anyhow::Error::msg)?;
    let options = Options {
        run_id: plan.run_id.clone(),
        rates: plan.rates.clone(),
        arrival: args.arrival,
        shard: args.shard,
        seed: plan.seed,
        timeout: args.timeout,
        lanes: args.lanes as usize,
        start_at_unix_ms: start_at,
        find_max: plan.search.clone(),
        progress: !args.quiet,
    };
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stopper.cancel();
        }
    });
    let report = run::execute(&setup, &options, stop, beside).await;
    setup.plane.close().await;
    Ok(report)
}

/// goose's closed-model run, when `--goose-users` asks for one.
#[cfg(feature = "goose")]
async fn goose_beside(
    args: &LoadArgs,
    plan: &Plan,
    profile: &Arc<Profile>,
    local: Option<&setup::LocalMocks>,
    origin: &str,
) -> anyhow::Result<Option<run::Beside>> {
    if args.goose_users == 0 {
        return Ok(None);
    }
    let plane = match (local, &args.mocks_url) {
        (Some(mocks), _) => crate::plane::MockPlane::local(mocks.gateways.clone()),
        (None, Some(url)) => crate::plane::MockPlane::remote(url, args.timeout).await?,
        (None, None) => anyhow::bail!("goose needs the gateways"),
    };
    let journeys = crate::load::goose::Journeys {
        origin: origin.to_owned(),
        users: args.goose_users as usize,
        duration: plan.rates.duration(),
        thresholds: args.goose_threshold.clone(),
        report_file: Some(plan.report_dir.join("goose-report.html")),
        platforms: plan.platforms.clone(),
        timeout: args.timeout,
        run_tag: format!("{}-{}", plan.run_id, args.shard.index),
    };
    let profile = profile.clone();
    Ok(Some(Box::new(move || {
        crate::load::goose::run(&journeys, profile, plane)
    })))
}

#[cfg(not(feature = "goose"))]
async fn goose_beside(
    _: &LoadArgs,
    _: &Plan,
    _: &Arc<Profile>,
    _: Option<&setup::LocalMocks>,
    _: &str,
) -> anyhow::Result<Option<run::Beside>> {
    Ok(None)
}

/// The console summary of a load report.
pub fn summary(r: &crate::report::load::LoadReport) -> String {
    let c = &r.counts;
    let e = &r.latency_ms;
    let cpu = &r.cpu_us_per_notification;
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    let counts: Vec<String> = c.named().iter().map(|(n, v)| format!("{n} {v}")).collect();
    let mut out = format!(
        "counts    {} ({})
",
        counts.join(" · "),
        if r.reconciliation.reconciled {
            "reconciled"
        } else {
            "NOT reconciled"
        }
    );
    out.push_str(&format!(
        "rate      offered {:.0}/s · verified {:.0}/s over {:.1} s\n",
        r.rate.target_per_sec, r.rate.verified_per_sec, r.rate.window_s
    ));
    out.push_str(&format!(
        "latency   p50 / p99 / max ms from the planned instant: send {:.1}/{:.1}/{:.1} · gateway {:.1}/{:.1}/{:.1} · fetched {:.1}/{:.1}/{:.1} · end-to-end {:.1}/{:.1}/{:.1}\n",
        e.send.p50, e.send.p99, e.send.max, e.gateway.p50, e.gateway.p99, e.gateway.max,
        e.fetched.p50, e.fetched.p99, e.fetched.max, e.end_to_end.p50, e.end_to_end.p99, e.end_to_end.max
    ));
    out.push_str(&format!(
        "cpu       µs per notification: backend {} · mocks {} · harness {}\n",
        us(cpu.backend),
        us(cpu.mocks),
        us(cpu.harness)
    ));
    if let Some(g) = &r.goose {
        out.push_str(&format!(
            "goose     {} users, {} requests ({} failed), {:.0}/s; CPU µs per request: goose {} · open model {}\n",
            g.users,
            g.requests,
            g.failures,
            g.requests_per_sec,
            us(g.cpu_us_per_request),
            us(g.open_model_cpu_us_per_request)
        ));
    }
    if let Some(f) = &r.find_max {
        out.push_str(&format!(
            "find-max  {}: highest rate that held {}\n",
            f.slo,
            f.max_rate_held
                .map_or_else(|| "none".to_owned(), |r| format!("{r:.0}/s"))
        ));
    }
    if let Some(c) = &r.ceiling {
        out.push_str(&format!("ceiling   {}\n", c.sentence(r.ceiling_ratio)));
    }
    out
}

/// `pushproof report merge`.
pub fn report(command: ReportCommand) -> anyhow::Result<i32> {
    match command {
        ReportCommand::Merge(args) => {
            let dirs: Vec<&std::path::Path> = args.dirs.iter().map(PathBuf::as_path).collect();
            let merged = merge::merge_dirs(&dirs).map_err(anyhow::Error::msg)?;
            let path = merged
                .write(&args.out)
                .with_context(|| format!("writing {}", args.out.display()))?;
            out!("{}", summary(&merged));
            outln!("report    {}", path.display());
            Ok(if merged.reconciliation.reconciled {
                0
            } else {
                1
            })
        }
    }
}

/// `--tick`: 0, or a duration of at most 100 ms.
fn parse_tick(text: &str) -> Result<Duration, String> {
    if text
        .trim()
        .trim_end_matches("ms")
        .trim_end_matches('s')
        .trim()
        == "0"
    {
        return Ok(Duration::ZERO);
    }
    let tick = schedule::parse_duration(text)?;
    if tick > Duration::from_millis(100) {
        return Err(format!("{text:?}: a tick is at most 100ms"));
    }
    Ok(tick)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn start_at_takes_unix_seconds_or_rfc3339() {
        assert_eq!(parse_start_at("1767225600").unwrap(), 1_767_225_600_000);
        assert_eq!(parse_start_at("1767225600.25").unwrap(), 1_767_225_600_250);
        assert_eq!(
            parse_start_at("2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600_000
        );
        assert!(parse_start_at("tomorrow").is_err());
    }

    #[test]
    fn a_tick_is_zero_or_a_short_duration() {
        assert_eq!(parse_tick("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_tick("0ms").unwrap(), Duration::ZERO);
        assert_eq!(parse_tick("2ms").unwrap(), Duration::from_millis(2));
        assert!(parse_tick("1s").unwrap_err().contains("at most 100ms"));
        assert!(parse_tick("soon").is_err());
    }
}
