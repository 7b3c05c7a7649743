//! Interop on a second, independent client stack: each mock gateway driven
//! over TLS by an off-the-shelf Python library — APNs by `aioapns` (HTTP/2
//! on python-hyper's `h2`, not hyper), FCM HTTP v1 by the Python
//! `firebase-admin` (requests and google-auth), WNS by
//! `django-push-notifications` (urllib). Scripts and the pinned
//! `requirements.txt` are in `tests/interop/python/`; `tests/interop.rs`
//! does the same with Node.js libraries.
//!
//! Each test starts the gateways in-process with TLS, writes their
//! credentials and CA to a temporary directory, registers devices, and runs
//! one script with the backend-contract variables (`PUSHPROOF_*`) and the
//! CA in `SSL_CERT_FILE` (Python's ssl module) and `REQUESTS_CA_BUNDLE`
//! (requests). The script performs accepted pushes and the main rejections
//! and prints what the library reported; the test asserts the library saw
//! success and the right error for each rejection, and that the mock's
//! captures and inboxes hold exactly the pushes it sent.
//!
//! Needs Python ≥ 3.9 with the `venv` module and pip. The first test
//! creates `tests/interop/python/.venv` if it is missing or broken, and
//! installs `requirements.txt` into it when it does not hold the pinned
//! versions (registry access needed once). Without them the tests fail,
//! naming what to install: skipping would let a mock that breaks real
//! clients pass unnoticed.

mod interop_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use interop_support::{
    body_json, entry, output_of, start_mocks, start_mocks_with, try_output_of, Libraries, Mocks,
    Report, Script, SCRIPT_TIMEOUT,
};
use pushproof_mocks::{GatewayConfig, Impersonation, Platform};
use serde_json::Value;
use tokio::sync::OnceCell;

/// The oldest Python the pinned requirements install on.
const MIN_PYTHON: (u32, u32) = (3, 9);
/// Creating the venv installs pip into it: seconds.
const VENV_TIMEOUT: Duration = Duration::from_secs(120);
/// `pip install` downloads ~40 wheels (about 60 MB) on a fresh machine;
/// seconds from pip's cache.
const PIP_TIMEOUT: Duration = Duration::from_secs(300);

const INSTALL_HINT: &str = "the Python interop tests drive real client libraries on Python: \
     install Python >= 3.9 with its venv module and pip (e.g. `apt-get install python3 \
     python3-venv python3-pip`, or from python.org) so that `python3` is on PATH and \
     `python3 -m venv` works";

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
        .join("python")
}

fn venv_dir() -> PathBuf {
    python_dir().join(".venv")
}

/// The venv's interpreter.
fn venv_python() -> PathBuf {
    let venv = venv_dir();
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

// ------------------------------------------------------------------ Python

/// What the venv holds.
enum Venv {
    /// Exactly the pinned versions.
    Ready(Libraries),
    /// A working interpreter without (all) the pinned versions.
    Stale(String),
    /// No interpreter that runs (never created, or its Python is gone).
    Broken(String),
}

/// Checks Python once per test binary, and creates the venv and installs
/// the pinned libraries if needed; every test waits for the first one's
/// check.
async fn python_ready() -> &'static Libraries {
    static READY: OnceCell<Libraries> = OnceCell::const_new();
    READY.get_or_init(prepare_python).await
}

async fn prepare_python() -> Libraries {
    let version = output_of(
        "python3",
        &["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        Path::new("."),
        SCRIPT_TIMEOUT,
        INSTALL_HINT,
    )
    .await;
    let found = version
        .trim()
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)))
        .unwrap_or_else(|| panic!("unexpected Python version {version:?}"));
    assert!(
        found >= MIN_PYTHON,
        "Python {} found; {INSTALL_HINT}",
        version.trim()
    );

    match venv_state().await {
        Venv::Ready(libraries) => return libraries,
        Venv::Stale(why) if has_pip().await => eprintln!("interop_python: {why}"),
        Venv::Stale(why) | Venv::Broken(why) => {
            eprintln!("interop_python: {why}; creating {}", venv_dir().display());
            create_venv().await;
        }
    }
    let dir = python_dir();
    eprintln!(
        "interop_python: installing requirements.txt into {}",
        venv_dir().display()
    );
    let pip = [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
        "requirements.txt",
    ];
    if let Err(why) = try_output_of(
        path_str(&venv_python()),
        &pip,
        &dir,
        PIP_TIMEOUT,
        INSTALL_HINT,
    )
    .await
    {
        panic!(
            "{why}\ninstalling the pinned Python libraries failed (registry access is needed once)"
        );
    }
    match venv_state().await {
        Venv::Ready(libraries) => libraries,
        Venv::Stale(why) | Venv::Broken(why) => panic!("after `pip install`: {why}"),
    }
}

