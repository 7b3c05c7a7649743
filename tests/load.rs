//! `pushproof load` end to end on the embedded reference backend: the
//! counts reconcile exactly with no faults; an injected gateway fault is
//! counted, not a crash; every field load.json promises is there; and
//! `--find-max` stops at the step that breaks the SLO.

#![allow(clippy::unwrap_used)]

#[path = "support/load.rs"]
mod load_support;

use load_support::*;
use serde_json::Value;

const COUNTS: [&str; 9] = [
    "planned",
    "sent",
    "accepted",
    "pushed",
    "delivered",
    "fetched",
    "verified",
    "lost",
    "duplicated",
];
const STAGES: [&str; 5] = ["send", "gateway", "delivered", "fetched", "end_to_end"];

#[test]
fn counts_reconcile_exactly_without_faults_and_load_json_has_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let (output, r) = load(
        dir.path(),
        &[
            "--rate",
            "150",
            "--duration",
            "2s",
            "--devices",
            "60",
            "--seed",
            "5",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    for name in COUNTS {
        let expected = if name == "lost" || name == "duplicated" {
            0
        } else {
            300
        };
        assert_eq!(u(&r, &format!("/counts/{name}")), expected, "counts.{name}");
    }
    assert_eq!(r["reconciliation"]["reconciled"], true);
    assert_eq!(r["seed"], "5");
    assert!((f(&r, "/rate/target_per_sec") - 150.0).abs() < 1e-6);
    assert!(f(&r, "/rate/verified_per_sec") > 0.0);
    for stage in STAGES {
        for p in ["p50", "p90", "p99", "p999", "max"] {
            let v = f(&r, &format!("/latency_ms/{stage}/{p}"));
            assert!(v > 0.0, "latency_ms.{stage}.{p} = {v}");
        }
        assert_eq!(u(&r, &format!("/latency_ms/{stage}/count")), 300, "{stage}");
        // The whole histogram is there, and reads back to the same count.
        let text = r["histograms"][stage].as_str().unwrap();
        let h = pushproof::metrics::Latency::from_base64(text).unwrap();
        assert_eq!(h.count(), 300, "histograms.{stage}");
    }
    // Each stage starts at the planned instant, so they only grow.
    let p50 = |s: &str| f(&r, &format!("/latency_ms/{s}/p50"));
    assert!(p50("gateway") <= p50("delivered") && p50("delivered") <= p50("fetched"));
    for component in ["backend", "mocks", "harness"] {
        let v = &r["cpu_us_per_notification"][component];
        assert!(
            v.as_f64().is_some_and(|v| v > 0.0),
            "cpu_us_per_notification.{component} = {v}"
        );
    }
    let series = r["series"].as_array().unwrap();
    assert!(series.len() >= 2);
    let verified: u64 = series.iter().map(|s| s["verified"].as_u64().unwrap()).sum();
    assert_eq!(verified, 300);
    for file in ["load.md", "load.html"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let md = std::fs::read_to_string(dir.path().join("load.md")).unwrap();
    assert!(
        md.contains("| 300 | 300 | 300 | 300 | 300 | 300 | 300 | 0 | 0 |"),
        "{md}"
    );
}

/// In hub mode the backend is given only the mock Notification Hub, so
/// every push reaches the gateways through the hub's fan-out; the counts
/// must reconcile just as they do for direct sends.
#[test]
fn hub_mode_reconciles_through_the_notification_hub() {
    let dir = tempfile::tempdir().unwrap();
    let (output, r) = load(
        dir.path(),
        &[
            "--hub",
            "--rate",
            "100",
            "--duration",
            "1s",
            "--devices",
            "30",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    for name in ["planned", "sent", "pushed", "delivered", "verified"] {
        assert_eq!(u(&r, &format!("/counts/{name}")), 100, "counts.{name}");
    }
    assert_eq!(u(&r, "/counts/lost"), 0);
    assert_eq!(r["reconciliation"]["reconciled"], true);
    let target = r["target"]["description"].as_str().unwrap();
    assert!(target.contains("Notification Hub"), "{target}");
}

/// `--flaw stall` holds every 50th push for 400 ms before it leaves: the
/// open model keeps to its plan, so 2% of the notifications arrive a stall
/// late and p99 shows it, whether the backend pushes itself or through the
/// hub; nothing is lost, and the median does not move.
#[test]
fn the_stall_flaw_shows_in_p99_directly_and_through_the_hub() {
    for hub in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--flaw",
            "stall",
            "--rate",
            "200",
            "--duration",
            "2s",
            "--devices",
            "40",
            "--seed",
            "3",
        ];
        if hub {
            args.push("--hub");
        }
        let (output, r) = load(dir.path(), &args);
        assert!(output.status.success(), "{}", describe(&output));
        assert_eq!(u(&r, "/counts/verified"), 400, "hub {hub}");
        assert_eq!(u(&r, "/counts/lost"), 0, "hub {hub}");
        let p99 = f(&r, "/latency_ms/end_to_end/p99");
        let p50 = f(&r, "/latency_ms/end_to_end/p50");
        assert!(p99 >= 400.0, "hub {hub}: p99 {p99} ms");
        assert!(p50 < 200.0, "hub {hub}: p50 {p50} ms");
    }
}

/// `--flaw lose` answers every 100th send as pushed and never pushes it:
/// the reconciliation finds exactly 1% lost, directly and through the hub.
#[test]
fn the_lose_flaw_shows_as_one_percent_lost() {
    for hub in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--flaw",
            "lose",
            "--rate",
            "250",
            "--duration",
            "2s",
            "--devices",
            "50",
            "--timeout",
            "2s",
        ];
        if hub {
            args.push("--hub");
        }
        let (output, r) = load(dir.path(), &args);
        assert_eq!(u(&r, "/counts/planned"), 500, "{}", describe(&output));
        assert_eq!(u(&r, "/counts/accepted"), 500, "hub {hub}");
        assert_eq!(u(&r, "/counts/pushed"), 495, "hub {hub}");
        assert_eq!(u(&r, "/counts/verified"), 495, "hub {hub}");
        assert_eq!(u(&r, "/counts/lost"), 5, "hub {hub}");
        assert_eq!(u(&r, "/counts/duplicated"), 0, "hub {hub}");
    }
}

