//! Store round-trips: ownership, scoping, expiry and acknowledgement,
//! logout clean-up, group commit, the schema migration, and the cache of
//! recent notifications agreeing with the table.

#![allow(clippy::unwrap_used)]

use super::*;

/// A notification for `recipient` from "b" that never expires, pushed to
/// every platform.
fn note(id: String, recipient: String, payload: String) -> NewNotification {
    NewNotification {
        id: id.into(),
        recipient: recipient.into(),
        sender: "b".into(),
        payload: payload.into(),
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
            .fetch_notification("n1", Some("bob"), 0)
            .await
            .unwrap(),
        None
    );
    let first = store
        .fetch_notification("n1", Some("alice"), 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&*first.payload, first.read), ("secret", false));
    let second = store
        .fetch_notification("n1", None, 0)
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
    let (dir, store) = open();
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
    // Every one of them committed: a store opened afresh on the file (no
    // cache) finds them all in the table.
    let reopened = reopen(&dir);
    for n in 0..500 {
        let found = reopened
            .fetch_notification(&format!("n{n}"), Some("alice"), 0)
            .await
            .unwrap();
        assert_eq!(found.map(|f| f.payload), Some("m".into()), "n{n}");
    }
}

/// A second store on the same file, with an empty cache: what a restarted
/// backend would see.
fn reopen(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("t.db")).unwrap()
}

/// Creates alice (unless she exists) and a notification to her per id.
async fn alice_with(store: &Store, ids: &[&str]) {
    store
        .create_user("alice".into(), vec![], vec![], 0)
        .await
        .ok();
    for id in ids {
        store
            .create_notification(
                note((*id).into(), "alice".into(), format!("secret {id}")),
                Routing::Owner,
            )
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn read_marks_made_in_memory_reach_the_table() {
    let (dir, store) = open();
    alice_with(&store, &["n1", "n2"]).await;
    let first = store
        .fetch_notification("n1", Some("alice"), 0)
        .await
        .unwrap();
    assert_eq!(first.map(|f| f.read), Some(false));
    assert_eq!(
        store
            .fetch_notification("n1", Some("bob"), 0)
            .await
            .unwrap(),
        None,
        "the cache keeps the recipient rule"
    );
    // Any later write commits after the mark's job (one writer, in order).
    store
        .create_user("barrier".into(), vec![], vec![], 0)
        .await
        .unwrap();
    let reopened = reopen(&dir);
    let n1 = reopened.fetch_notification("n1", None, 0).await.unwrap();
    let n2 = reopened.fetch_notification("n2", None, 0).await.unwrap();
    assert_eq!(n1.map(|f| f.read), Some(true), "marked read in the table");
    assert_eq!(n2.map(|f| f.read), Some(false), "never fetched");
}

#[tokio::test]
async fn an_evicted_notification_still_remembers_it_was_read() {
    let (_dir, store) = open();
    let store = store.with_recent(Recent::with_limits(1, usize::MAX));
    alice_with(&store, &["n1"]).await;
    let first = store
        .fetch_notification("n1", Some("alice"), 0)
        .await
        .unwrap();
    assert_eq!(first.map(|f| f.read), Some(false));
    // n2 pushes n1 out of the cache before its mark can have committed.
    alice_with(&store, &["n2"]).await;
    let again = store
        .fetch_notification("n1", Some("alice"), 0)
        .await
        .unwrap();
    assert_eq!(
        again.map(|f| (f.payload, f.read)),
        Some(("secret n1".into(), true))
    );
    let other = store
        .fetch_notification("n1", Some("bob"), 0)
        .await
        .unwrap();
    assert_eq!(other, None, "the table keeps the recipient rule");
}

#[tokio::test]
async fn concurrent_first_fetches_see_unread_exactly_once() {
    let (_dir, store) = open();
    alice_with(&store, &["n1"]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .fetch_notification("n1", Some("alice"), 0)
                .await
                .unwrap()
                .unwrap()
                .read
        });
    }
    let mut unread = 0;
    while let Some(read) = tasks.join_next().await {
        unread += usize::from(!read.unwrap());
    }
    assert_eq!(unread, 1);
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
    let fetch = |id: &'static str, now| store.fetch_notification(id, Some("alice"), now);
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
        .block_on(store.fetch_notification("old", Some("alice"), i64::MAX - 1))
        .unwrap()
        .unwrap();
    assert_eq!(&*old.payload, "kept");
    drop(store);
    // Opening it again finds the column in place.
    Store::open(&path).unwrap();
}

#[tokio::test]
async fn cached_notifications_follow_deletes_and_the_tenant_name_lookup() {
    let (_dir, store) = open();
    store
        .create_user("acme/alice".into(), vec![], vec![], 0)
        .await
        .unwrap();
    for id in ["n1", "n2", "n3"] {
        store
            .create_notification(
                note(id.into(), "acme/alice".into(), "m".into()),
                Routing::Owner,
            )
            .await
            .unwrap();
    }
    // The `cross-tenant-fetch` lookup by name, served from memory: the
    // same name test as the table's, the same read mark.
    let by_name =
        |id: &str, name: &str| store.fetch_notification_by_name(id.into(), name.into(), 0);
    assert_eq!(by_name("n1", "bob").await.unwrap(), None);
    assert_eq!(
        by_name("n1", "alice").await.unwrap().map(|n| n.read),
        Some(false)
    );
    let again = store
        .fetch_notification("n1", Some("acme/alice"), 0)
        .await
        .unwrap();
    assert_eq!(again.map(|n| n.read), Some(true));
    // A delete by someone else leaves it; the recipient's, or anyone's
    // under `any-ack`, takes it out of memory as out of the table.
    assert!(!store
        .delete_notification("n2".into(), Some("bob".into()), 0)
        .await
        .unwrap());
    assert!(store
        .fetch_notification("n2", None, 0)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .delete_notification("n2".into(), Some("acme/alice".into()), 0)
        .await
        .unwrap());
    assert!(store
        .delete_notification("n3".into(), None, 0)
        .await
        .unwrap());
    for id in ["n2", "n3"] {
        assert_eq!(store.fetch_notification(id, None, 0).await.unwrap(), None);
        assert_eq!(
            store.fetch_notification(id, None, i64::MIN).await.unwrap(),
            None
        );
    }
}
