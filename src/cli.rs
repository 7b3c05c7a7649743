//! The command line: subcommands and their flags, parsed by clap and turned
//! into typed plans before anything starts. A bad flag is an error that
//! names it (exit 2), never a surprise in the middle of a run.

mod load;
pub(crate) mod stdout;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use stdout::{out, outln};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use pushproof_mocks::{
    ApnsEnvironment, FaultPlan, GatewayConfig, Gateways, Impersonation, TlsSettings,
};

use pushproof_backend::{self as backend, Flaw};

mod check;
mod common;
mod profile;
mod run;

pub use check::CheckArgs;
pub use profile::ProfileArgs;
pub use run::RunArgs;

#[derive(Debug, Parser)]
#[command(
    name = "pushproof",
    version,
    about = "Load-testing and conformance harness for secure-push notification backends"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The main job on embedded defaults: mock gateways, the reference
    /// backend and a device fleet; runs the conformance checks and writes
    /// reports/<run>/ (report.json, index.json, evidence/). Exit 0 pass, 1
    /// a check failed or erred, 2 harness or usage error.
    Run(Box<RunArgs>),
    /// The conformance gate on any backend: --backend-cmd, --backend-url,
    /// or (by default) the embedded reference backend. Exit 0 pass, 1 any
    /// FAIL or ERROR (WARN too with --strict), 2 harness or usage error.
    Check(Box<CheckArgs>),
    /// Work with backend profiles (`pushproof profile check FILE`).
    Profile(ProfileArgs),
    /// Run the reference backend standalone, configured by the PUSHPROOF_*
    /// environment (see `pushproof mocks --env-file`).
    Backend(BackendArgs),
    /// Run the mock APNs, FCM and WNS gateways standalone until Ctrl-C.
    Mocks(MocksArgs),
    /// The open-model dispatch benchmark: notifications at planned
    /// instants, latency from those instants, counts that reconcile;
    /// writes load.json, load.md and load.html.
    Load(Box<load::LoadArgs>),
    /// Work on reports: `report merge DIR…` merges shards' load.json.
    #[command(subcommand)]
    Report(load::ReportCommand),
}

/// TLS for the mock gateways.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Serve the gateways over TLS (HTTP/2 and HTTP/1.1 by ALPN) with
    /// certificates from a CA generated for the run.
    #[arg(long)]
    pub tls: bool,
    /// Keep the CA in this folder (ca.pem, ca.key): reused when present,
    /// created otherwise, so clients can trust it once. Implies --tls.
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
}

impl TlsArgs {
    pub(crate) fn settings(&self) -> Option<TlsSettings> {
        (self.tls || self.ca_dir.is_some()).then(|| TlsSettings {
            ca_dir: self.ca_dir.clone(),
        })
    }
}

#[derive(Debug, Args)]
pub struct BackendArgs {
    /// Address to listen on [default: $PUSHPROOF_LISTEN, else 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// SQLite database file (created if missing).
    #[arg(long, default_value = "pushproof-backend.db")]
    pub db: PathBuf,
    /// Deliberate flaw to switch on (repeatable): leak-payload, no-authz,
    /// logout-keeps-token, anonymous-fetch, stall, lose.
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<Flaw>,
    /// Lifetime of login tokens, in seconds.
    #[arg(long, default_value_t = 3600.0, value_parser = positive_seconds)]
    pub token_ttl: f64,
}

/// Where `pushproof backend` listens: `--listen`, else `PUSHPROOF_LISTEN`,
/// else the default; a bad value names where it came from.
fn listen_address(flag: Option<&str>, env: Option<String>) -> anyhow::Result<SocketAddr> {
    let (source, text) = match (flag, env) {
        (Some(text), _) => ("--listen", text.to_owned()),
        (None, Some(text)) if !text.trim().is_empty() => ("PUSHPROOF_LISTEN", text),
        _ => return Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
    };
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{source}={text:?} is not a host:port address such as 127.0.0.1:8080")
    })
}

