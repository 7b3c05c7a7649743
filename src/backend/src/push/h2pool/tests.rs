//! The pool against a throwaway h2c gateway made here (hyper's HTTP/2
//! server): packing, the gateway's stream limit, connections dropped
//! abruptly and closed with GOAWAY.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{Barrier, Notify};

use super::{H2Pool, Limits};
use crate::config::Trust;

/// How the test gateway treats each of its connections.
#[derive(Clone, Default)]
struct Behaviour {
    /// `MAX_CONCURRENT_STREAMS` it announces.
    max_streams: Option<u32>,
    /// Cut the connection (no GOAWAY, no answer) at its Nth request.
    drop_at: Option<usize>,
    /// Answer the Nth request, then GOAWAY.
    goaway_after: Option<usize>,
    /// Hold every answer but the very first (the pool's warm-up) until
    /// this many requests wait together.
    barrier: Option<Arc<Barrier>>,
}

struct Gateway {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Gateway {
    async fn start(behaviour: Behaviour) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (conns, reqs) = (Arc::clone(&connections), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, behaviour.clone(), Arc::clone(&reqs)));
            }
        });
        Gateway {
            addr,
            connections,
            requests,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(stream: tokio::net::TcpStream, behaviour: Behaviour, total: Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(Notify::new());
    let goaway = Arc::new(Notify::new());
    let (cut_tx, goaway_tx, b) = (Arc::clone(&cut), Arc::clone(&goaway), behaviour.clone());
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let (seen, cut, goaway, b, total) = (
            Arc::clone(&seen),
            Arc::clone(&cut_tx),
            Arc::clone(&goaway_tx),
            b.clone(),
            Arc::clone(&total),
        );
        async move {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = request.into_body().collect().await;
            if b.drop_at == Some(n) {
                cut.notify_one();
                std::future::pending::<()>().await;
            }
            let earlier = total.fetch_add(1, Ordering::SeqCst);
            if let Some(barrier) = b.barrier.as_ref().filter(|_| earlier > 0) {
                barrier.wait().await;
            }
            if b.goaway_after == Some(n) {
                goaway.notify_one();
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    });
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    if let Some(max) = behaviour.max_streams {
        builder.max_concurrent_streams(max);
    }
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = cut.notified() => {} // dropped: the socket closes without a GOAWAY
        () = goaway.notified() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

async fn gateway(behaviour: Behaviour) -> Arc<Gateway> {
    Arc::new(Gateway::start(behaviour).await)
}

/// Asserts every push was answered 200.
fn all_ok(results: &[Result<StatusCode, String>]) {
    assert!(
        results.iter().all(|r| r == &Ok(StatusCode::OK)),
        "{results:?}"
    );
}

fn pool(gateway: &Gateway, limits: Limits) -> Arc<H2Pool> {
    Arc::new(H2Pool::new(
        &gateway.url(),
        &Trust::default(),
        Duration::from_secs(10),
        limits,
    ))
}

async fn push(pool: &H2Pool, gateway: &Gateway) -> Result<StatusCode, String> {
    let uri: Uri = format!("{}/3/device/abcd", gateway.url()).parse().unwrap();
    pool.post(&uri, &HeaderMap::new(), Bytes::from_static(b"{}"))
        .await
        .map(|reply| reply.status)
        .map_err(|e| e.to_string())
}

async fn concurrently(
    pool: &Arc<H2Pool>,
    gateway: &Arc<Gateway>,
    n: usize,
) -> Vec<Result<StatusCode, String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (pool, gateway) = (Arc::clone(pool), Arc::clone(gateway));
        tasks.spawn(async move { push(&pool, &gateway).await });
    }
    let mut results = Vec::new();
    while let Some(result) = tasks.join_next().await {
        results.push(result.unwrap());
    }
    results
}

