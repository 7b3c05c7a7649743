//! `pushproof check`: the conformance gate.

use crate::cli::stdout::{out, outln};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use pushproof_backend::Flaw;
use serde_json::json;

use super::common::{command_line, RunShape};
use super::TlsArgs;
use crate::conformance::catalogue::{ALL, CATALOGUE_VERSION};
use crate::conformance::select::Selection;
use crate::profile::Profile;
use crate::report::expected::ExpectedFailures;
use crate::report::{self, views};
use crate::runner::{self, Plan};
use crate::target::{embedded, Delivery, TargetSpec};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The backend's profile (TOML); the reference backend's by default.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Start the backend with this command (run by `sh -c`, given the
    /// backend contract's PUSHPROOF_* environment and PUSHPROOF_LISTEN).
    #[arg(long, value_name = "CMD", conflicts_with = "backend_url")]
    pub backend_cmd: Option<String>,
    /// Test a backend already running beside `pushproof mocks` (needs
    /// --mocks-url).
    #[arg(long, value_name = "URL")]
    pub backend_url: Option<String>,
    /// The control API of `pushproof mocks` running elsewhere; in-process
    /// gateways when unset.
    #[arg(long, value_name = "URL", env = "PUSHPROOF_CONTROL_URL")]
    pub mocks_url: Option<String>,
    /// Hub mode: the backend (embedded or --backend-cmd) is given the mock
    /// Notification Hub (PUSHPROOF_NH_CONNECTION_STRING, PUSHPROOF_NH_HUB)
    /// instead of the gateways' variables, so its pushes go through the
    /// hub. A --backend-url backend sends as it was started.
    #[arg(long, conflicts_with = "backend_url")]
    pub hub: bool,
    /// Start the embedded reference backend with a deliberate flaw
    /// (repeatable): leak-payload, no-authz, logout-keeps-token,
    /// anonymous-fetch, stall, lose.
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<Flaw>,
    /// Seconds a started backend gets to answer HTTP.
    #[arg(long, value_parser = super::positive_seconds, value_name = "SECS")]
    pub startup_timeout: Option<f64>,
    /// Baseline devices (spread over the platforms; some users get two).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub devices: u32,
    #[command(flatten)]
    pub shape: RunShape,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// WARN fails the gate too.
    #[arg(long)]
    pub strict: bool,
    /// Run only the checks whose id matches (a glob, repeatable or
    /// comma-separated: `SP-AUTHZ-*`).
    #[arg(long, value_delimiter = ',', value_name = "GLOB")]
    pub only: Vec<String>,
    /// Leave out the checks whose id matches (a glob, repeatable).
    #[arg(long, value_delimiter = ',', value_name = "GLOB")]
    pub skip: Vec<String>,
    /// Checks expected to fail, each with a reason (TOML `[[expected]]`).
    #[arg(long, value_name = "FILE")]
    pub expected_failures: Option<PathBuf>,
    /// Where index.json, evidence/ and the backend's logs go [default:
    /// reports/<run id>].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Also write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write SARIF 2.1.0 here.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Print the catalogue and exit.
    #[arg(long)]
    pub list: bool,
    /// With --list: as JSON.
    #[arg(long, requires = "list")]
    pub json: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The catalogue as `--list --json` prints it.
pub fn catalogue_json() -> serde_json::Value {
    json!({
        "catalogue_version": CATALOGUE_VERSION,
        "checks": ALL.iter().map(|c| json!({
            "id": c.id,
            "title": c.title,
            "level": c.level,
            "severity": c.severity,
            "method": c.method,
            "sources": c.sources,
            "needs": c.needs.iter().map(|n| n.key()).collect::<Vec<_>>(),
            "sample": { "min": c.sample.min, "unit": c.sample.unit },
        })).collect::<Vec<_>>(),
    })
}

fn list(as_json: bool) -> i32 {
    if as_json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&catalogue_json()).unwrap_or_default()
        );
        return 0;
    }
    outln!(
        "pushproof catalogue {CATALOGUE_VERSION}: {} checks",
        ALL.len()
    );
    for c in ALL {
        let level = serde_json::to_value(c.level).ok();
        let level = level.as_ref().and_then(|v| v.as_str()).unwrap_or("");
        outln!("  {:<12} {:<6} {:?}  {}", c.id, level, c.severity, c.title);
    }
    0
}

