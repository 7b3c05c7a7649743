//! A run split over 4 shard processes against one `pushproof mocks` and one
//! `pushproof backend`, merged with `pushproof report merge`, gives the
//! same counts as one process doing the same work, and its percentiles are
//! those of the shards' histograms merged (never averaged).

#![allow(clippy::unwrap_used)]

#[path = "support/load.rs"]
mod load_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use load_support::*;
use pushproof::metrics::Latency;
use serde_json::Value;

/// A child process killed when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `child`'s stream line by line until one satisfies `found`.
fn wait_for_line(stream: impl std::io::Read, found: impl Fn(&str) -> Option<String>) -> String {
    for line in BufReader::new(stream).lines() {
        let line = line.expect("the child's output is text");
        if let Some(value) = found(&line) {
            return value;
        }
    }
    panic!("the child ended before it was ready");
}

fn read_report(dir: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("load.json")).unwrap()).unwrap()
}

#[test]
fn four_shards_merge_into_the_counts_and_percentiles_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("pushproof.env");
    let mut mocks = pushproof()
        .args(["mocks", "--keys-dir"])
        .arg(dir.path().join("keys"))
        .arg("--env-file")
        .arg(&env_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mocks_out = mocks.stdout.take().unwrap();
    let _mocks = Guard(mocks);
    wait_for_line(mocks_out, |l| {
        (l == pushproof::cli::MOCKS_READY_LINE).then(String::new)
    });
    let env: Vec<(String, String)> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let control = env
        .iter()
        .find(|(k, _)| k == "PUSHPROOF_CONTROL_URL")
        .unwrap()
        .1
        .clone();

    let mut backend = pushproof()
        .args(["backend", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("backend.db"))
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let backend_err = backend.stderr.take().unwrap();
    let _backend = Guard(backend);
    let origin = wait_for_line(backend_err, |l| {
        l.strip_prefix("pushproof reference backend on ")
            .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
    });

    let common = [
        "--backend-url",
        &origin,
        "--mocks-url",
        &control,
        "--rate",
        "200",
        "--duration",
        "2s",
        "--devices",
        "80",
        "--seed",
        "9",
        "--quiet",
    ];
    // A shared start a few seconds ahead, after every shard has enrolled.
    let start_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(5);
    let start_at = format!("{:.3}", start_at.as_secs_f64());
    let shards: Vec<(std::path::PathBuf, Child)> = (0..4)
        .map(|i| {
            let out = dir.path().join(format!("shard-{i}"));
            let child = pushproof()
                .arg("load")
                .args(common)
                .args([
                    "--shard",
                    &format!("{i}/4"),
                    "--start-at",
                    &start_at,
                    "--report-dir",
                ])
                .arg(&out)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    let mut shard_dirs = Vec::new();
    for (out, child) in shards {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        shard_dirs.push(out);
    }
    let single_dir = dir.path().join("single");
    let output = pushproof()
        .arg("load")
        .args(common)
        .arg("--report-dir")
        .arg(&single_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));

    let merged_dir = dir.path().join("merged");
    let output = pushproof()
        .args(["report", "merge"])
        .args(&shard_dirs)
        .arg("--out")
        .arg(&merged_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));

    let merged = read_report(&merged_dir);
    let single = read_report(&single_dir);
    let shards: Vec<Value> = shard_dirs.iter().map(|d| read_report(d)).collect();
    // Each shard did a quarter: rate/4 over its own quarter of the devices.
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(u(s, "/counts/planned"), 100, "shard {i}");
        assert!((f(s, "/rate/target_per_sec") - 50.0).abs() < 1e-6);
        assert_eq!(u(s, "/plan/shard/index"), i as u64);
    }
    assert_eq!(
        merged["counts"], single["counts"],
        "merged {:#} single {:#}",
        merged["counts"], single["counts"]
    );
    assert_eq!(u(&merged, "/counts/verified"), 400);
    assert_eq!(u(&merged, "/counts/lost"), 0);
    assert_eq!(merged["reconciliation"]["reconciled"], true);
    assert!((f(&merged, "/rate/target_per_sec") - 200.0).abs() < 1e-6);
    assert_eq!(merged["shards"].as_array().unwrap().len(), 4);

    // The merged percentiles are those of the shards' histograms merged,
    // to HDR precision (3 significant digits).
    for stage in ["send", "gateway", "delivered", "fetched", "end_to_end"] {
        let mut union = Latency::default();
        for s in &shards {
            union.merge(&Latency::from_base64(s["histograms"][stage].as_str().unwrap()).unwrap());
        }
        assert_eq!(union.count(), 400, "{stage}");
        let summary = union.summary();
        for (p, expected) in [
            ("p50", summary.p50_ms),
            ("p99", summary.p99_ms),
            ("max", summary.max_ms),
        ] {
            let got = f(&merged, &format!("/latency_ms/{stage}/{p}"));
            assert!(
                (got - expected).abs() <= expected * 1e-3 + 1e-3,
                "{stage}.{p}: {got} vs {expected}"
            );
        }
    }
    // The series merged second by second too.
    let verified: u64 = merged["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verified"].as_u64().unwrap())
        .sum();
    assert_eq!(verified, 400);
}
