//! The threads of a load run besides the command's own: the in-process
//! gateways on a runtime of their own (`pp-mocks-*`, see [`super::cpu`]),
//! so their CPU time is measured apart from the harness's and a busy
//! generator does not starve them of workers (the embedded reference
//! backend does the same, [`crate::target::embedded`], `pp-backend-*`),
//! and the open-model driver's single thread with its clock
//! ([`DriverThread`]).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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

/// A single-threaded runtime on a thread of its own, named `name`, that
/// runs until dropped: the open-model driver's (see [`super::run::Setup`]).
/// Everything spawned on it shares the one thread, so a task that wakes
/// another wakes no thread.
///
/// With a `tick`, the thread works on a clock: whenever it runs out of
/// work it sleeps to the next tick before it looks for more, so whatever
/// arrived meanwhile (answers, timers) is taken in one go, one read per
/// connection, and the requests it makes leave in one write. Each event is
/// then seen up to one tick late, which the latencies include: the clock
/// can make a backend look slower by at most a tick per stage, never
/// faster. Ticks are counted from the runtime's start, the grid of tokio's
/// millisecond timer, so timers fire on the tick the thread wakes for.
pub struct DriverThread {
    handle: tokio::runtime::Handle,
    /// Notified on every tick (see [`DriverThread::clock`]).
    clock: Option<Arc<tokio::sync::Notify>>,
    /// Dropping it ends the thread's `block_on`, and with it the runtime,
    /// on its own thread.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl DriverThread {
    pub fn new(name: &str, tick: Option<Duration>) -> std::io::Result<DriverThread> {
        let origin: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.enable_all();
        let tick = tick.filter(|t| !t.is_zero());
        let clock = tick.map(|_| Arc::new(tokio::sync::Notify::new()));
        if let (Some(tick), Some(clock)) = (tick, clock.clone()) {
            let origin = origin.clone();
            builder.on_thread_park(move || {
                if let Some(origin) = origin.get() {
                    std::thread::sleep(until_next_tick(*origin, tick, Instant::now()));
                    // Wakes the clock's tasks on this thread: the runtime
                    // then runs them instead of parking.
                    clock.notify_waiters();
                }
            });
        }
        let runtime = builder.build()?;
        // Taken after the runtime (and its timer) started: a tick slept to
        // is never before the timer's own.
        let _ = origin.set(Instant::now());
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_background();
            })?;
        Ok(DriverThread {
            handle,
            clock,
            _stop: stop,
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// With a tick: notified on each tick the thread woke for, so that a
    /// task can work on the clock without a timer of its own (a timer set
    /// anew each tick costs the thread a wake-up of itself).
    pub fn clock(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.clock.clone()
    }
}

/// How long from `now` to the next tick of a clock started at `origin`.
fn until_next_tick(origin: Instant, tick: Duration, now: Instant) -> Duration {
    let tick_ns = tick.as_nanos().max(1);
    let elapsed = now.saturating_duration_since(origin).as_nanos();
    let next = (elapsed / tick_ns + 1) * tick_ns;
    Duration::from_nanos(u64::try_from(next - elapsed).unwrap_or(u64::MAX))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_next_tick_is_on_the_grid_and_never_now() {
        let origin = Instant::now();
        let ms = Duration::from_millis(1);
        assert_eq!(until_next_tick(origin, ms, origin), ms);
        assert_eq!(
            until_next_tick(origin, ms, origin + Duration::from_micros(2300)),
            Duration::from_micros(700)
        );
        assert_eq!(until_next_tick(origin, ms, origin + 3 * ms), ms);
    }

    #[test]
    fn a_ticking_driver_still_runs_timers_and_tasks() {
        let driver = DriverThread::new("pp-driver-test", Some(Duration::from_millis(1))).unwrap();
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        driver.handle().spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_micros(300)).await;
            }
            let _ = tx.send(started.elapsed());
        });
        let took = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // Five sleeps, each ending on a tick of its own.
        assert!(took >= Duration::from_millis(5), "{took:?}");
    }
}
