//! A backend started from a command line (`--backend-cmd`): run by `sh -c`
//! in a process group of its own, with the backend contract's environment
//! plus `PUSHPROOF_LISTEN` on a free port, its stdout and stderr in files of
//! the report directory. Ready once it answers HTTP; an exit before that,
//! or no answer by the startup timeout, is a failure with the tail of its
//! log. Stopped with SIGTERM to the whole group, then SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::{failure, wait_until_answering, TargetError};
use crate::report::suite::{TargetFailure, TargetInfo};

/// How long a backend gets to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);
/// How much of each log the report keeps.
const TAIL_BYTES: u64 = 4096;
const TAIL_LINES: usize = 40;

/// A started backend process.
pub struct Process {
    command: String,
    origin: String,
    pid: u32,
    stdout: PathBuf,
    stderr: PathBuf,
    /// The exit status once it has exited.
    exited: watch::Receiver<Option<ExitStatus>>,
    /// Set once the harness asked it to stop: an exit after that is no
    /// failure.
    stopping: Arc<Mutex<bool>>,
}

impl Process {
    pub async fn start(
        command: &str,
        env: &[(String, String)],
        logs: &Path,
        startup_timeout: Duration,
        ready_path: &str,
    ) -> Result<Process, TargetError> {
        if command.trim().is_empty() {
            return Err(TargetError::Harness("--backend-cmd is empty".to_owned()));
        }
        let listen =
            free_port().map_err(|e| TargetError::Harness(format!("finding a free port: {e}")))?;
        std::fs::create_dir_all(logs)
            .map_err(|e| TargetError::Harness(format!("creating {}: {e}", logs.display())))?;
        let stdout = logs.join("backend.stdout.log");
        let stderr = logs.join("backend.stderr.log");
        let open = |path: &Path| {
            std::fs::File::create(path)
                .map_err(|e| TargetError::Harness(format!("creating {}: {e}", path.display())))
        };
        let mut child = tokio::process::Command::new("sh");
        child
            .arg("-c")
            .arg(command)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PUSHPROOF_LISTEN", listen.to_string())
            .stdin(Stdio::null())
            .stdout(open(&stdout)?)
            .stderr(open(&stderr)?)
            // Its own group, so SIGTERM reaches everything the shell
            // starts (npm → node, …) and Ctrl-C on the harness does not
            // reach it before the harness has collected its logs.
            .process_group(0)
            .kill_on_drop(true);
        let origin = format!("http://{listen}");
        let failed_origin = origin.clone();
        let failed = |summary: String, stdout: &Path, stderr: &Path| {
            TargetError::Failed(Box::new(TargetInfo {
                kind: "command".to_owned(),
                description: command.to_owned(),
                origin: failed_origin.clone(),
                log_files: log_names(logs, stdout, stderr),
                failure: Some(failure(summary, log_tail(stdout, stderr))),
            }))
        };
        let mut child = child.spawn().map_err(|e| {
            failed(
                format!("cannot run `sh -c {command:?}`: {e}"),
                &stdout,
                &stderr,
            )
        })?;
        let pid = child.id().unwrap_or(0);
        let (exit_tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            let _ = exit_tx.send(status);
        });
        let process = Process {
            command: command.to_owned(),
            origin: origin.clone(),
            pid,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
            exited,
            stopping: Arc::new(Mutex::new(false)),
        };
        let exited = process.exited.clone();
        let shown = origin.clone();
        let ready = wait_until_answering(&origin, ready_path, startup_timeout, move || {
            exited.borrow().map(|status| {
                format!("the backend exited ({status}) before it answered HTTP on {shown}")
            })
        })
        .await;
        if let Err(summary) = ready {
            process.kill().await;
            return Err(failed(summary, &stdout, &stderr));
        }
        tracing::info!(command, pid, origin = %process.origin, "backend started");
        Ok(process)
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The log files, relative to the report directory `logs`.
    pub fn log_files(&self, logs: &Path) -> Vec<String> {
        log_names(logs, &self.stdout, &self.stderr)
    }

    /// The failure, if it exited without being asked to.
    pub fn died(&self) -> Option<TargetFailure> {
        if *self.stopping.lock().unwrap_or_else(|p| p.into_inner()) {
            return None;
        }
        let status = (*self.exited.borrow())?;
        Some(failure(
            format!(
                "the backend `{}` exited during the run ({status})",
                self.command
            ),
            log_tail(&self.stdout, &self.stderr),
        ))
    }

    /// SIGTERM to the group, SIGKILL after [`GRACE`]; the failure if it had
    /// died on its own before.
    pub async fn stop(self) -> Option<TargetFailure> {
        let died = self.died();
        *self.stopping.lock().unwrap_or_else(|p| p.into_inner()) = true;
        if died.is_none() {
            self.kill().await;
        }
        died
    }

    async fn kill(&self) {
        let group = Pid::from_raw(i32::try_from(self.pid).unwrap_or(0));
        if group.as_raw() <= 0 || self.exited.borrow().is_some() {
            return;
        }
        let _ = killpg(group, Signal::SIGTERM);
        let mut exited = self.exited.clone();
        let graceful = tokio::time::timeout(GRACE, exited.wait_for(Option::is_some)).await;
        if graceful.is_err() {
            tracing::warn!(pid = self.pid, "backend ignored SIGTERM; killing it");
        }
        // The shell may be gone while something it started lingers in the
        // group: make sure nothing is left.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// A port nothing listens on now (the backend binds it a moment later).
fn free_port() -> std::io::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()
}

fn log_names(logs: &Path, stdout: &Path, stderr: &Path) -> Vec<String> {
    [stdout, stderr]
        .iter()
        .map(|p| p.strip_prefix(logs).unwrap_or(p).display().to_string())
        .collect()
}

/// The last lines of stderr, then of stdout, each labelled.
pub(crate) fn log_tail(stdout: &Path, stderr: &Path) -> String {
    let mut out = String::new();
    for (label, path) in [("stderr", stderr), ("stdout", stdout)] {
        let tail = tail(path);
        if !tail.trim().is_empty() {
            out.push_str(&format!("--- {label} ---\n{tail}"));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

fn tail(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..].join("\n")
}
