//! Mock WNS and its OAuth endpoints (Live's and Azure AD's): client
//! credentials, pushes to channel URIs, and each rejection with WNS's status
//! and error description.

#![allow(clippy::unwrap_used)]

mod support;

use http::{Request, StatusCode};
use pushproof_mocks::{CaptureKind, Fault, FaultRule, Platform};
use support::*;

#[tokio::test]
async fn wns_token_endpoint_issues_lowercase_bearer_token() {
    let h = Harness::start().await;
    let form = wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        "notify.windows.com",
    );
    let reply = wns_token_request(&h, &form).await;
    assert_eq!(reply.status, StatusCode::OK);
    let json = reply.json();
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["expires_in"], 86400);
    assert!(json["access_token"].is_string());
    assert_eq!(h.gw.captures().pop().unwrap().kind, CaptureKind::Token);
}

#[tokio::test]
async fn wns_token_endpoint_rejects_wrong_client_secret() {
    let h = Harness::start().await;
    let form = wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        "wrong",
        "notify.windows.com",
    );
    let reply = wns_token_request(&h, &form).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_client");
}

#[tokio::test]
async fn wns_token_endpoint_rejects_wrong_client_id() {
    let h = Harness::start().await;
    let form = wns_form(
        "ms-app://s-1-15-2-1",
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        "notify.windows.com",
    );
    let reply = wns_token_request(&h, &form).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_client");
}

#[tokio::test]
async fn wns_token_endpoint_rejects_wrong_scope() {
    let h = Harness::start().await;
    let form = wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        "https://wns.windows.com/.default",
    );
    let reply = wns_token_request(&h, &form).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_scope");
}

// ------------------------------------------------------------ Azure AD

const AAD_SCOPE: &str = "https://wns.windows.com/.default";
const TENANT: &str = "contoso.onmicrosoft.com";

/// A POST of `form` to the mock Azure AD token endpoint.
async fn aad_token_request(h: &Harness, form: &str) -> Reply {
    let request = Request::post(h.gw.wns_aad_token_url(TENANT))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body(form.to_owned()))
        .unwrap();
    http1_send(request).await
}

fn aad_form(h: &Harness) -> String {
    wns_form(
        h.var("PUSHPROOF_WNS_CLIENT_ID"),
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        AAD_SCOPE,
    )
}

/// Asserts an Azure AD error body: the OAuth error, the AADSTS code
/// leading the description and in `error_codes`, and the trace fields.
fn assert_aad_error(h: &Harness, reply: &Reply, status: StatusCode, error: &str, code: u64) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    let json = reply.json();
    assert_eq!(json["error"], error);
    assert_eq!(json["error_codes"], serde_json::json!([code]));
    let description = json["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(
            json[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field}"
        );
    }
    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(capture.kind, CaptureKind::Token);
    assert_eq!(capture.reason.as_deref(), Some(error));
}

#[tokio::test]
async fn wns_aad_token_endpoint_issues_bearer_token_accepted_by_push() {
    let h = Harness::start().await;
    assert_eq!(
        h.gw.wns_aad_token_url(TENANT),
        format!("{}/{TENANT}/oauth2/v2.0/token", h.gw.wns_url())
    );
    let reply = aad_token_request(&h, &aad_form(&h)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let json = reply.json();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3599);
    assert_eq!(json["ext_expires_in"], 3599);
    let token = json["access_token"].as_str().unwrap().to_owned();
    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(
        (capture.platform, capture.kind, capture.status),
        (Platform::Wns, CaptureKind::Token, 200)
    );

    let device = h.gw.register_device(Platform::Wns);
    let reply = http1_send(wns_raw(&device.handle, &token).body(body("42")).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 1);
}

