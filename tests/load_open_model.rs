//! The open model does not coordinate with the target: latency is measured
//! from the planned instant, so a stall shows in p99 even though a closed
//! loop against the same target hides it.
//!
//! The target is a tiny hyper server that serves one request at a time
//! (a global lock, like a backend with one writer) and stalls every 200th
//! request for 400 ms. A closed loop sees one slow sample in 200 (0.5 %:
//! under its p99); the open model, sending at planned instants through the
//! stall, sees every notification planned during it delayed.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION};
use http::{Method, Response};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pushproof::load::api::{Api, BoxFuture, Device, Sender};
use pushproof::load::driver::{self, Fleet, Plan};
use pushproof::load::http::{Client, Prepared, Protocol};
use pushproof::load::plane::Plane;
use pushproof::load::schedule::{Arrival, Profile, Shard};
use pushproof::metrics::Latency;
use pushproof_mocks::{Delivery, GatewayConfig, Gateways, Platform};
use tokio_util::sync::CancellationToken;

const STALL: Duration = Duration::from_millis(400);
const EVERY: u64 = 200;

/// Serves `POST /send` with 200, one request at a time, stalling every
/// [`EVERY`]th for [`STALL`].
async fn stalling_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let seen = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (lock, seen) = (lock.clone(), seen.clone());
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let (lock, seen) = (lock.clone(), seen.clone());
                    async move {
                        let _serial = lock.lock().await;
                        if (seen.fetch_add(1, Ordering::SeqCst) + 1) % EVERY == 0 {
                            tokio::time::sleep(STALL).await;
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    origin
}

/// Sends only: no push ever comes, which is fine for timing the send stage.
struct SendOnly;

impl Api for SendOnly {
    fn sender(&self) -> BoxFuture<'_, Result<Option<Sender>, String>> {
        Box::pin(async { Ok(None) })
    }
    fn enrol<'a>(
        &'a self,
        index: u64,
        platform: Platform,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Device, String>> {
        Box::pin(async move {
            Ok(Device {
                platform,
                user: format!("u{index}").into_boxed_str(),
                auth: (AUTHORIZATION, HeaderValue::from_static("Bearer t")),
                token: None,
            })
        })
    }
    fn notify(
        &self,
        _: Option<&Sender>,
        device: &Device,
        message: &str,
    ) -> Result<Prepared, String> {
        Ok(Prepared {
            method: Method::POST,
            path_and_query: format!("/send?to={}", device.user),
            authorization: Some(device.auth.clone()),
            content_type: Some("text/plain"),
            body: Bytes::copy_from_slice(message.as_bytes()),
        })
    }
    fn fetch(&self, _: &Device, _: &str) -> Result<Prepared, String> {
        Err("no fetch".to_owned())
    }
    fn push_id(&self, _: &Delivery) -> Option<String> {
        None
    }
    fn payload(&self, _: &[u8]) -> Option<String> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_open_models_p99_and_hides_from_a_closed_loop() {
    let origin = stalling_server().await;
    let client = Client::connect(&origin, Protocol::Http1, 1, Duration::from_secs(5)).await;

    // A closed loop: one request at a time, each timed from its own send.
    let mut closed = Latency::default();
    for _ in 0..600 {
        let request = SendOnly
            .notify(
                None,
                &SendOnly.enrol(0, Platform::Wns, "").await.unwrap(),
                "x",
            )
            .unwrap();
        let sent = Instant::now();
        client.call(&request).await.unwrap();
        closed.record(sent.elapsed());
    }

    // The open model: 600 sends at 200/s, on their planned instants.
    let gateways = Arc::new(Gateways::start(GatewayConfig::default()).await.unwrap());
    let api: Arc<dyn Api> = Arc::new(SendOnly);
    let mut devices = Vec::new();
    for i in 0..10 {
        devices.push(api.enrol(i, Platform::Wns, "").await.unwrap());
    }
    let fleet = Arc::new(Fleet {
        devices,
        sender: None,
        failed: 0,
        first_failure: None,
    });
    let plan = Plan {
        rates: Profile::constant(200.0, Duration::from_secs(3)).unwrap(),
        arrival: Arrival::Constant,
        shard: Shard::default(),
        seed: 1,
        timeout: Duration::from_millis(500),
        lanes: 2,
        start_at: None,
        run_tag: "co".to_owned(),
        clock: None,
    };
    let outcome = driver::run(
        api,
        client,
        Plane::local(gateways),
        fleet,
        plan,
        None,
        CancellationToken::new(),
    )
    .await;
    let t = outcome.totals;
    assert_eq!(
        (t.counts.planned, t.counts.sent, t.counts.accepted),
        (600, 600, 600)
    );
    let open = &t.latencies.send;
    let stall_ms = STALL.as_secs_f64() * 1000.0;

    // The closed loop saw each stall once: above p99, so p99 hides it.
    assert!(
        closed.max_ms() >= stall_ms,
        "the closed loop met the stall: {:?}",
        closed.summary()
    );
    assert!(
        closed.quantile_ms(0.99) < stall_ms / 4.0,
        "closed {:?}",
        closed.summary()
    );
    // The open model kept sending through it: everything planned during a
    // stall waited, and p99 shows it.
    assert!(
        open.quantile_ms(0.99) >= stall_ms * 0.85,
        "open {:?}",
        open.summary()
    );
    let half = (stall_ms / 2.0 * 1000.0) as u64;
    assert!(
        open.count_at_or_above(half) >= 10 * closed.count_at_or_above(half),
        "open {} vs closed {} samples above half the stall",
        open.count_at_or_above(half),
        closed.count_at_or_above(half)
    );
    // The generator itself was never late: the delay is the target's.
    assert!(t.latencies.lag.quantile_ms(0.99) < stall_ms / 4.0);
}
