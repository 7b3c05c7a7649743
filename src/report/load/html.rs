//! The load report as one self-contained HTML page: the headline figures,
//! the counts, each stage's percentiles and CPU per notification as
//! tables, and inline SVG charts (throughput over time, end-to-end
//! latency percentiles over time, the latency distribution of every stage
//! and, after `--find-max`, the curve). No script; it opens offline.

use super::{LoadReport, StageLatencies, STAGES};
use crate::report::html::chart::{self, Series};
use crate::report::html::{self, Markup};

fn f(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn section(id: &str, title: &str) -> Markup {
    // `id` is one of this module's constants, never outside text.
    let mut m = Markup::trusted(format!("<section id=\"{id}\">"));
    m.push(&Markup::element("h2", title));
    m
}

fn end_section(m: &mut Markup) {
    m.push(&Markup::trusted("</section>".to_owned()));
}

pub fn render(r: &LoadReport) -> String {
    let mut body = Markup::new();
    let c = &r.counts;
    body.push(&Markup::element(
        "p",
        &format!(
            "{:.0} verified notifications per second at an offered {:.0}/s; p99 end to end {} ms; {} lost, {} duplicated; the counts {}.",
            r.rate.verified_per_sec,
            r.rate.target_per_sec,
            f(r.latency_ms.end_to_end.p99),
            c.lost,
            c.duplicated,
            if r.reconciliation.reconciled { "reconcile" } else { "do not reconcile" }
        ),
    ));
    body.push(&Markup::table(
        "The run",
        &["", ""],
        &[
            vec![
                "target".into(),
                format!("{} ({})", r.target.description, r.target.kind),
            ],
            vec!["profile".into(), r.profile.clone()],
            vec!["mocks".into(), r.mocks.clone()],
            vec!["run id".into(), r.run_id.clone()],
            vec!["seed".into(), r.seed.clone()],
            vec!["started".into(), r.started_at.clone()],
            vec!["plan".into(), r.plan.describe()],
        ],
    ));

    let mut counts = section("counts", "Counts");
    counts.push(&Markup::table(
        "Every notification, where it got to",
        &[
            "planned",
            "sent",
            "accepted",
            "pushed",
            "delivered",
            "fetched",
            "verified",
            "lost",
            "duplicated",
        ],
        &[[
            c.planned,
            c.sent,
            c.accepted,
            c.pushed,
            c.delivered,
            c.fetched,
            c.verified,
            c.lost,
            c.duplicated,
        ]
        .iter()
        .map(u64::to_string)
        .collect()],
    ));
    let rows: Vec<Vec<String>> = r
        .reconciliation
        .checks
        .iter()
        .map(|i| {
            vec![
                i.rule.clone(),
                i.left.to_string(),
                i.right.to_string(),
                if i.holds { "holds" } else { "FAILS" }.to_owned(),
            ]
        })
        .collect();
    counts.push(&Markup::table(
        "Reconciliation",
        &["identity", "left", "right", ""],
        &rows,
    ));
    end_section(&mut counts);
    body.push(&counts);

    let mut throughput = section("throughput", "Throughput over time");
    let per_second = |pick: fn(&super::series::SecondJson) -> u64| -> Vec<(f64, f64)> {
        r.series
            .iter()
            .map(|s| (s.second as f64, pick(s) as f64))
            .collect()
    };
    throughput.push(&chart::over_time(
        "Throughput",
        "notifications per second",
        vec![
            Series::new("sent", per_second(|s| s.sent)),
            Series::new("pushed (at the gateways)", per_second(|s| s.pushed)),
            Series::new("verified", per_second(|s| s.verified)),
            Series::new("failed sends", per_second(|s| s.failed)),
        ],
    ));
    end_section(&mut throughput);
    body.push(&throughput);

    let mut latency = section("latency", "Latency");
    let with_data: Vec<&super::series::SecondJson> =
        r.series.iter().filter(|s| s.verified > 0).collect();
    let over = |pick: fn(&super::series::SecondJson) -> f64| -> Vec<(f64, f64)> {
        with_data
            .iter()
            .map(|s| (s.second as f64, pick(s)))
            .collect()
    };
    latency.push(&chart::over_time(
        "End-to-end latency percentiles over time",
        "milliseconds from the planned instant",
        vec![
            Series::new("p50", over(|s| s.p50_ms)),
            Series::new("p90", over(|s| s.p90_ms)),
            Series::new("p99", over(|s| s.p99_ms)),
            Series::new("max", over(|s| s.max_ms)),
        ],
    ));
    let mut spectrum = Vec::new();
    if let Ok(latencies) = StageLatencies::from_json(&r.histograms) {
        for (name, _) in STAGES {
            if let Some(l) = latencies.get(name) {
                spectrum.push(Series::new(name, l.spectrum(4)));
            }
        }
    }
    latency.push(&chart::latency_distribution(
        "Latency distribution by stage",
        spectrum,
    ));
    let rows: Vec<Vec<String>> = STAGES
        .iter()
        .filter_map(|(name, what)| {
            let p = r.latency_ms.get(name)?;
            Some(vec![
                format!("{name} ({what})"),
                p.count.to_string(),
                f(p.p50),
                f(p.p90),
                f(p.p99),
                f(p.p999),
                f(p.max),
            ])
        })
        .collect();
    latency.push(&Markup::table(
        "Milliseconds from the planned instant",
        &["stage", "count", "p50", "p90", "p99", "p99.9", "max"],
        &rows,
    ));
    let lag = &r.generator.lag_ms;
    latency.push(&Markup::element(
        "p",
        &format!(
            "Generator lag (sent minus planned): p99 {} ms, max {} ms; at most {} sends in flight over {} lane(s).",
            f(lag.p99),
            f(lag.max),
            r.generator.max_in_flight,
            r.generator.lanes
        ),
    ));
    end_section(&mut latency);
    body.push(&latency);

    let mut cpu = section("cpu", "CPU per notification");
    let us = |v: Option<f64>| v.map_or_else(|| "not measured".to_owned(), |v| format!("{v:.1} µs"));
    let per = &r.cpu_us_per_notification;
    cpu.push(&Markup::table(
        "Microseconds of CPU per notification sent",
        &["backend", "mocks", "harness"],
        &[vec![us(per.backend), us(per.mocks), us(per.harness)]],
    ));
    for line in &r.cpu.method {
        cpu.push(&Markup::element("p", line));
    }
    if let Some(g) = &r.goose {
        cpu.push(&Markup::table(
            "goose beside the open model (CPU per request)",
            &[
                "driver",
                "requests",
                "failures",
                "per second",
                "CPU per request",
            ],
            &[
                vec![
                    format!("goose, {} users (closed model)", g.users),
                    g.requests.to_string(),
                    g.failures.to_string(),
                    format!("{:.0}", g.requests_per_sec),
                    us(g.cpu_us_per_request),
                ],
                vec![
                    "pushproof open model".to_owned(),
                    (r.counts.sent + r.counts.delivered).to_string(),
                    r.failures.send_failed().to_string(),
                    format!("{:.0}", r.rate.sent_per_sec),
                    us(g.open_model_cpu_us_per_request),
                ],
            ],
        ));
    }
    end_section(&mut cpu);
    body.push(&cpu);

    if let Some(fm) = &r.find_max {
        let mut find = section("find-max", "Find max");
        find.push(&Markup::element(
            "p",
            &format!(
                "SLO {}: the highest rate that held is {}.",
                fm.slo,
                fm.max_rate_held
                    .map_or_else(|| "none".to_owned(), |r| format!("{r:.0}/s"))
            ),
        ));
        find.push(&chart::find_max(
            "Offered against achieved rate, and p99",
            fm.steps
                .iter()
                .map(|s| (s.target_per_sec, s.verified_per_sec))
                .collect(),
            fm.steps
                .iter()
                .map(|s| (s.target_per_sec, s.p99_ms))
                .collect(),
        ));
        let rows: Vec<Vec<String>> = fm
            .steps
            .iter()
            .map(|s| {
                vec![
                    format!("{:.0}", s.target_per_sec),
                    format!("{:.0}", s.verified_per_sec),
                    f(s.p99_ms),
                    format!("{:.3}", s.error_percent),
                    if s.held { "held" } else { "broken" }.to_owned(),
                ]
            })
            .collect();
        find.push(&Markup::table(
            "Steps",
            &["offered /s", "verified /s", "p99 ms", "errors %", "SLO"],
            &rows,
        ));
        end_section(&mut find);
        body.push(&find);
    }
    html::page(&format!("pushproof load — {}", r.target.description), &body)
}