#[test]
fn an_injected_gateway_fault_shows_up_as_counted_losses_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.toml");
    std::fs::write(
        &faults,
        "[[rule]]\nplatform = \"fcm\"\nprobability = 0.5\nseed = 3\nfault = { kind = \"status\", status = 503 }\n",
    )
    .unwrap();
    let out = dir.path().join("report");
    let (output, r) = load(
        &out,
        &[
            "--rate",
            "100",
            "--duration",
            "2s",
            "--devices",
            "30",
            "--platforms",
            "fcm,wns",
            "--faults",
            faults.to_str().unwrap(),
            "--timeout",
            "3s",
        ],
    );
    // The accounting holds: exit 0, whatever the backend lost.
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        r["reconciliation"]["reconciled"], true,
        "{:#}",
        r["reconciliation"]
    );
    let lost = u(&r, "/counts/lost");
    let accepted = u(&r, "/counts/accepted");
    assert!(lost > 10 && lost < accepted, "lost {lost} of {accepted}");
    assert_eq!(u(&r, "/counts/planned"), 200);
    assert_eq!(
        u(&r, "/counts/verified") + lost,
        accepted + u(&r, "/failures/verified_unacknowledged")
    );
    // The gateways refused what the devices never got.
    let rejected = u(&r, "/gateways/fcm/rejected/503");
    assert!(rejected > 0, "{:#}", r["gateways"]);
}

