//! What the interop tests share, whatever language their client libraries
//! are written in (`tests/interop.rs` for Node.js, `tests/interop_python.rs`
//! for Python): the gateways started over TLS with their credentials and CA
//! written out, running a library's script against them with the
//! backend-contract variables, reading the script's one-line JSON report,
//! and reading back what the mocks captured and delivered.
//!
//! Every script prints one JSON line last on stdout:
//! `{"library": NAME, "version": VERSION, "cases": {CASE: OUTCOME, …}}`,
//! each OUTCOME saying what the library itself reported (`ok`, and its
//! result or its error's type and fields).

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use pushproof_mocks::{
    BackendEnv, CaptureKind, Delivery, DeviceHandle, GatewayConfig, Gateways, Platform, TlsSettings,
};
use serde_json::Value;
use tokio::process::Command;

/// A script does a handful of requests on loopback in well under a second
/// once its runtime has loaded; this only bounds a hung library.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Variables that would send a library's connections elsewhere than the
/// loopback mocks (a developer's proxy); removed for every script.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// The pinned libraries, as installed: `name -> version`.
pub type Libraries = BTreeMap<String, String>;

/// A captured request: `(device, status, reason)`; the device is empty
/// when the gateway named none (token requests).
pub type Seen = (String, u16, Option<String>);

pub fn read_json(path: &Path) -> std::io::Result<Value> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

/// Runs a tool to completion within `limit` (killed past it) and returns
/// its stdout, or its exit status and output if it failed. Fails the test
/// if the tool cannot be started, naming `install_hint` when it is
/// missing.
pub async fn try_output_of(
    program: &str,
    args: &[&str],
    dir: &Path,
    limit: Duration,
    install_hint: &str,
) -> Result<String, String> {
    let command = format!("{program} {}", args.join(" "));
    let child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!("`{program}` not found: {install_hint}"),
            _ => panic!("starting `{command}`: {e}"),
        });
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("`{command}` did not finish within {limit:?} (killed)"))
        .unwrap_or_else(|e| panic!("waiting for `{command}`: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`{command}` failed ({}) in {}:\n{stdout}{}",
            output.status,
            dir.display(),
            String::from_utf8_lossy(&output.stderr),
        ))
    }
}

/// [`try_output_of`], failing the test if the tool fails.
pub async fn output_of(
    program: &str,
    args: &[&str],
    dir: &Path,
    limit: Duration,
    install_hint: &str,
) -> String {
    try_output_of(program, args, dir, limit, install_hint)
        .await
        .unwrap_or_else(|why| panic!("{why}"))
}

/// One run of a library's script.
pub struct Script<'a> {
    /// The script's file name, as reports name it.
    pub name: &'a str,
    /// The interpreter and its arguments (the script among them).
    pub program: &'a str,
    pub args: &'a [&'a str],
    pub dir: &'a Path,
    /// Inputs besides the backend contract, `INTEROP_NONCE` and how the
    /// runtime trusts the mocks' CA.
    pub env: &'a [(&'a str, &'a str)],
    /// Runtime-specific variables that would change the library, removed
    /// along with the proxy variables.
    pub env_remove: &'a [&'a str],
    /// Named when the interpreter is missing.
    pub install_hint: &'a str,
    /// The pinned versions the report's library must have.
    pub libraries: &'a Libraries,
}

/// The gateways over TLS, with credentials and the CA written out.
pub struct Mocks {
    pub gw: Gateways,
    pub env: BackendEnv,
    /// Unique per test: every payload a script sends carries it.
    pub nonce: String,
    _dir: tempfile::TempDir,
}

pub async fn start_mocks() -> Mocks {
    start_mocks_with(GatewayConfig::default()).await
}

/// The gateways over TLS with `config` otherwise (host impersonation, say).
pub async fn start_mocks_with(config: GatewayConfig) -> Mocks {
    let gw = Gateways::start(GatewayConfig {
        tls: Some(TlsSettings::default()),
        ..config
    })
    .await
    .expect("the gateways start");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let env = gw
        .write_credentials(dir.path())
        .expect("credentials are written");
    Mocks {
        gw,
        env,
        nonce: uuid::Uuid::new_v4().simple().to_string(),
        _dir: dir,
    }
}

impl Mocks {
    pub fn var(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the backend env"))
    }

