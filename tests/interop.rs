//! Interop: each mock gateway driven over TLS by an independent,
//! off-the-shelf client library, the way real users point them at the
//! mocks — APNs by `@parse/node-apn`, FCM HTTP v1 by `firebase-admin`, WNS
//! by `wns`, and the mock Notification Hub by Microsoft's own
//! `@azure/notification-hubs` (Node.js; scripts and pinned manifests in
//! `tests/interop/`).
//!
//! Each test starts the gateways in-process with TLS, writes their
//! credentials and CA to a temporary directory, registers devices, and runs
//! one script with the backend-contract variables (`PUSHPROOF_*`) and
//! `NODE_EXTRA_CA_CERTS`. The script performs one success and the main
//! rejections and prints what the library reported; the test asserts the
//! library saw success and the right error type for each rejection, and
//! that the mock's captures and inboxes hold exactly the pushes it sent.
//!
//! Needs Node.js ≥ 20 with npm (firebase-admin 14 declares Node ≥ 22 but
//! runs on 20, which these tests prove). When `tests/interop/node_modules` is
//! missing or does not hold the pinned versions, the first test runs
//! `npm ci` there (registry access needed once). Without `node` or `npm`
//! the tests fail, naming what to install: skipping would let a mock that
//! breaks real clients pass unnoticed.

mod interop_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use interop_support::{
    body_json, entry, output_of, read_json, start_mocks, start_mocks_with, Libraries, Mocks,
    Report, Script, SCRIPT_TIMEOUT,
};
use pushproof_mocks::{GatewayConfig, Impersonation, Platform};
use serde_json::Value;
use tokio::sync::OnceCell;

/// node-apn 8 supports Node 20, 22 and 24; firebase-admin 14 declares ≥ 22
/// and runs on 20, which the FCM tests show.
const MIN_NODE_MAJOR: u32 = 20;
/// `npm ci` downloads ~190 packages (about 75 MB unpacked) on a fresh
/// machine; seconds from the npm cache.
const NPM_CI_TIMEOUT: Duration = Duration::from_secs(300);

const INSTALL_HINT: &str = "the interop tests drive real client libraries on Node.js: install \
     Node.js >= 20 with npm (e.g. `apt-get install nodejs npm`, or from nodejs.org) so that \
     `node` and `npm` are on PATH";

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

// ------------------------------------------------------------------ Node

/// Checks Node once per test binary and installs the pinned libraries if
/// needed; every test waits for the first one's check.
async fn node_ready() -> &'static Libraries {
    static READY: OnceCell<Libraries> = OnceCell::const_new();
    READY.get_or_init(prepare_node).await
}

async fn prepare_node() -> Libraries {
    let version = output_of(
        "node",
        &["--version"],
        Path::new("."),
        SCRIPT_TIMEOUT,
        INSTALL_HINT,
    )
    .await;
    let major = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("unexpected `node --version` output {version:?}"));
    assert!(
        major >= MIN_NODE_MAJOR,
        "Node.js {} found; {INSTALL_HINT}",
        version.trim()
    );

    let dir = interop_dir();
    if let Err(why) = installed_pins(&dir) {
        eprintln!("interop: {why}; running `npm ci` in {}", dir.display());
        output_of(
            "npm",
            &["ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            &dir,
            NPM_CI_TIMEOUT,
            INSTALL_HINT,
        )
        .await;
    }
    installed_pins(&dir).unwrap_or_else(|why| panic!("after `npm ci`: {why}"))
}