#[derive(Debug, Args)]
pub struct MocksArgs {
    /// Write the backend-contract environment (PUSHPROOF_*) to this file.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// Folder for the generated keys and credentials.
    #[arg(long, default_value = "pushproof-mocks")]
    pub keys_dir: PathBuf,
    /// Faults to inject from the start: a TOML file of [[rule]]s (see
    /// scenarios/faults/). More can be set over the control API.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Stream every captured request to this JSON-lines file.
    #[arg(long, value_name = "FILE")]
    pub capture_file: Option<PathBuf>,
    /// Answer as APNs's development host (api.sandbox.push.apple.com):
    /// successful pushes also carry `apns-unique-id`.
    #[arg(long)]
    pub apns_sandbox: bool,
    /// Address to bind the gateways on, for a backend elsewhere (in a
    /// container): the URLs and the TLS certificate name it. 0.0.0.0 binds
    /// every interface (the URLs then name 127.0.0.1).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Fixed ports for APNs, FCM and WNS (e.g. 8001,8002,8003), so that a
    /// Service can front them; free ports by default.
    #[arg(long, value_name = "APNS,FCM,WNS", value_parser = parse_ports)]
    pub ports: Option<[u16; 3]>,
    /// The host name the URLs and the certificate name, when the backend
    /// reaches the mocks by a name (a Kubernetes Service) rather than by
    /// the bound address.
    #[arg(long, value_name = "NAME")]
    pub advertise: Option<String>,
    /// Captures kept before the oldest are evicted (a long load run needs
    /// few: its counts come from counters, not captures).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub capture_capacity: Option<u32>,
    /// Host impersonation (implies --tls): one more listener answers for
    /// api.push.apple.com, api.sandbox.push.apple.com, fcm.googleapis.com,
    /// oauth2.googleapis.com, login.live.com, login.microsoftonline.com and
    /// *.notify.windows.com, which the certificate also names; the
    /// backend contract then names those URLs. Prints the hosts-file lines.
    #[arg(long)]
    pub impersonate: bool,
    /// Port of the host-impersonation listener (default 443, which needs
    /// root or CAP_NET_BIND_SERVICE). Implies --impersonate.
    #[arg(long, value_name = "PORT")]
    pub impersonate_port: Option<u16>,
    /// Write the hosts-file lines of host impersonation to FILE (for
    /// /etc/hosts in a container, or `docker run --add-host`). Implies
    /// --impersonate.
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The line `pushproof mocks` prints last, once every file is written and
/// every listener serves: scripts wait for it (or for the env file).
pub const MOCKS_READY_LINE: &str = "pushproof mocks ready";

/// The gateways `pushproof mocks` starts.
fn mocks_config(args: &MocksArgs) -> GatewayConfig {
    let impersonation = (args.impersonate
        || args.impersonate_port.is_some()
        || args.hosts_file.is_some())
    .then(|| Impersonation {
        port: args.impersonate_port.unwrap_or(443),
    });
    GatewayConfig {
        tls: args
            .tls
            .settings()
            .or_else(|| impersonation.map(|_| TlsSettings::default())),
        host: args.host,
        ports: args.ports.unwrap_or([0; 3]),
        advertise: args.advertise.clone(),
        capture_capacity: args
            .capture_capacity
            .map_or(GatewayConfig::default().capture_capacity, |n| n as usize),
        impersonation,
        capture_file: args.capture_file.clone(),
        apns_environment: if args.apns_sandbox {
            ApnsEnvironment::Development
        } else {
            ApnsEnvironment::Production
        },
        ..GatewayConfig::default()
    }
}

/// `APNS,FCM,WNS` ports, three distinct numbers.
fn parse_ports(text: &str) -> Result<[u16; 3], String> {
    let ports: Vec<u16> = text
        .split(',')
        .map(|p| p.trim().parse::<u16>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not three ports APNS,FCM,WNS"))?;
    match ports[..] {
        [a, b, c] if a != b && b != c && a != c => Ok([a, b, c]),
        _ => Err(format!("{text:?} is not three distinct ports APNS,FCM,WNS")),
    }
}

pub(crate) fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds in (0, 86400]")),
    }
}

/// Runs the parsed command; returns the process exit code.
pub async fn execute(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(*args).await,
        Command::Check(args) => check::check(*args).await,
        Command::Profile(args) => profile::execute(args),
        Command::Backend(args) => serve_backend(args).await,
        Command::Mocks(args) => serve_mocks(args).await,
        Command::Load(args) => load::load(*args).await,
        Command::Report(command) => load::report(command),
    }
}

async fn serve_backend(args: BackendArgs) -> anyhow::Result<i32> {
    let listen = listen_address(
        args.listen.as_deref(),
        std::env::var("PUSHPROOF_LISTEN").ok(),
    )?;
    let mut config = backend::Config::from_vars(args.db.clone(), |name| std::env::var(name).ok())
        .context("reading the PUSHPROOF_* environment")?;
    let platforms = config.platforms();
    if platforms.is_empty() {
        anyhow::bail!(
            "no push platform is configured: set the PUSHPROOF_APNS_*, PUSHPROOF_FCM_* or \
             PUSHPROOF_WNS_* variables, or PUSHPROOF_NH_CONNECTION_STRING and PUSHPROOF_NH_HUB \
             for a Notification Hub (`pushproof mocks --env-file FILE` writes them)"
        );
    }
    let through = match &config.hub {
        Some(hub) => format!(
            " through the Notification Hub {} at {}",
            hub.hub, hub.origin
        ),
        None => String::new(),
    };
    config.flaws = args.flaws;
    config.token_ttl = Duration::from_secs_f64(args.token_ttl);
    let flaws = backend::Flaws(&config.flaws).to_string();
    // Open the database and build the push clients before binding, so a
    // bad --db fails before anything is announced.
    let server = backend::Backend::open(config).await.with_context(|| {
        format!(
            "starting the reference backend with --db {}",
            args.db.display()
        )
    })?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    eprintln!(
        "pushproof reference backend on http://{} (database {}, platforms {}{through}, flaws {flaws})",
        listener.local_addr()?,
        args.db.display(),
        platforms.join(", "),
    );
    server.serve(listener, shutdown_signal()).await?;
    Ok(0)
}

