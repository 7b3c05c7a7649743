//! The backend under test, whichever kind it is: the embedded reference
//! backend ([`embedded`]), a command the harness starts ([`command`]), or a
//! URL of a backend already running. `run`, `check` and `load` all reach it
//! through [`Target`]: its origin, whether it is still alive, and, at the
//! end, a [`TargetInfo`] for the report.
//!
//! A backend the harness starts gets the half of the contract its
//! [`Delivery`] calls for: the gateways' variables, or in hub mode the
//! Notification Hub's.
//!
//! A backend that will not start, or dies during the run, is a finding (a
//! [`TargetFailure`] with the tail of its log), never a harness error; only
//! what the harness itself cannot do (create a log file, an empty command)
//! is a [`TargetError::Harness`].

pub mod command;
pub mod delivery;
pub mod embedded;

pub use delivery::Delivery;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pushproof_backend::Flaw;

use crate::client::BackendClient;
use crate::report::suite::{TargetFailure, TargetInfo};

/// How often readiness is probed while a backend starts.
const READY_POLL: Duration = Duration::from_millis(50);

/// What to test.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference backend in this process, on its own runtime.
    Embedded(embedded::Options),
    /// A command started with the backend contract's environment.
    Command {
        command: String,
        startup_timeout: Duration,
        /// Requested until any HTTP answer comes.
        ready_path: String,
        /// Direct to the gateways, or through the hub.
        delivery: Delivery,
    },
    /// A backend already running.
    Url { url: String, ready_path: String },
}

impl TargetSpec {
    /// The reference backend with these flaws and default options.
    pub fn embedded(flaws: Vec<Flaw>) -> TargetSpec {
        TargetSpec::Embedded(embedded::Options {
            flaws,
            ..embedded::Options::default()
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            TargetSpec::Embedded(_) => "embedded",
            TargetSpec::Command { .. } => "command",
            TargetSpec::Url { .. } => "url",
        }
    }

    /// How a started backend reaches the devices; `None` for a backend
    /// already running, which was given its environment by whoever
    /// started it.
    pub fn delivery(&self) -> Option<Delivery> {
        match self {
            TargetSpec::Embedded(options) => Some(options.delivery),
            TargetSpec::Command { delivery, .. } => Some(*delivery),
            TargetSpec::Url { .. } => None,
        }
    }

    /// The same target in another delivery mode (a URL target keeps the
    /// environment it was started with).
    pub fn with_delivery(mut self, mode: Delivery) -> TargetSpec {
        match &mut self {
            TargetSpec::Embedded(options) => options.delivery = mode,
            TargetSpec::Command { delivery, .. } => *delivery = mode,
            TargetSpec::Url { .. } => {}
        }
        self
    }

    /// One line for people, saying the hub when pushes go through it.
    pub fn description(&self) -> String {
        let target = self.target_description();
        match self.delivery() {
            Some(Delivery::Hub) => format!("{target}, through the Notification Hub"),
            _ => target,
        }
    }

    fn target_description(&self) -> String {
        match self {
            TargetSpec::Embedded(options) if options.flaws.is_empty() => {
                "embedded reference backend".to_owned()
            }
            TargetSpec::Embedded(options) => format!(
                "embedded reference backend (flaws {})",
                pushproof_backend::Flaws(&options.flaws)
            ),
            TargetSpec::Command { command, .. } => command.clone(),
            TargetSpec::Url { url, .. } => url.clone(),
        }
    }

    /// The flaws of an embedded target.
    pub fn flaws(&self) -> &[Flaw] {
        match self {
            TargetSpec::Embedded(options) => &options.flaws,
            _ => &[],
        }
    }
}

/// Where a target keeps its files.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// Scratch space (the embedded backend's database).
    pub work: PathBuf,
    /// Where the backend's stdout and stderr go (the report directory).
    pub logs: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The backend would not start or answer: a finding for the report.
    #[error("{}", .0.failure.as_ref().map_or("the backend failed", |f| f.summary.as_str()))]
    Failed(Box<TargetInfo>),
    /// The harness could not even try.
    #[error("{0}")]
    Harness(String),
}

/// A started backend.
pub struct Target {
    spec: TargetSpec,
    origin: String,
    inner: Inner,
}

enum Inner {
    Embedded(embedded::EmbeddedBackend),
    Command(command::Process),
    Url,
}

