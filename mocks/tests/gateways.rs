//! The `Gateways` API: credentials and the backend contract, device handles,
//! inbox and capture bounds, and shutdown.

#![allow(clippy::unwrap_used)]

mod support;

use pushproof_mocks::{GatewayConfig, Gateways, Platform};
use support::*;

#[tokio::test]
async fn write_credentials_returns_the_backend_contract() {
    let h = Harness::start().await;
    let names: Vec<&str> = h.env.vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "PUSHPROOF_APNS_URL",
            "PUSHPROOF_APNS_KEY_FILE",
            "PUSHPROOF_APNS_KEY_ID",
            "PUSHPROOF_APNS_TEAM_ID",
            "PUSHPROOF_APNS_TOPIC",
            "PUSHPROOF_FCM_URL",
            "PUSHPROOF_FCM_PROJECT_ID",
            "PUSHPROOF_FCM_CREDENTIALS",
            "PUSHPROOF_WNS_TOKEN_URL",
            "PUSHPROOF_WNS_CLIENT_ID",
            "PUSHPROOF_WNS_CLIENT_SECRET",
            "PUSHPROOF_CONTROL_URL",
            "PUSHPROOF_NH_CONNECTION_STRING",
            "PUSHPROOF_NH_HUB",
        ]
    );
    assert_eq!(h.var("PUSHPROOF_APNS_URL"), h.gw.apns_url());
    assert_eq!(h.var("PUSHPROOF_FCM_URL"), h.gw.fcm_url());
    assert_eq!(h.var("PUSHPROOF_WNS_TOKEN_URL"), h.gw.wns_token_url());
    assert_eq!(
        h.gw.wns_token_url(),
        format!("{}/accesstoken.srf", h.gw.wns_url())
    );
    assert_eq!(h.var("PUSHPROOF_APNS_KEY_ID").len(), 10);
    assert_eq!(h.var("PUSHPROOF_APNS_TEAM_ID").len(), 10);

    let p8 = std::fs::read_to_string(h.var("PUSHPROOF_APNS_KEY_FILE")).unwrap();
    assert!(p8.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(std::path::Path::new(h.var("PUSHPROOF_APNS_KEY_FILE")).is_absolute());

    let sa = service_account(&h);
    assert_eq!(sa["type"], "service_account");
    assert_eq!(sa["project_id"], "pushproof-test");
    assert_eq!(sa["token_uri"], h.gw.fcm_token_url());
    assert!(sa["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    for field in ["private_key_id", "client_email", "client_id"] {
        assert!(sa[field].as_str().is_some_and(|v| !v.is_empty()), "{field}");
    }
}

#[tokio::test]
async fn env_file_has_one_key_value_line_per_variable() {
    let h = Harness::start().await;
    let path = h.dir.path().join("backend.env");
    h.env.write_env_file(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), h.env.vars.len());
    for ((name, value), line) in h.env.vars.iter().zip(lines) {
        assert_eq!(line, format!("{name}={value}"));
    }
}

#[tokio::test]
async fn register_device_issues_handles_in_platform_shapes() {
    let h = Harness::start().await;
    let apns = h.gw.register_device(Platform::Apns);
    assert_eq!(apns.handle.len(), 64);
    assert!(apns
        .handle
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let fcm = h.gw.register_device(Platform::Fcm);
    assert!(fcm.handle.contains(":APA91b"));
    let wns = h.gw.register_device(Platform::Wns);
    assert!(wns
        .handle
        .starts_with(&format!("{}/?token=", h.gw.wns_url())));
    assert_ne!(h.gw.register_device(Platform::Apns), apns);
    for device in [&apns, &fcm, &wns] {
        assert_eq!(h.gw.inbox(device).unwrap().len(), 0);
    }
}

#[tokio::test]
async fn inbox_keeps_the_newest_deliveries_when_full() {
    let config = GatewayConfig {
        inbox_capacity: 2,
        ..GatewayConfig::default()
    };
    let h = Harness::with_config(config).await;
    let device = h.gw.register_device(Platform::Apns);
    let jwt = apns_jwt(&h);
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for n in 0..3 {
        let request = apns_request(&h, &device.handle, &jwt)
            .body(body(format!(r#"{{"n":{n}}}"#)))
            .unwrap();
        assert_eq!(
            h2_send(&mut client, request).await.status,
            http::StatusCode::OK
        );
    }
    let inbox = h.gw.inbox(&device).unwrap();
    assert_eq!((inbox.len(), inbox.dropped()), (2, 1));
    assert_eq!(inbox.recv().await.body.as_ref(), br#"{"n":1}"#);
    assert_eq!(inbox.recv().await.body.as_ref(), br#"{"n":2}"#);
    assert!(inbox.try_recv().is_none());
}

#[tokio::test]
async fn captures_are_bounded_and_evictions_counted() {
    let config = GatewayConfig {
        capture_capacity: 3,
        ..GatewayConfig::default()
    };
    let h = Harness::with_config(config).await;
    let mut client = h2_connect(&h.gw.apns_url()).await;
    for _ in 0..5 {
        let request = http::Request::post(format!("{}/3/device/", h.gw.apns_url()))
            .body(body(ALERT))
            .unwrap();
        h2_send(&mut client, request).await;
    }
    let stats = h.gw.capture_stats();
    assert_eq!((stats.total, stats.kept, stats.evicted), (5, 3, 2));
    let seqs: Vec<u64> = h.gw.captures().iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert_eq!(h.gw.captures_since(4).len(), 1);
}

#[tokio::test]
async fn shutdown_stops_every_listener() {
    let gw = Gateways::start(GatewayConfig::default()).await.unwrap();
    let addrs: Vec<_> = Platform::ALL.iter().map(|p| gw.addr(*p)).collect();
    for addr in &addrs {
        tokio::net::TcpStream::connect(addr).await.unwrap();
    }
    gw.shutdown().await;
    for addr in &addrs {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts"
        );
    }
}

#[tokio::test]
async fn drop_stops_the_gateways() {
    let gw = Gateways::start(GatewayConfig::default()).await.unwrap();
    let addr = gw.addr(Platform::Fcm);
    drop(gw);
    // The accept loop notices the cancellation on its next poll; wait for
    // that by polling the port, with a bound instead of a fixed sleep.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still listening after drop"
        );
        tokio::task::yield_now().await;
    }
}
