//! The reference backend in this process, on a runtime and threads of its
//! own (named `pp-backend-*`, like its store threads `backend-store-*`), so
//! its CPU can be measured apart from the harness's and a busy harness does
//! not starve it of worker threads.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushproof_backend::{Backend, Config, Flaw};
use tokio_util::sync::CancellationToken;

use super::Delivery;
use crate::report::suite::TargetFailure;

/// Prefix of the embedded backend's runtime threads.
pub const THREAD_PREFIX: &str = "pp-backend";

/// How the embedded reference backend is configured.
#[derive(Debug, Clone)]
pub struct Options {
    pub flaws: Vec<Flaw>,
    /// Lifetime of login tokens (the backend's default when `None`).
    pub token_ttl: Option<Duration>,
    /// Worker threads of its runtime.
    pub worker_threads: usize,
    /// Direct to the gateways, or through the hub.
    pub delivery: Delivery,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flaws: Vec::new(),
            token_ttl: None,
            worker_threads: 2,
            delivery: Delivery::Direct,
        }
    }
}

/// A running embedded backend.
pub struct EmbeddedBackend {
    origin: String,
    stop: CancellationToken,
    /// Set when `serve` returned an error before it was asked to stop.
    died: Arc<Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedBackend {
    /// Starts the backend with the contract `env`, its database in `work`.
    /// The error is a one-line reason (a bad environment, a database that
    /// cannot be opened).
    pub async fn start(
        options: &Options,
        env: &[(String, String)],
        work: &Path,
    ) -> Result<EmbeddedBackend, String> {
        let lookup = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let mut config = Config::from_vars(work.join("backend.db"), lookup)
            .map_err(|e| format!("configuring the reference backend: {e}"))?;
        config.flaws = options.flaws.clone();
        if let Some(ttl) = options.token_ttl {
            config.token_ttl = ttl;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.worker_threads.max(1))
            .thread_name(format!("{THREAD_PREFIX}-worker"))
            .enable_all()
            .build()
            .map_err(|e| format!("starting the backend's runtime: {e}"))?;
        let stop = CancellationToken::new();
        let died = Arc::new(Mutex::new(None));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<String, String>>();
        let (stopped, dead) = (stop.clone(), died.clone());
        let thread = std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}-main"))
            .spawn(move || {
                runtime.block_on(async move {
                    let started = async {
                        let backend = Backend::open(config).await.map_err(|e| e.to_string())?;
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
                        let addr = listener.local_addr().map_err(|e| e.to_string())?;
                        Ok::<_, String>((backend, listener, addr))
                    }
                    .await;
                    let (backend, listener, addr) = match started {
                        Ok(parts) => parts,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(format!("http://{addr}")));
                    if let Err(e) = backend.serve(listener, stopped.cancelled_owned()).await {
                        *dead.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    }
                });
            })
            .map_err(|e| format!("starting the backend's thread: {e}"))?;
        let origin = ready_rx
            .await
            .map_err(|_| "the backend's thread ended before it started".to_owned())??;
        Ok(EmbeddedBackend {
            origin,
            stop,
            died,
            thread: Some(thread),
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn died(&self) -> Option<TargetFailure> {
        self.died
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(|summary| {
                super::failure(
                    format!("the embedded backend stopped: {summary}"),
                    String::new(),
                )
            })
    }

    /// Stops it and waits for its threads; the failure if it had died.
    pub async fn stop(mut self) -> Option<TargetFailure> {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.died()
    }
}

impl Drop for EmbeddedBackend {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
