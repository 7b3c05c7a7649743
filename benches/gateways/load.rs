//! The load generator: one code path per wire protocol, the same for every
//! target of a platform, so the targets differ only in who answers.
//!
//! - h2c (APNs): a few connections, many concurrent streams on each;
//! - HTTP/1.1 (FCM, WNS): many keep-alive connections, one request in flight
//!   on each, as HTTP/1.1 clients without pipelining do.
//!
//! Every response is read to its end. A push counts as accepted when the
//! answer is 200; anything else (another status, a reset stream, a dropped
//! connection) is counted as failed, never a reason to stop the run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The requests of one platform's load: one push per device, sent to the
/// devices round-robin. The same set goes to every target of the platform.
#[derive(Clone, Debug)]
pub struct Pushes {
    /// Headers every push carries (authorization, platform headers).
    pub headers: HeaderMap,
    /// The path (and query) and body of the push to each device.
    pub per_device: Vec<(PathAndQuery, Bytes)>,
}

/// How the generator loads a target.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(tag = "protocol", rename_all = "snake_case")]
pub enum Load {
    /// HTTP/2 with prior knowledge: `streams` requests in flight on each of
    /// `connections` connections.
    H2c { connections: usize, streams: usize },
    /// HTTP/1.1 keep-alive: one request in flight on each connection.
    Http1 { connections: usize },
}

impl Load {
    /// A one-line description for the report.
    pub fn describe(self) -> String {
        match self {
            Load::H2c {
                connections,
                streams,
            } => format!("h2c, {connections} connections × {streams} streams in flight"),
            Load::Http1 { connections } => {
                format!("HTTP/1.1 keep-alive, {connections} connections × 1 request in flight")
            }
        }
    }

    /// Sends `count` pushes to `addr` and counts the answers. The clock runs
    /// from the first request to the last answer; connecting is not timed.
    pub async fn run(self, addr: SocketAddr, pushes: &Pushes, count: u64) -> Tally {
        let requests = Arc::new(Requests::new(pushes, addr, self));
        let work = Arc::new(Work::new(count));
        match self {
            Load::H2c {
                connections,
                streams,
            } => run_h2(addr, requests, work, connections, streams).await,
            Load::Http1 { connections } => run_http1(addr, requests, work, connections).await,
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Pushes answered 200.
    pub ok: u64,
    /// Pushes answered otherwise, or lost with their stream or connection.
    pub failed: u64,
    /// The first failure seen, to tell a misconfigured run from a slow one.
    pub first_failure: Option<String>,
    pub elapsed: Duration,
}

impl Tally {
    /// Accepted pushes per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    fn fail(&mut self, why: impl FnOnce() -> String) {
        self.failed += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(why());
        }
    }
}

/// The requests prepared for one target: URIs, bodies and headers are built
/// once, so a request costs a few reference-count increments to make.
struct Requests {
    uris: Vec<Uri>,
    bodies: Vec<Bytes>,
    headers: HeaderMap,
}

impl Requests {
    fn new(pushes: &Pushes, addr: SocketAddr, load: Load) -> Requests {
        let mut headers = pushes.headers.clone();
        let uris = pushes
            .per_device
            .iter()
            .map(|(path, _)| match load {
                // h2 sends :scheme and :authority, taken from an absolute URI.
                Load::H2c { .. } => Uri::builder()
                    .scheme("http")
                    .authority(addr.to_string())
                    .path_and_query(path.clone())
                    .build()
                    .expect("a socket address and a parsed path make a valid URI"),
                // HTTP/1.1 sends the origin form, and the authority as Host.
                Load::Http1 { .. } => Uri::from(path.clone()),
            })
            .collect();
        if let Load::Http1 { .. } = load {
            let host = HeaderValue::from_str(&addr.to_string())
                .expect("a socket address is a valid header value");
            headers.insert(HOST, host);
        }
        let bodies = pushes.per_device.iter().map(|(_, b)| b.clone()).collect();
        Requests {
            uris,
            bodies,
            headers,
        }
    }

