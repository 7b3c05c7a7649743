//! The binary's contract: exit codes and error messages.

use std::process::Command;

fn pushproof(args: &[&str], reports: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .args(args)
        .current_dir(reports)
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
fn sound_run_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pushproof(&["run", "--devices", "9"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("9 verified"), "{stdout}");
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
