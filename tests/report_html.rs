//! The HTML reports as a person sees them: each page is written to a file,
//! opened from its `file://` URL in headless Chromium, and read back from
//! the DOM the browser built after its script ran — the verdict, the check
//! sections, the marked hit, the filters when clicked, and proof that the
//! hostile script in the evidence never ran and that the page fetched
//! nothing. The chart page is read the same way.
//!
//! Needs Debian's `chromium` (see `tests/support/browser.rs`); without it
//! the tests fail, saying how to install it.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/report_fixture.rs"]
mod fixture;

use browser::{file_url, Browser};
use fixture::CANARY;
use pushproof::report::html::{self, chart, chart::Series, Markup};
use serde_json::Value;

/// Writes `page` to a fresh directory and opens it; the directory lives
/// as long as the returned guard.
fn open(browser: &mut Browser, page: &str, fragment: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("index.html");
    std::fs::write(&path, page).expect("write the page");
    browser.open(&format!("{}{fragment}", file_url(&path)));
    dir
}

/// The verdicts of the check sections the page shows now (not `hidden`,
/// and laid out: `display` is not `none`).
const VISIBLE: &str = "[...document.querySelectorAll('details.check')]
    .filter(d => !d.hidden && getComputedStyle(d).display !== 'none')
    .map(d => d.id.replace('check-', '') + ' ' + d.dataset.verdict)";

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn report_reads_in_a_browser_and_hostile_evidence_stays_text() {
    let report = fixture::report();
    let page = html::render(&report);
    let mut b = Browser::launch();
    let _dir = open(&mut b, &page, "");

    let seen = b.eval(
        "({
            title: document.title,
            verdict: document.getElementById('verdict').textContent,
            seed: document.getElementById('run-seed').textContent,
            runId: document.getElementById('run-run-id').textContent,
            profile: document.getElementById('run-profile').textContent,
            categories: [...document.querySelectorAll('section.category')].map(s => s.dataset.category),
            marks: [...document.querySelectorAll('mark')].map(m => m.textContent),
            pwned: typeof window.__pwned,
            scripts: document.scripts.length,
            images: document.images.length,
            svgs: document.querySelectorAll('main svg').length,
            hostileText: document.body.textContent.includes(\"<script>window.__pwned = 'script';\"),
            imgText: document.body.textContent.includes('<img src=x onerror='),
            open: [...document.querySelectorAll('details.check[open]')].map(d => d.dataset.verdict),
            filters: getComputedStyle(document.getElementById('filters')).display,
            chain: [...document.querySelectorAll('#check-SP-LEAK-03 .chain')].map(c => c.textContent),
            skip: document.querySelector('#check-SP-TOK-02 .note.skip').textContent,
            expected: document.querySelector('#check-SP-LEAK-02 .note.expected').textContent,
            sample: document.querySelector('#check-SP-AUTHZ-01 .sample').textContent,
            replay: document.getElementById('replay-command').textContent,
            stale: document.querySelector('section.stale').textContent,
            matrix: [...document.querySelectorAll('a.cell')].length,
        })",
    );
    assert_eq!(seen["title"], "pushproof check: FAIL (acme)");
    assert_eq!(seen["verdict"], "FAIL");
    assert_eq!(seen["seed"], "12345678901234567890");
    assert_eq!(seen["runId"], report.run.id.as_str());
    assert_eq!(seen["profile"], "acme (./scenarios/acme backend.toml)");
    assert_eq!(
        strings(&seen["categories"]),
        ["LEAK", "ID", "AUTHZ", "TOK", "HTTP", "LIFE", "FLOW"]
    );
    assert_eq!(seen["matrix"], report.checks.len());

    // The hostile evidence is on the page as text, and nothing of it ran.
    assert_eq!(seen["pwned"], "undefined", "a script from the evidence ran");
    assert_eq!(seen["scripts"], 1, "only the page's own script element");
    assert_eq!(seen["images"], 0, "no element from the evidence");
    assert_eq!(seen["svgs"], 0, "no element from the evidence");
    assert_eq!(seen["hostileText"], true);
    assert_eq!(seen["imgText"], true);

    // The hits, marked by their byte ranges: the canary in the FCM body
    // and in the stolen fetch, the whole base64url header.
    let marks = strings(&seen["marks"]);
    assert!(
        marks.iter().filter(|m| m.as_str() == CANARY).count() >= 2,
        "{marks:?}"
    );
    assert!(seen["chain"]
        .as_array()
        .is_some_and(|c| c.iter().any(|t| t == "base64url→gzip")));
    // Failures and errors open; the rest closed.
    let opened = strings(&seen["open"]);
    assert!(
        opened.iter().all(|v| v == "FAIL" || v == "ERROR") && opened.len() == 5,
        "{opened:?}"
    );
    assert_eq!(seen["filters"], "flex", "the script showed the filters");
    assert!(seen["skip"]
        .as_str()
        .is_some_and(|s| s.contains("capabilities.logout")));
    assert!(seen["expected"]
        .as_str()
        .is_some_and(|s| s.contains("PUSH-123")));
    assert_eq!(seen["sample"], "3 of 32 probes required");
    assert!(seen["replay"]
        .as_str()
        .is_some_and(|s| s.ends_with("--seed 12345678901234567890")));
    assert!(seen["stale"]
        .as_str()
        .is_some_and(|s| s.contains("SP-ID-01")));

    // Filtering: FAIL shows the three failures and the expected one, and
    // hides the categories left empty.
    let all = strings(&b.eval(VISIBLE));
    assert_eq!(all.len(), report.checks.len());
    b.eval("document.querySelector('button[data-filter=\"FAIL\"]').click()");
    let fails = strings(&b.eval(VISIBLE));
    assert_eq!(
        fails,
        [
            "SP-LEAK-01 FAIL",
            "SP-LEAK-02 FAIL",
            "SP-LEAK-03 FAIL",
            "SP-AUTHZ-03 FAIL"
        ]
    );
    let state = b.eval(
        "({
            pressed: document.querySelector('button[data-filter=\"FAIL\"]').getAttribute('aria-pressed'),
            hiddenSections: [...document.querySelectorAll('section.category')].filter(s => s.hidden).map(s => s.dataset.category),
            status: document.getElementById('filter-status').textContent,
            hash: location.hash,
        })",
    );
    assert_eq!(state["pressed"], "true");
    assert_eq!(
        strings(&state["hiddenSections"]),
        ["ID", "TOK", "HTTP", "LIFE", "FLOW"]
    );
    assert_eq!(state["status"], "FAIL: 4 of 10 checks shown");
    assert_eq!(state["hash"], "#verdict=FAIL");
    b.eval("document.querySelector('button[data-filter=\"SKIP\"]').click()");
    assert_eq!(strings(&b.eval(VISIBLE)), ["SP-TOK-02 SKIP"]);
    b.eval("document.querySelector('button[data-filter=\"all\"]').click()");
    assert_eq!(strings(&b.eval(VISIBLE)).len(), report.checks.len());
    b.eval("document.getElementById('expand-all').click()");
    assert_eq!(
        b.eval("document.querySelectorAll('details.check:not([open])').length"),
        0
    );

    // A link with a filter opens filtered.
    let _dir2 = open(&mut b, &page, "#verdict=WARN");
    assert_eq!(strings(&b.eval(VISIBLE)), ["SP-HTTP-01 WARN"]);

    // The page fetched nothing but itself, and broke no policy of its own.
    assert!(
        b.requests.iter().all(|u| u.starts_with("file://")),
        "{:?}",
        b.requests
    );
    assert!(
        !b.messages
            .iter()
            .any(|m| m.contains("Content Security Policy")
                || m.contains("exception")
                || m.contains("error")),
        "{:#?}",
        b.messages
    );
}

