//! Store round-trips: ownership, scoping, expiry and acknowledgement,
//! logout clean-up, group commit, the schema migration.

#![allow(clippy::unwrap_used)]

use super::*;

/// A notification for `recipient` from "b" that never expires, pushed to
/// every platform.
fn note(id: String, recipient: String, payload: String) -> NewNotification {
    NewNotification {
        id,
        recipient,
        sender: "b".into(),
        payload,
        platform: None,
        created_at_ms: 0,
        expires_at_ms: i64::MAX,
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

#[tokio::test]
async fn users_and_sessions_round_trip() {
    let (_dir, store) = open();
    assert!(store
        .create_user("alice".into(), vec![1], vec![2], 0)
        .await
        .unwrap());
    assert!(!store
        .create_user("alice".into(), vec![3], vec![4], 0)
        .await
        .unwrap());
    assert_eq!(
        store.credentials("alice".into()).await.unwrap(),
        Some((vec![1], vec![2]))
    );
    assert_eq!(store.credentials("bob".into()).await.unwrap(), None);

    store
        .create_session("h1".into(), "alice".into(), 1000, 0)
        .await
        .unwrap();
    assert_eq!(
        store.session("h1".into()).await.unwrap(),
        Some(("alice".into(), 1000))
    );
    // A later login sweeps expired sessions.
    store
        .create_session("h2".into(), "alice".into(), 5000, 2000)
        .await
        .unwrap();
    assert_eq!(store.session("h1".into()).await.unwrap(), None);
    store.delete_session("h2".into()).await.unwrap();
    assert_eq!(store.session("h2".into()).await.unwrap(), None);
}

#[tokio::test]
async fn registrations_are_owned_and_replaced() {
    let (_dir, store) = open();
    store
        .create_user("alice".into(), vec![], vec![], 0)
        .await
        .unwrap();
    let r1 = store
        .create_registration("r1".into(), "alice".into(), None, "s".into(), 0)
        .await
        .unwrap();
    assert_eq!(r1, "r1");
    let put = |id: &str, owner: &str, handle: &str| {
        store.update_registration(
            id.into(),
            owner.into(),
            Platform::Apns,
            handle.into(),
            "[]".into(),
            "s".into(),
        )
    };
    assert_eq!(
        put("r1", "bob", "aa").await.unwrap(),
        RegistrationUpdate::NotFound
    );
    assert_eq!(
        put("nope", "alice", "aa").await.unwrap(),
        RegistrationUpdate::NotFound
    );
    assert_eq!(
        put("r1", "alice", "aa").await.unwrap(),
        RegistrationUpdate::Updated
    );
    // Same handle for the same owner: the old id comes back.
    let again = store
        .create_registration(
            "r9".into(),
            "alice".into(),
            Some("aa".into()),
            "s".into(),
            0,
        )
        .await
        .unwrap();
    assert_eq!(again, "r1");
    // Another user never gets alice's id, and cannot take her handle.
    let bobs = store
        .create_registration("r2".into(), "bob".into(), Some("aa".into()), "s".into(), 0)
        .await
        .unwrap();
    assert_eq!(bobs, "r2");
    assert_eq!(
        put("r2", "bob", "aa").await.unwrap(),
        RegistrationUpdate::HandleTaken
    );
    // Re-registering the handle under a new id replaces the old one.
    store
        .create_registration("r3".into(), "alice".into(), None, "s".into(), 0)
        .await
        .unwrap();
    assert_eq!(
        put("r3", "alice", "aa").await.unwrap(),
        RegistrationUpdate::Updated
    );
    let targets = store
        .create_notification(
            note("n1".into(), "alice".into(), "m".into()),
            Routing::Owner,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        targets,
        vec![Registration {
            id: "r3".into(),
            platform: Platform::Apns,
            handle: "aa".into()
        }]
    );
    assert!(!store
        .delete_registration("r3".into(), "bob".into())
        .await
        .unwrap());
    assert!(store
        .delete_registration("r3".into(), "alice".into())
        .await
        .unwrap());
}

#[tokio::test]
async fn notifications_round_trip_and_are_scoped() {
    let (_dir, store) = open();
    assert_eq!(
        store
            .create_notification(
                note("n0".into(), "ghost".into(), "m".into()),
                Routing::Owner
            )
            .await
            .unwrap(),
        None
    );
    store
        .create_user("alice".into(), vec![], vec![], 0)
        .await
        .unwrap();
    store
        .create_notification(
            note("n1".into(), "alice".into(), "secret".into()),
            Routing::Owner,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .fetch_notification("n1".into(), Some("bob".into()), 0)
            .await
            .unwrap(),
        None
    );
    let first = store
        .fetch_notification("n1".into(), Some("alice".into()), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.payload.as_str(), first.read), ("secret", false));
    let second = store
        .fetch_notification("n1".into(), None, 0)
        .await
        .unwrap()
        .unwrap();
    assert!(second.read);
}

#[tokio::test]
async fn logout_removes_the_sessions_registrations() {
    let (_dir, store) = open();
    store
        .create_user("alice".into(), vec![], vec![], 0)
        .await
        .unwrap();
    store
        .create_session("s1".into(), "alice".into(), i64::MAX, 0)
        .await
        .unwrap();
    store
        .create_registration("r1".into(), "alice".into(), None, "s1".into(), 0)
        .await
        .unwrap();
    store
        .update_registration(
            "r1".into(),
            "alice".into(),
            Platform::Fcm,
            "h".into(),
            "[]".into(),
            "s1".into(),
        )
        .await
        .unwrap();
    store.delete_session("s1".into()).await.unwrap();
    let targets = store
        .create_notification(note("n".into(), "alice".into(), "m".into()), Routing::Owner)
        .await
        .unwrap()
        .unwrap();
    assert!(targets.is_empty());
}

#[tokio::test]
async fn concurrent_writes_are_grouped_and_all_land() {
    let (_dir, store) = open();
    store
        .create_user("alice".into(), vec![], vec![], 0)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..500 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .create_notification(
                    note(format!("n{n}"), "alice".into(), "m".into()),
                    Routing::Owner,
                )
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    // A failing job (duplicate id) rolls back alone.
    let dup = store
        .create_notification(
            note("n1".into(), "alice".into(), "m".into()),
            Routing::Owner,
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Sqlite(_))));
    for n in [0, 250, 499] {
        assert!(store
            .fetch_notification(format!("n{n}"), None, 0)
            .await
            .unwrap()
            .is_some());
    }
}

