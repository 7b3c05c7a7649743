//! The servers under load, besides the mock gateways: a bare hyper server
//! that answers 200 and does nothing else, and a wiremock-rs server; and the
//! server thread they run on.
//!
//! Fairness on a 2-core machine: every server runs on one current-thread
//! tokio runtime on a thread of its own, and the load generator on another.
//! wiremock starts its own server thread with a current-thread runtime, so
//! the mock and the bare server get exactly that too ([`ServerThread`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pushproof_mocks::Platform;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Who answers the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The mock gateway with every check, the capture and inbox delivery on.
    Mock,
    /// A hyper server of the same protocol answering 200, doing nothing.
    Bare,
    /// A wiremock-rs `MockServer` with one matching mock answering 200.
    Wiremock,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Mock, Target::Bare, Target::Wiremock];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Mock => "mock",
            Target::Bare => "bare",
            Target::Wiremock => "wiremock",
        }
    }
}

/// The wire protocol a bare server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// HTTP/2 with prior knowledge only, like mock APNs.
    H2c,
    /// HTTP/1.1 only: what the FCM and WNS load uses.
    Http1,
}

/// A thread running a current-thread tokio runtime, where the mock
/// gateways and the bare servers run. Stops when dropped.
pub struct ServerThread {
    handle: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    pub fn start() -> anyhow::Result<ServerThread> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("servers".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime can be built for the servers");
                // The receiver waits in `start` until this arrives.
                let _ = handle_tx.send(runtime.handle().clone());
                // Serve until told to stop (or the sender is dropped).
                let _ = runtime.block_on(stopped);
            })
            .context("spawning the server thread")?;
        let handle = handle_rx
            .recv()
            .context("the server thread died before its runtime started")?;
        Ok(ServerThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Runs `future` on the server thread and returns its output.
    pub async fn run<F>(&self, future: F) -> anyhow::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle
            .spawn(future)
            .await
            .context("a task on the server thread panicked")
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A hyper server that reads each request and answers 200 with an empty
/// body: the ceiling any gateway on the same protocol can reach.
pub struct BareServer {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl BareServer {
    pub async fn start(server: &ServerThread, wire: Wire) -> anyhow::Result<BareServer> {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let addr = server
            .run(async move {
                let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
                let addr = listener.local_addr()?;
                tokio::spawn(accept_loop(listener, wire, token));
                Ok::<_, std::io::Error>(addr)
            })
            .await?
            .context("binding the bare server")?;
        Ok(BareServer { addr, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, wire: Wire, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A peer that reset before accept: the load counts it.
                Err(_) => continue,
            },
        };
        // The mock sets it too: compare servers, not Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let service = service_fn(answer_ok);
        let stop = stop.clone();
        tokio::spawn(async move {
            // Errors are peers hanging up: nothing to report.
            tokio::select! {
                () = stop.cancelled() => {}
                _ = serve(io, wire, service) => {}
            }
        });
    }
}

async fn serve<S>(io: TokioIo<tokio::net::TcpStream>, wire: Wire, service: S) -> hyper::Result<()>
where
    S: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match wire {
        // hyper's defaults (at most 200 concurrent streams): the load stays
        // below, and wiremock, which cannot be configured, has the same.
        Wire::H2c => {
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, service)
                .await
        }
        Wire::Http1 => {
            hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
        }
    }
}

/// Reads the body (any server must, to keep an HTTP/1.1 connection usable
/// and an h2 stream clean) and answers 200 with nothing more.
async fn answer_ok(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = request.into_body().collect().await;
    Ok(Response::new(Full::new(Bytes::new())))
}

/// A wiremock-rs server with one mock that matches the platform's pushes
/// and answers 200. wiremock records every request in memory: [`reset`]
/// after each run frees them (and drops the mock, so it is mounted again).
///
/// [`reset`]: Wiremock::reset
pub struct Wiremock {
    server: MockServer,
    platform: Platform,
    fcm_project: String,
}

impl Wiremock {
    pub async fn start(platform: Platform, fcm_project: &str) -> Wiremock {
        let wiremock = Wiremock {
            server: MockServer::builder().start().await,
            platform,
            fcm_project: fcm_project.to_owned(),
        };
        wiremock.mount().await;
        wiremock
    }

    pub fn addr(&self) -> SocketAddr {
        *self.server.address()
    }

    /// Forgets the requests recorded so far.
    pub async fn reset(&self) {
        self.server.reset().await;
        self.mount().await;
    }

    /// A matcher on the method and the path, as a test of a push client
    /// would write it.
    async fn mount(&self) {
        let pushes = match self.platform {
            Platform::Apns => Mock::given(method("POST")).and(path_regex("^/3/device/[0-9a-f]+$")),
            Platform::Fcm => Mock::given(method("POST")).and(path(format!(
                "/v1/projects/{}/messages:send",
                self.fcm_project
            ))),
            Platform::Wns => Mock::given(method("POST")).and(path("/")),
        };
        pushes
            .respond_with(ResponseTemplate::new(200))
            .mount(&self.server)
            .await;
    }
}
