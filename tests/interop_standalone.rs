//! `pushproof mocks` run by hand, as a vendor does next to their own
//! backend: the env file is in place, whole and private, when the
//! readiness line is printed; impersonation prints its hosts lines; a bad
//! `--host` exits 2 naming it.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

/// Runs `pushproof mocks` with `args` in `dir` until it prints the
/// readiness line; returns what it printed. The child is killed after.
fn until_ready(dir: &std::path::Path, args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .arg("mocks")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        let ready = line == "pushproof mocks ready";
        lines.push(line);
        if ready {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn the_env_file_is_written_whole_before_the_readiness_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = until_ready(dir.path(), &["--env-file", "pushproof.env"]);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("pushproof mocks ready"),
        "{lines:?}"
    );
    let env_file = dir.path().join("pushproof.env");
    let text = std::fs::read_to_string(&env_file).expect("the env file exists when ready");
    for name in [
        "PUSHPROOF_APNS_URL",
        "PUSHPROOF_FCM_CREDENTIALS",
        "PUSHPROOF_CONTROL_URL",
    ] {
        assert!(text.contains(&format!("{name}=")), "{name}: {text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&env_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the env file holds a secret: {mode:o}");
    }
}

#[test]
fn impersonation_prints_and_writes_the_hosts_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = until_ready(
        dir.path(),
        &["--impersonate-port", "0", "--hosts-file", "hosts"],
    );
    let printed = lines.join("\n");
    assert!(
        printed.contains("127.0.0.1 fcm.googleapis.com"),
        "{printed}"
    );
    assert!(printed.contains("ca.pem"), "the CA to trust: {printed}");
    let hosts = std::fs::read_to_string(dir.path().join("hosts")).expect("the hosts file");
    assert!(hosts.contains("127.0.0.1 api.push.apple.com\n"), "{hosts}");
}

#[test]
fn a_bad_host_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_pushproof"))
        .args(["mocks", "--host", "nowhere"])
        .current_dir(dir.path())
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host"));
}
