//! Gateway load benchmark: how fast the mock gateways answer real pushes,
//! next to a bare hyper server (the ceiling of the protocol) and a
//! wiremock-rs server (what a test would otherwise use), in one run with one
//! load generator; and whether resident memory stays flat over 2 million
//! pushes to the mock APNs with captures on.
//!
//! ```sh
//! cargo bench --bench gateways [-- --pushes N --rounds R --platform apns|fcm|wns|all]
//! ```
//!
//! Per platform, the targets are measured interleaved (mock, bare,
//! wiremock, mock, bare, …) for R rounds and each target's median rate is
//! kept, so a slow moment of the machine hits all three alike. Results are
//! printed and written to `reports/bench-gateways.json`.
//!
//! A load benchmark, not a micro-benchmark: a plain `main` (no criterion),
//! a tokio runtime for the generator and one for the servers.

// The parts live in `benches/gateways/`; a crate root looks for modules
// beside itself, hence the paths.
#[path = "gateways/load.rs"]
mod load;
#[path = "gateways/mock.rs"]
mod mock;
#[path = "gateways/report.rs"]
mod report;
#[path = "gateways/targets.rs"]
mod targets;
#[path = "gateways/usage.rs"]
mod usage;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use clap::Parser;
use pushproof_mocks::Platform;

use crate::load::{Load, Pushes};
use crate::mock::MockGateways;
use crate::report::{Comparison, MemoryCheck, Results, Sample, TargetResult};
use crate::targets::{BareServer, ServerThread, Target, Wire, Wiremock};
use crate::usage::CpuClock;

/// The allocator of the `pushproof` binary, so the mocks are measured as
/// they run there; the bare server and wiremock share it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Captures the mock keeps by default: enough for a leak scan of a small
/// run, and small enough that the ring is full (and evicting) during every
/// round, the steady state of a long run.
const CAPTURE_CAPACITY: usize = 10_000;
/// Devices registered per platform; pushes go to them round-robin. Each
/// inbox keeps the mock's default 256 deliveries, so at most 25 600 are
/// held per platform.
const DEVICES: usize = 100;
/// The memory check reads RSS after each slice of this many pushes.
const MEMORY_SLICES: u64 = 4;

#[derive(Parser, Debug)]
#[command(
    name = "gateways",
    about = "Load benchmark: mock gateways vs a bare hyper server vs wiremock"
)]
struct Args {
    /// Pushes per target per round (mock and bare server).
    #[arg(long, default_value_t = 200_000)]
    pushes: u64,
    /// Pushes per round for wiremock, which keeps every request in memory
    /// until it is reset [default: pushes / 4].
    #[arg(long)]
    wiremock_pushes: Option<u64>,
    /// Rounds per platform; each target's median over them is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// `apns`, `fcm`, `wns`, a comma-separated list, or `all`.
    #[arg(long, default_value = "all")]
    platform: String,
    /// Captures the mock keeps before evicting the oldest.
    #[arg(long, default_value_t = CAPTURE_CAPACITY)]
    capture_capacity: usize,
    /// Deliveries the mock keeps per device inbox [default: the mock's].
    #[arg(long)]
    inbox_capacity: Option<usize>,
    /// Pushes to the mock APNs for the memory check; 0 skips it.
    #[arg(long, default_value_t = 2_000_000)]
    memory_pushes: u64,
    /// h2c (APNs) load: connections.
    #[arg(long, default_value_t = 4)]
    h2_connections: usize,
    /// h2c (APNs) load: streams in flight per connection. 128 stays under
    /// hyper's default limit of 200, which the bare server and wiremock use.
    #[arg(long, default_value_t = 128)]
    h2_streams: usize,
    /// HTTP/1.1 (FCM, WNS) load: keep-alive connections, one request each.
    #[arg(long, default_value_t = 64)]
    http1_connections: usize,
    /// Where the JSON results go [default: reports/bench-gateways.json].
    #[arg(long)]
    json: Option<PathBuf>,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    check: bool,
    /// Passed by `cargo bench`; accepted so that it is not an error.
    #[arg(long, hide = true)]
    #[allow(dead_code)]
    bench: bool,
}

/// The validated plan of a run.
#[derive(Debug)]
struct Plan {
    platforms: Vec<Platform>,
    pushes: u64,
    wiremock_pushes: u64,
    rounds: usize,
    memory_pushes: u64,
    capture_capacity: usize,
    inbox_capacity: Option<usize>,
    h2: Load,
    http1: Load,
    json: PathBuf,
    check: bool,
}