#[test]
fn charts_render_as_svg_in_a_browser() {
    let time: Vec<f64> = (0..30).map(f64::from).collect();
    let mut body = Markup::new();
    body.push(&chart::over_time(
        "Throughput",
        "notifications per second",
        vec![
            Series::new(
                "sent",
                time.iter().map(|&t| (t, 5000.0 + 10.0 * t)).collect(),
            ),
            Series::new(
                "verified",
                time.iter().map(|&t| (t, 4990.0 + 9.0 * t)).collect(),
            ),
        ],
    ));
    body.push(&chart::over_time(
        "Latency per second",
        "ms",
        ["p50", "p90", "p99"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                Series::new(
                    name,
                    time.iter()
                        .map(|&t| (t, (i as f64 + 1.0) * 10.0 + (t % 7.0)))
                        .collect(),
                )
            })
            .collect(),
    ));
    let spectrum: Vec<(f64, f64)> = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]
        .iter()
        .zip([1.0, 3.0, 8.0, 20.0, 45.0, 90.0, 120.0])
        .map(|(p, v)| (*p, v))
        .collect();
    body.push(&chart::latency_distribution(
        "Latency distribution",
        vec![Series::new("end to end", spectrum)],
    ));
    body.push(&chart::find_max(
        "Find max <script>",
        vec![(1000.0, 1000.0), (5000.0, 4990.0), (10000.0, 8000.0)],
        vec![(1000.0, 8.0), (5000.0, 20.0), (10000.0, 250.0)],
    ));
    let page = html::page("pushproof load", &body);

    let mut b = Browser::launch();
    let _dir = open(&mut b, &page, "");
    let seen = b.eval(
        "({
            svgs: [...document.querySelectorAll('svg')].map(s => {
                const r = s.getBoundingClientRect();
                return { width: r.width, height: r.height,
                         lines: s.querySelectorAll('polyline').length,
                         markers: s.querySelectorAll('circle').length,
                         legend: [...s.querySelectorAll('.legend text')].map(t => t.textContent),
                         xTicks: [...s.querySelectorAll('.x-axis text')].map(t => t.textContent),
                         drawn: [...s.querySelectorAll('polyline')].every(p => p.getBBox().width > 0) };
            }),
            scripts: document.scripts.length,
            title: document.querySelector('h1').textContent,
        })",
    );
    assert_eq!(seen["title"], "pushproof load");
    assert_eq!(
        seen["scripts"], 0,
        "charts need no script; the title stays text"
    );
    let svgs = seen["svgs"].as_array().expect("svgs");
    assert_eq!(svgs.len(), 4);
    for svg in svgs {
        assert!(svg["width"].as_f64().is_some_and(|w| w > 100.0), "{svg}");
        assert!(svg["height"].as_f64().is_some_and(|h| h > 50.0), "{svg}");
        assert_eq!(svg["drawn"], true, "{svg}");
    }
    assert_eq!(svgs[0]["lines"], 2);
    assert_eq!(strings(&svgs[0]["legend"]), ["sent", "verified"]);
    assert_eq!(svgs[1]["lines"], 3);
    assert_eq!(strings(&svgs[1]["legend"]), ["p50", "p90", "p99"]);
    let ticks = strings(&svgs[2]["xTicks"]);
    for t in ["50%", "90%", "99%", "99.9%", "99.99%"] {
        assert!(ticks.iter().any(|x| x == t), "{t} in {ticks:?}");
    }
    assert_eq!(svgs[3]["markers"], 6);
    assert_eq!(
        strings(&svgs[3]["legend"]),
        ["achieved rate", "p99 latency (right axis)"]
    );
    assert!(b.requests.iter().all(|u| u.starts_with("file://")));
}
