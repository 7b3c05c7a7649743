//! The open-model driver: sends at planned instants, whatever the answers
//! do, while the fleet receives, fetches and verifies.
//!
//! Lanes (a few tasks, not one per request) walk the arrival plan
//! ([`super::schedule`]); each wakes on the driver thread's clock (or, off
//! it, on a timer at its next planned instant), sends every notification
//! then due, and keeps its sends in flight in one `FuturesUnordered`, so a
//! slow answer never holds back a later send and every latency is measured
//! from the planned instant. The receiver takes
//! pushes from the run's delivery feed ([`super::plane`]), reads each id,
//! fetches the content as the device and checks it against what was sent.
//! A notification's content names it (`#<number>` and a check value from
//! the seed), so nothing per notification is kept but its [`Ledger`]
//! record. The drain waits until every accepted notification is verified,
//! or the timeout after the last planned instant has passed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt as _};
use http::StatusCode;
use pushproof_mocks::{Platform, Tagged};
use tokio_util::sync::CancellationToken;

use super::api::{Api, Device, Sender};
use super::http::{CallError, Client, Prepared};
use super::ledger::{Arrival, Fetched, Ledger, SendResult, Totals};
use super::plane::{Plane, Remote};
use super::progress::Progress;
use super::schedule::{self, Arrivals, Shard};

/// Sends in flight in one lane before it waits for answers: a bound on
/// memory when the backend stops answering, far above any healthy run.
const MAX_IN_FLIGHT_PER_LANE: usize = 50_000;
/// Fetches in flight before the receiver stops taking pushes.
const MAX_FETCHES: usize = 50_000;
/// Deliveries taken from the feed at once.
const TAKE: usize = 4096;

/// The devices of this process's share, enrolled.
pub struct Fleet {
    pub devices: Vec<Device>,
    /// The account notifications are sent from (`None`: each user itself).
    pub sender: Option<Sender>,
    /// Devices that failed to enrol, with the first reason.
    pub failed: u64,
    pub first_failure: Option<String>,
}

/// Enrols devices `range` of the run (their platforms round-robin over
/// `platforms` by run-wide index), `concurrency` at a time. The tags on
/// the feed are the positions in [`Fleet::devices`] order of `range`.
pub async fn enrol(
    api: &Arc<dyn Api>,
    plane: &Plane,
    platforms: &[Platform],
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> Result<Fleet, String> {
    if platforms.is_empty() {
        return Err("the fleet needs at least one platform".to_owned());
    }
    let sender = api.sender().await?;
    let count = range.len();
    // One registration per platform for the devices on it, in index order.
    let mut handles: Vec<Option<String>> = vec![None; count];
    for (p, platform) in platforms.iter().enumerate() {
        let positions: Vec<usize> = (0..count)
            .filter(|i| (range.start + i) % platforms.len() == p)
            .collect();
        // Tags must name positions: register runs of consecutive tags.
        let mut i = 0;
        while i < positions.len() {
            let mut j = i;
            while j + 1 < positions.len() && positions[j + 1] == positions[j] + 1 {
                j += 1;
            }
            let first = positions[i] as u64;
            let n = (j - i + 1) as u64;
            let got = plane
                .register(*platform, first, n)
                .await
                .map_err(|e| e.to_string())?;
            for (k, handle) in got.into_iter().enumerate() {
                handles[positions[i] + k] = Some(handle);
            }
            i = j + 1;
        }
    }
    let results: Vec<Result<Device, String>> =
        futures::stream::iter(handles.into_iter().enumerate())
            .map(|(i, handle)| {
                let api = api.clone();
                let platform = platforms[(range.start + i) % platforms.len()];
                let index = (range.start + i) as u64;
                async move {
                    let handle = handle.ok_or("the gateway issued no handle")?;
                    api.enrol(index, platform, &handle).await
                }
            })
            .buffered(concurrency.max(1))
            .collect()
            .await;
    let mut fleet = Fleet {
        devices: Vec::with_capacity(count),
        sender,
        failed: 0,
        first_failure: None,
    };
    let mut positions_ok = true;
    for result in results {
        match result {
            Ok(device) => fleet.devices.push(device),
            Err(e) => {
                fleet.failed += 1;
                fleet.first_failure.get_or_insert(e);
                positions_ok = false;
            }
        }
    }
    if !positions_ok {
        // A failed device leaves a gap in the tags: pushes to the devices
        // after it would be read as their neighbours'. Refuse the run.
        return Err(format!(
            "{} of {count} devices could not enrol (first: {})",
            fleet.failed,
            fleet.first_failure.unwrap_or_default()
        ));
    }
    Ok(fleet)
}

/// One open-model run's parameters.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rates: schedule::Profile,
    pub arrival: schedule::Arrival,
    pub shard: Shard,
    pub seed: u64,
    /// After its planned instant, how long a notification may take.
    pub timeout: Duration,
    pub lanes: usize,
    /// When to start; now if `None`.
    pub start_at: Option<Instant>,
    /// Names this run's notifications in their content.
    pub run_tag: String,
    /// The driver thread's clock, when the run is on one
    /// ([`super::setup::DriverThread::clock`]).
    pub clock: Option<Arc<tokio::sync::Notify>>,
}