#[tokio::test]
async fn wns_aad_token_endpoint_takes_client_secret_basic() {
    // RFC 6749 §2.3.1: id and secret form-encoded, then base64 in
    // `Authorization: Basic`, which Azure AD supports.
    use base64::Engine as _;
    let h = Harness::start().await;
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!(
        "{}:{}",
        encode(h.var("PUSHPROOF_WNS_CLIENT_ID")),
        encode(h.var("PUSHPROOF_WNS_CLIENT_SECRET"))
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
    let form = format!("grant_type=client_credentials&scope={}", encode(AAD_SCOPE));
    let request = Request::post(h.gw.wns_aad_token_url(TENANT))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {basic}"))
        .body(body(form.clone()))
        .unwrap();
    let reply = http1_send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    // A wrong secret in the header is refused as one in the body would be.
    let wrong = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:nope", encode(h.var("PUSHPROOF_WNS_CLIENT_ID"))));
    let request = Request::post(h.gw.wns_aad_token_url(TENANT))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {wrong}"))
        .body(body(form))
        .unwrap();
    let reply = http1_send(request).await;
    assert_aad_error(
        &h,
        &reply,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7_000_215,
    );
}

#[tokio::test]
async fn wns_aad_token_endpoint_serves_any_tenant() {
    let h = Harness::start().await;
    for tenant in ["common", "72f988bf-86f1-41af-91ab-2d7cd011db47"] {
        let request = Request::post(h.gw.wns_aad_token_url(tenant))
            .body(body(aad_form(&h)))
            .unwrap();
        assert_eq!(http1_send(request).await.status, StatusCode::OK, "{tenant}");
    }
}

#[tokio::test]
async fn wns_aad_token_expires_like_a_live_token() {
    let h = Harness::start().await;
    let token = aad_token_request(&h, &aad_form(&h)).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_expired_token_is_refused(&h, &token).await;
}

/// Expires every WNS token, then pushes with `token`: 401 "Token expired".
async fn assert_expired_token_is_refused(h: &Harness, token: &str) {
    let device = h.gw.register_device(Platform::Wns);
    h.gw.expire_access_tokens(Platform::Wns);
    let reply = http1_send(wns_raw(&device.handle, token).body(body("42")).unwrap()).await;
    assert_wns_error(&reply, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header("x-wns-error-description"),
        Some("Token expired")
    );
}

#[tokio::test]
async fn wns_aad_token_endpoint_rejects_wrong_scope() {
    let h = Harness::start().await;
    let id = h.var("PUSHPROOF_WNS_CLIENT_ID");
    let secret = h.var("PUSHPROOF_WNS_CLIENT_SECRET");
    // Another resource's `.default`.
    let reply = aad_token_request(
        &h,
        &wns_form(id, secret, "https://graph.microsoft.com/.default"),
    )
    .await;
    assert_aad_error(&h, &reply, StatusCode::BAD_REQUEST, "invalid_scope", 70011);
    // The Live scope, the usual mistake when moving to Azure AD.
    let reply = aad_token_request(&h, &wns_form(id, secret, "notify.windows.com")).await;
    assert_aad_error(
        &h,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        1_002_012,
    );
}

#[tokio::test]
async fn wns_aad_token_endpoint_rejects_wrong_client_secret() {
    let h = Harness::start().await;
    let form = wns_form(h.var("PUSHPROOF_WNS_CLIENT_ID"), "wrong", AAD_SCOPE);
    let reply = aad_token_request(&h, &form).await;
    assert_aad_error(
        &h,
        &reply,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7_000_215,
    );
}

#[tokio::test]
async fn wns_aad_token_endpoint_rejects_missing_client_secret() {
    let h = Harness::start().await;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", h.var("PUSHPROOF_WNS_CLIENT_ID"))
        .append_pair("scope", AAD_SCOPE)
        .finish();
    let reply = aad_token_request(&h, &form).await;
    assert_aad_error(
        &h,
        &reply,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7_000_218,
    );
}

#[tokio::test]
async fn wns_aad_token_endpoint_rejects_unknown_client_id() {
    let h = Harness::start().await;
    let form = wns_form(
        "00000000-0000-0000-0000-000000000000",
        h.var("PUSHPROOF_WNS_CLIENT_SECRET"),
        AAD_SCOPE,
    );
    let reply = aad_token_request(&h, &form).await;
    assert_aad_error(
        &h,
        &reply,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        700_016,
    );
    assert!(reply.json()["error_description"]
        .as_str()
        .unwrap()
        .contains(TENANT));
}

#[tokio::test]
async fn wns_aad_token_endpoint_rejects_unsupported_grant_type() {
    let h = Harness::start().await;
    let form = aad_form(&h).replace("client_credentials", "password");
    let reply = aad_token_request(&h, &form).await;
    assert_aad_error(
        &h,
        &reply,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        70003,
    );
}

#[tokio::test]
async fn wns_aad_token_endpoint_rejects_missing_parameters() {
    let h = Harness::start().await;
    for missing in ["grant_type", "client_id", "scope"] {
        let form = form_urlencoded::parse(aad_form(&h).as_bytes())
            .filter(|(k, _)| k != missing)
            .fold(
                form_urlencoded::Serializer::new(String::new()),
                |mut form, (k, v)| {
                    form.append_pair(&k, &v);
                    form
                },
            )
            .finish();
        let reply = aad_token_request(&h, &form).await;
        assert_aad_error(
            &h,
            &reply,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
        );
        assert!(
            reply.json()["error_description"]
                .as_str()
                .unwrap()
                .contains(&format!("'{missing}'")),
            "{missing}"
        );
    }
}

#[tokio::test]
async fn wns_aad_token_endpoint_rejects_methods_other_than_post() {
    let h = Harness::start().await;
    let request = Request::get(h.gw.wns_aad_token_url(TENANT))
        .body(body(""))
        .unwrap();
    let reply = http1_send(request).await;
    assert_aad_error(
        &h,
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900_561,
    );
}

#[tokio::test]
async fn wns_aad_token_requests_are_not_faulted() {
    let h = Harness::start().await;
    h.gw.set_fault(FaultRule::gateway(
        Platform::Wns,
        Fault::Status {
            status: 503,
            reason: None,
            retry_after_secs: None,
        },
    ))
    .unwrap();
    let reply = aad_token_request(&h, &aad_form(&h)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

#[tokio::test]
async fn wns_aad_token_path_needs_a_tenant() {
    let h = Harness::start().await;
    let request = Request::post(format!("{}/oauth2/v2.0/token", h.gw.wns_url()))
        .body(body(aad_form(&h)))
        .unwrap();
    // Not a token endpoint: a push to an unknown path, without a token.
    let reply = http1_send(request).await;
    assert_wns_error(&reply, StatusCode::NOT_FOUND);
    assert_eq!(h.gw.captures().pop().unwrap().kind, CaptureKind::Push);
}

// ------------------------------------------------------------ pushes

#[tokio::test]
async fn wns_accepts_raw_push_and_delivers_to_channel() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    assert!(device
        .handle
        .starts_with(&format!("{}/?token=", h.gw.wns_url())));
    let token = wns_access_token(&h).await;
    let request = wns_raw(&device.handle, &token)
        .header("ms-cv", "abc.1")
        .header("x-wns-requestforstatus", "true")
        .body(body("42"))
        .unwrap();
    let reply = http1_send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-wns-status"), Some("received"));
    assert_eq!(reply.header("x-wns-notificationstatus"), Some("received"));
    assert!(reply.header("x-wns-msg-id").unwrap().len() <= 16);
    assert!(reply.header("x-wns-debug-trace").is_some());
    assert_eq!(reply.header("ms-cv"), Some("abc.1"));
    assert_eq!(
        reply.header("x-wns-deviceconnectionstatus"),
        Some("connected")
    );

    let delivery = h.gw.inbox(&device).unwrap().try_recv().unwrap();
    assert_eq!(delivery.body.as_ref(), b"42");
    assert_eq!(delivery.header("x-wns-type"), Some("wns/raw"));
    assert_eq!(
        delivery.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(delivery.header("authorization").is_none());

    let capture = h.gw.captures().pop().unwrap();
    assert_eq!(
        (capture.platform, capture.kind, capture.status),
        (Platform::Wns, CaptureKind::Push, 200)
    );
    assert_eq!(capture.device.as_deref(), Some(device.handle.as_str()));
}

#[tokio::test]
async fn wns_accepts_toast_xml() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let request = Request::post(&device.handle)
        .header("authorization", format!("Bearer {token}"))
        .header("x-wns-type", "wns/toast")
        .header("content-type", "text/xml; charset=utf-8")
        .body(body("<toast><visual><binding template=\"ToastGeneric\"><text>New message</text></binding></visual></toast>"))
        .unwrap();
    assert_eq!(http1_send(request).await.status, StatusCode::OK);
}

fn assert_wns_error(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status);
    assert!(reply
        .header("x-wns-error-description")
        .is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn wns_rejects_missing_access_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let request = Request::post(&device.handle)
        .header("x-wns-type", "wns/raw")
        .header("content-type", "application/octet-stream")
        .body(body("42"))
        .unwrap();
    assert_wns_error(&http1_send(request).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wns_rejects_invalid_access_token() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let reply = http1_send(wns_raw(&device.handle, "forged").body(body("42")).unwrap()).await;
    assert_wns_error(&reply, StatusCode::UNAUTHORIZED);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn wns_rejects_expired_access_token() {
    let h = Harness::start().await;
    let token = wns_access_token(&h).await;
    assert_expired_token_is_refused(&h, &token).await;
}

#[tokio::test]
async fn wns_rejects_missing_notification_type() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let request = Request::post(&device.handle)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/octet-stream")
        .body(body("42"))
        .unwrap();
    assert_wns_error(&http1_send(request).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wns_rejects_unknown_notification_type() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let mut request = wns_raw(&device.handle, &token).body(body("42")).unwrap();
    request
        .headers_mut()
        .insert("x-wns-type", "wns/popup".parse().unwrap());
    assert_wns_error(&http1_send(request).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wns_rejects_content_type_not_matching_notification_type() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let mut raw_as_xml = wns_raw(&device.handle, &token).body(body("42")).unwrap();
    raw_as_xml
        .headers_mut()
        .insert("content-type", "text/xml".parse().unwrap());
    assert_wns_error(&http1_send(raw_as_xml).await, StatusCode::BAD_REQUEST);
    let toast_as_binary = Request::post(&device.handle)
        .header("authorization", format!("Bearer {token}"))
        .header("x-wns-type", "wns/toast")
        .header("content-type", "application/octet-stream")
        .body(body("<toast/>"))
        .unwrap();
    assert_wns_error(&http1_send(toast_as_binary).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wns_rejects_payload_over_5000_bytes() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let fits = wns_raw(&device.handle, &token)
        .body(body(vec![b'x'; 5000]))
        .unwrap();
    assert_eq!(http1_send(fits).await.status, StatusCode::OK);
    let over = wns_raw(&device.handle, &token)
        .body(body(vec![b'x'; 5001]))
        .unwrap();
    assert_wns_error(&http1_send(over).await, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn wns_rejects_unknown_channel() {
    let h = Harness::start().await;
    let token = wns_access_token(&h).await;
    let channel = format!("{}/?token=AwYAAAD%2Bunknown%3D", h.gw.wns_url());
    let reply = http1_send(wns_raw(&channel, &token).body(body("42")).unwrap()).await;
    assert_wns_error(&reply, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wns_rejects_channel_uri_with_decoded_token() {
    let h = Harness::start().await;
    let token = wns_access_token(&h).await;
    // A backend that decodes the channel URI's token and sends it raw turns
    // '+' into a space: WNS no longer knows the channel.
    let (device, decoded) = (0..100)
        .map(|_| h.gw.register_device(Platform::Wns))
        .find_map(|device| {
            let encoded = device.handle.split_once("?token=").unwrap().1.to_owned();
            let decoded = form_urlencoded::parse(format!("t={encoded}").as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned();
            decoded.contains('+').then_some((device, decoded))
        })
        .expect("some opaque token among 100 contains '+'");
    let origin = device.handle.split_once("?token=").unwrap().0;
    let mangled = format!(
        "{origin}?token={}",
        decoded.replace('/', "%2F").replace('=', "%3D")
    );
    let reply = http1_send(wns_raw(&mangled, &token).body(body("42")).unwrap()).await;
    assert_wns_error(&reply, StatusCode::NOT_FOUND);
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn wns_rejects_methods_other_than_post() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let request = wns_raw(&device.handle, &token)
        .method("PUT")
        .body(body("42"))
        .unwrap();
    assert_wns_error(&http1_send(request).await, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn wns_rejects_invalid_tag() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let request = wns_raw(&device.handle, &token)
        .header("x-wns-tag", "this-tag-is-far-too-long")
        .body(body("42"))
        .unwrap();
    assert_wns_error(&http1_send(request).await, StatusCode::BAD_REQUEST);
}

/// A toast to `channel`, ready to adjust.
fn wns_toast(channel: &str, access_token: &str) -> http::request::Builder {
    Request::post(channel)
        .header("authorization", format!("Bearer {access_token}"))
        .header("x-wns-type", "wns/toast")
        .header("content-type", "text/xml")
}

const TOAST: &str =
    "<toast><visual><binding template=\"ToastGeneric\"><text>Hi</text></binding></visual></toast>";

#[tokio::test]
async fn wns_accepts_suppress_popup_true_or_false_on_toast() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    for value in ["true", "false", "TRUE", "False"] {
        let request = wns_toast(&device.handle, &token)
            .header("x-wns-suppresspopup", value)
            .body(body(TOAST))
            .unwrap();
        assert_eq!(http1_send(request).await.status, StatusCode::OK, "{value}");
    }
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 4);
}

#[tokio::test]
async fn wns_rejects_invalid_suppress_popup_value() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    for value in ["yes", "1", ""] {
        let request = wns_toast(&device.handle, &token)
            .header("x-wns-suppresspopup", value)
            .body(body(TOAST))
            .unwrap();
        let reply = http1_send(request).await;
        assert_wns_error(&reply, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.header("x-wns-error-description"),
            Some("The X-WNS-SuppressPopup header value is not valid."),
            "{value:?}"
        );
    }
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}

#[tokio::test]
async fn wns_rejects_suppress_popup_on_non_toast() {
    let h = Harness::start().await;
    let device = h.gw.register_device(Platform::Wns);
    let token = wns_access_token(&h).await;
    let raw = wns_raw(&device.handle, &token)
        .header("x-wns-suppresspopup", "true")
        .body(body("42"))
        .unwrap();
    let tile = Request::post(&device.handle)
        .header("authorization", format!("Bearer {token}"))
        .header("x-wns-type", "wns/tile")
        .header("content-type", "text/xml")
        .header("x-wns-suppresspopup", "false")
        .body(body("<tile/>"))
        .unwrap();
    for request in [raw, tile] {
        let reply = http1_send(request).await;
        assert_wns_error(&reply, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.header("x-wns-error-description"),
            Some("The X-WNS-SuppressPopup header is only valid for toast notifications.")
        );
    }
    assert_eq!(h.gw.inbox(&device).unwrap().len(), 0);
}
