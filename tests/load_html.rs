//! The load report's HTML page, from a real `pushproof load --find-max`
//! run, read in headless Chromium: it opens offline, fetches nothing, runs
//! no script, and shows the counts and its four charts (throughput over
//! time, latency percentiles over time, the latency distribution, the
//! find-max curve), each drawn.

#![allow(clippy::unwrap_used)]

#[path = "support/browser.rs"]
mod browser;
#[path = "support/load.rs"]
mod load_support;

use browser::{file_url, Browser};
use load_support::*;

#[test]
fn the_load_report_opens_offline_with_its_charts_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let (output, r) = load(
        dir.path(),
        &[
            "--find-max",
            "--slo",
            "p99<=5s,errors<=1%",
            "--start-rate",
            "60",
            "--max-rate",
            "120",
            "--step-duration",
            "2s",
            "--devices",
            "40",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let steps = r["find_max"]["steps"].as_array().unwrap().len();
    assert_eq!(steps, 2, "{:#}", r["find_max"]);

    let mut b = Browser::launch();
    b.open(&file_url(&dir.path().join("load.html")));
    let seen = b.eval(
        "({
            title: document.querySelector('h1').textContent,
            scripts: document.scripts.length,
            sections: [...document.querySelectorAll('section h2')].map(h => h.textContent),
            counts: document.querySelector('#counts table tbody tr').textContent,
            reconciled: document.querySelector('main > p').textContent,
            svgs: [...document.querySelectorAll('svg')].map(s => ({
                width: s.getBoundingClientRect().width,
                lines: s.querySelectorAll('polyline').length,
                markers: s.querySelectorAll('circle').length,
                drawn: [...s.querySelectorAll('polyline')].some(p => p.getBBox().width > 0),
                legend: [...s.querySelectorAll('.legend text')].map(t => t.textContent),
            })),
        })",
    );
    assert!(
        seen["title"]
            .as_str()
            .unwrap()
            .starts_with("pushproof load"),
        "{seen}"
    );
    assert_eq!(seen["scripts"], 0);
    let sections: Vec<&str> = seen["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        sections,
        [
            "Counts",
            "Throughput over time",
            "Latency",
            "CPU per notification",
            "Find max"
        ]
    );
    let planned = r["counts"]["planned"].as_u64().unwrap();
    assert!(
        seen["counts"]
            .as_str()
            .unwrap()
            .starts_with(&planned.to_string()),
        "{seen}"
    );
    assert!(
        seen["reconciled"]
            .as_str()
            .unwrap()
            .contains("the counts reconcile"),
        "{seen}"
    );
    let svgs = seen["svgs"].as_array().unwrap();
    assert_eq!(svgs.len(), 4, "{seen}");
    for svg in svgs {
        assert!(svg["width"].as_f64().unwrap() > 100.0, "{svg}");
        assert_eq!(svg["drawn"], true, "{svg}");
    }
    assert!(svgs[0]["legend"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == "verified"));
    // One line per stage in the distribution.
    assert_eq!(svgs[2]["lines"], 5, "{}", svgs[2]);
    // One marker per find-max step and series.
    assert_eq!(svgs[3]["markers"], 2 * steps, "{}", svgs[3]);
    assert!(
        b.requests.iter().all(|u| u.starts_with("file://")),
        "{:?}",
        b.requests
    );
    assert!(
        !b.messages
            .iter()
            .any(|m| m.contains("Content Security Policy") || m.contains("error")),
        "{:#?}",
        b.messages
    );
}
