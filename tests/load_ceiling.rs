//! `pushproof load --ceiling`: after the target, the same schedule runs
//! against the bare hyper server on the same mocks, and the report holds
//! its reconciled measurement and the target's share of it.

#![allow(clippy::unwrap_used)]

#[path = "support/load.rs"]
mod load_support;

use load_support::*;

#[test]
fn the_ceiling_runs_the_same_schedule_reconciles_and_gives_a_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let (output, r) = load(
        dir.path(),
        &[
            "--rate",
            "200",
            "--duration",
            "2s",
            "--devices",
            "20",
            "--seed",
            "9",
            "--ceiling",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    // The target's own measurement is untouched by the ceiling's.
    assert_eq!(u(&r, "/counts/verified"), 400);
    assert_eq!(r["target"]["kind"], "embedded");

    let c = &r["ceiling"];
    assert_eq!(c["target"]["kind"], "bare", "{c:#}");
    assert_ne!(c["target"]["origin"], r["target"]["origin"]);
    for name in [
        "planned",
        "sent",
        "accepted",
        "pushed",
        "delivered",
        "fetched",
        "verified",
    ] {
        assert_eq!(
            u(c, &format!("/counts/{name}")),
            400,
            "ceiling.counts.{name}"
        );
    }
    assert_eq!(u(c, "/counts/lost"), 0);
    assert_eq!(u(c, "/counts/duplicated"), 0);
    assert_eq!(c["reconciliation"]["reconciled"], true, "{c:#}");
    assert!(f(c, "/rate/verified_per_sec") > 0.0);
    for p in ["p50", "p99"] {
        assert!(f(c, &format!("/latency_ms/end_to_end/{p}")) > 0.0);
    }
    // The bare server's threads are charged as the backend's.
    assert!(f(c, "/cpu_us_per_notification/backend") > 0.0, "{c:#}");
    let text = c["histograms"]["end_to_end"].as_str().unwrap();
    assert_eq!(
        pushproof::metrics::Latency::from_base64(text)
            .unwrap()
            .count(),
        400
    );

    let ratio = f(&r, "/ceiling_ratio");
    let expected = f(&r, "/rate/verified_per_sec") / f(c, "/rate/verified_per_sec");
    assert!(
        ratio > 0.0 && (ratio - expected).abs() < 1e-9,
        "{ratio} {expected}"
    );

    // Every view names it.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ceiling   bare hyper server"), "{stdout}");
    let md = std::fs::read_to_string(dir.path().join("load.md")).unwrap();
    assert!(
        md.contains("## Ceiling") && md.contains("target ÷ ceiling"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("load.html")).unwrap();
    assert!(html.contains("bare hyper server"));
}

#[test]
fn without_the_flag_there_is_no_ceiling_and_other_profiles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (output, r) = load(
        dir.path(),
        &["--rate", "50", "--duration", "1s", "--devices", "5"],
    );
    assert!(output.status.success(), "{}", describe(&output));
    assert!(r["ceiling"].is_null() && r["ceiling_ratio"].is_null());

    let tutorial = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/tutorial.toml");
    let output = pushproof()
        .args(["load", "--ceiling", "--profile", tutorial, "--quiet"])
        .arg("--report-dir")
        .arg(dir.path().join("refused"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--ceiling"));
}