/// The pinned dependencies of `package.json` if `node_modules` holds
/// exactly those versions, or what is wrong.
fn installed_pins(dir: &Path) -> Result<Libraries, String> {
    let manifest = read_json(&dir.join("package.json")).expect("tests/interop/package.json");
    let pins = manifest["dependencies"]
        .as_object()
        .expect("package.json has dependencies");
    // npm writes this last: without it an install was cut short.
    if !dir
        .join("node_modules")
        .join(".package-lock.json")
        .is_file()
    {
        return Err("node_modules is missing or incomplete".to_owned());
    }
    let mut libraries = Libraries::new();
    for (name, pin) in pins {
        let pin = pin.as_str().expect("a version string");
        let installed = read_json(&dir.join("node_modules").join(name).join("package.json"))
            .map_err(|_| format!("{name} is not installed"))?;
        let version = installed["version"].as_str().unwrap_or_default();
        if version != pin {
            return Err(format!("{name} {version} is installed, {pin} is pinned"));
        }
        libraries.insert(name.clone(), version.to_owned());
    }
    Ok(libraries)
}

impl Mocks {
    /// Runs `tests/interop/{script}` against the gateways with `inputs`
    /// besides the backend contract, and returns its report.
    async fn run_script(&self, script: &str, inputs: &[(&str, &str)]) -> Report {
        let libraries = node_ready().await;
        let mut env = inputs.to_vec();
        // Node adds this PEM to its default trust store: how a user points
        // an unmodified Node client at the mocks.
        env.push(("NODE_EXTRA_CA_CERTS", self.var("PUSHPROOF_CA_FILE")));
        let dir = interop_dir();
        self.run(Script {
            name: script,
            program: "node",
            args: &[script],
            dir: &dir,
            env: &env,
            env_remove: &["NODE_OPTIONS"],
            install_hint: INSTALL_HINT,
            libraries,
        })
        .await
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn apns_through_parse_node_apn() {
    let m = start_mocks().await;
    let device = m.gw.register_device(Platform::Apns);
    // 64 hex digits, never issued: the mock's tokens are random.
    let unknown = "0123456789abcdef".repeat(4);
    let report = m
        .run_script(
            "apns.mjs",
            &[
                ("INTEROP_APNS_DEVICE", &device.handle),
                ("INTEROP_APNS_UNKNOWN_DEVICE", &unknown),
            ],
        )
        .await;

    let success = report.success("success");
    assert_eq!(success["device"], device.handle.as_str(), "{success}");
    // The mock echoed the apns-id the library sent, and node-apn read it.
    assert_eq!(success["apnsId"], success["sentId"], "{success}");
    // node-apn reports an APNs rejection as `{status, response: {reason}}`.
    let rejected = |status: u16, reason: &str| {
        vec![
            ("status", Value::from(status)),
            ("reason", Value::from(reason)),
            ("error", Value::Null),
        ]
    };
    report.failure("unknown_device", &rejected(400, "BadDeviceToken"));
    report.failure("wrong_topic", &rejected(400, "DeviceTokenNotForTopic"));
    report.failure("foreign_key", &rejected(403, "InvalidProviderToken"));

    let token = device.handle.as_str();
    assert_eq!(
        m.pushes(Platform::Apns),
        [
            entry(token, 200, None),
            entry(&unknown, 400, Some("BadDeviceToken")),
            entry(token, 400, Some("DeviceTokenNotForTopic")),
            entry(token, 403, Some("InvalidProviderToken")),
        ]
    );
    let delivered = m.drain(&device);
    assert_eq!(delivered.len(), 1, "only the accepted push is delivered");
    let payload = body_json(&delivered[0]);
    assert_eq!(payload["aps"]["alert"], "accepted", "{payload}");
    assert_eq!(payload["nonce"], m.nonce.as_str(), "{payload}");
    assert_eq!(delivered[0].header("apns-push-type"), Some("alert"));
}

#[tokio::test]
async fn fcm_through_firebase_admin() {
    let m = start_mocks().await;
    let device = m.gw.register_device(Platform::Fcm);
    let unknown = format!("never-issued-{}", m.nonce);
    let report = m
        .run_script(
            "fcm.mjs",
            &[
                ("INTEROP_FCM_DEVICE", &device.handle),
                ("INTEROP_FCM_UNKNOWN_DEVICE", &unknown),
            ],
        )
        .await;

    // firebase-admin maps the FcmError detail to its own error codes.
    let messaging_error = |code: &str| {
        vec![
            ("errorType", Value::from("FirebaseMessagingError")),
            ("code", Value::from(code)),
        ]
    };
    report.failure(
        "unknown_device",
        &messaging_error("messaging/invalid-argument"),
    );
    report.failure(
        "wrong_project",
        &messaging_error("messaging/mismatched-credential"),
    );

    m.assert_fcm_round(&report, &device, &unknown, "token");
}

#[tokio::test]
async fn wns_through_wns() {
    let m = start_mocks().await;
    let channel = m.gw.register_device(Platform::Wns);
    let unknown = format!("{}/?token=never-issued-{}", m.gw.wns_url(), m.nonce);
    let report = m
        .run_script(
            "wns.mjs",
            &[
                ("INTEROP_WNS_CHANNEL", &channel.handle),
                ("INTEROP_WNS_UNKNOWN_CHANNEL", &unknown),
            ],
        )
        .await;

    // `wns` calls a push a success only on 200 with
    // `X-WNS-NotificationStatus: received`.
    for name in ["raw", "toast", "refresh"] {
        let case = report.success(name);
        assert_eq!(case["statusCode"], 200, "{name}: {case}");
        assert_eq!(case["notificationStatus"], "received", "{name}: {case}");
        assert_eq!(case["wnsStatus"], "received", "{name}: {case}");
    }
    assert_eq!(report.case("raw")["newAccessToken"], true);
    assert_eq!(report.case("toast")["newAccessToken"], false);
    // The 401 on the stale token made the library fetch a new one.
    assert_eq!(report.case("refresh")["newAccessToken"], true);
    report.failure(
        "unknown_channel",
        &[
            ("errorType", Value::from("Error")),
            ("statusCode", Value::from(404)),
            (
                "wnsErrorDescription",
                Value::from("The channel URI is not valid."),
            ),
        ],
    );
    let wrong_secret = report.failure(
        "wrong_secret",
        &[
            ("errorType", Value::from("Error")),
            ("statusCode", Value::from(400)),
        ],
    );
    assert!(
        wrong_secret["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Unable to obtain access token")),
        "{wrong_secret}"
    );

    let token_statuses: Vec<u16> = m
        .token_requests(Platform::Wns)
        .into_iter()
        .map(|(_, status, _)| status)
        .collect();
    assert_eq!(
        token_statuses,
        [200, 200, 400],
        "raw, refresh, wrong secret"
    );
    let uri = channel.handle.as_str();
    let pushes = m.pushes(Platform::Wns);
    let summary: Vec<(&str, u16)> = pushes.iter().map(|(d, s, _)| (d.as_str(), *s)).collect();
    assert_eq!(
        summary,
        [
            (uri, 200),
            (uri, 200),
            (uri, 401),
            (uri, 200),
            (unknown.as_str(), 404)
        ],
        "raw, toast, refresh (401 then 200), unknown channel: {pushes:?}"
    );

    let delivered = m.drain(&channel);
    let seen: Vec<(Option<&str>, String)> = delivered
        .iter()
        .map(|d| {
            (
                d.header("x-wns-type"),
                String::from_utf8_lossy(&d.body).into_owned(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], (Some("wns/raw"), format!("raw {}", m.nonce)));
    assert_eq!(seen[1].0, Some("wns/toast"));
    assert!(
        seen[1].1.starts_with("<toast") && seen[1].1.contains(&format!("toast {}", m.nonce)),
        "{seen:?}"
    );
    assert_eq!(seen[2], (Some("wns/raw"), format!("refresh {}", m.nonce)));
}

#[tokio::test]
async fn fcm_through_firebase_admin_at_googles_own_hosts() {
    // firebase-admin 14 unmodified: Google's hosts resolve to the
    // impersonation listener; `send` with android.priority 'high' and
    // `sendEach` over HTTP/2 with `:scheme: https:`.
    let m = start_mocks_with(GatewayConfig {
        impersonation: Some(Impersonation { port: 0 }),
        ..GatewayConfig::default()
    })
    .await;
    let device = m.gw.register_device(Platform::Fcm);
    let unknown = format!("never-issued-{}", m.nonce);
    let listener =
        m.gw.impersonation_addr()
            .expect("impersonating")
            .to_string();
    let report = m
        .run_script(
            "fcm_hosts.mjs",
            &[
                ("INTEROP_FCM_DEVICE", &device.handle),
                ("INTEROP_FCM_UNKNOWN_DEVICE", &unknown),
                ("INTEROP_IMPERSONATION", &listener),
            ],
        )
        .await;

    let project = m.var("PUSHPROOF_FCM_PROJECT_ID");
    let sent = report.success("send_high");
    assert!(
        sent["name"]
            .as_str()
            .is_some_and(|n| n.starts_with(&format!("projects/{project}/messages/"))),
        "{sent}"
    );
    let each = report.success("send_each");
    assert_eq!(each["responses"][0]["success"], true, "{each}");
    assert_eq!(each["responses"][1]["success"], false, "{each}");
    assert_eq!(
        each["responses"][1]["code"], "messaging/invalid-argument",
        "{each}"
    );
    // Node's http2 client with `:scheme: https:` is answered (a send
    // without a token: 401), not reset.
    let raw = report.success("raw_scheme");
    assert_eq!(raw["status"], 401, "{raw}");

    let token_requests = m.token_requests(Platform::Fcm);
    assert!(
        !token_requests.is_empty() && token_requests.iter().all(|(_, s, _)| *s == 200),
        "{token_requests:?}"
    );
    let token = device.handle.as_str();
    let mut pushes = m.pushes(Platform::Fcm);
    let last = pushes.pop();
    assert_eq!(last.map(|(_, s, _)| s), Some(401), "the raw request");
    assert_eq!(
        pushes,
        [
            entry(token, 200, None),
            entry(token, 200, None),
            entry(&unknown, 400, Some("INVALID_ARGUMENT")),
        ]
    );
    // The sends came over HTTP/2 (sendEach's default) naming Google's host.
    let captures = m.gw.captures();
    let each_capture = captures
        .iter()
        .filter(|c| {
            c.platform == Platform::Fcm
                && c.status == 200
                && c.kind == pushproof_mocks::CaptureKind::Push
        })
        .nth(1)
        .expect("the sendEach push");
    assert_eq!(
        each_capture.path,
        format!("/v1/projects/{project}/messages:send")
    );
    let delivered = m.drain(&device);
    assert_eq!(delivered.len(), 2, "send and the first of sendEach");
    let first = body_json(&delivered[0]);
    assert_eq!(first["android"]["priority"], "high", "{first}");
    assert_eq!(first["data"]["nonce"], m.nonce.as_str(), "{first}");
    assert_eq!(body_json(&delivered[1])["android"]["priority"], "normal");
}

/// The official Notification Hubs SDK, given the mock's connection string:
/// installations on every platform, registrations, sends to tags,
/// expressions and handles, each delivery in the right inbox only.
#[tokio::test]
async fn notification_hub_through_the_azure_sdk() {
    let m = start_mocks().await;
    let device = |p| m.gw.register_device(p);
    let (apns, decoy, fcm, wns) = (
        device(Platform::Apns),
        device(Platform::Apns),
        device(Platform::Fcm),
        device(Platform::Wns),
    );
    let (fcm_reg, apns_reg) = (device(Platform::Fcm), device(Platform::Apns));
    let (direct1, direct2) = (device(Platform::Apns), device(Platform::Apns));
    let listen = m.gw.hub().listen_connection_string();
    let report = m
        .run_script(
            "hub.mjs",
            &[
                ("INTEROP_HUB_LISTEN", &listen),
                ("INTEROP_HUB_APNS", &apns.handle),
                ("INTEROP_HUB_APNS_DECOY", &decoy.handle),
                ("INTEROP_HUB_FCM", &fcm.handle),
                ("INTEROP_HUB_WNS", &wns.handle),
                ("INTEROP_HUB_FCM_REG", &fcm_reg.handle),
                ("INTEROP_HUB_APNS_REG", &apns_reg.handle),
                ("INTEROP_HUB_APNS_DIRECT1", &direct1.handle),
                ("INTEROP_HUB_APNS_DIRECT2", &direct2.handle),
            ],
        )
        .await;

    for case in [
        "install_apns",
        "install_decoy",
        "install_fcm",
        "install_wns",
        "patch_fcm",
        "delete_i-apns",
        "delete_i-fcm",
        "delete_i-wns",
        "delete_i-decoy",
    ] {
        report.success(case);
    }
    let read = &report.success("read_fcm")["value"];
    assert_eq!(read["platform"], "fcmv1", "{read}");
    assert_eq!(
        read["tags"],
        serde_json::json!(["team:x", "user:alice"]),
        "{read}"
    );
    assert_eq!(read["pushChannel"], fcm.handle.as_str(), "{read}");
    let id = report.success("registration_id")["value"]
        .as_str()
        .expect("an id")
        .to_owned();
    let upserted = &report.success("upsert_registration")["value"];
    assert_eq!(upserted["registrationId"], id.as_str(), "{upserted}");
    assert_eq!(upserted["kind"], "FcmV1", "{upserted}");
    assert_eq!(
        report.success("create_registration")["value"]["kind"],
        "Apple"
    );
    assert_eq!(
        report.success("list_by_tag")["value"],
        serde_json::json!([id])
    );
    for case in [
        "send_tag",
        "send_and",
        "send_or",
        "send_registration",
        "send_upserted",
        "send_direct",
        "send_batch",
        "send_after_delete",
    ] {
        let sent = &report.success(case)["value"];
        assert!(
            sent["notificationId"]
                .as_str()
                .is_some_and(|n| !n.is_empty()),
            "{case}: {sent}"
        );
        assert!(sent["trackingId"].is_string(), "{case}: {sent}");
    }
    let test = &report.success("test_send")["value"];
    assert_eq!(test["state"], "DetailedStateAvailable", "{test}");
    assert_eq!(test["successCount"], 1, "{test}");
    assert_eq!(
        test["results"][0]["pnsHandle"],
        decoy.handle.as_str(),
        "{test}"
    );
    report.failure("listen_send", &[("statusCode", Value::from(401))]);
    report.failure("read_deleted", &[("statusCode", Value::from(404))]);

    // Every delivery in the right inbox, none in a wrong one.
    let alerts = |d: &pushproof_mocks::DeviceHandle| -> Vec<String> {
        m.drain(d)
            .iter()
            .map(|delivery| {
                let payload = body_json(delivery);
                assert_eq!(payload["nonce"], m.nonce.as_str(), "{payload}");
                payload["aps"]["alert"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let data = |d: &pushproof_mocks::DeviceHandle| -> Vec<String> {
        m.drain(d)
            .iter()
            .map(|delivery| {
                let message = body_json(delivery);
                assert_eq!(message["data"]["nonce"], m.nonce.as_str(), "{message}");
                message["data"]["what"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(alerts(&apns), ["tag"]);
    assert_eq!(alerts(&decoy), ["test"]);
    assert_eq!(data(&fcm), ["and", "direct"]);
    assert_eq!(data(&fcm_reg), ["upserted"]);
    assert_eq!(alerts(&apns_reg), ["registration"]);
    assert_eq!(alerts(&direct1), ["batch"]);
    assert_eq!(alerts(&direct2), ["batch"]);
    let raw: Vec<String> = m
        .drain(&wns)
        .iter()
        .map(|d| String::from_utf8_lossy(&d.body).into_owned())
        .collect();
    assert_eq!(raw, [format!("or-{}", m.nonce)]);
}