#[tokio::test]
async fn concurrent_pushes_pack_onto_one_connection() {
    // The gateway answers only once all 50 wait together: they can only
    // all succeed if they are all in flight at once.
    let gateway = gateway(Behaviour {
        max_streams: Some(100),
        barrier: Some(Arc::new(Barrier::new(50))),
        ..Behaviour::default()
    })
    .await;
    let pool = pool(&gateway, Limits::default());
    // The first push learns the gateway's limit (a fresh connection
    // assumes one stream).
    assert_eq!(push(&pool, &gateway).await, Ok(StatusCode::OK));
    let results = concurrently(&pool, &gateway, 50).await;
    all_ok(&results);
    assert_eq!(
        gateway.connections(),
        1,
        "50 pushes the gateway allows on one"
    );
    assert_eq!(pool.open_connections(), 1);
}

#[tokio::test]
async fn a_one_stream_limit_is_obeyed_and_the_pool_grows_to_its_cap() {
    // hyper's server refuses streams over its limit (REFUSED_STREAM); a
    // pool that ignored the limit would see pushes fail.
    let gateway = gateway(Behaviour {
        max_streams: Some(1),
        ..Behaviour::default()
    })
    .await;
    let limits = Limits {
        max_connections: 3,
        ..Limits::default()
    };
    let pool = pool(&gateway, limits);
    for _ in 0..3 {
        let results = concurrently(&pool, &gateway, 30).await;
        all_ok(&results);
    }
    assert!(gateway.connections() <= 3, "{}", gateway.connections());
    assert!(gateway.connections() >= 2, "one stream each: the pool grew");
    assert_eq!(gateway.requests.load(Ordering::SeqCst), 90);
}

#[tokio::test]
async fn a_dropped_connection_fails_only_its_push_and_the_next_reconnects() {
    // Each connection is cut at its 5th request, which gets no answer: that
    // push may or may not have been delivered, so it fails (never resent);
    // the next one goes over a new connection.
    let gateway = gateway(Behaviour {
        drop_at: Some(5),
        ..Behaviour::default()
    })
    .await;
    let pool = pool(&gateway, Limits::default());
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        outcomes.push(push(&pool, &gateway).await.is_ok());
    }
    let expected: Vec<bool> = (1..=20).map(|n| n % 5 != 0).collect();
    assert_eq!(outcomes, expected);
    assert_eq!(gateway.connections(), 4);
    assert_eq!(gateway.requests.load(Ordering::SeqCst), 16);
}

#[tokio::test]
async fn pushes_in_flight_when_a_connection_drops_fail_and_the_pool_recovers() {
    let gateway = gateway(Behaviour {
        drop_at: Some(20),
        ..Behaviour::default()
    })
    .await;
    let pool = pool(&gateway, Limits::default());
    // Learn the gateway's stream limit first, so the 20 go on one
    // connection.
    assert_eq!(push(&pool, &gateway).await, Ok(StatusCode::OK));
    let results = concurrently(&pool, &gateway, 19).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert!(failed >= 1, "the cut push fails: {results:?}");
    let again = concurrently(&pool, &gateway, 10).await;
    all_ok(&again);
}

#[tokio::test]
async fn a_goaway_loses_no_push() {
    let gateway = gateway(Behaviour {
        goaway_after: Some(3),
        ..Behaviour::default()
    })
    .await;
    let pool = pool(&gateway, Limits::default());
    for n in 0..10 {
        assert_eq!(push(&pool, &gateway).await, Ok(StatusCode::OK), "push {n}");
    }
    assert_eq!(gateway.requests.load(Ordering::SeqCst), 10);
    // hyper's graceful shutdown is two-phased (a GOAWAY for "soon", then
    // the last stream id), so a connection may take a push or two more
    // before it goes; the pool still had to move on at least once.
    assert!(gateway.connections() >= 2, "{}", gateway.connections());
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_failed_push() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let pool = H2Pool::new(
        &url,
        &Trust::default(),
        Duration::from_secs(5),
        Limits::default(),
    );
    let uri: Uri = format!("{url}/x").parse().unwrap();
    let error = pool
        .post(&uri, &HeaderMap::new(), Bytes::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("connecting"), "{error}");
    let bad = H2Pool::new(
        "ftp://x",
        &Trust::default(),
        Duration::from_secs(5),
        Limits::default(),
    );
    let error = bad
        .post(&uri, &HeaderMap::new(), Bytes::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not http"), "{error}");
}