impl Plan {
    fn from_args(args: Args) -> anyhow::Result<Plan> {
        ensure!(args.pushes > 0, "--pushes must be positive");
        ensure!(args.rounds > 0, "--rounds must be positive");
        ensure!(
            args.h2_connections > 0 && args.h2_streams > 0 && args.http1_connections > 0,
            "connection and stream counts must be positive"
        );
        Ok(Plan {
            platforms: parse_platforms(&args.platform)?,
            pushes: args.pushes,
            wiremock_pushes: args.wiremock_pushes.unwrap_or(args.pushes / 4).max(1),
            rounds: args.rounds,
            memory_pushes: args.memory_pushes,
            capture_capacity: args.capture_capacity,
            inbox_capacity: args.inbox_capacity,
            h2: Load::H2c {
                connections: args.h2_connections,
                streams: args.h2_streams,
            },
            http1: Load::Http1 {
                connections: args.http1_connections,
            },
            json: args.json.unwrap_or_else(|| {
                PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/reports/bench-gateways.json"
                ))
            }),
            check: args.check,
        })
    }

    /// APNs is HTTP/2 only; FCM and WNS are loaded over HTTP/1.1, what most
    /// backends' HTTP clients use for them.
    fn load(&self, platform: Platform) -> Load {
        match platform {
            Platform::Apns => self.h2,
            Platform::Fcm | Platform::Wns => self.http1,
        }
    }

    fn pushes_for(&self, target: Target) -> u64 {
        match target {
            Target::Wiremock => self.wiremock_pushes,
            Target::Mock | Target::Bare => self.pushes,
        }
    }
}

fn parse_platforms(text: &str) -> anyhow::Result<Vec<Platform>> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(Platform::ALL.to_vec());
    }
    let mut platforms = Vec::new();
    for name in text.split(',') {
        let platform: Platform = name.parse().context("--platform")?;
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    Ok(platforms)
}

fn main() -> anyhow::Result<()> {
    let plan = Plan::from_args(Args::parse())?;
    let server = ServerThread::start()?;
    // The generator: one thread, one current-thread runtime, whatever the
    // target; the servers run on their own thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the generator's runtime")?;
    let results = runtime.block_on(run(&plan, &server))?;
    results
        .write_json(&plan.json)
        .context("writing the JSON results")?;
    println!();
    if let (Some(start), Some(end)) = results.load_average {
        println!("load average (1 min): {start:.2} at start, {end:.2} at end");
    }
    println!("results written to {}", plan.json.display());
    if plan.check && !results.all_met() {
        bail!("a target was missed");
    }
    Ok(())
}

