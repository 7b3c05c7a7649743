//! `pushproof run`: the main job on embedded defaults.

use crate::cli::stdout::{out, outln};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use pushproof_backend::Flaw;

use super::common::{command_line, RunShape};
use super::TlsArgs;
use crate::profile::Profile;
use crate::report::{self, Report, RunInfo};
use crate::runner::{self, Plan};
use crate::target::{Delivery, TargetSpec};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Number of simulated devices, spread over the platforms (about a
    /// third of the users get a second device).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub devices: u32,
    #[command(flatten)]
    pub shape: RunShape,
    /// Start the reference backend with a deliberate flaw (repeatable):
    /// leak-payload, no-authz, logout-keeps-token, anonymous-fetch, stall,
    /// lose.
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<Flaw>,
    /// Hub mode: the reference backend sends through the mock
    /// Notification Hub instead of straight to the gateways.
    #[arg(long)]
    pub hub: bool,
    /// Where reports are written (one folder per run).
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The load phase after the checks: notifications per second…
    #[arg(long, default_value_t = 1000.0, value_name = "R")]
    pub load_rate: f64,
    /// …for this long (0s: no load phase).
    #[arg(long, default_value = "3s", value_name = "D", value_parser = parse_phase)]
    pub load_duration: std::time::Duration,
}

/// A load phase's length: a duration, or 0 for none.
fn parse_phase(text: &str) -> Result<std::time::Duration, String> {
    if matches!(text.trim(), "0" | "0s") {
        return Ok(std::time::Duration::ZERO);
    }
    crate::load::schedule::parse_duration(text)
}

pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let profile = Arc::new(Profile::reference());
    let delivery = if args.hub {
        Delivery::Hub
    } else {
        Delivery::Direct
    };
    let target = TargetSpec::embedded(args.flaws.clone()).with_delivery(delivery);
    let mut plan = Plan::embedded(target, &args.reports);
    plan.profile = profile;
    plan.platforms = args.shape.platforms()?;
    plan.devices = args.devices as usize;
    plan.seed = args.shape.seed();
    plan.concurrency = args.concurrency as usize;
    plan.timeout = args.shape.timeout();
    plan.tls = args.tls.settings();
    plan.command = command_line();
    if !args.load_duration.is_zero() {
        crate::load::schedule::Profile::constant(args.load_rate, args.load_duration)
            .map_err(|e| anyhow::anyhow!("--load-rate: {e}"))?;
        plan.load = Some(runner::LoadPhase {
            rate: args.load_rate,
            duration: args.load_duration,
            devices: plan.devices,
        });
    }
    let started_at = time::OffsetDateTime::now_utc();
    let finished = runner::run(&plan).await?;
    let suite = finished.report;
    let m = finished.measured;
    let report = Report {
        format_version: report::FORMAT_VERSION,
        pushproof_version: env!("CARGO_PKG_VERSION"),
        run: RunInfo {
            id: suite.run.id.clone(),
            started_at: started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            seed: plan.seed,
            seed_text: plan.seed.to_string(),
            profile: plan.profile.name.clone(),
            target: suite.target.description.clone(),
            flaws: suite.run.flaws.clone(),
            devices: plan.devices,
            platforms: suite.run.platforms.clone(),
            tls: suite.run.tls,
            concurrency: plan.concurrency,
            timeout_s: plan.timeout.as_secs_f64(),
            duration_s: suite.run.duration_s,
        },
        counts: m.counts,
        latency_ms: m.stages.summary(),
        throughput: m.throughput,
        captures: m.captures,
        suite,
        dispatch: m.dispatch.as_deref().map(report::Dispatch::of),
    };
    if let Some(load) = &m.dispatch {
        if let Err(e) = load.write(&finished.dir) {
            tracing::warn!(error = %e, "writing the load phase's report");
        }
    }
    // The summary first: a report that cannot be written loses nothing
    // the console shows.
    out!("{}", report::summary::render(&report));
    let written = report::json::write(&report, &finished.dir);
    match (&finished.index, written) {
        (Ok(_), Ok(path)) => {
            outln!("report    {}", path.display());
            report::views::write(
                &report.suite,
                &finished.dir,
                &report::views::ViewPaths::default(),
            )?;
            Ok(report.suite.exit_code)
        }
        (Err(e), _) => anyhow::bail!("{e}"),
        (_, Err(e)) => anyhow::bail!("writing the report under {}: {e}", finished.dir.display()),
    }
}
