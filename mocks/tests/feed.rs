//! Delivery feeds: devices registered in batches on one feed, their pushes
//! taken from one queue with their tags, in-process and over the control
//! API; and the process endpoint.

#![allow(clippy::unwrap_used)]

mod support;

use http::StatusCode;
use pushproof_mocks::{DeviceHandle, Feed, Platform};
use serde_json::json;
use support::*;

async fn wns_push(access_token: &str, channel: &str, text: &str) -> Reply {
    http1_send(
        wns_raw(channel, access_token)
            .body(body(text.to_owned()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn pushes_to_feed_devices_land_on_the_feed_with_their_tags_not_in_an_inbox() {
    let h = Harness::start().await;
    let feed = Feed::new(16);
    let a = h.gw.register_feed_device(Platform::Wns, &feed, 7);
    let b = h.gw.register_feed_device(Platform::Wns, &feed, 8);
    let token = wns_access_token(&h).await;
    assert_eq!(
        wns_push(&token, &b.handle, "to-b").await.status,
        StatusCode::OK
    );
    assert_eq!(
        wns_push(&token, &a.handle, "to-a").await.status,
        StatusCode::OK
    );
    let taken = feed.take(10).await;
    let seen: Vec<(u64, &[u8])> = taken
        .iter()
        .map(|t| (t.tag, t.delivery.body.as_ref()))
        .collect();
    assert_eq!(seen, [(8, &b"to-b"[..]), (7, &b"to-a"[..])]);
    assert_eq!(feed.pushed(), 2);
    assert!(h.gw.inbox(&a).unwrap().is_empty());
}

#[tokio::test]
async fn control_feeds_register_devices_in_batches_and_long_poll_their_pushes() {
    let h = std::sync::Arc::new(Harness::start().await);
    let created = control(&h, "POST", "/feeds", Some(&json!({ "capacity": 100 }))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.json()["feed"].as_u64().unwrap();
    let devices = control(
        &h,
        "POST",
        &format!("/feeds/{id}/devices"),
        Some(&json!({ "platform": "wns", "count": 3, "first_tag": 100 })),
    )
    .await;
    assert_eq!(devices.status, StatusCode::CREATED, "{:?}", devices.body);
    let handles: Vec<String> = devices.json()["handles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(handles.len(), 3);
    let poll = tokio::spawn({
        let h = h.clone();
        async move { control(&h, "GET", &format!("/feeds/{id}?wait=30&limit=10"), None).await }
    });
    let token = wns_access_token(&h).await;
    assert_eq!(
        wns_push(&token, &handles[2], "x").await.status,
        StatusCode::OK
    );
    let answer = poll.await.unwrap().json();
    let deliveries = answer["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{answer}");
    assert_eq!(deliveries[0]["tag"], 102);
    assert_eq!(deliveries[0]["body"], "x");
    assert!(deliveries[0]["age_us"].is_u64());
    assert_eq!(answer["pushed"], 1);
    // The device is an ordinary one to the gateway: it can be removed.
    let device = DeviceHandle {
        platform: Platform::Wns,
        handle: handles[0].clone(),
    };
    assert!(h.gw.unregister_device(&device));
    assert_eq!(
        control(&h, "DELETE", &format!("/feeds/{id}"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        control(&h, "GET", &format!("/feeds/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn control_feeds_refuse_bad_batches_and_queries() {
    let h = Harness::start().await;
    let id = control(&h, "POST", "/feeds", None).await.json()["feed"]
        .as_u64()
        .unwrap();
    let path = format!("/feeds/{id}/devices");
    for bad in [
        json!({ "platform": "wns", "count": 0, "first_tag": 0 }),
        json!({ "platform": "wns", "count": 1001, "first_tag": 0 }),
        json!({ "platform": "mpns", "count": 1, "first_tag": 0 }),
        json!({ "platform": "wns", "count": 2, "first_tag": u64::MAX }),
        json!({ "platform": "wns", "count": 1 }),
    ] {
        let reply = control(&h, "POST", &path, Some(&bad)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(reply.json()["error"].is_string());
    }
    for query in ["limit=10001", "wait=-1", "lmit=2"] {
        let reply = control(&h, "GET", &format!("/feeds/{id}?{query}"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
    }
    assert_eq!(
        control(&h, "GET", "/feeds/99", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        control(&h, "PUT", "/feeds", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let process = control(&h, "GET", "/process", None).await.json();
    assert!(process["cpu_us"].is_u64(), "{process}");
}