pub async fn check(args: CheckArgs) -> anyhow::Result<i32> {
    if args.list {
        return Ok(list(args.json));
    }
    let profile = match &args.profile {
        Some(path) => Profile::load(path)?,
        None => Profile::reference(),
    };
    if !args.flaws.is_empty() && (args.backend_cmd.is_some() || args.backend_url.is_some()) {
        anyhow::bail!("--flaw applies to the embedded reference backend only, not to --backend-cmd or --backend-url");
    }
    if args.backend_url.is_some() && args.mocks_url.is_none() {
        anyhow::bail!(
            "--backend-url needs --mocks-url (or PUSHPROOF_CONTROL_URL): the control API of the `pushproof mocks` the backend sends to"
        );
    }
    let startup_timeout = args
        .startup_timeout
        .map_or(profile.start.startup_timeout, Duration::from_secs_f64);
    let target = match (&args.backend_cmd, &args.backend_url) {
        (Some(command), _) => TargetSpec::Command {
            command: command.clone(),
            startup_timeout,
            ready_path: profile.start.ready_path.clone(),
            delivery: Delivery::Direct,
        },
        (None, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!("--backend-url {url:?} is not an http:// or https:// URL");
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
    let target = if args.hub {
        target.with_delivery(Delivery::Hub)
    } else {
        target
    };
    let ids: Vec<&str> = ALL.iter().map(|c| c.id).collect();
    let selection = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
    };
    if let Some(pattern) = selection.unmatched(&ids).first() {
        anyhow::bail!("--only/--skip {pattern:?} matches no check (see `pushproof check --list`)");
    }
    let expected = match &args.expected_failures {
        Some(path) => ExpectedFailures::load(path, &ids)?,
        None => ExpectedFailures::default(),
    };
    let reports_root = PathBuf::from("reports");
    if let Some(dir) = &args.report_dir {
        report::index::validate_dir(dir)
            .map_err(|e| anyhow::anyhow!("--report-dir {}: {e}", dir.display()))?;
    }
    for (flag, path) in [("--junit", &args.junit), ("--sarif", &args.sarif)] {
        if let Some(parent) = path
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|p| !p.as_os_str().is_empty())
        {
            if !parent.is_dir() {
                anyhow::bail!("{flag}: {} is not a directory", parent.display());
            }
        }
    }
    let mut plan = Plan::embedded(target, &reports_root);
    plan.profile = Arc::new(profile);
    plan.mocks_url = args.mocks_url.clone();
    plan.platforms = args.shape.platforms()?;
    plan.devices = args.devices as usize;
    plan.seed = args.shape.seed();
    plan.concurrency = args.concurrency as usize;
    plan.timeout = args.shape.timeout();
    plan.tls = args.tls.settings();
    plan.strict = args.strict;
    plan.selection = selection;
    plan.expected = expected;
    plan.report_dir = args.report_dir.clone();
    plan.command = command_line();

    let finished = runner::run(&plan).await?;
    // The summary first: whatever happens to the files, it is not lost.
    out!("{}", report::console::render(&finished.report));
    let index = match &finished.index {
        Ok(path) => path.clone(),
        Err(e) => anyhow::bail!("{e}"),
    };
    outln!("report    {}", index.display());
    let paths = views::ViewPaths {
        junit: args.junit.clone(),
        sarif: args.sarif.clone(),
    };
    for written in views::write(&finished.report, &finished.dir, &paths)? {
        outln!("          {}", written.display());
    }
    Ok(finished.report.exit_code)
}
