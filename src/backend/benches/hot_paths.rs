//! Criterion micro-benchmarks of the reference backend's hot paths, one
//! step of a notification each: building the push body per platform,
//! generating ids and tokens, hashing a token and finding its session, and
//! storing and fetching a notification.
//!
//! ```sh
//! cargo bench -p pushproof-backend --bench hot_paths
//! ```
//!
//! They live in the backend's crate, not in the workspace's `benches/`,
//! because they reach its internals (through the hidden
//! `pushproof_backend::hot_paths`) and need nothing of the harness or the
//! mocks; the end-to-end cost per notification is measured by the
//! workspace's `cargo bench --bench backend_dispatch`.
//!
//! Store inserts are timed 256 at a time, concurrently, as a loaded backend
//! makes them: one at a time, each would wait out the group commit's
//! gathering window and measure that instead.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pushproof_backend::hot_paths::{self, Bench};

fn push_bodies(c: &mut Criterion) {
    let id = hot_paths::notification_id();
    let mut group = c.benchmark_group("push_body");
    for (platform, handle) in [
        ("apns", "ab".repeat(32)),
        ("fcm", format!("fcm-token:{}", "x".repeat(140))),
        (
            "wns",
            "https://dm3p.notify.windows.com/?token=AwYAAAD".to_owned(),
        ),
    ] {
        group.bench_function(platform, |b| {
            b.iter(|| hot_paths::push_body(black_box(platform), black_box(&handle), black_box(&id)))
        });
    }
    group.finish();
}

fn ids_and_tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("ids");
    group.bench_function("notification_id", |b| b.iter(hot_paths::notification_id));
    group.bench_function("bearer_token", |b| b.iter(hot_paths::bearer_token));
    group.finish();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the benchmarks")
}

fn sessions(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bench = rt
        .block_on(Bench::open(dir.path()))
        .expect("the benchmark store opens");
    let header = rt.block_on(bench.login()).expect("alice logs in");
    let token = header.trim_start_matches("Bearer ").to_owned();
    let mut group = c.benchmark_group("sessions");
    group.bench_function("token_hash", |b| {
        b.iter(|| hot_paths::token_hash(black_box(&token)))
    });
    group.bench_function("authenticate_cached", |b| {
        b.iter(|| {
            rt.block_on(bench.authenticate(black_box(&header)))
                .expect("the session is found")
        })
    });
    group.finish();
}

fn store(c: &mut Criterion) {
    const BATCH: u64 = 256;
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bench = std::sync::Arc::new(
        rt.block_on(Bench::open(dir.path()))
            .expect("the benchmark store opens"),
    );
    let payload =
        "a secret message of ordinary length, about a hundred bytes, as a chat app would send";
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("insert_256_concurrent", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                rt.block_on(async {
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..BATCH {
                        let bench = std::sync::Arc::clone(&bench);
                        tasks.spawn(async move { bench.store_notification(payload).await });
                    }
                    while let Some(done) = tasks.join_next().await {
                        done.expect("no panic").expect("stored");
                    }
                });
                spent += started.elapsed();
            }
            spent
        })
    });
    group.throughput(Throughput::Elements(1));
    let id = rt
        .block_on(bench.store_notification(payload))
        .expect("stored");
    group.bench_function("fetch_recent", |b| {
        b.iter(|| rt.block_on(bench.fetch(black_box(&id))).expect("found"))
    });
    group.finish();
}

criterion_group!(benches, push_bodies, ids_and_tokens, sessions, store);
criterion_main!(benches);