    /// The `n`th push: device `n mod devices`.
    fn get(&self, n: u64) -> Request<Full<Bytes>> {
        let i = usize::try_from(n).unwrap_or(0) % self.uris.len().max(1);
        let mut request = Request::new(Full::new(self.bodies[i].clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uris[i].clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// The pushes left to send, claimed one at a time by the workers, so a
/// worker that is slow (or whose connection died) leaves its share to the
/// others.
struct Work {
    next: AtomicU64,
    count: u64,
}

impl Work {
    fn new(count: u64) -> Work {
        Work {
            next: AtomicU64::new(0),
            count,
        }
    }

    fn claim(&self) -> Option<u64> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (n < self.count).then_some(n)
    }
}

type H2Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;
type Http1Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<TokioIo<TcpStream>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    // Without it, Nagle and delayed ACKs add ~40 ms whenever HEADERS and
    // DATA leave in separate writes.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    Ok(TokioIo::new(stream))
}

async fn connect_h2(addr: SocketAddr) -> anyhow::Result<H2Sender> {
    let io = connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(io)
        .await
        .context("the h2c handshake")?;
    // The connection task ends by itself once every sender is dropped.
    tokio::spawn(conn);
    Ok(sender)
}

async fn connect_http1(addr: SocketAddr) -> anyhow::Result<Http1Sender> {
    let io = connect(addr).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .context("the HTTP/1.1 handshake")?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn run_h2(
    addr: SocketAddr,
    requests: Arc<Requests>,
    work: Arc<Work>,
    connections: usize,
    streams: usize,
) -> Tally {
    let mut tally = Tally::default();
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        match connect_h2(addr).await {
            Ok(sender) => senders.push(sender),
            Err(error) => tally.fail(|| format!("{error:#}")),
        }
    }
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for sender in &senders {
        for _ in 0..streams {
            workers.spawn(h2_worker(sender.clone(), requests.clone(), work.clone()));
        }
    }
    drop(senders);
    tally.add(join(workers).await);
    tally.elapsed = start.elapsed();
    tally
}

/// Sends pushes one after the other on one stream slot of a connection.
async fn h2_worker(mut sender: H2Sender, requests: Arc<Requests>, work: Arc<Work>) -> Tally {
    let mut tally = Tally::default();
    while let Some(n) = work.claim() {
        if let Err(error) = sender.ready().await {
            // The connection is gone: leave the rest to the other workers.
            tally.fail(|| format!("connection lost: {error}"));
            break;
        }
        match sender.send_request(requests.get(n)).await {
            Ok(response) => finish(response, &mut tally).await,
            Err(error) => tally.fail(|| format!("request failed: {error}")),
        }
    }
    tally
}

async fn run_http1(
    addr: SocketAddr,
    requests: Arc<Requests>,
    work: Arc<Work>,
    connections: usize,
) -> Tally {
    let mut tally = Tally::default();
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        match connect_http1(addr).await {
            Ok(sender) => senders.push(sender),
            Err(error) => tally.fail(|| format!("{error:#}")),
        }
    }
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for sender in senders {
        workers.spawn(http1_worker(sender, addr, requests.clone(), work.clone()));
    }
    tally.add(join(workers).await);
    tally.elapsed = start.elapsed();
    tally
}

/// Sends pushes one after the other on one keep-alive connection, and
/// reconnects once if the server closes it.
async fn http1_worker(
    mut sender: Http1Sender,
    addr: SocketAddr,
    requests: Arc<Requests>,
    work: Arc<Work>,
) -> Tally {
    let mut tally = Tally::default();
    while let Some(n) = work.claim() {
        let sent = match sender.ready().await {
            Ok(()) => sender.send_request(requests.get(n)).await,
            Err(error) => Err(error),
        };
        match sent {
            Ok(response) => finish(response, &mut tally).await,
            Err(error) => {
                tally.fail(|| format!("request failed: {error}"));
                match connect_http1(addr).await {
                    Ok(fresh) => sender = fresh,
                    Err(_) => break,
                }
            }
        }
    }
    tally
}

/// Reads a response to its end and counts it.
async fn finish(response: http::Response<Incoming>, tally: &mut Tally) {
    let status = response.status();
    let body = response.into_body().collect().await;
    match body {
        Ok(_) if status == StatusCode::OK => tally.ok += 1,
        Ok(body) => {
            let text = body.to_bytes();
            tally.fail(|| format!("{status} {}", String::from_utf8_lossy(&text)));
        }
        Err(error) => tally.fail(|| format!("{status}, body broken: {error}")),
    }
}

async fn join(mut workers: JoinSet<Tally>) -> Tally {
    let mut tally = Tally::default();
    while let Some(result) = workers.join_next().await {
        match result {
            Ok(worker) => tally.add(worker),
            Err(error) => tally.fail(|| format!("a worker panicked: {error}")),
        }
    }
    tally
}

/// Sends one request on a fresh HTTP/1.1 connection and reads the answer
/// whole: for the token endpoints, before the load starts.
pub async fn send_once(
    addr: SocketAddr,
    mut request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut sender = connect_http1(addr).await?;
    let host = HeaderValue::from_str(&addr.to_string()).context("the Host header")?;
    request.headers_mut().insert(HOST, host);
    let response = sender
        .send_request(request)
        .await
        .context("sending the request")?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the answer")?
        .to_bytes();
    Ok((status, body))
}