/// What a run measured.
pub struct Outcome {
    pub totals: Totals,
    pub start: Instant,
    /// From start to the end of the drain.
    pub wall: Duration,
    /// Fetches the receiver made (for CPU per request).
    pub requests: u64,
}

/// The content of the run's `global`-th notification.
pub fn message(run_tag: &str, seed: u64, global: u64) -> String {
    format!(
        "pushproof load {run_tag} #{global} {:016x} — confidential: meeting moved, door code changes at noon",
        check(seed, global)
    )
}

/// A check value only the run can compute, so stray content never verifies.
fn check(seed: u64, global: u64) -> u64 {
    // splitmix64 of the pair.
    let mut z = seed ^ global.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The run-wide number a content names, if it is this run's.
fn parse_message(run_tag: &str, content: &str) -> Option<u64> {
    let rest = content
        .strip_prefix("pushproof load ")?
        .strip_prefix(run_tag)?;
    let rest = rest.strip_prefix(" #")?;
    let (number, _) = rest.split_once(' ')?;
    number.parse().ok()
}

fn hash_id(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish() | 1
}

/// Runs `plan` against `client` with `fleet`; returns when the drain ends
/// or `stop` is cancelled (what was not sent by then is counted unsent).
pub async fn run(
    api: Arc<dyn Api>,
    client: Client,
    plane: Plane,
    fleet: Arc<Fleet>,
    plan: Plan,
    progress: Option<Progress>,
    stop: CancellationToken,
) -> Outcome {
    let start = plan.start_at.unwrap_or_else(Instant::now);
    if let Some(wait) = start.checked_duration_since(Instant::now()) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => {}
        }
    }
    let ledger = Arc::new(Ledger::new(start, plan.timeout));
    let receiving = CancellationToken::new();
    let (deliveries, poller) = deliveries(&plane, plan.clock.clone(), &receiving);
    let receiver = tokio::spawn(receive(
        api.clone(),
        client.clone(),
        fleet.clone(),
        ledger.clone(),
        plan.clone(),
        deliveries,
        receiving.clone(),
    ));
    let ticker = progress
        .map(|p| tokio::spawn(p.run(ledger.clone(), plan.rates.clone(), receiving.clone())));

    let lanes = plan.lanes.max(1);
    let mut senders = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        senders.push(tokio::spawn(send_lane(
            lane,
            lanes,
            api.clone(),
            client.clone(),
            fleet.clone(),
            ledger.clone(),
            plan.clone(),
            stop.clone(),
        )));
    }
    for sender in senders {
        // A lane that panicked has lost its sends' answers: the ledger
        // still counts them (sent, never answered, so lost).
        let _ = sender.await;
    }
    // The drain: until everything accepted is verified, or the timeout
    // after the plan's end.
    let deadline = start + plan.rates.duration() + plan.timeout;
    loop {
        if ledger.settled() || Instant::now() >= deadline || stop.is_cancelled() {
            break;
        }
        ledger.retire(Instant::now());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = stop.cancelled() => {}
        }
    }
    let wall = start.elapsed();
    receiving.cancel();
    let requests = receiver.await.unwrap_or(0);
    if let Some(poller) = poller {
        let _ = poller.await;
    }
    if let Some(ticker) = ticker {
        let _ = ticker.await;
    }
    match plane.feed_counters().await {
        Ok((_, dropped)) if dropped > 0 => ledger.feed_dropped(dropped),
        _ => {}
    }
    Outcome {
        totals: ledger.finish(),
        start,
        wall,
        requests,
    }
}