    /// Runs `script` against the gateways and returns its report, after
    /// checking it ran the pinned version of its library.
    pub async fn run(&self, script: Script<'_>) -> Report {
        let name = script.name;
        let mut command = Command::new(script.program);
        command
            .args(script.args)
            .current_dir(script.dir)
            .envs(self.env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(script.env.iter().copied())
            .env("INTEROP_NONCE", &self.nonce)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // A developer's proxy or runtime flags must not reroute or change
        // the libraries: every connection goes to the loopback mocks.
        for variable in PROXY_VARIABLES.iter().chain(script.env_remove) {
            command.env_remove(variable);
        }
        let child = command.spawn().unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                panic!("`{}` not found: {}", script.program, script.install_hint)
            }
            _ => panic!("starting {} {name}: {e}", script.program),
        });
        // Dropping the wait on timeout drops the child, which kills it.
        let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{name} did not finish within {SCRIPT_TIMEOUT:?} (killed)"))
            .unwrap_or_else(|e| panic!("waiting for {name}: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{name} failed ({}):\n{stdout}{stderr}",
            output.status
        );
        let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
        let json: Value = line
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("{name} printed no JSON report:\n{stdout}{stderr}"));
        let library = json["library"]
            .as_str()
            .expect("the report names its library");
        assert_eq!(
            json["version"].as_str(),
            script.libraries.get(library).map(String::as_str),
            "{name} ran another {library} than the one pinned"
        );
        Report {
            script: name.to_owned(),
            json,
        }
    }

    /// Every push the gateway captured, in order.
    pub fn pushes(&self, platform: Platform) -> Vec<Seen> {
        self.captured(platform, CaptureKind::Push)
    }

    /// Every token request the gateway captured, in order.
    pub fn token_requests(&self, platform: Platform) -> Vec<Seen> {
        self.captured(platform, CaptureKind::Token)
    }

    fn captured(&self, platform: Platform, kind: CaptureKind) -> Vec<Seen> {
        self.gw
            .captures()
            .into_iter()
            .filter(|c| c.platform == platform && c.kind == kind)
            .map(|c| (c.device.unwrap_or_default(), c.status, c.reason))
            .collect()
    }

    /// What every firebase-admin script (the Node SDK's or the Python one)
    /// must have done at the mock FCM and read back, besides how each SDK
    /// names its errors: the `success` and `dry_run` cases' message names,
    /// granted token requests, the sends (accepted, dry run, `unknown`
    /// device, wrong project) as captured, and one delivery.
    /// `target` is the message field the library names the device with:
    /// `token`, or `fid` (a Firebase installation id) in newer SDKs.
    pub fn assert_fcm_round(
        &self,
        report: &Report,
        device: &DeviceHandle,
        unknown: &str,
        target: &str,
    ) {
        let project = self.var("PUSHPROOF_FCM_PROJECT_ID");
        let success = report.success("success");
        let name = success["name"].as_str().unwrap_or_default();
        assert!(
            name.starts_with(&format!("projects/{project}/messages/")),
            "{success}"
        );
        let dry_run = report.success("dry_run");
        assert_eq!(
            dry_run["name"],
            format!("projects/{project}/messages/fake_message_id"),
            "{dry_run}"
        );

        // How often the library fetches a token is its own business (it
        // caches them); every fetch must have been granted.
        let token_requests = self.token_requests(Platform::Fcm);
        assert!(
            !token_requests.is_empty() && token_requests.iter().all(|(_, s, _)| *s == 200),
            "{token_requests:?}"
        );
        let token = device.handle.as_str();
        let mut pushes = self.pushes(Platform::Fcm);
        // The wrong project is refused from the URL, before the message (and
        // so the device) is read: the capture may not name the device.
        if let Some(last) = pushes.last_mut().filter(|(d, ..)| d.is_empty()) {
            last.0 = token.to_owned();
        }
        assert_eq!(
            pushes,
            [
                entry(token, 200, None),
                entry(token, 200, None),
                entry(unknown, 400, Some("INVALID_ARGUMENT")),
                entry(token, 403, Some("SENDER_ID_MISMATCH")),
            ]
        );
        // The dry run is validated, not delivered.
        let delivered = self.drain(device);
        assert_eq!(delivered.len(), 1, "only the accepted push is delivered");
        let message = body_json(&delivered[0]);
        assert_eq!(message[target], token, "{message}");
        assert_eq!(message["notification"]["body"], "accepted", "{message}");
        assert_eq!(message["data"]["nonce"], self.nonce.as_str(), "{message}");
    }

    /// Everything delivered to a device, oldest first.
    pub fn drain(&self, device: &DeviceHandle) -> Vec<Delivery> {
        let inbox = self.gw.inbox(device).expect("a registered device");
        std::iter::from_fn(|| inbox.try_recv()).collect()
    }
}

/// What a script's library reported, case by case.
pub struct Report {
    script: String,
    json: Value,
}

impl Report {
    pub fn case(&self, name: &str) -> &Value {
        let case = &self.json["cases"][name];
        assert!(
            !case.is_null(),
            "{}: no case {name}: {}",
            self.script,
            self.json
        );
        case
    }

    /// Asserts the library reported success for `name`.
    pub fn success(&self, name: &str) -> &Value {
        let case = self.case(name);
        assert_eq!(
            case["ok"], true,
            "{}: the library reported a failure for `{name}`: {case}",
            self.script
        );
        case
    }

    /// Asserts the library reported a failure for `name` with these
    /// fields (each compared as JSON).
    pub fn failure(&self, name: &str, fields: &[(&str, Value)]) -> &Value {
        let case = self.case(name);
        assert_eq!(
            case["ok"], false,
            "{}: the library reported success for `{name}`: {case}",
            self.script
        );
        for (field, expected) in fields {
            assert_eq!(
                &case[field], expected,
                "{}: `{name}`: {field} differs: {case}",
                self.script
            );
        }
        case
    }
}

pub fn entry(device: &str, status: u16, reason: Option<&str>) -> Seen {
    (device.to_owned(), status, reason.map(str::to_owned))
}

pub fn body_json(delivery: &Delivery) -> Value {
    serde_json::from_slice(&delivery.body).expect("a JSON payload")
}