impl Target {
    /// Starts (or, for a URL, reaches) the backend and waits until it
    /// answers HTTP. `env` is every `PUSHPROOF_*` variable the mocks wrote
    /// but `PUSHPROOF_LISTEN`; a started backend gets the part of it its
    /// delivery mode calls for.
    pub async fn start(
        spec: &TargetSpec,
        env: &[(String, String)],
        dirs: &Dirs,
    ) -> Result<Target, TargetError> {
        let env = match spec.delivery() {
            Some(delivery) => delivery.contract(env).map_err(TargetError::Harness)?,
            None => env.to_vec(),
        };
        let env = env.as_slice();
        let (origin, inner) = match spec {
            TargetSpec::Embedded(options) => {
                let backend = embedded::EmbeddedBackend::start(options, env, &dirs.work)
                    .await
                    .map_err(|summary| {
                        TargetError::Failed(Box::new(info(
                            spec,
                            "",
                            Vec::new(),
                            Some(failure(summary, String::new())),
                        )))
                    })?;
                (backend.origin().to_owned(), Inner::Embedded(backend))
            }
            TargetSpec::Command {
                command,
                startup_timeout,
                ready_path,
                ..
            } => {
                let process =
                    command::Process::start(command, env, &dirs.logs, *startup_timeout, ready_path)
                        .await?;
                (process.origin().to_owned(), Inner::Command(process))
            }
            TargetSpec::Url { url, ready_path } => {
                let origin = url.trim_end_matches('/').to_owned();
                if let Err(summary) =
                    wait_until_answering(&origin, ready_path, Duration::from_secs(10), || None)
                        .await
                {
                    return Err(TargetError::Failed(Box::new(info(
                        spec,
                        &origin,
                        Vec::new(),
                        Some(failure(summary, String::new())),
                    ))));
                }
                (origin, Inner::Url)
            }
        };
        Ok(Target {
            spec: spec.clone(),
            origin,
            inner,
        })
    }

    /// `http://host:port` of the backend.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    /// Whether the backend has died; the failure if so.
    pub fn failure(&self) -> Option<TargetFailure> {
        match &self.inner {
            Inner::Command(process) => process.died(),
            Inner::Embedded(backend) => backend.died(),
            Inner::Url => None,
        }
    }

    /// The embedded backend's runtime threads are named with this prefix,
    /// so a load run can measure its CPU apart from the harness's.
    pub fn thread_prefix(&self) -> Option<&'static str> {
        match &self.inner {
            Inner::Embedded(_) => Some(embedded::THREAD_PREFIX),
            _ => None,
        }
    }

    /// The process id of a command backend (its process group's id too).
    pub fn pid(&self) -> Option<u32> {
        match &self.inner {
            Inner::Command(process) => Some(process.pid()),
            _ => None,
        }
    }

    /// Stops the backend (a command: SIGTERM to its process group, SIGKILL
    /// after a grace period) and describes it for the report, with the
    /// failure if it died before it was asked to stop.
    pub async fn stop(self, logs: &Path) -> TargetInfo {
        let (failure, log_files) = match self.inner {
            Inner::Embedded(backend) => (backend.stop().await, Vec::new()),
            Inner::Command(process) => {
                let files = process.log_files(logs);
                (process.stop().await, files)
            }
            Inner::Url => (None, Vec::new()),
        };
        info(&self.spec, &self.origin, log_files, failure)
    }
}

fn info(
    spec: &TargetSpec,
    origin: &str,
    log_files: Vec<String>,
    failure: Option<TargetFailure>,
) -> TargetInfo {
    TargetInfo {
        kind: spec.kind().to_owned(),
        description: spec.description(),
        origin: origin.to_owned(),
        log_files,
        failure,
    }
}

pub(crate) fn failure(summary: String, log_tail: String) -> TargetFailure {
    TargetFailure { summary, log_tail }
}

/// Probes `origin` + `path` until any HTTP answer comes (a 404 is an
/// answer), `died` reports an early exit, or `timeout` passes.
pub(crate) async fn wait_until_answering(
    origin: &str,
    path: &str,
    timeout: Duration,
    died: impl Fn() -> Option<String>,
) -> Result<(), String> {
    let client = BackendClient::new(origin, Duration::from_secs(2));
    let started = Instant::now();
    let mut last;
    loop {
        if let Some(why) = died() {
            return Err(why);
        }
        let exchange = client
            .raw(http::Method::GET, path, Vec::new(), bytes::Bytes::new())
            .await;
        match &exchange.outcome {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        if started.elapsed() >= timeout {
            return Err(format!(
                "{origin} did not answer HTTP within {:.0} s (last: {last})",
                timeout.as_secs_f64()
            ));
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