#[allow(clippy::too_many_arguments)]
async fn send_lane(
    lane: usize,
    lanes: usize,
    api: Arc<dyn Api>,
    client: Client,
    fleet: Arc<Fleet>,
    ledger: Arc<Ledger>,
    plan: Plan,
    stop: CancellationToken,
) {
    let start = ledger.start();
    let clock = plan.clock.clone();
    let devices = fleet.devices.len().max(1) as u64;
    let mut arrivals = Arrivals::new(&plan.rates, plan.arrival, plan.shard, plan.seed)
        .filter(|(k, _)| (*k % lanes as u64) as usize == lane)
        .peekable();
    let mut in_flight = FuturesUnordered::new();
    // On a driver's clock the lane wakes on its ticks, and whatever wakes
    // it sends everything then due: the requests of one tick leave
    // together, in one write. Its timer is only the fallback for a thread
    // too busy to tick, so it is set a few ticks late and rarely reset.
    // Without a clock the timer paces the sends. Either way each send is
    // timed from its own planned instant.
    let grace = if clock.is_some() {
        CLOCK_GRACE
    } else {
        Duration::ZERO
    };
    let due_of = |at: f64| tokio::time::Instant::from_std(start + Duration::from_secs_f64(at));
    let first = arrivals.peek().map(|&(_, at)| due_of(at) + grace);
    let timer = tokio::time::sleep_until(first.unwrap_or_else(tokio::time::Instant::now));
    tokio::pin!(timer);
    loop {
        if stop.is_cancelled() {
            // The rest of the plan is counted, never sent.
            for (k, at) in arrivals.by_ref() {
                ledger.plan(k, (at * 1e6) as u64, (k % devices) as u32);
            }
            break;
        }
        if arrivals.peek().is_none() {
            break;
        }
        let room = in_flight.len() < MAX_IN_FLIGHT_PER_LANE;
        let mut fired = false;
        tokio::select! {
            biased;
            _ = &mut timer, if room => fired = true,
            _ = ticked(clock.as_deref()), if room => {}
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            _ = stop.cancelled() => {}
        }
        let now = Instant::now();
        while let Some(&(k, at)) = arrivals.peek() {
            if start + Duration::from_secs_f64(at) > now
                || in_flight.len() >= MAX_IN_FLIGHT_PER_LANE
            {
                break;
            }
            arrivals.next();
            let device = (k % devices) as u32;
            ledger.plan(k, (at * 1e6) as u64, device);
            in_flight.push(send_one(&*api, &client, &fleet, &ledger, &plan, k, device));
        }
        if fired || timer.is_elapsed() {
            if let Some(&(_, at)) = arrivals.peek() {
                timer.as_mut().reset(due_of(at) + grace);
            }
        }
    }
    while in_flight.next().await.is_some() {}
}

/// How late a lane's fallback timer is set on a driver's clock, and how
/// often the receiver's fires. The clock ticks only when the thread runs
/// out of work: a thread busy for longer still sends and takes deliveries.
const CLOCK_GRACE: Duration = Duration::from_millis(5);

/// The receiver's fallback beside the clock: a timer of its own that is
/// never re-armed per tick (re-arming wakes the thread).
fn fallback_interval() -> tokio::time::Interval {
    let mut fallback = tokio::time::interval(CLOCK_GRACE);
    fallback.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    fallback
}

/// The next tick of `clock`, or of `fallback` when the thread is too busy
/// to tick. Cancel safe.
async fn next_tick(clock: &tokio::sync::Notify, fallback: &mut tokio::time::Interval) {
    tokio::select! {
        _ = clock.notified() => {}
        _ = fallback.tick() => {}
    }
}