/// Whether the venv holds the pinned versions, as `pins.py` finds them.
async fn venv_state() -> Venv {
    let python = venv_python();
    // `exists` follows the link to the base interpreter, which may be gone.
    if !python.exists() {
        return Venv::Broken(format!("{} is missing", python.display()));
    }
    let args = ["-E", "-s", "-B", "pins.py"];
    let output = match try_output_of(
        path_str(&python),
        &args,
        &python_dir(),
        SCRIPT_TIMEOUT,
        INSTALL_HINT,
    )
    .await
    {
        Ok(output) => output,
        Err(why) => return Venv::Broken(why),
    };
    let pins: Value = serde_json::from_str(output.trim())
        .unwrap_or_else(|e| panic!("pins.py printed {output:?}: {e}"));
    let problems: Vec<&str> = pins["problems"]
        .as_array()
        .expect("pins.py lists problems")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !problems.is_empty() {
        return Venv::Stale(problems.join("; "));
    }
    let installed = pins["installed"]
        .as_object()
        .expect("pins.py lists what is installed");
    Venv::Ready(
        installed
            .iter()
            .map(|(name, version)| {
                (
                    name.clone(),
                    version.as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    )
}

async fn has_pip() -> bool {
    try_output_of(
        path_str(&venv_python()),
        &["-m", "pip", "--version"],
        &python_dir(),
        SCRIPT_TIMEOUT,
        INSTALL_HINT,
    )
    .await
    .is_ok()
}

/// Creates the venv afresh. A venv made without pip (Debian's python3
/// without python3-venv leaves one behind) is removed, so that the next
/// run after the install starts clean.
async fn create_venv() {
    let venv = venv_dir();
    let remove = || {
        if venv.exists() {
            std::fs::remove_dir_all(&venv)
                .unwrap_or_else(|e| panic!("removing {}: {e}", venv.display()));
        }
    };
    remove();
    let created = try_output_of(
        "python3",
        &["-m", "venv", path_str(&venv)],
        &python_dir(),
        VENV_TIMEOUT,
        INSTALL_HINT,
    )
    .await;
    if let Err(why) = created {
        remove();
        panic!("{why}\n{INSTALL_HINT}");
    }
    if !has_pip().await {
        remove();
        panic!("`python3 -m venv` made a venv without pip: {INSTALL_HINT}");
    }
}

impl Mocks {
    /// Runs `tests/interop/python/{script}` in the venv against the
    /// gateways with `inputs` besides the backend contract, and returns its
    /// report.
    async fn run_script(&self, script: &str, inputs: &[(&str, &str)]) -> Report {
        let libraries = python_ready().await;
        let ca = self.var("PUSHPROOF_CA_FILE");
        let mut env = inputs.to_vec();
        // How a user points Python clients at a private CA: OpenSSL's
        // default trust file for the ssl module, the bundle for requests.
        env.extend([("SSL_CERT_FILE", ca), ("REQUESTS_CA_BUNDLE", ca)]);
        let dir = python_dir();
        let python = venv_python();
        self.run(Script {
            name: script,
            program: path_str(&python),
            // -E: no PYTHON* variables (a developer's PYTHONPATH or
            // PYTHONWARNINGS must not change the libraries); -s: no user
            // site-packages; -B: no __pycache__ in the source tree.
            args: &["-E", "-s", "-B", script],
            dir: &dir,
            env: &env,
            // Only the mocks' CA is trusted.
            env_remove: &["SSL_CERT_DIR"],
            install_hint: INSTALL_HINT,
            libraries,
        })
        .await
    }
}

/// Whether a connection's announced MAX_CONCURRENT_STREAMS values (as the
/// library decoded them) started at 1 (the first SETTINGS frame) and then
/// rose to 1000, where they ended.
fn one_then_raised(limits: &Value) -> bool {
    let limits: Vec<u64> = limits
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    limits.first() == Some(&1) && limits[1..].contains(&1000) && limits.last() == Some(&1000)
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn apns_through_aioapns() {
    let m = start_mocks().await;
    let device = m.gw.register_device(Platform::Apns);
    // 64 hex digits, never issued: the mock's tokens are random.
    let unknown = "0123456789abcdef".repeat(4);
    let report = m
        .run_script(
            "apns.py",
            &[
                ("INTEROP_APNS_DEVICE", &device.handle),
                ("INTEROP_APNS_UNKNOWN_DEVICE", &unknown),
            ],
        )
        .await;

    // Two bursts of 8 on one connection, which was told the limit was 1
    // (before the first push was accepted) and then 1000.
    let success = report.success("success");
    let outcomes = success["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 16, "{success}");
    let limits = success["streamLimits"].as_array().expect("streamLimits");
    assert_eq!(limits.len(), 1, "one connection: {success}");
    assert!(one_then_raised(&limits[0]), "{success}");
    // aioapns reports an APNs rejection as a result with the status and
    // the reason; it matched each answer by the apns-id the mock echoed.
    let rejected = |status: u16, reason: &str| {
        vec![
            ("status", Value::from(status)),
            ("reason", Value::from(reason)),
            ("echoed", Value::from(true)),
        ]
    };
    report.failure("unknown_device", &rejected(400, "BadDeviceToken"));
    report.failure("wrong_topic", &rejected(400, "DeviceTokenNotForTopic"));
    // The rejections dropped the limit to 1; the next push is accepted on
    // the same connection, which the limit then lets through again.
    let after = report.success("after_rejection");
    let limits = after["streamLimits"].as_array().expect("streamLimits");
    assert_eq!(limits.len(), 1, "one connection: {after}");
    assert!(one_then_raised(&limits[0]), "{after}");
    report.failure("foreign_key", &rejected(403, "InvalidProviderToken"));

    let token = device.handle.as_str();
    let mut expected = vec![entry(token, 200, None); outcomes.len()];
    expected.extend([
        entry(&unknown, 400, Some("BadDeviceToken")),
        entry(token, 400, Some("DeviceTokenNotForTopic")),
        entry(token, 200, None),
        entry(token, 403, Some("InvalidProviderToken")),
    ]);
    assert_eq!(m.pushes(Platform::Apns), expected);

    // Exactly the accepted pushes are delivered, each with the apns-id the
    // library sent.
    let sent: BTreeSet<&str> = outcomes
        .iter()
        .chain([after])
        .map(|o| o["id"].as_str().expect("an id"))
        .collect();
    let delivered = m.drain(&device);
    let ids: BTreeSet<&str> = delivered
        .iter()
        .map(|d| d.header("apns-id").expect("an apns-id"))
        .collect();
    assert_eq!(ids, sent);
    assert_eq!(delivered.len(), sent.len(), "each push delivered once");
    for delivery in &delivered {
        let payload = body_json(delivery);
        assert!(payload["aps"]["alert"].is_string(), "{payload}");
        assert_eq!(payload["nonce"], m.nonce.as_str(), "{payload}");
        assert_eq!(delivery.header("apns-push-type"), Some("alert"));
    }
}

#[tokio::test]
async fn fcm_through_firebase_admin_python() {
    let m = start_mocks().await;
    let device = m.gw.register_device(Platform::Fcm);
    let unknown = format!("never-issued-{}", m.nonce);
    let report = m
        .run_script(
            "fcm.py",
            &[
                ("INTEROP_FCM_DEVICE", &device.handle),
                ("INTEROP_FCM_UNKNOWN_DEVICE", &unknown),
            ],
        )
        .await;

    // The Python SDK maps the FcmError detail (or, without a mapping of
    // its own, the google.rpc status) to its exception classes.
    let firebase_error = |error_type: &str, code: &str, status: u16| {
        vec![
            ("errorType", Value::from(error_type)),
            ("code", Value::from(code)),
            ("httpStatus", Value::from(status)),
        ]
    };
    report.failure(
        "unknown_device",
        &firebase_error("InvalidArgumentError", "INVALID_ARGUMENT", 400),
    );
    report.failure(
        "wrong_project",
        &firebase_error("SenderIdMismatchError", "PERMISSION_DENIED", 403),
    );

    m.assert_fcm_round(&report, &device, &unknown, "fid");
}

#[tokio::test]
async fn wns_through_django_push_notifications() {
    let m = start_mocks().await;
    let channel = m.gw.register_device(Platform::Wns);
    let unknown = format!("{}/?token=never-issued-{}", m.gw.wns_url(), m.nonce);
    let report = m
        .run_script(
            "wns.py",
            &[
                ("INTEROP_WNS_CHANNEL", &channel.handle),
                ("INTEROP_WNS_UNKNOWN_CHANNEL", &unknown),
            ],
        )
        .await;

    // The library returns the (empty) body of a 200 and raises its own
    // errors, naming the status.
    for name in ["raw", "toast"] {
        assert_eq!(report.success(name)["body"], "", "{name}");
    }
    report.failure(
        "unknown_channel",
        &[
            ("errorType", Value::from("WNSNotificationResponseError")),
            (
                "message",
                Value::from("HTTP 404: The channel URI is not valid or is not recognized by WNS."),
            ),
        ],
    );
    report.failure(
        "wrong_secret",
        &[("errorType", Value::from("WNSAuthenticationError"))],
    );

    // A token for every push: raw, toast, unknown channel, wrong secret.
    let token_statuses: Vec<u16> = m
        .token_requests(Platform::Wns)
        .into_iter()
        .map(|(_, status, _)| status)
        .collect();
    assert_eq!(token_statuses, [200, 200, 200, 400]);
    let uri = channel.handle.as_str();
    let pushes = m.pushes(Platform::Wns);
    let summary: Vec<(&str, u16)> = pushes.iter().map(|(d, s, _)| (d.as_str(), *s)).collect();
    assert_eq!(
        summary,
        [(uri, 200), (uri, 200), (unknown.as_str(), 404)],
        "{pushes:?}"
    );

    let delivered = m.drain(&channel);
    assert_eq!(delivered.len(), 2, "raw and toast");
    assert_eq!(delivered[0].header("x-wns-type"), Some("wns/raw"));
    assert_eq!(
        String::from_utf8_lossy(&delivered[0].body),
        format!("raw {}", m.nonce)
    );
    assert_eq!(delivered[1].header("x-wns-type"), Some("wns/toast"));
    let toast = String::from_utf8_lossy(&delivered[1].body);
    assert!(
        toast.starts_with("<toast") && toast.contains(&format!("toast {}", m.nonce)),
        "{toast}"
    );
}

/// The claims of a provider token (the JWT's middle part), as sent.
fn jwt_claims(authorization: &str) -> Value {
    use base64::Engine as _;
    let token = authorization
        .split_once(' ')
        .map_or(authorization, |(_, t)| t);
    let claims = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn apns_through_pyapns_client_with_a_fractional_iat_at_apples_host() {
    let m = start_mocks_with(GatewayConfig {
        impersonation: Some(Impersonation { port: 0 }),
        ..GatewayConfig::default()
    })
    .await;
    let device = m.gw.register_device(Platform::Apns);
    let unknown = "0123456789abcdef".repeat(4);
    let listener =
        m.gw.impersonation_addr()
            .expect("impersonating")
            .to_string();
    let report = m
        .run_script(
            "apns_hosts.py",
            &[
                ("INTEROP_APNS_DEVICE", &device.handle),
                ("INTEROP_APNS_UNKNOWN_DEVICE", &unknown),
                ("INTEROP_IMPERSONATION", &listener),
            ],
        )
        .await;
    report.success("alert");
    report.success("background");
    report.failure(
        "unknown_device",
        &[
            ("errorType", Value::from("BadDeviceTokenException")),
            ("status", Value::from(400)),
        ],
    );

    let token = device.handle.as_str();
    assert_eq!(
        m.pushes(Platform::Apns),
        [
            entry(token, 200, None),
            entry(token, 200, None),
            entry(&unknown, 400, Some("BadDeviceToken")),
        ]
    );
    let captures = m.gw.captures();
    let first = &captures[0];
    // The library signed `time.time()`: a fraction the mock took.
    let claims = jwt_claims(first.header("authorization").expect("a provider token"));
    assert!(
        claims["iat"].as_f64().is_some_and(|iat| iat.fract() != 0.0),
        "{claims}"
    );
    let delivered = m.drain(&device);
    assert_eq!(delivered.len(), 2, "alert and background");
    let background = &delivered[1];
    assert_eq!(background.header("apns-push-type"), Some("background"));
    assert_eq!(background.header("apns-priority"), Some("5"));
    let payload = body_json(background);
    assert_eq!(payload["aps"]["content-available"], 1, "{payload}");
    assert_eq!(payload["secureId"], m.nonce.as_str(), "{payload}");
}