async fn serve_mocks(args: MocksArgs) -> anyhow::Result<i32> {
    // A bad fault file is a usage error, found before anything listens.
    let faults = args.faults.as_deref().map(FaultPlan::load).transpose()?;
    let gateways = Gateways::start(mocks_config(&args)).await?;
    if let Some(plan) = faults {
        gateways.set_faults(plan.rules)?;
    }
    std::fs::create_dir_all(&args.keys_dir)
        .with_context(|| format!("creating {}", args.keys_dir.display()))?;
    let env = gateways.write_credentials(&args.keys_dir)?;
    outln!("APNs  {}", gateways.apns_url());
    outln!(
        "FCM   {} (OAuth token endpoint {})",
        gateways.fcm_url(),
        gateways.fcm_token_url()
    );
    outln!(
        "WNS   {} (OAuth token endpoint {})",
        gateways.wns_url(),
        gateways.wns_token_url()
    );
    let hub = gateways.hub();
    outln!(
        "Hub   {} (hub {:?}, namespace endpoint {})",
        hub.url(),
        hub.name(),
        hub.endpoint()
    );
    if gateways.ca_pem().is_some() {
        let ca = std::path::absolute(args.keys_dir.join("ca.pem"))?;
        outln!(
            "TLS   clients trust {} (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)",
            ca.display()
        );
    }
    if let Some(control) = env.get("PUSHPROOF_CONTROL_URL") {
        outln!("control API {control}/__pushproof/ (HTTP/1.1; on every gateway's port)");
    }
    if let Some(hosts) = gateways.hosts_file() {
        if let Some(addr) = gateways.impersonation_addr() {
            outln!("hosts {addr} answers for the services' own hosts; add these lines to the backend's hosts file:");
        }
        out!("{hosts}");
        if let Some(path) = &args.hosts_file {
            std::fs::write(path, &hosts).with_context(|| format!("writing {}", path.display()))?;
            outln!("hosts lines written to {}", path.display());
        }
    }
    if let Some(path) = &args.env_file {
        env.write_env_file(path)
            .with_context(|| format!("writing {}", path.display()))?;
        outln!("environment written to {}", path.display());
    }
    // Last: every file is in place and every listener serves.
    outln!("{MOCKS_READY_LINE}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    shutdown_signal().await;
    gateways.flush_capture_file().await;
    gateways.shutdown().await;
    Ok(0)
}

async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handler available: run until killed.
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mocks_args(argv: &[&str]) -> MocksArgs {
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command {
            Command::Mocks(args) => args,
            _ => panic!("not the mocks command"),
        }
    }

    #[test]
    fn mocks_answer_as_apns_production_unless_asked_for_the_sandbox() {
        let production = mocks_config(&mocks_args(&["pushproof", "mocks"]));
        assert_eq!(production.apns_environment, ApnsEnvironment::Production);
        let sandbox = mocks_config(&mocks_args(&["pushproof", "mocks", "--apns-sandbox"]));
        assert_eq!(sandbox.apns_environment, ApnsEnvironment::Development);
    }

    #[test]
    fn mocks_impersonate_on_443_with_tls_when_asked() {
        let plain = mocks_config(&mocks_args(&["pushproof", "mocks"]));
        assert_eq!((plain.impersonation, plain.tls), (None, None));
        let on = mocks_config(&mocks_args(&["pushproof", "mocks", "--impersonate"]));
        assert_eq!(on.impersonation, Some(Impersonation { port: 443 }));
        assert!(on.tls.is_some(), "impersonation implies TLS");
        let port = mocks_config(&mocks_args(&[
            "pushproof",
            "mocks",
            "--impersonate-port",
            "8443",
        ]));
        assert_eq!(port.impersonation, Some(Impersonation { port: 8443 }));
        let hosts = mocks_config(&mocks_args(&["pushproof", "mocks", "--hosts-file", "h"]));
        assert_eq!(hosts.impersonation, Some(Impersonation { port: 443 }));
    }

    #[test]
    fn mocks_bind_the_host_given() {
        let config = mocks_config(&mocks_args(&["pushproof", "mocks", "--host", "0.0.0.0"]));
        assert_eq!(config.host.to_string(), "0.0.0.0");
        assert!(Cli::try_parse_from(["pushproof", "mocks", "--host", "nowhere"]).is_err());
    }

    #[test]
    fn listen_address_names_where_a_bad_value_came_from() {
        let env = listen_address(None, Some("bad".into())).unwrap_err();
        assert!(
            env.to_string().contains("PUSHPROOF_LISTEN=\"bad\""),
            "{env}"
        );
        let flag = listen_address(Some("nope"), Some("127.0.0.1:1".into())).unwrap_err();
        assert!(flag.to_string().contains("--listen=\"nope\""), "{flag}");
        assert_eq!(
            listen_address(None, Some("127.0.0.1:9".into())).unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(listen_address(None, None).unwrap().port(), 8080);
    }
}
