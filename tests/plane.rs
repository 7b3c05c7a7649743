//! The mock plane is the same whether the gateways run in this process or
//! are reached over their control API: devices, inboxes, captures read
//! page by page, counters and faults.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use pushproof::client::BackendClient;
use pushproof::plane::MockPlane;
use pushproof_mocks::{Fault, FaultRule, GatewayConfig, Gateways, Platform};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_and_local_planes_see_the_same_gateways() {
    let gateways = Arc::new(
        Gateways::start(GatewayConfig::default())
            .await
            .expect("gateways"),
    );
    let local = MockPlane::local(gateways.clone());
    let remote = MockPlane::remote(&gateways.fcm_url(), Duration::from_secs(10))
        .await
        .expect("the control API answers");

    // More captures than one page of the control API holds.
    let wns = BackendClient::new(&gateways.wns_url(), Duration::from_secs(10));
    for _ in 0..1005 {
        let exchange = wns
            .raw(
                Method::POST,
                "/?token=nope",
                Vec::new(),
                Bytes::from_static(b"x"),
            )
            .await;
        assert!(exchange.status().is_some(), "{}", exchange.describe());
    }
    let from_local = local.captures_after(None).await.expect("local captures");
    let from_remote = remote.captures_after(None).await.expect("remote captures");
    assert_eq!(from_local.len(), 1005);
    assert_eq!(from_remote.len(), 1005, "every page read");
    assert_eq!(
        from_remote.iter().map(|c| c.seq).collect::<Vec<_>>(),
        from_local.iter().map(|c| c.seq).collect::<Vec<_>>()
    );
    assert_eq!(from_remote[7].path, from_local[7].path);
    let after = remote
        .captures_after(Some(1000))
        .await
        .expect("incremental");
    assert_eq!(after.len(), 4);
    assert_eq!(remote.capture_stats().await.expect("stats").total, 1005);

    // A device made remotely, its inbox long-polled; a fault set remotely.
    let device = remote.register_device(Platform::Wns).await.expect("device");
    let inbox = remote.inbox(&device).expect("inbox");
    let id = remote
        .set_fault(FaultRule::device(
            &device,
            Fault::Status {
                status: 503,
                reason: None,
                retry_after_secs: None,
            },
        ))
        .await
        .expect("fault");
    assert_eq!(gateways.faults().len(), 1);
    remote.remove_fault(id).await.expect("removed");
    assert!(gateways.faults().is_empty());
    assert!(inbox.try_recv().is_none());
    assert!(remote.counters().await.expect("counters")["wns"]["rejected"].is_object());
    assert!(remote.unregister_device(&device).await.expect("unregister"));
}
