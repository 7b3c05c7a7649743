//! The mock Notification Hub over the wire: SAS rejections with the
//! service's status and XML body, installations and registrations, sends
//! by tag, expression, direct and batch, templates, test sends, and the
//! fan-out into the gateways' inboxes and captures (and the drop of
//! handles a gateway says are gone).

#![allow(clippy::unwrap_used)]

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use http::{Request, StatusCode};
use pushproof_mocks::{CaptureKind, DeviceHandle, Fault, FaultRule, Platform};
use serde_json::{json, Value};
use sha2::Sha256;
use support::{body, h2_connect, h2_send, http1_send, now, Harness, Reply};

const FULL: &str = "DefaultFullSharedAccessSignature";
const LISTEN: &str = "DefaultListenSharedAccessSignature";

/// A connection string's parts.
fn part<'a>(cs: &'a str, name: &str) -> &'a str {
    cs.split(';')
        .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap()
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A SAS token as the SDKs make one.
fn token(resource: &str, rule: &str, key: &str, expiry: i64) -> String {
    let sr = enc(&resource.to_lowercase());
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{sr}\n{expiry}").as_bytes());
    let sig = enc(&STANDARD.encode(mac.finalize().into_bytes()));
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={expiry}&skn={rule}")
}

fn full_token(h: &Harness) -> String {
    let cs = h.gw.hub().connection_string();
    token(
        &format!("{}/", h.gw.hub().url()),
        FULL,
        part(&cs, "SharedAccessKey"),
        now() + 3600,
    )
}

fn url(h: &Harness, path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!(
        "{}/{}{path}{sep}api-version=2020-06",
        h.gw.hub().url(),
        h.gw.hub().name()
    )
}

async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    payload: &str,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(url(h, path))
        .header("authorization", full_token(h))
        .header("x-ms-version", "2020-06");
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    http1_send(request.body(body(payload.to_owned())).unwrap()).await
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn detail(reply: &Reply) -> String {
    let t = text(reply);
    assert!(t.starts_with("<Error><Code>"), "{t}");
    assert!(
        t.contains(&format!("<Code>{}</Code>", reply.status.as_u16())),
        "{t}"
    );
    t
}

