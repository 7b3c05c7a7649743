//! The dispatch flaws count right: `stall` holds exactly every 50th push
//! for 400 ms (paused time, so the wait is exact and costs nothing), and
//! `lose` answers every 100th notification as pushed without pushing it.
//! No platform is configured, so every push fails at once without any I/O:
//! what is counted is the push attempt, which is what the flaws act on.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;
use crate::config::Config;
use crate::flaw::{LOSE_EVERY, STALL_EVERY, STALL_FOR};

/// A store with alice, who has `devices` WNS registrations, and a
/// dispatcher with `flaws` whose pushes all fail as "not configured".
async fn setup(flaws: &[Flaw], devices: usize) -> (tempfile::TempDir, Store, Dispatcher) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let store = Store::open(&path).unwrap();
    store
        .create_user("alice".into(), vec![], vec![], 0)
        .await
        .unwrap();
    for n in 0..devices {
        let id = format!("r{n}");
        store
            .create_registration(id.clone(), "alice".into(), None, "s".into(), 0)
            .await
            .unwrap();
        store
            .update_registration(
                id,
                "alice".into(),
                Platform::Wns,
                format!("https://x.notify.windows.com/?token={n}"),
                "[]".into(),
                "s".into(),
            )
            .await
            .unwrap();
    }
    let dispatcher = Dispatcher::new(
        store.clone(),
        Pushers::new(&Config::new(path)),
        Clock::manual(0),
        PushFlaws::from_flaws(flaws),
        Ids::from_flaws(flaws),
        DispatchFlaws::of(flaws),
        Switches::new(flaws),
    );
    (dir, store, dispatcher)
}

/// "m" from bob to alice, on every platform.
fn outgoing() -> Outgoing {
    Outgoing {
        sender: "bob".into(),
        recipient: "alice".into(),
        platform: None,
        message: "m".into(),
        ttl: Duration::from_secs(60),
        routing: Routing::Owner,
    }
}

async fn notify(dispatcher: &Dispatcher) -> Outcome {
    dispatcher.notify(outgoing(), None).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn stall_holds_exactly_every_50th_push_for_400_ms() {
    let (_dir, _store, dispatcher) = setup(&[Flaw::Stall], 1).await;
    let mut stalled = Vec::new();
    for n in 1..=150u64 {
        let started = tokio::time::Instant::now();
        let outcome = notify(&dispatcher).await;
        assert_eq!(
            outcome,
            Outcome {
                pushed: 0,
                failed: 1
            }
        );
        match started.elapsed() {
            d if d == STALL_FOR => stalled.push(n),
            Duration::ZERO => {}
            other => panic!("notification {n} took {other:?}"),
        }
    }
    assert_eq!(stalled, [50, 100, 150]);
    assert_eq!(STALL_EVERY, 50);
}

#[tokio::test(start_paused = true)]
async fn stall_counts_pushes_not_notifications() {
    // Two devices: two pushes a notification, so the 50th push is the
    // 25th notification's second.
    let (_dir, _store, dispatcher) = setup(&[Flaw::Stall], 2).await;
    let mut stalled = Vec::new();
    for n in 1..=50u64 {
        let started = tokio::time::Instant::now();
        assert_eq!(
            notify(&dispatcher).await,
            Outcome {
                pushed: 0,
                failed: 2
            }
        );
        if started.elapsed() == STALL_FOR {
            stalled.push(n);
        }
    }
    assert_eq!(stalled, [25, 50]);
}

#[tokio::test]
async fn lose_acknowledges_every_100th_notification_without_pushing_it() {
    let (_dir, _store, dispatcher) = setup(&[Flaw::Lose], 1).await;
    let mut lost = Vec::new();
    for n in 1..=300u64 {
        // A real push fails here (no platform); a lost one claims success.
        match notify(&dispatcher).await {
            Outcome {
                pushed: 0,
                failed: 1,
            } => {}
            Outcome {
                pushed: 1,
                failed: 0,
            } => lost.push(n),
            other => panic!("notification {n}: {other:?}"),
        }
    }
    assert_eq!(lost, [100, 200, 300]);
    assert_eq!(LOSE_EVERY, 100);
}

#[tokio::test]
async fn lose_counts_only_notifications_with_somewhere_to_go() {
    let (_dir, _store, dispatcher) = setup(&[Flaw::Lose], 1).await;
    for _ in 0..150 {
        let nobody = dispatcher
            .notify(
                Outgoing {
                    recipient: "nobody".into(),
                    ..outgoing()
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(nobody, Outcome::default());
    }
    let mut claimed = 0;
    for _ in 1..=100 {
        if notify(&dispatcher).await
            == (Outcome {
                pushed: 1,
                failed: 0,
            })
        {
            claimed += 1;
        }
    }
    assert_eq!(
        claimed, 1,
        "the 100th deliverable notification, not the 100th call"
    );
}

#[tokio::test(start_paused = true)]
async fn the_sound_backend_neither_stalls_nor_loses() {
    let (_dir, _store, dispatcher) = setup(&[], 1).await;
    let started = tokio::time::Instant::now();
    for _ in 0..200 {
        assert_eq!(
            notify(&dispatcher).await,
            Outcome {
                pushed: 0,
                failed: 1
            }
        );
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
}
