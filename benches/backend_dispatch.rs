//! What the reference backend's CPU costs per notification, end to end:
//! the device fleet sends, the backend stores and pushes through the mock
//! gateways, the devices fetch and verify, round after round.
//!
//! ```sh
//! cargo bench --bench backend_dispatch [-- --devices 3000 --rounds 10 --concurrency 256 --tls]
//! ```
//!
//! A profiling aid, not the dispatch benchmark itself (that is the
//! open-model `pushproof load`): the fleet runs closed-loop, as `pushproof
//! run` does, so the rate it prints is concurrency over latency. What it
//! measures honestly is CPU: the backend runs on a tokio runtime of its own
//! whose threads are named `backend-rt`, beside its store threads
//! (`backend-store-*`), and every thread's CPU time is read from
//! `/proc/self/task/*/schedstat` (nanoseconds) before and after each round.
//! CPU per notification stays meaningful on a machine shared with other
//! work, where rates do not; compare two builds by running them in
//! alternation.
//!
//! Under `perf record -g`, `perf report --comm backend-rt` (and
//! `backend-store-w`) shows the backend's own profile. To leave start-up
//! and enrolment out of it, start perf disabled with a control FIFO and
//! name it in `PERF_CTL_FIFO`; the benchmark enables perf for the measured
//! rounds only:
//!
//! ```sh
//! mkfifo /tmp/ctl; PERF_CTL_FIFO=/tmp/ctl perf record -D -1 --control fifo:/tmp/ctl \
//!     --call-graph dwarf -- target/release/deps/backend_dispatch-… --rounds 10
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use clap::Parser;
use pushproof::client::BackendClient;
use pushproof::device::{Api, Context, Fleet, FleetPlan, Outcome};
use pushproof::plane::MockPlane;
use pushproof::profile::Profile;
use pushproof_backend::{Backend, Config, Flaw};
use pushproof_mocks::{GatewayConfig, Gateways, Platform, TlsSettings};

/// The `pushproof` binary's allocator, so the backend runs as it does there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Name of the backend runtime's threads; 15 bytes at most, as Linux keeps
/// no more of a thread name.
const BACKEND_THREADS: &str = "backend-rt";

#[derive(Debug, Parser)]
struct Args {
    /// Simulated devices (one user each), spread over the platforms.
    #[arg(long, default_value_t = 3000)]
    devices: usize,
    /// Measured rounds; each sends one secret to every device.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Platforms, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = Platform::ALL.to_vec())]
    platforms: Vec<Platform>,
    /// Worker threads of the backend's runtime.
    #[arg(long, default_value_t = 2)]
    backend_workers: usize,
    /// Gateways over TLS.
    #[arg(long)]
    tls: bool,
    /// Start the backend with a deliberate flaw (repeatable).
    #[arg(long = "flaw")]
    flaws: Vec<Flaw>,
    /// `cargo bench` passes `--bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let backend_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.backend_workers.max(1))
        .thread_name(BACKEND_THREADS)
        .enable_all()
        .build()
        .context("building the backend's runtime")?;
    let harness_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("harness")
        .enable_all()
        .build()
        .context("building the harness runtime")?;
    harness_rt.block_on(drive(&args, backend_rt.handle().clone()))
}