async fn install(h: &Harness, id: &str, platform: &str, channel: &str, tags: &[&str]) {
    let installation =
        json!({"installationId": id, "platform": platform, "pushChannel": channel, "tags": tags});
    let r = call(
        h,
        "PUT",
        &format!("/installations/{id}"),
        &[("content-type", "application/json")],
        &installation.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
}

async fn send(
    h: &Harness,
    format: &str,
    tags: Option<&str>,
    extra: &[(&str, &str)],
    payload: &str,
) -> Reply {
    let mut headers = vec![
        ("servicebusnotification-format", format),
        ("content-type", "application/json;charset=utf-8"),
    ];
    if let Some(t) = tags {
        headers.push(("servicebusnotification-tags", t));
    }
    headers.extend_from_slice(extra);
    call(h, "POST", "/messages/", &headers, payload).await
}

fn delivered(h: &Harness, device: &DeviceHandle) -> Vec<String> {
    let inbox = h.gw.inbox(device).unwrap();
    std::iter::from_fn(|| inbox.try_recv())
        .map(|d| String::from_utf8_lossy(&d.body).into_owned())
        .collect()
}

#[tokio::test]
async fn every_sas_rejection_is_a_401_in_the_service_xml() {
    let h = Harness::start().await;
    let hub = h.gw.hub();
    let cs = hub.connection_string();
    let key = part(&cs, "SharedAccessKey");
    let listen_cs = hub.listen_connection_string();
    let listen_key = part(&listen_cs, "SharedAccessKey");
    let ns = format!("{}/", hub.url());
    let later = now() + 3600;
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "MissingToken"),
        (
            Some("SharedAccessSignature nonsense".into()),
            "MalformedToken",
        ),
        (Some(token(&ns, FULL, key, now() - 1)), "ExpiredToken"),
        (Some(token(&ns, FULL, "wrong-key", later)), "40103"),
        (
            Some(token(&ns, "RootManageSharedAccessKey", key, later)),
            "40103",
        ),
        (
            Some(token("https://elsewhere.example/", FULL, key, later)),
            "40104",
        ),
        (
            Some(token(&ns, LISTEN, listen_key, later)),
            "'Send' claim(s) are required",
        ),
    ];
    for (authorization, words) in cases {
        let mut request =
            Request::post(url(&h, "/messages/")).header("servicebusnotification-format", "apple");
        if let Some(a) = &authorization {
            request = request.header("authorization", a.as_str());
        }
        let r = http1_send(request.body(body("{}")).unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{words}");
        assert!(detail(&r).contains(words), "{words}: {}", text(&r));
        assert!(r.header("trackingid").is_some());
    }
    // The Listen key may register a device but not list registrations.
    let listen = token(&ns, LISTEN, listen_key, later);
    let r = http1_send(
        Request::put(url(&h, "/installations/i1"))
            .header("authorization", listen.as_str())
            .body(body(
                json!({"platform": "apns", "pushChannel": "ab"}).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let r = http1_send(
        Request::get(url(&h, "/tags/t/registrations"))
            .header("authorization", listen.as_str())
            .body(body(""))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(detail(&r).contains("'Manage' claim(s)"));
}

#[tokio::test]
async fn installations_put_patch_get_delete() {
    let h = Harness::start().await;
    install(&h, "inst-1", "apns", "abcd", &["a", "b"]).await;
    let r = call(&h, "GET", "/installations/inst-1", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    let got = r.json();
    assert_eq!(got["tags"], json!(["a", "b"]));
    assert_eq!(got["platform"], "apns");
    let patch = json!([{"op": "add", "path": "/tags", "value": "c"}, {"op": "remove", "path": "/tags/a"},
                       {"op": "replace", "path": "/pushChannel", "value": "ef01"}]);
    let r = call(
        &h,
        "PATCH",
        "/installations/inst-1",
        &[("content-type", "application/json")],
        &patch.to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let got = h.gw.hub().installation("inst-1").unwrap();
    assert_eq!(got["tags"], json!(["b", "c"]));
    assert_eq!(got["pushChannel"], "ef01");
    let bad = json!({"platform": "apns", "pushChannel": "x", "tags": ["no spaces allowed"]});
    let r = call(&h, "PUT", "/installations/inst-2", &[], &bad.to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("Installation validation failed"));
    let r = call(&h, "DELETE", "/installations/inst-1", &[], "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(&h, "GET", "/installations/inst-1", &[], "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    detail(&r);
    let r = call(&h, "PATCH", "/installations/none", &[], "[]").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_tag_send_fans_out_to_every_platform_and_only_the_tagged_devices() {
    let h = Harness::start().await;
    let apns = h.gw.register_device(Platform::Apns);
    let fcm = h.gw.register_device(Platform::Fcm);
    let gcm = h.gw.register_device(Platform::Fcm);
    let wns = h.gw.register_device(Platform::Wns);
    let other = h.gw.register_device(Platform::Apns);
    install(&h, "a", "apns", &apns.handle, &["user:alice"]).await;
    install(&h, "f", "fcmv1", &fcm.handle, &["user:alice"]).await;
    install(&h, "g", "gcm", &gcm.handle, &["user:alice"]).await;
    install(&h, "w", "wns", &wns.handle, &["user:alice"]).await;
    install(&h, "o", "apns", &other.handle, &["user:bob"]).await;

    let r = send(
        &h,
        "apple",
        Some("user:alice"),
        &[("apns-priority", "10")],
        r#"{"aps":{"alert":"hi"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let location = r.header("location").unwrap();
    assert!(location.starts_with("https://"), "{location}");
    assert_eq!(location.split('/').nth(3), Some(h.gw.hub().name()));
    assert!(r.header("trackingid").is_some());
    assert_eq!(delivered(&h, &apns), vec![r#"{"aps":{"alert":"hi"}}"#]);
    assert!(delivered(&h, &other).is_empty());

    let r = send(
        &h,
        "fcmv1",
        Some("user:alice || user:carol"),
        &[],
        r#"{"message":{"data":{"secureId":"7"}}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let got: Value = serde_json::from_str(&delivered(&h, &fcm)[0]).unwrap();
    assert_eq!(got["data"]["secureId"], "7");
    assert!(
        delivered(&h, &gcm).is_empty(),
        "fcmv1 does not reach gcm installations"
    );

    let r = send(
        &h,
        "gcm",
        Some("user:alice && !user:bob"),
        &[],
        r#"{"data":{"secureId":8}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let got: Value = serde_json::from_str(&delivered(&h, &gcm)[0]).unwrap();
    assert_eq!(got["data"]["secureId"], "8");

    let r = call(
        &h,
        "POST",
        "/messages/",
        &[
            ("servicebusnotification-format", "windows"),
            ("servicebusnotification-tags", "user:alice"),
            ("x-wns-type", "wns/raw"),
            ("content-type", "application/octet-stream"),
        ],
        "9",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let inbox = h.gw.inbox(&wns).unwrap();
    let d = inbox.try_recv().unwrap();
    assert_eq!(d.body.as_ref(), b"9");
    assert_eq!(d.header("x-wns-type"), Some("wns/raw"));

    // The hub's own requests are captured beside the gateways' pushes.
    let captures = h.gw.captures();
    let hub_sends = captures
        .iter()
        .filter(|c| c.kind == CaptureKind::Hub && c.path.contains("/messages/"))
        .count();
    assert_eq!(hub_sends, 4);
    let pushes = captures
        .iter()
        .filter(|c| c.kind == CaptureKind::Push && c.accepted())
        .count();
    assert_eq!(pushes, 4);
    assert_eq!(h.gw.counters().apns.accepted, 1);
    assert!(h.gw.counters().hub.accepted >= 9);
    // The by-id tag reaches exactly one installation.
    let r = send(
        &h,
        "apple",
        Some("$InstallationId:{o}"),
        &[],
        r#"{"aps":{"alert":"bob"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(delivered(&h, &other).len(), 1);
    assert!(delivered(&h, &apns).is_empty());
}

fn atom(kind: &str, handle_element: &str, handle: &str, tags: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><entry xmlns="http://www.w3.org/2005/Atom"><content type="application/xml"><{kind}RegistrationDescription xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"><Tags>{tags}</Tags><{handle_element}>{handle}</{handle_element}></{kind}RegistrationDescription></content></entry>"#
    )
}

#[tokio::test]
async fn registrations_as_the_notify_users_tutorial_uses_them() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let atom_type = [(
        "content-type",
        "application/atom+xml;type=entry;charset=utf-8",
    )];
    // A registration id: 201 and an https Location, though served in plaintext.
    let r = call(&h, "POST", "/registrationIDs", &[], "").await;
    assert_eq!(r.status, StatusCode::CREATED);
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with("https://"), "{location}");
    let id = location
        .split('/')
        .nth(5)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let entry = atom(
        "Windows",
        "ChannelUri",
        &device.handle.replace('&', "&amp;"),
        "username:alice, other",
    );
    let r = call(
        &h,
        "PUT",
        &format!("/registrations/{id}"),
        &atom_type,
        &entry,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert!(text(&r).contains(&format!("<RegistrationId>{id}</RegistrationId>")));
    assert_eq!(r.header("etag"), Some("\"1\""));
    // Update with the etag; a stale one is refused.
    // The same update twice: the second carries a stale etag.
    for expected in [StatusCode::OK, StatusCode::PRECONDITION_FAILED] {
        let r = call(
            &h,
            "PUT",
            &format!("/registrations/{id}"),
            &[atom_type[0], ("if-match", "\"1\"")],
            &entry,
        )
        .await;
        assert_eq!(r.status, expected);
    }
    // List by channel (as the SDK writes the filter) and by tag.
    let filter = format!("ChannelUri eq '{}'", enc(&device.handle));
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("$filter", &filter)
        .finish();
    let r = call(&h, "GET", &format!("/registrations?{query}"), &[], "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(text(&r).matches("<entry").count(), 1);
    let r = call(&h, "GET", "/tags/username:alice/registrations", &[], "").await;
    assert!(text(&r).contains(&id));
    // A send to the user's tag reaches the device.
    let r = call(
        &h,
        "POST",
        "/messages/",
        &[
            ("servicebusnotification-format", "windows"),
            ("servicebusnotification-tags", "username:alice || from:bob"),
            ("x-wns-type", "wns/raw"),
            ("content-type", "application/octet-stream"),
        ],
        "42",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    assert_eq!(delivered(&h, &device), vec!["42"]);
    // Create (POST) gets its own id; delete answers 200, then 404.
    let r = call(
        &h,
        "POST",
        "/registrations",
        &atom_type,
        &atom("FcmV1", "FcmV1RegistrationId", "tok", "t"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let r = call(
        &h,
        "DELETE",
        &format!("/registrations/{id}"),
        &[("if-match", "*")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &h,
        "DELETE",
        &format!("/registrations/{id}"),
        &[("if-match", "*")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&h, "POST", "/registrations", &atom_type, "<entry><content>").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn direct_and_batch_sends_and_a_test_send_outcome() {
    let h = Harness::start().await;
    let a = h.gw.register_device(Platform::Fcm);
    let b = h.gw.register_device(Platform::Fcm);
    let r = call(
        &h,
        "POST",
        "/messages/?direct=true",
        &[
            ("servicebusnotification-format", "fcmv1"),
            ("servicebusnotification-devicehandle", &a.handle),
        ],
        r#"{"message":{"data":{"k":"1"}}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    assert_eq!(delivered(&h, &a).len(), 1);
    let boundary = "nh-boundary-x";
    let batch = format!(
        "--{boundary}\r\nContent-type: application/json;charset=utf-8\r\nContent-Disposition: inline; name=notification\r\n\r\n{{\"message\":{{\"data\":{{\"k\":\"2\"}}}}}}\r\n--{boundary}\r\nContent-type: application/json\r\nContent-Disposition: inline; name=devices\r\n\r\n{}\r\n--{boundary}--",
        json!([a.handle, b.handle])
    );
    let ct = format!("multipart/mixed; boundary = \"{boundary}\"");
    let r = call(
        &h,
        "POST",
        "/messages/$batch?direct=true",
        &[
            ("servicebusnotification-format", "fcmv1"),
            ("content-type", &ct),
        ],
        &batch,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    assert_eq!(delivered(&h, &a).len(), 1);
    assert_eq!(delivered(&h, &b).len(), 1);
    let r = call(
        &h,
        "POST",
        "/messages/$batch?direct=true",
        &[
            ("servicebusnotification-format", "fcmv1"),
            ("content-type", &ct),
        ],
        "--nh-boundary-x\r\n garbage",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    detail(&r);

    install(&h, "ia", "fcmv1", &a.handle, &["t"]).await;
    let r = send(
        &h,
        "fcmv1",
        Some("t"),
        &[],
        r#"{"message":{"data":{"k":"3"}}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = call(
        &h,
        "POST",
        "/messages/?test=true",
        &[
            ("servicebusnotification-format", "fcmv1"),
            ("servicebusnotification-tags", "t"),
        ],
        r#"{"message":{"data":{"k":"4"}}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let outcome = text(&r);
    assert!(
        outcome.contains("<Success>1</Success><Failure>0</Failure>"),
        "{outcome}"
    );
    assert!(
        outcome.contains("<RegistrationId>ia</RegistrationId>"),
        "{outcome}"
    );
    assert_eq!(delivered(&h, &a).len(), 2);
}

#[tokio::test]
async fn template_sends_expand_installation_templates() {
    let h = Harness::start().await;
    let apns = h.gw.register_device(Platform::Apns);
    let wns = h.gw.register_device(Platform::Wns);
    let i = json!({"installationId": "ti", "platform": "apns", "pushChannel": apns.handle, "tags": ["u"],
        "templates": {"alert": {"body": "{\"aps\":{\"alert\":\"$(message)\"}}"}}});
    call(&h, "PUT", "/installations/ti", &[], &i.to_string()).await;
    let w = json!({"installationId": "tw", "platform": "wns", "pushChannel": wns.handle, "tags": ["u"],
        "templates": {"toast": {"body": "<toast><visual><binding template=\"ToastText01\"><text id=\"1\">$(message)</text></binding></visual></toast>",
                                "headers": {"X-WNS-Type": "wns/toast"}}}});
    call(&h, "PUT", "/installations/tw", &[], &w.to_string()).await;
    let r = send(
        &h,
        "template",
        Some("u"),
        &[],
        r#"{"message":"a \"quoted\" <text>"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", text(&r));
    let got: Value = serde_json::from_str(&delivered(&h, &apns)[0]).unwrap();
    assert_eq!(got["aps"]["alert"], "a \"quoted\" <text>");
    assert!(delivered(&h, &wns)[0].contains("a &quot;quoted&quot; &lt;text&gt;"));
}

#[tokio::test]
async fn a_handle_the_gateway_says_is_gone_is_dropped() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Apns);
    install(&h, "gone", "apns", &device.handle, &["t"]).await;
    let entry = atom("Apple", "DeviceToken", &device.handle.to_uppercase(), "t");
    call(&h, "PUT", "/registrations/r-gone", &[], &entry).await;
    h.gw.set_fault(FaultRule::device(
        &device,
        Fault::Expire {
            after_ms: Some(0),
            at_unix_ms: None,
        },
    ))
    .unwrap();
    let r = send(&h, "apple", Some("t"), &[], r#"{"aps":{"alert":"x"}}"#).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        h.gw.hub().installation("gone").unwrap()["pushChannelExpired"],
        true
    );
    let r = call(&h, "GET", "/registrations/r-gone", &[], "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // No longer targeted: the gateway sees no second push.
    let before = h.gw.counters().apns.rejected.values().sum::<u64>();
    send(&h, "apple", Some("t"), &[], r#"{"aps":{"alert":"x"}}"#).await;
    assert_eq!(h.gw.counters().apns.rejected.values().sum::<u64>(), before);
}

#[tokio::test]
async fn service_errors_for_bad_sends() {
    let h = Harness::start().await;
    let too_many: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    let cases = [
        (
            send(&h, "apple", Some(&too_many.join(" && ")), &[], "{}").await,
            StatusCode::BAD_REQUEST,
            "at most",
        ),
        (
            send(&h, "apple", Some("a &"), &[], "{}").await,
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            send(&h, "carrier-pigeon", None, &[], "{}").await,
            StatusCode::BAD_REQUEST,
            "Format",
        ),
        (
            send(&h, "fcmv1", None, &[], r#"{"data":{}}"#).await,
            StatusCode::BAD_REQUEST,
            "message",
        ),
        (
            send(
                &h,
                "apple",
                None,
                &[],
                &format!("{{\"a\":\"{}\"}}", "x".repeat(70_000)),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "64 KB",
        ),
        (
            send(
                &h,
                "apple",
                None,
                &[],
                &format!("{{\"a\":\"{}\"}}", "x".repeat(5_000)),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "4096",
        ),
    ];
    for (reply, status, words) in cases {
        assert_eq!(reply.status, status, "{}", text(&reply));
        assert!(detail(&reply).contains(words), "{words}: {}", text(&reply));
    }
    let huge = vec!["t"; 3000].join(" || ");
    let r = send(&h, "apple", Some(&huge), &[], "{}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Another hub of the namespace does not exist.
    let r = http1_send(
        Request::post(format!(
            "{}/otherhub/messages/?api-version=2020-06",
            h.gw.hub().url()
        ))
        .header("authorization", full_token(&h))
        .header("servicebusnotification-format", "apple")
        .body(body("{}"))
        .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    detail(&r);
}

#[tokio::test]
async fn the_hub_speaks_http2_and_writes_its_connection_string() {
    let h = Harness::start().await;
    assert_eq!(h.var("PUSHPROOF_NH_HUB"), h.gw.hub().name());
    let cs = h.var("PUSHPROOF_NH_CONNECTION_STRING");
    assert!(
        cs.starts_with(&format!(
            "Endpoint=sb://{}/;SharedAccessKeyName={FULL};SharedAccessKey=",
            h.gw.hub().addr()
        )),
        "{cs}"
    );
    let mut client = h2_connect(&h.gw.hub().url()).await;
    let request = Request::post(url(&h, "/registrationIDs"))
        .header("authorization", full_token(&h))
        .body(body(""))
        .unwrap();
    let r = h2_send(&mut client, request).await;
    assert_eq!(r.status, StatusCode::CREATED);
}