#[tokio::test]
async fn notifications_expire_and_acknowledged_ones_are_gone() {
    let (_dir, store) = open();
    store
        .create_user("alice".into(), vec![], vec![], 0)
        .await
        .unwrap();
    let expiring = |id: &str, expires_at_ms| NewNotification {
        expires_at_ms,
        ..note(id.into(), "alice".into(), "m".into())
    };
    for (id, expires) in [("a", 1_000), ("b", 2_000), ("c", i64::MAX)] {
        store
            .create_notification(expiring(id, expires), Routing::Owner)
            .await
            .unwrap();
    }
    let fetch = |id: &str, now| store.fetch_notification(id.into(), Some("alice".into()), now);
    assert!(fetch("a", 999).await.unwrap().is_some());
    assert!(fetch("a", 1_000).await.unwrap().is_none(), "gone at expiry");
    // Only the recipient acknowledges, and only what has not expired.
    let ack =
        |id: &str, who: &str, now| store.delete_notification(id.into(), Some(who.into()), now);
    assert!(!ack("b", "bob", 0).await.unwrap());
    assert!(!ack("a", "alice", 1_500).await.unwrap());
    assert!(ack("b", "alice", 1_500).await.unwrap());
    assert!(fetch("b", 1_500).await.unwrap().is_none());
    assert!(!ack("b", "alice", 1_500).await.unwrap(), "once");

    // The sweep deletes expired rows, a batch at a time, and nothing else.
    assert_eq!(store.delete_expired(5_000, 10).await.unwrap(), 1);
    assert_eq!(store.delete_expired(5_000, 10).await.unwrap(), 0);
    assert!(fetch("c", 5_000).await.unwrap().is_some());
}

#[test]
fn a_database_from_before_expiry_gets_the_column_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE notifications (
                id TEXT PRIMARY KEY, recipient TEXT NOT NULL, sender TEXT NOT NULL,
                payload TEXT NOT NULL, created_at INTEGER NOT NULL,
                read INTEGER NOT NULL DEFAULT 0);
             INSERT INTO notifications (id, recipient, sender, payload, created_at)
             VALUES ('old', 'alice', 'b', 'kept', 0);",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let old = runtime
        .block_on(store.fetch_notification("old".into(), Some("alice".into()), i64::MAX - 1))
        .unwrap()
        .unwrap();
    assert_eq!(old.payload, "kept");
    drop(store);
    // Opening it again finds the column in place.
    Store::open(&path).unwrap();
}
