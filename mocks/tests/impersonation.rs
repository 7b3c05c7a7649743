//! Host impersonation: the gateways answering for the services' real host
//! names on one listener, as a backend whose SDK pins those hosts reaches
//! them through hosts entries and the CA. Clients here connect to that
//! listener as if the names resolved to it, sending the real name as the
//! TLS server name and in `:authority`/`Host`. Also `--host`: the gateways
//! bound elsewhere than 127.0.0.1, the certificate naming that address.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr};

use http::{Request, StatusCode, Version};
use pushproof_mocks::{GatewayConfig, Impersonation, Platform, TlsSettings};
use rustls::pki_types::ServerName;
use support::tls::*;
use support::*;

async fn impersonating() -> Harness {
    Harness::with_config(GatewayConfig {
        tls: Some(TlsSettings::default()),
        impersonation: Some(Impersonation { port: 0 }),
        ..GatewayConfig::default()
    })
    .await
}

/// Sends `request` to the impersonation listener as a client that
/// resolved `host` to it would.
async fn send_as(
    h: &Harness,
    host: &'static str,
    wire: Wire,
    request: Request<Full>,
) -> (Reply, Version) {
    let addr = h.gw.impersonation_addr().unwrap();
    let name = ServerName::try_from(host).unwrap();
    let alpn: &[&[u8]] = match wire {
        Wire::H2 => &[b"h2"],
        Wire::Http1 => &[b"http/1.1"],
    };
    let (reply, version, _) =
        tls_send_via(addr, name, trusting_ca_file(h, alpn), wire, request).await;
    (reply, version)
}

type Full = http_body_util::Full<bytes::Bytes>;

#[tokio::test]
async fn impersonation_serves_each_service_at_its_real_host() {
    let h = impersonating().await;

    // Google: the token from oauth2.googleapis.com, the send to
    // fcm.googleapis.com over HTTP/2.
    let form = assertion_form(&fcm_assertion(&h, &fcm_claims(&h)));
    let token = Request::post("https://oauth2.googleapis.com/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body(form))
        .unwrap();
    let (reply, _) = send_as(&h, "oauth2.googleapis.com", Wire::Http1, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let access = reply.json()["access_token"].as_str().unwrap().to_owned();
    let device = h.gw.register_device(Platform::Fcm);
    let send = Request::post(format!(
        "https://fcm.googleapis.com/v1/projects/{}/messages:send",
        h.var("PUSHPROOF_FCM_PROJECT_ID")
    ))
    .header("authorization", format!("Bearer {access}"))
    .body(body(
        serde_json::json!({"message": {"token": device.handle}}).to_string(),
    ))
    .unwrap();
    let (reply, version) = send_as(&h, "fcm.googleapis.com", Wire::H2, send).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);

    // Apple: the sandbox host answers as the development environment.
    let device = h.gw.register_device(Platform::Apns);
    let push = Request::post(format!(
        "https://api.sandbox.push.apple.com/3/device/{}",
        device.handle
    ))
    .header("authorization", format!("bearer {}", apns_jwt(&h)))
    .header("apns-topic", h.var("PUSHPROOF_APNS_TOPIC"))
    .body(body(ALERT))
    .unwrap();
    let (reply, _) = send_as(&h, "api.sandbox.push.apple.com", Wire::H2, push).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert!(
        reply.header("apns-unique-id").is_some(),
        "the sandbox's header"
    );
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);

    // Microsoft: Live's token endpoint, then the channel URI as issued, on
    // a host under notify.windows.com.
    let form = wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        "notify.windows.com",
    );
    let token = Request::post("https://login.live.com/accesstoken.srf")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body(form))
        .unwrap();
    let (reply, _) = send_as(&h, "login.live.com", Wire::Http1, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let access = reply.json()["access_token"].as_str().unwrap().to_owned();
    let channel = h.gw.register_device(Platform::Wns);
    assert!(
        channel
            .handle
            .starts_with("https://pushproof.notify.windows.com/?token="),
        "{}",
        channel.handle
    );
    let push = wns_raw(&channel.handle, &access)
        .body(body("hello"))
        .unwrap();
    let (reply, _) = send_as(&h, "pushproof.notify.windows.com", Wire::Http1, push).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(capture.device.as_deref(), Some(channel.handle.as_str()));
    assert_eq!(h.gw.inbox(&channel).unwrap().len(), 1);
}