/// The next tick of `clock`; never without one.
async fn ticked(clock: Option<&tokio::sync::Notify>) {
    match clock {
        Some(clock) => clock.notified().await,
        None => std::future::pending().await,
    }
}

fn send_one<'a>(
    api: &'a dyn Api,
    client: &'a Client,
    fleet: &'a Fleet,
    ledger: &'a Ledger,
    plan: &'a Plan,
    k: u64,
    device: u32,
) -> impl std::future::Future<Output = ()> + 'a {
    let prepared = fleet
        .devices
        .get(device as usize)
        .ok_or_else(|| "no such device".to_owned())
        .and_then(|d| {
            let content = message(&plan.run_tag, plan.seed, plan.shard.global(k));
            api.notify(fleet.sender.as_ref(), d, &content)
        });
    ledger.sent(k, Instant::now());
    async move {
        let result = match prepared {
            Ok(request) => classify(client.call(&request).await),
            Err(_) => SendResult::Transport,
        };
        ledger.answered(k, Instant::now(), result);
    }
}

fn classify(result: Result<(StatusCode, bytes::Bytes), CallError>) -> SendResult {
    match result {
        Ok((status, _)) if status.is_success() => SendResult::Accepted,
        Ok((status, _)) => SendResult::Status(status.as_u16()),
        Err(CallError::Timeout(_)) => SendResult::Timeout,
        Err(_) => SendResult::Transport,
    }
}

/// Where the receiver takes deliveries from.
enum Deliveries {
    /// The in-process feed: read on each tick of the driver's clock
    /// ([`super::setup::DriverThread`]), beside the lanes, so that the
    /// tick's fetches and sends leave in one write; off a clock, when the
    /// gateway's thread says a delivery is waiting.
    Local {
        feed: pushproof_mocks::Feed,
        /// The clock, and the fallback for a thread too busy to tick.
        clock: Option<(Arc<tokio::sync::Notify>, tokio::time::Interval)>,
    },
    /// Batches a poller task reads from remote mocks.
    Remote(tokio::sync::mpsc::Receiver<Vec<Tagged>>),
}

impl Deliveries {
    /// The next batch; `None` once a remote poller has stopped. Cancel
    /// safe: the feed gives nothing up until it returns.
    async fn next(&mut self) -> Option<Vec<Tagged>> {
        match self {
            Deliveries::Local {
                feed,
                clock: Some((clock, fallback)),
            } => loop {
                next_tick(clock, fallback).await;
                let batch = feed.try_take(TAKE);
                if !batch.is_empty() {
                    return Some(batch);
                }
            },
            Deliveries::Local { feed, clock: None } => Some(feed.take(TAKE).await),
            Deliveries::Remote(batches) => batches.recv().await,
        }
    }
}

/// The receiver's source of deliveries, with the remote poller's task.
fn deliveries(
    plane: &Plane,
    clock: Option<Arc<tokio::sync::Notify>>,
    stop: &CancellationToken,
) -> (Deliveries, Option<tokio::task::JoinHandle<()>>) {
    match plane {
        Plane::Local { feed, .. } => (
            Deliveries::Local {
                feed: feed.clone(),
                clock: clock.map(|clock| (clock, fallback_interval())),
            },
            None,
        ),
        Plane::Remote(remote) => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Vec<Tagged>>(64);
            let poller = tokio::spawn(poll_feed(remote.clone(), tx, stop.clone()));
            (Deliveries::Remote(rx), Some(poller))
        }
    }
}

/// Moves deliveries from remote mocks to the receiver, in its own task so
/// that a long poll is never cancelled half-read.
async fn poll_feed(
    remote: Arc<Remote>,
    out: tokio::sync::mpsc::Sender<Vec<Tagged>>,
    stop: CancellationToken,
) {
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        match remote.take(TAKE).await {
            Ok(batch) if batch.is_empty() => {}
            Ok(batch) => {
                failures = 0;
                if out.send(batch).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, failures, "taking deliveries failed");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(10)))).await;
            }
        }
    }
}