async fn drive(args: &Args, backend_rt: tokio::runtime::Handle) -> anyhow::Result<()> {
    let workdir = tempfile::tempdir().context("a working directory")?;
    let gateways = Arc::new(
        Gateways::start(GatewayConfig {
            // Small enough to stay flat over many rounds.
            capture_capacity: 20_000,
            tls: args.tls.then(TlsSettings::default),
            ..GatewayConfig::default()
        })
        .await?,
    );
    let env: HashMap<String, String> = gateways
        .write_credentials(workdir.path())?
        .vars
        .into_iter()
        .collect();
    let mut config = Config::from_vars(workdir.path().join("backend.db"), |name| {
        env.get(name).cloned()
    })?;
    config.flaws = args.flaws.clone();

    // Bound, opened and served inside the backend's runtime, so its sockets
    // and tasks live on its threads.
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone().cancelled_owned();
    let backend = backend_rt.spawn(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let backend = Backend::open(config).await?;
        let _ = addr_tx.send(listener.local_addr()?);
        backend.serve(listener, stopped).await?;
        anyhow::Ok(())
    });
    let addr = addr_rx.await.context("the backend did not start")?;

    let ctx = Context {
        api: Api::new(
            BackendClient::new(&format!("http://{addr}"), Duration::from_secs(10)),
            Arc::new(Profile::reference()),
        ),
        plane: MockPlane::local(Arc::clone(&gateways)),
        push_timeout: Duration::from_secs(10),
    };
    let plan = FleetPlan {
        devices: args.devices,
        users: args.devices,
        platforms: args.platforms.clone(),
        concurrency: args.concurrency,
        run_tag: "bench".to_owned(),
    };
    let fleet = Fleet::enroll(&ctx, &plan).await?;
    ensure!(
        fleet.enrol_failures.is_empty(),
        "{} devices failed to enrol, first: {:?}",
        fleet.enrol_failures.len(),
        fleet.enrol_failures.first()
    );
    let secrets: Arc<Vec<String>> = Arc::new(
        (0..args.devices)
            .map(|i| format!("secret {i} of the backend benchmark"))
            .collect(),
    );

    println!(
        "backend_dispatch: {} devices, concurrency {}, {} backend workers{}{}",
        args.devices,
        args.concurrency,
        args.backend_workers,
        if args.tls { ", TLS" } else { "" },
        if args.flaws.is_empty() {
            String::new()
        } else {
            format!(", flaws {:?}", args.flaws)
        }
    );
    println!(
        "round  verified  wall s   rate/s   backend µs/n (store)   rest µs/n   send p50/p99 ms   e2e p50/p99 ms"
    );
    let mut backend_per = Vec::new();
    let mut store_per = Vec::new();
    let mut rest_per = Vec::new();
    let mut rates = Vec::new();
    let perf = PerfControl::from_env();
    // Round 0 warms up (connections, tokens, caches) and is not counted.
    for round in 0..=args.rounds {
        if round == 1 {
            perf.send("enable");
        }
        let before = Cpu::read();
        let started = Instant::now();
        let trips = fleet
            .round_trips(&ctx, &fleet.devices, &secrets, args.concurrency)
            .await;
        let wall = started.elapsed();
        let spent = Cpu::read().since(&before);
        let verified = trips
            .iter()
            .filter(|t| t.outcome == Outcome::Verified)
            .count();
        ensure!(
            verified == trips.len(),
            "round {round}: {} of {} not verified, first: {:?}",
            trips.len() - verified,
            trips.len(),
            trips.iter().find(|t| t.outcome != Outcome::Verified)
        );
        let n = verified as f64;
        let backend_us = spent.backend.as_secs_f64() * 1e6 / n;
        let store_us = spent.store.as_secs_f64() * 1e6 / n;
        let rest_us = spent.rest.as_secs_f64() * 1e6 / n;
        let rate = n / wall.as_secs_f64();
        let send = Percentiles::of(trips.iter().filter_map(|t| t.send));
        let e2e = Percentiles::of(trips.iter().filter_map(|t| t.end_to_end));
        println!(
            "{round:>5}  {verified:>8}  {:>6.3}  {rate:>7.0}   {backend_us:>12.1} {:>7}   {rest_us:>9.1}   {send:>15}   {e2e:>14}{}",
            wall.as_secs_f64(),
            format!("({store_us:.1})"),
            if round == 0 { "  (warm-up)" } else { "" }
        );
        if round > 0 {
            backend_per.push(backend_us);
            store_per.push(store_us);
            rest_per.push(rest_us);
            rates.push(rate);
        }
    }
    perf.send("disable");
    println!(
        "median: backend {:.1} µs/notification (store threads {:.1}), harness+mocks {:.1} µs/notification, {:.0} verified/s (closed loop; load average {})",
        median(&mut backend_per),
        median(&mut store_per),
        median(&mut rest_per),
        median(&mut rates),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default()
    );

    stop.cancel();
    backend.await.context("the backend task")??;
    Ok(())
}

/// perf's control FIFO (`perf record --control fifo:PATH`), if
/// `PERF_CTL_FIFO` names one.
struct PerfControl(Option<std::path::PathBuf>);

impl PerfControl {
    fn from_env() -> PerfControl {
        PerfControl(std::env::var_os("PERF_CTL_FIFO").map(Into::into))
    }

    fn send(&self, command: &str) {
        if let Some(path) = &self.0 {
            if let Err(error) = std::fs::write(path, format!("{command}\n")) {
                eprintln!("perf control {}: {error}", path.display());
            }
        }
    }
}

/// p50 and p99 of a round's latencies, printed as `p50/p99` in ms.
struct Percentiles(f64, f64);

impl Percentiles {
    fn of(durations: impl Iterator<Item = Duration>) -> Percentiles {
        let mut ms: Vec<f64> = durations.map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len().max(1)) - 1;
            ms.get(i).copied().unwrap_or(f64::NAN)
        };
        Percentiles(at(0.5), at(0.99))
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&format!("{:.1}/{:.1}", self.0, self.1))
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Whose a thread is, by its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// The backend's runtime (`backend-rt`).
    Backend,
    /// The backend's SQLite threads (`backend-store-*`).
    Store,
    /// The harness and the mock gateways.
    Rest,
}

/// CPU time of this process's threads so far, by [`Group`].
struct Cpu {
    /// Per thread id: its group and its nanoseconds on CPU.
    threads: HashMap<u32, (Group, u64)>,
}

/// CPU time spent over an interval.
struct Spent {
    /// The backend's runtime and store threads together.
    backend: Duration,
    /// Of which the store threads.
    store: Duration,
    rest: Duration,
}

impl Cpu {
    fn read() -> Cpu {
        let mut threads = HashMap::new();
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return Cpu { threads };
        };
        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let path = entry.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let group = if comm.starts_with("backend-store") {
                Group::Store
            } else if comm.starts_with("backend") {
                Group::Backend
            } else {
                Group::Rest
            };
            // `schedstat`: nanoseconds on CPU, nanoseconds waiting, slices.
            let on_cpu = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            threads.insert(tid, (group, on_cpu));
        }
        Cpu { threads }
    }

    /// Time spent since `earlier`; a thread born in between counts whole.
    fn since(&self, earlier: &Cpu) -> Spent {
        let (mut runtime, mut store, mut rest) = (0u64, 0u64, 0u64);
        for (tid, (group, now)) in &self.threads {
            let then = earlier.threads.get(tid).map_or(0, |(_, ns)| *ns);
            let spent = now.saturating_sub(then);
            match group {
                Group::Backend => runtime += spent,
                Group::Store => store += spent,
                Group::Rest => rest += spent,
            }
        }
        Spent {
            backend: Duration::from_nanos(runtime + store),
            store: Duration::from_nanos(store),
            rest: Duration::from_nanos(rest),
        }
    }
}
