//! The in-process parts of a load run, each on a runtime and threads of its
//! own so their CPU time is measured apart from the harness's (threads
//! named `pp-mocks-*` and `pp-backend-*`, see [`super::cpu`]) and a busy
//! generator does not starve them of workers: the mock gateways, and the
//! embedded reference backend.

use std::path::Path;
use std::sync::Arc;

use pushproof_mocks::{GatewayConfig, Gateways};
use tokio_util::sync::CancellationToken;

use crate::backend::{self, Flaw};

/// A runtime that is shut down without blocking when dropped (a runtime
/// may not be dropped inside another one's worker).
pub struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    /// A multi-threaded runtime with `threads` workers named `name`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<OwnedRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(OwnedRuntime(Some(runtime)))
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the runtime lives until dropped")
            .handle()
            .clone()
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Gateways running on their own runtime.
pub struct LocalMocks {
    pub gateways: Arc<Gateways>,
    _runtime: OwnedRuntime,
}

/// Starts the gateways on `threads` workers named `pp-mocks-worker`.
pub async fn start_mocks(config: GatewayConfig, threads: usize) -> Result<LocalMocks, String> {
    let runtime = OwnedRuntime::new("pp-mocks-worker", threads)
        .map_err(|e| format!("the mocks' runtime: {e}"))?;
    let gateways = runtime
        .handle()
        .spawn(Gateways::start(config))
        .await
        .map_err(|e| format!("starting the mock gateways: {e}"))?
        .map_err(|e| format!("starting the mock gateways: {e}"))?;
    Ok(LocalMocks {
        gateways: Arc::new(gateways),
        _runtime: runtime,
    })
}

/// The reference backend running on its own runtime.
pub struct Embedded {
    pub origin: String,
    stop: CancellationToken,
    _runtime: OwnedRuntime,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts the reference backend with the backend contract `env`, its
/// database in `work`, on `threads` workers named `pp-backend-worker`.
pub async fn start_embedded(
    env: &[(String, String)],
    flaws: &[Flaw],
    work: &Path,
    threads: usize,
) -> Result<Embedded, String> {
    let lookup = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut config = backend::Config::from_vars(work.join("backend.db"), lookup)
        .map_err(|e| format!("configuring the reference backend: {e}"))?;
    config.flaws = flaws.to_vec();
    let runtime = OwnedRuntime::new("pp-backend-worker", threads)
        .map_err(|e| format!("the backend's runtime: {e}"))?;
    let listener = runtime
        .handle()
        .spawn(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
    let origin = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    runtime.handle().spawn(async move {
        if let Err(e) = backend::serve(listener, config, stopped.cancelled_owned()).await {
            tracing::warn!(error = %e, "the embedded backend stopped");
        }
    });
    Ok(Embedded {
        origin,
        stop,
        _runtime: runtime,
    })
}
