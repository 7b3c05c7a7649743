//! The in-process gateways of a load run, on a runtime and threads of their
//! own (`pp-mocks-*`, see [`super::cpu`]) so their CPU time is measured
//! apart from the harness's and a busy generator does not starve them of
//! workers. The embedded reference backend does the same
//! ([`crate::target::embedded`], `pp-backend-*`).

use std::sync::Arc;

use pushproof_mocks::{GatewayConfig, Gateways};

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
