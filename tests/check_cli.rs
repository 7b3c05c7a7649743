//! `pushproof check` through the binary: a backend started with
//! --backend-cmd (the reference backend itself), one that will not start
//! and one that dies mid-run (FAIL with its log, exit 1), the catalogue,
//! `profile check`, and the exit codes of usage errors.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pushproof");

fn pushproof(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("PUSHPROOF_CONTROL_URL")
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn index(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json"))
        .expect("JSON")
}

fn reference_profile() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/reference.toml")
        .display()
        .to_string()
}

/// `pushproof check` on `pushproof backend` started by command, with the
/// reference profile, its report in `dir/report`, and `extra` flags.
fn check_reference_by_command(dir: &Path, extra: &[&str]) -> Output {
    let report = dir.join("report");
    let command = format!("{BIN} backend --db {}", dir.join("b.db").display());
    let mut args = vec![
        "check",
        "--profile",
        &*reference_profile(),
        "--backend-cmd",
        &command,
        "--report-dir",
        report.to_str().expect("utf-8"),
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    pushproof(&args, dir)
}

#[test]
fn the_reference_backend_started_by_command_passes_with_its_logs_in_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report");
    let out = check_reference_by_command(
        dir.path(),
        &[
            "--platforms",
            "apns fcm wns",
            "--junit",
            "junit.xml",
            "--sarif",
            "results.sarif",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for view in ["summary.md", "report.html"] {
        assert!(
            report.join(view).is_file(),
            "{view} in the report directory"
        );
    }
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("SP-AUTHZ-03"), "{junit}");
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.sarif")).expect("sarif"))
            .expect("SARIF is JSON");
    assert_eq!(sarif["version"], "2.1.0");
    let index = index(&report);
    assert_eq!(index["target"]["kind"], "command");
    assert_eq!(index["verdict"], "PASS");
    let logs = index["target"]["log_files"].as_array().expect("log files");
    assert_eq!(logs.len(), 2);
    let stderr =
        std::fs::read_to_string(report.join(logs[1].as_str().expect("name"))).expect("log");
    assert!(
        stderr.contains("pushproof reference backend on http://"),
        "{stderr}"
    );
    assert!(stderr.contains("platforms apns, fcm, wns"), "{stderr}");
}

/// `--hub`: the backend started by command gets the hub's variables, not
/// the gateways', so its pushes can only go through the hub.
#[test]
fn the_reference_backend_started_by_command_passes_in_hub_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report");
    let out = check_reference_by_command(dir.path(), &["--hub"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("through the Notification Hub"), "{stdout}");
    let index = index(&report);
    assert_eq!(index["run"]["delivery"], "hub");
    assert_eq!(index["verdict"], "PASS");
    let stderr = std::fs::read_to_string(report.join("backend.stderr.log")).expect("log");
    assert!(
        stderr.contains("platforms apns, fcm, wns through the Notification Hub pushproof-hub at http://127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn a_backend_that_will_not_start_is_a_fail_with_the_tail_of_its_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("r");
    let out = pushproof(
        &[
            "check",
            "--backend-cmd",
            "echo starting up; echo 'cannot open config.yml' >&2; exit 3",
            "--report-dir",
            report.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("backend   FAILED"), "{stdout}");
    assert!(stdout.contains("cannot open config.yml"), "{stdout}");
    let index = index(&report);
    let failure = &index["target"]["failure"];
    assert!(
        failure["summary"]
            .as_str()
            .expect("summary")
            .contains("exited"),
        "{failure}"
    );
    assert!(failure["log_tail"]
        .as_str()
        .expect("tail")
        .contains("cannot open config.yml"));
    assert_eq!(index["verdict"], "FAIL");
    assert_eq!(index["checks"][0]["verdict"], "FAIL");
}

#[test]
fn a_backend_that_dies_mid_run_is_a_fail_with_the_tail_of_its_log() {
    // Answers the readiness probe, then dies on the next request.
    let script = r#"
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def handle_one_request(self):
        H.n += 1
        if H.n > 1:
            print("fatal: out of database connections", file=sys.stderr, flush=True)
            os._exit(70)
        return super().handle_one_request()
    def do_GET(self):
        self.send_response(404); self.send_header("content-length", "0"); self.end_headers()
host, port = os.environ["PUSHPROOF_LISTEN"].rsplit(":", 1)
http.server.HTTPServer((host, int(port)), H).serve_forever()
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("dying.py"), script).expect("script");
    let report = dir.path().join("r");
    let out = pushproof(
        &[
            "check",
            "--backend-cmd",
            "python3 dying.py",
            "--report-dir",
            report.to_str().expect("utf-8"),
            "--timeout",
            "3",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let index = index(&report);
    let failure = &index["target"]["failure"];
    assert!(
        failure["summary"]
            .as_str()
            .expect("summary")
            .contains("exited during the run"),
        "{failure}"
    );
    assert!(failure["log_tail"]
        .as_str()
        .expect("tail")
        .contains("out of database connections"));
    assert_eq!(index["checks"][0]["id"], "SP-FLOW-01");
    assert_eq!(
        index["checks"][0]["verdict"], "FAIL",
        "signup failed: the backend's failure"
    );
}

#[test]
fn the_catalogue_is_listed_as_text_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["check", "--list"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SP-AUTHZ-03"));
    let out = pushproof(&["check", "--list", "--json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let checks = json["checks"].as_array().expect("checks");
    let tok = checks
        .iter()
        .find(|c| c["id"] == "SP-TOK-02")
        .expect("SP-TOK-02");
    assert_eq!(tok["needs"][0], "requests.logout");
    assert_eq!(tok["level"], "MUST");
    assert!(json["catalogue_version"].as_str().is_some());
}

#[test]
fn profile_check_names_the_field_that_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = pushproof(&["profile", "check", &reference_profile()], dir.path());
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    assert!(String::from_utf8_lossy(&good.stdout).contains("is valid"));
    let bad = std::fs::read_to_string(reference_profile())
        .expect("profile")
        .replace("payload = \"/Payload\"", "payload = \"Payload\"");
    std::fs::write(dir.path().join("bad.toml"), bad).expect("write");
    let out = pushproof(&["profile", "check", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("requests.fetch.payload"), "{stderr}");
}

#[test]
fn a_tutorial_profile_skips_the_logout_check_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tutorial = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tutorial.toml");
    let out = pushproof(
        &["profile", "check", tutorial.to_str().expect("utf-8")],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("will SKIP   SP-TOK-02"), "{stdout}");
}

#[test]
fn usage_errors_exit_2_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a-file"), "").expect("write");
    let cases: [(&[&str], &str); 7] = [
        (
            &[
                "check",
                "--backend-url",
                "http://127.0.0.1:1",
                "--flaw",
                "no-authz",
                "--mocks-url",
                "http://127.0.0.1:2",
            ],
            "--flaw",
        ),
        (
            &["check", "--backend-url", "http://127.0.0.1:1"],
            "--mocks-url",
        ),
        (&["check", "--report-dir", "a-file/sub"], "--report-dir"),
        (&["check", "--only", "SP-NOPE-*"], "SP-NOPE-*"),
        (&["check", "--platforms", "apns bb"], "--platforms"),
        (
            &["check", "--expected-failures", "missing.toml"],
            "missing.toml",
        ),
        (
            &[
                "check",
                "--hub",
                "--backend-url",
                "http://127.0.0.1:1",
                "--mocks-url",
                "http://127.0.0.1:2",
            ],
            "--hub",
        ),
    ];
    for (args, named) in cases {
        let out = pushproof(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("reports").exists(), "nothing ran");
}

#[test]
fn expected_failures_without_a_reason_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("x.toml"),
        "[[expected]]\nid = \"SP-AUTHZ-03\"\n",
    )
    .expect("write");
    let out = pushproof(&["check", "--expected-failures", "x.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a reason"));
}

#[test]
fn a_flawed_check_exits_1_and_strict_fails_on_warn_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["check", "--flaw", "no-authz", "--seed", "9"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  SP-AUTHZ-03"));
    let out = pushproof(&["check", "--strict", "--seed", "9"], dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "no WARN on the sound backend: {}",
        text(&out)
    );
}

#[test]
fn a_basic_auth_backend_in_the_tutorials_shape_passes_through_the_tutorial_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tutorial_wns.py");
    let tutorial = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tutorial.toml");
    let report = dir.path().join("r");
    let out = pushproof(
        &[
            "check",
            "--profile",
            tutorial.to_str().expect("utf-8"),
            "--backend-cmd",
            &format!("python3 {}", fixture.display()),
            "--platforms",
            "wns",
            "--devices",
            "4",
            "--report-dir",
            report.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let index = index(&report);
    let tok = index["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "SP-TOK-02")
        .expect("SP-TOK-02");
    assert_eq!(tok["verdict"], "SKIP");
    assert_eq!(tok["skip"]["enable"], "requests.logout");
}

#[test]
fn the_node_example_backend_passes_through_the_tutorial_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let backend = root.join("tests/backends/node/tutorial.mjs");
    let tutorial = root.join("scenarios/tutorial.toml");
    let report = dir.path().join("r");
    let out = pushproof(
        &[
            "check",
            "--profile",
            tutorial.to_str().expect("utf-8"),
            "--backend-cmd",
            &format!("node {}", backend.display()),
            "--report-dir",
            report.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let index = index(&report);
    assert_eq!(index["run"]["profile"]["name"], "tutorial");
    for check in index["checks"].as_array().expect("checks") {
        let fine = check["verdict"] == "PASS"
            || (check["verdict"] == "SKIP" && check["skip"]["reason"].as_str().is_some());
        assert!(fine, "{check}");
    }
}

/// The Node example that sends through the hub's REST API, in hub mode;
/// without `--hub` it is not given the hub and will not start.
#[test]
fn the_node_hub_example_backend_passes_through_the_tutorial_profile_in_hub_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let backend = format!(
        "node {}",
        root.join("tests/backends/node/tutorial-hub.mjs").display()
    );
    let tutorial = root.join("scenarios/tutorial.toml");
    let report = dir.path().join("r");
    let out = pushproof(
        &[
            "check",
            "--hub",
            "--profile",
            tutorial.to_str().expect("utf-8"),
            "--backend-cmd",
            &backend,
            "--report-dir",
            report.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let index = index(&report);
    assert_eq!(index["run"]["delivery"], "hub");
    for check in index["checks"].as_array().expect("checks") {
        let fine = check["verdict"] == "PASS"
            || (check["verdict"] == "SKIP" && check["skip"]["reason"].as_str().is_some());
        assert!(fine, "{check}");
    }
    let leak = index["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == "SP-LEAK-01")
        .expect("SP-LEAK-01");
    assert!(
        leak["summary"]
            .as_str()
            .is_some_and(|s| s.contains("requests to the hub")),
        "{leak}"
    );

    let direct = dir.path().join("direct");
    let out = pushproof(
        &[
            "check",
            "--profile",
            tutorial.to_str().expect("utf-8"),
            "--backend-cmd",
            &backend,
            "--report-dir",
            direct.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PUSHPROOF_NH_CONNECTION_STRING is not set"),
        "{stdout}"
    );
}