#[test]
fn find_max_steps_up_until_the_slo_breaks_and_reports_the_curve() {
    let dir = tempfile::tempdir().unwrap();
    let faults = dir.path().join("faults.toml");
    // The gateway takes 120 pushes a second: above that, pushes are
    // refused and notifications lost, which breaks errors<=0.1%.
    std::fs::write(
        &faults,
        "[[rule]]\nplatform = \"wns\"\nfault = { kind = \"throttle\", rate_per_sec = 120.0, burst = 10 }\n",
    )
    .unwrap();
    let out = dir.path().join("report");
    let (output, r) = load(
        &out,
        &[
            "--find-max",
            "--slo",
            "errors<=0.1%",
            "--start-rate",
            "50",
            "--step-duration",
            "1s",
            "--refine",
            "2",
            "--devices",
            "40",
            "--platforms",
            "wns",
            "--faults",
            faults.to_str().unwrap(),
            "--timeout",
            "2s",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let fm = &r["find_max"];
    let steps = fm["steps"].as_array().unwrap();
    let held = f(&r, "/find_max/max_rate_held");
    let broken = f(&r, "/find_max/min_rate_broken");
    assert!((50.0..200.0).contains(&held), "held {held}: {fm:#}");
    assert!(broken > held && broken <= 200.0, "broken {broken}: {fm:#}");
    // 50, 100, 200 (broken), then two bisections at most: it stopped.
    assert!(steps.len() <= 5, "{fm:#}");
    assert!(steps.iter().any(|s| s["held"] == false));
    assert!(steps
        .windows(2)
        .all(|w| w[0]["target_per_sec"].as_f64() < w[1]["target_per_sec"].as_f64()));
    // Every step reconciles on its own.
    for s in steps {
        let c = &s["counts"];
        assert_eq!(c["planned"], c["sent"], "{s:#}");
        let accepted = c["accepted"].as_u64().unwrap();
        assert_eq!(
            c["verified"].as_u64().unwrap() + c["lost"].as_u64().unwrap(),
            accepted,
            "{s:#}"
        );
    }
    assert_eq!(r["reconciliation"]["reconciled"], true);
    let _: &Value = &r["histograms"]["end_to_end"];
}

#[test]
fn bad_flags_exit_2_naming_the_problem() {
    for (args, needle) in [
        (vec!["--stages", "30s"], "DURATION:RATE"),
        (vec!["--shard", "4/4"], "shard"),
        (vec!["--find-max"], "--slo"),
        (vec!["--slo", "p98<=1ms", "--find-max"], "p98"),
        (vec!["--arrival", "burst"], "burst"),
        (vec!["--rate", "0"], "rate"),
    ] {
        let output = pushproof()
            .arg("load")
            .args(&args)
            .arg("--quiet")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_backend_started_as_a_command_is_loaded_and_its_process_cpu_measured() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("backend.db");
    let command = format!(
        "exec {} backend --db {}",
        env!("CARGO_BIN_EXE_pushproof"),
        db.display()
    );
    let (output, r) = load(
        dir.path(),
        &[
            "--backend-cmd",
            &command,
            "--rate",
            "100",
            "--duration",
            "1s",
            "--devices",
            "20",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(r["target"]["kind"], "command");
    assert_eq!(u(&r, "/counts/verified"), 100);
    assert_eq!(r["reconciliation"]["reconciled"], true);
    let method = r["cpu"]["method"].to_string();
    assert!(method.contains("descendants"), "{method}");
    assert!(r["cpu"]["backend_us"].is_u64(), "{:#}", r["cpu"]);
}

#[test]
fn run_reports_a_dispatch_figure_from_a_short_load_phase() {
    let dir = tempfile::tempdir().unwrap();
    let output = pushproof()
        .args([
            "run",
            "--devices",
            "12",
            "--load-rate",
            "100",
            "--load-duration",
            "1s",
            "--reports",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("dispatch  100/s offered"), "{stdout}");
    let run_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["dispatch"]["counts"]["verified"], 100,
        "{:#}",
        report["dispatch"]
    );
    assert_eq!(report["dispatch"]["reconciled"], true);
    let load: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("load.json")).unwrap()).unwrap();
    assert_eq!(load["counts"]["planned"], 100);
}

#[test]
fn goose_runs_beside_the_open_model_and_each_drivers_cpu_per_request_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (output, r) = load(
        dir.path(),
        &[
            "--rate",
            "100",
            "--duration",
            "2s",
            "--devices",
            "20",
            "--goose-users",
            "2",
            "--goose-threshold",
            "error-rate<1%",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(r["reconciliation"]["reconciled"], true);
    let g = &r["goose"];
    assert!(u(&r, "/goose/requests") > 10, "{g:#}");
    assert_eq!(u(&r, "/goose/failures"), 0, "{g:#}");
    assert_eq!(g["thresholds_held"], true, "{g:#}");
    for who in ["cpu_us_per_request", "open_model_cpu_us_per_request"] {
        assert!(g[who].as_f64().is_some_and(|v| v > 0.0), "{who}: {g:#}");
    }
    let names: Vec<&str> = g["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["log in", "send", "fetch"]);
    for t in g["transactions"].as_array().unwrap() {
        assert!(t["requests"].as_u64().unwrap() > 0, "{t}");
    }
    assert!(dir.path().join("goose-report.html").exists());
}
