//! The binary's contract: exit codes and error messages of `run`,
//! `backend` and `mocks`.

use std::process::Command;

fn pushproof(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .args(args)
        .current_dir(dir)
        .env_remove("PUSHPROOF_LISTEN")
        .output()
        .expect("the binary runs")
}

#[test]
fn unknown_flag_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["run", "--devcies", "3"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--devcies"));
}

#[test]
fn unknown_flaw_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["run", "--flaw", "leak-everything"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leak-everything"));
}

#[test]
fn zero_devices_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["run", "--devices", "0"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--devices"));
}

#[test]
fn flawed_run_exits_1_and_names_the_failing_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(
        &["run", "--devices", "9", "--flaw", "no-authz", "--seed", "7"],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("FAIL  SP-AUTHZ-03"), "{stdout}");
    assert!(
        dir.path().join("reports").is_dir(),
        "reports written under the working directory"
    );
}

#[test]
fn sound_run_exits_0_and_writes_report_and_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(
        &[
            "run",
            "--devices",
            "9",
            "--platforms",
            "apns fcm",
            "--platforms",
            "wns",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("9 verified"), "{stdout}");
    let run = std::fs::read_dir(dir.path().join("reports"))
        .expect("reports")
        .next()
        .expect("one run")
        .expect("entry")
        .path();
    assert!(run.join("report.json").is_file() && run.join("index.json").is_file());
}

#[test]
fn one_device_is_not_enough_to_pass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["run", "--devices", "1"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ERROR SP-AUTHZ-03"), "{stdout}");
}

#[test]
fn backend_without_any_platform_exits_2_and_prints_no_banner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["backend", "--db", "x.db"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no push platform is configured"),
        "{stderr}"
    );
    assert!(!stderr.contains("reference backend on"), "{stderr}");
}

#[test]
fn a_bad_listen_variable_is_named_as_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .args(["backend"])
        .env("PUSHPROOF_LISTEN", "bad")
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PUSHPROOF_LISTEN=\"bad\""), "{stderr}");
    assert!(!stderr.contains("--listen"), "{stderr}");
}

#[test]
fn error_chains_print_each_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("file"), "").expect("write");
    let out = pushproof(&["run", "--reports", "file/sub"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("Not a directory").count(), 1, "{stderr}");
}

#[test]
fn mocks_with_a_bad_fault_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[rule]]\nplatform = \"fcm\"\nfault = { kind = \"bogus\" }\n",
    )
    .expect("write");
    let out = pushproof(&["mocks", "--faults", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("bogus"),
        "{stderr}"
    );
}

#[test]
fn backend_with_a_bad_database_fails_before_any_banner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .args(["backend", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path())
        .env(
            "PUSHPROOF_WNS_TOKEN_URL",
            "http://127.0.0.1:9/accesstoken.srf",
        )
        .env("PUSHPROOF_WNS_CLIENT_ID", "ms-app://s-1")
        .env("PUSHPROOF_WNS_CLIENT_SECRET", "s")
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--db"), "{stderr}");
    assert!(!stderr.contains("reference backend on"), "{stderr}");
}

/// `pushproof mocks --env-file` writes the hub's connection string and
/// name beside the gateways' variables.
#[test]
fn mocks_env_file_carries_the_hub() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .args(["mocks", "--env-file", "mocks.env", "--keys-dir", "keys"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().expect("piped stdout");
    // The file is complete once the binary says so.
    let said = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("environment written"));
    let env = std::fs::read_to_string(dir.path().join("mocks.env")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(said, "the mocks never wrote their environment");
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("{name} missing from {env}"))
            .to_owned()
    };
    let cs = var("PUSHPROOF_NH_CONNECTION_STRING");
    assert!(
        cs.starts_with("Endpoint=sb://127.0.0.1:")
            && cs.contains(
                "/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey="
            ),
        "{cs}"
    );
    assert_eq!(var("PUSHPROOF_NH_HUB"), "pushproof-hub");
}

#[test]
fn a_reader_that_goes_away_loses_the_text_not_the_run() {
    // `pushproof run | head -0`: standard output is a pipe nobody reads.
    let dir = tempfile::tempdir().expect("tempdir");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .args(["run", "--devices", "6", "--seed", "3"])
        .current_dir(dir.path())
        .env_remove("PUSHPROOF_LISTEN")
        .stdout(writer)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let reports = std::fs::read_dir(dir.path().join("reports"))
        .expect("the reports directory")
        .count();
    assert_eq!(reports, 1, "the run still wrote its report");
}
