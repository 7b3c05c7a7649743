//! Helpers of the load tests: run the `pushproof` binary and read the
//! load.json it wrote.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The binary under test.
pub fn pushproof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pushproof"))
}

/// Runs `pushproof load ARGS --report-dir DIR --quiet` and returns its
/// output and the load.json it wrote.
pub fn load(dir: &Path, args: &[&str]) -> (Output, Value) {
    let output = pushproof()
        .arg("load")
        .args(args)
        .arg("--report-dir")
        .arg(dir)
        .arg("--quiet")
        .output()
        .expect("the pushproof binary runs");
    let text = std::fs::read_to_string(dir.join("load.json")).unwrap_or_else(|e| {
        panic!(
            "no load.json ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (
        output,
        serde_json::from_str(&text).expect("load.json is JSON"),
    )
}

pub fn u(report: &Value, pointer: &str) -> u64 {
    report
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} is not a count in {report:#}"))
}

pub fn f(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} is not a number"))
}

pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