async fn run(plan: &Plan, server: &ServerThread) -> anyhow::Result<Results> {
    let load_at_start = usage::load_average();
    let mock = MockGateways::start(server, plan.capture_capacity, plan.inbox_capacity).await?;
    // The memory check runs first, on a process with no history: memory
    // freed by earlier work (wiremock's request log) could otherwise be
    // reused by the mock and hide growth.
    let memory = if plan.platforms.contains(&Platform::Apns) && plan.memory_pushes > 0 {
        let check = memory_check(plan, &mock).await?;
        check.print();
        Some(check)
    } else {
        None
    };
    let mut platforms = Vec::new();
    for &platform in &plan.platforms {
        let comparison = compare(plan, server, &mock, platform).await?;
        comparison.print();
        platforms.push(comparison);
    }
    Ok(Results {
        generated_at: now_rfc3339(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average: (load_at_start, usage::load_average()),
        capture_capacity: plan.capture_capacity,
        devices_per_platform: DEVICES,
        inbox_capacity: mock.config().inbox_capacity,
        platforms,
        memory,
    })
}

/// The three targets of one platform, measured interleaved.
async fn compare(
    plan: &Plan,
    server: &ServerThread,
    mock: &MockGateways,
    platform: Platform,
) -> anyhow::Result<Comparison> {
    let load = plan.load(platform);
    let pushes = mock.pushes(platform, DEVICES).await?;
    let wire = match load {
        Load::H2c { .. } => Wire::H2c,
        Load::Http1 { .. } => Wire::Http1,
    };
    let bare = BareServer::start(server, wire).await?;
    let wiremock = Wiremock::start(platform, &mock.config().fcm_project_id).await;
    let addr = |target: Target| match target {
        Target::Mock => mock.addr(platform),
        Target::Bare => bare.addr(),
        Target::Wiremock => wiremock.addr(),
    };
    eprintln!("{platform}: warming up");
    for target in Target::ALL {
        let warmup = load
            .run(addr(target), &pushes, plan.pushes_for(target) / 10)
            .await;
        ensure!(
            warmup.ok > 0,
            "{platform} {}: no push accepted in the warm-up (first failure: {})",
            target.as_str(),
            warmup.first_failure.as_deref().unwrap_or("none")
        );
        if target == Target::Wiremock {
            wiremock.reset().await;
        }
    }
    let mut samples: [Vec<Sample>; 3] = Default::default();
    for round in 1..=plan.rounds {
        let mut line = format!("{platform} round {round}/{}:", plan.rounds);
        for (i, target) in Target::ALL.into_iter().enumerate() {
            let sample = measure(load, addr(target), &pushes, plan.pushes_for(target)).await;
            line.push_str(&format!(
                " {} {:.0}/s",
                target.as_str(),
                sample.tally.rate()
            ));
            if target == Target::Wiremock {
                // Frees the requests it recorded, so rounds do not pile up.
                wiremock.reset().await;
            }
            samples[i].push(sample);
        }
        eprintln!("{line}");
    }
    let targets = Target::ALL
        .into_iter()
        .zip(&samples)
        .map(|(target, s)| TargetResult::new(target, plan.pushes_for(target), s))
        .collect();
    Ok(Comparison::new(platform, load, plan.rounds, targets))
}

/// One run of the load against one target, with the CPU it cost.
async fn measure(load: Load, addr: std::net::SocketAddr, pushes: &Pushes, count: u64) -> Sample {
    let before = CpuClock::now();
    let tally = load.run(addr, pushes, count).await;
    let cpu = CpuClock::now()
        .zip(before)
        .map(|(after, before)| after.since(before));
    // Let the connections of this run close before the next one starts.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Sample { tally, cpu }
}

/// RSS before and after `plan.memory_pushes` pushes to the mock APNs, after
/// a warm-up that fills the capture ring and every device's inbox.
async fn memory_check(plan: &Plan, mock: &MockGateways) -> anyhow::Result<MemoryCheck> {
    let load = plan.h2;
    let pushes = mock.pushes(Platform::Apns, DEVICES).await?;
    let inbox_capacity = mock.config().inbox_capacity;
    let fill = plan.capture_capacity.max(DEVICES * inbox_capacity) as u64;
    let warmup_pushes = (2 * fill).max(100_000);
    eprintln!("memory: warming up with {warmup_pushes} pushes");
    let warmup = load
        .run(mock.addr(Platform::Apns), &pushes, warmup_pushes)
        .await;
    ensure!(
        warmup.ok > 0,
        "mock APNs accepted no push in the warm-up (first failure: {})",
        warmup.first_failure.as_deref().unwrap_or("none")
    );
    let captures_kept_after_warmup = mock.capture_stats().kept;
    let rss_before = usage::rss_bytes()?;
    let slice = plan.memory_pushes.div_ceil(MEMORY_SLICES);
    let mut sent = 0;
    let mut tally = load::Tally::default();
    let mut rss_samples = Vec::new();
    while sent < plan.memory_pushes {
        let count = slice.min(plan.memory_pushes - sent);
        let part = load.run(mock.addr(Platform::Apns), &pushes, count).await;
        sent += count;
        tally.ok += part.ok;
        tally.failed += part.failed;
        tally.elapsed += part.elapsed;
        rss_samples.push((sent, usage::rss_bytes()?));
        eprintln!("memory: {sent} pushes sent");
    }
    let rss_after = usage::rss_bytes()?;
    let growth = i64::try_from(rss_after).unwrap_or(i64::MAX)
        - i64::try_from(rss_before).unwrap_or(i64::MAX);
    Ok(MemoryCheck {
        load,
        capture_capacity: plan.capture_capacity,
        devices: DEVICES,
        inbox_capacity,
        warmup_pushes,
        captures_kept_after_warmup,
        pushes: plan.memory_pushes,
        accepted: tally.ok,
        failed: tally.failed,
        rate_per_s: tally.rate(),
        rss_before_bytes: rss_before,
        rss_after_bytes: rss_after,
        rss_samples,
        growth_bytes: growth,
        meets_target: growth < report::MAX_RSS_GROWTH_BYTES as i64,
    })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