/// Takes deliveries, dedupes them per device, fetches and verifies each.
/// Returns the number of fetches made.
async fn receive(
    api: Arc<dyn Api>,
    client: Client,
    fleet: Arc<Fleet>,
    ledger: Arc<Ledger>,
    plan: Plan,
    mut deliveries: Deliveries,
    stop: CancellationToken,
) -> u64 {
    // The last two ids each device got: a repeat is a duplicate push.
    let mut recent: Vec<[u64; 2]> = vec![[0; 2]; fleet.devices.len()];
    let mut fetches = FuturesUnordered::new();
    let mut made = 0u64;
    loop {
        tokio::select! {
            biased;
            Some(()) = fetches.next(), if !fetches.is_empty() => {}
            batch = deliveries.next(), if fetches.len() < MAX_FETCHES => {
                let Some(batch) = batch else { break };
                let taken_at = Instant::now();
                for tagged in batch {
                    ledger.pushed(tagged.delivery.received_at);
                    let Some(device) = usize::try_from(tagged.tag).ok().filter(|i| *i < fleet.devices.len()) else {
                        ledger.unreadable_push();
                        continue;
                    };
                    let Some(id) = api.push_id(&tagged.delivery) else {
                        ledger.unreadable_push();
                        continue;
                    };
                    let h = hash_id(&id);
                    if recent[device].contains(&h) {
                        ledger.duplicate_push();
                        continue;
                    }
                    recent[device] = [h, recent[device][0]];
                    ledger.delivered();
                    let gateway_at = tagged.delivery.received_at;
                    made += 1;
                    fetches.push(fetch_one(&*api, &client, &fleet, &ledger, &plan, device, id, gateway_at, taken_at));
                }
            }
            _ = stop.cancelled() => break,
        }
    }
    made
}

#[allow(clippy::too_many_arguments)]
fn fetch_one<'a>(
    api: &'a dyn Api,
    client: &'a Client,
    fleet: &'a Fleet,
    ledger: &'a Ledger,
    plan: &'a Plan,
    device: usize,
    id: String,
    gateway_at: Instant,
    delivered_at: Instant,
) -> impl std::future::Future<Output = ()> + 'a {
    let prepared: Result<Prepared, String> = api.fetch(&fleet.devices[device], &id);
    async move {
        let Ok(request) = prepared else {
            ledger.fetch_failed();
            return;
        };
        match client.call(&request).await {
            Ok((status, body)) if status.is_success() => {
                let fetched_at = Instant::now();
                let content = api
                    .payload(&body)
                    .and_then(|text| {
                        let global = parse_message(&plan.run_tag, &text)?;
                        let k = plan.shard.local(global)?;
                        Some(Fetched::Content {
                            k,
                            device: device as u32,
                            matches: text == message(&plan.run_tag, plan.seed, global),
                        })
                    })
                    .unwrap_or(Fetched::Unknown);
                ledger.fetched(
                    content,
                    Arrival {
                        gateway_at,
                        delivered_at,
                        fetched_at,
                    },
                );
            }
            _ => ledger.fetch_failed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock ticks only when its thread runs out of work: on a thread
    /// that never does, the fallback still wakes the receiver.
    #[test]
    fn a_thread_too_busy_to_tick_still_reaches_the_next_tick() {
        let driver = super::super::setup::DriverThread::new(
            "pp-driver-test",
            Some(Duration::from_millis(1)),
        )
        .expect("a driver thread");
        let clock = driver.clock().expect("a clock");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = stop.clone();
        driver.handle().spawn(async move {
            while !spinning.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        driver.handle().spawn(async move {
            let mut fallback = fallback_interval();
            for _ in 0..3 {
                next_tick(&clock, &mut fallback).await;
            }
            let _ = tx.send(());
        });
        let reached = rx.recv_timeout(Duration::from_secs(5));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reached.is_ok(), "three ticks never came on a busy thread");
    }

    #[test]
    fn messages_name_their_notification_and_only_the_run_verifies_them() {
        let m = message("abc", 7, 42);
        assert_eq!(parse_message("abc", &m), Some(42));
        assert_eq!(parse_message("abd", &m), None);
        assert_ne!(m, message("abc", 8, 42));
        assert_eq!(parse_message("abc", "hello"), None);
    }
}