#[tokio::test]
async fn impersonation_routes_a_request_by_its_host_without_a_server_name() {
    let h = impersonating().await;
    let addr = h.gw.impersonation_addr().unwrap();
    // An IP address as the name: no SNI, so the Host header decides.
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let config = trusting_ca_file(&h, &[b"http/1.1"]);
    let form = assertion_form(&fcm_assertion(&h, &fcm_claims(&h)));
    let token = Request::post("https://oauth2.googleapis.com/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body(form))
        .unwrap();
    let (reply, _, _) = tls_send_via(addr, name.clone(), config.clone(), Wire::Http1, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // A host no gateway serves.
    let elsewhere = Request::get("https://example.com/").body(body("")).unwrap();
    let (reply, _, _) =
        tls_send_via(addr, name.clone(), config.clone(), Wire::Http1, elsewhere).await;
    assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST);
    // The control API answers whatever the host.
    let control = Request::get("https://example.com/__pushproof/counters")
        .body(body(""))
        .unwrap();
    let (reply, _, _) = tls_send_via(addr, name, config, Wire::Http1, control).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn impersonation_names_the_real_urls_and_writes_hosts_lines() {
    let h = impersonating().await;
    assert_eq!(h.var("PUSHPROOF_FCM_URL"), "https://fcm.googleapis.com");
    assert_eq!(h.var("PUSHPROOF_APNS_URL"), "https://api.push.apple.com");
    assert_eq!(
        h.var("PUSHPROOF_WNS_TOKEN_URL"),
        "https://login.live.com/accesstoken.srf"
    );
    assert_eq!(
        service_account(&h)["token_uri"],
        "https://oauth2.googleapis.com/token"
    );
    // The control API stays on the mock's own listener.
    assert_eq!(h.var("PUSHPROOF_CONTROL_URL"), h.gw.fcm_url());
    let hosts = h.gw.hosts_file().unwrap();
    for name in [
        "api.push.apple.com",
        "api.sandbox.push.apple.com",
        "api.development.push.apple.com",
        "fcm.googleapis.com",
        "oauth2.googleapis.com",
        "login.live.com",
        "login.microsoftonline.com",
        "pushproof.notify.windows.com",
    ] {
        assert!(hosts.contains(&format!("127.0.0.1 {name}\n")), "{hosts}");
    }
}

#[tokio::test]
async fn without_impersonation_the_urls_are_the_mocks_own() {
    let h = Harness::start().await;
    assert_eq!(h.var("PUSHPROOF_FCM_URL"), h.gw.fcm_url());
    assert_eq!(h.var("PUSHPROOF_CONTROL_URL"), h.gw.fcm_url());
    assert!(h.gw.hosts_file().is_none());
    assert!(h.gw.impersonation_addr().is_none());
}

#[tokio::test]
async fn the_host_address_is_bound_and_named_by_the_certificate() {
    let host = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let h = Harness::with_config(GatewayConfig {
        tls: Some(TlsSettings::default()),
        host,
        ..GatewayConfig::default()
    })
    .await;
    assert_eq!(h.gw.addr(Platform::Fcm).ip(), host);
    assert!(h.var("PUSHPROOF_FCM_URL").starts_with("https://127.0.0.2:"));
    let request = Request::get(format!("{}/__pushproof/counters", h.gw.fcm_url()))
        .body(body(""))
        .unwrap();
    // Verified for the address itself.
    let (reply, _, _) = tls_send(trusting_ca_file(&h, &[b"http/1.1"]), Wire::Http1, request).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[cfg(unix)]
#[test]
fn private_keys_and_the_env_file_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let h = runtime.block_on(Harness::start());
    let env_file = h.dir.path().join("pushproof.env");
    h.env.write_env_file(&env_file).unwrap();
    for path in [
        h.var("PUSHPROOF_APNS_KEY_FILE").into(),
        h.var("PUSHPROOF_FCM_CREDENTIALS").into(),
        env_file.clone(),
    ] {
        let path: std::path::PathBuf = path;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(text.contains("PUSHPROOF_CONTROL_URL="), "{text}");
}

/// The hub's namespace host: the connection string names it, the hosts
/// lines send it to the listener, and a send signed for it reaches a
/// device through the gateways.
#[tokio::test]
async fn impersonation_serves_the_hub_at_its_namespace_host() {
    use base64::Engine as _;
    use hmac::Mac as _;
    let h = impersonating().await;
    let cs = h.var("PUSHPROOF_NH_CONNECTION_STRING").to_owned();
    assert!(
        cs.starts_with("Endpoint=sb://pushproof.servicebus.windows.net/;"),
        "{cs}"
    );
    assert!(h
        .gw
        .hosts_file()
        .unwrap()
        .contains("127.0.0.1 pushproof.servicebus.windows.net\n"));
    let key = cs.split("SharedAccessKey=").nth(1).unwrap();
    let sr = "https%3A%2F%2Fpushproof.servicebus.windows.net%2F";
    let expiry = now() + 600;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{sr}\n{expiry}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig = path_segment(&sig);
    let token = format!(
        "SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn=DefaultFullSharedAccessSignature"
    );
    let device = h.gw.register_device(Platform::Apns);
    let hub = h.var("PUSHPROOF_NH_HUB").to_owned();
    let request = Request::post(format!(
        "https://pushproof.servicebus.windows.net/{hub}/messages/?direct=true&api-version=2020-06"
    ))
    .header("authorization", token)
    .header("servicebusnotification-format", "apple")
    .header(
        "servicebusnotification-devicehandle",
        device.handle.as_str(),
    )
    .body(body(r#"{"aps":{"alert":"via the namespace host"}}"#))
    .unwrap();
    let (reply, _) = send_as(&h, "pushproof.servicebus.windows.net", Wire::Http1, request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let location = reply.header("location").unwrap();
    assert!(
        location.starts_with(&format!(
            "https://pushproof.servicebus.windows.net/{hub}/messages/"
        )),
        "{location}"
    );
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
}
