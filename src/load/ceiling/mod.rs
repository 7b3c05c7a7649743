//! `pushproof load --ceiling`: a bare hyper server that makes the same HTTP
//! exchanges per notification as a backend of the reference profile, and
//! does nothing else, so a run can say what fraction of the possible the
//! target reaches on the same machine, mocks and schedule.
//!
//! [`routes`] serves the profile's API from maps in memory, with the
//! checks' minimum (a token is looked up, a fetch is answered to its
//! recipient only); [`push`] pushes each notification's id to the
//! gateways with the platforms' protocols and body shapes, its provider
//! tokens made once. The server runs on a runtime of its own whose threads
//! are named `pp-backend-bare`, so [`crate::load::cpu`] charges its CPU
//! time to the backend, as it does the embedded reference backend's.

pub mod push;
pub mod routes;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use pushproof_mocks::Platform;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::setup::OwnedRuntime;
use routes::State;

/// The name of the bare server's threads (a `pp-backend` prefix: its CPU
/// is the backend's).
pub const THREAD_NAME: &str = "pp-backend-bare";
/// Worker threads: as many as the embedded reference backend gets.
const WORKERS: usize = 2;
/// HTTP/2 streams a connection may hold at once (the driver multiplexes
/// every request over a few connections).
const MAX_STREAMS: u32 = 4096;

/// The bare server, running until dropped.
pub struct BareServer {
    origin: String,
    stop: CancellationToken,
    _runtime: OwnedRuntime,
}

impl BareServer {
    /// Starts the server on a loopback port, its pushers configured from
    /// the backend contract `env` (the gateways' `PUSHPROOF_*` variables)
    /// with `timeout` on every exchange with them; every one of
    /// `platforms` must be configured.
    pub async fn start(
        env: Vec<(String, String)>,
        timeout: Duration,
        platforms: &[Platform],
    ) -> Result<BareServer, String> {
        let platforms = platforms.to_vec();
        let runtime = OwnedRuntime::new(THREAD_NAME, WORKERS)
            .map_err(|e| format!("the bare server's runtime: {e}"))?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let origin = runtime
            .handle()
            .spawn(async move {
                let pushers = push::Pushers::start(&env, timeout)
                    .await
                    .map_err(|e| format!("the bare server's pushers: {e}"))?;
                if let Some(missing) = platforms.iter().find(|p| !pushers.configures(**p)) {
                    return Err(format!(
                        "the bare server has no {missing} gateway: the contract's PUSHPROOF_* variables for it are not set"
                    ));
                }
                let listener = TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .map_err(|e| format!("binding the bare server: {e}"))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| format!("binding the bare server: {e}"))?;
                tokio::spawn(serve(listener, Arc::new(State::new(pushers)), stopped));
                Ok::<_, String>(format!("http://{addr}"))
            })
            .await
            .map_err(|e| format!("starting the bare server: {e}"))??;
        tracing::info!(%origin, "bare server listening");
        Ok(BareServer {
            origin,
            stop,
            _runtime: runtime,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Accepts connections until `stop`, each served as HTTP/1.1 or h2c
/// (whichever the client's first bytes say).
async fn serve(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(MAX_STREAMS);
    let builder = Arc::new(builder);
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "the bare server could not accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (state, builder, stop) = (state.clone(), builder.clone(), stop.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(state.handle(request).await) }
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = stop.cancelled() => {}
                served = connection => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "a bare server connection ended");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
