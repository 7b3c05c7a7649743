//! The console summary of `pushproof run`: counts, latencies, one line per
//! check.

use std::fmt::Write;

use super::{console, Report};
use crate::metrics::LatencySummary;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let run = &report.run;
    let c = &report.counts;
    let flaws = if run.flaws.is_empty() {
        "none".to_owned()
    } else {
        run.flaws.join(", ")
    };
    let _ = writeln!(
        out,
        "pushproof run {} — profile {}, target {}, flaws {flaws}, seed {}",
        run.id, run.profile, run.target, run.seed
    );
    if let Some(failure) = &report.suite.target.failure {
        let _ = writeln!(out, "backend   FAILED: {}", failure.summary);
    }
    let _ = writeln!(
        out,
        "devices   {} enrolled of {} ({}){}",
        c.enrolled,
        c.devices,
        run.platforms.join(", "),
        if c.enrol_failed > 0 {
            format!(", {} failed to enrol", c.enrol_failed)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "secrets   {} sent · {} pushed · {} delivered · {} fetched · {} verified",
        c.sent, c.pushed, c.delivered, c.fetched, c.verified
    );
    if !c.failures.is_empty() {
        let list: Vec<String> = c.failures.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(out, "failures  {}", list.join(", "));
    }
    let l = &report.latency_ms;
    let _ = writeln!(
        out,
        "latency   p50 / p99 ms: send {} · push {} · fetch {} · end-to-end {}",
        pair(&l.send),
        pair(&l.push),
        pair(&l.fetch),
        pair(&l.end_to_end)
    );
    let _ = writeln!(
        out,
        "rate      {:.0} pushes/s, {:.0} verified/s over {:.2} s",
        report.throughput.pushes_per_s,
        report.throughput.verified_per_s,
        report.throughput.dispatch_window_s
    );
    if let Some(d) = &report.dispatch {
        let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "dispatch  {:.0}/s offered, {:.0} verified/s, end-to-end p50 / p99 {:.1} / {:.1} ms from the planned instant, {} lost, counts {}; CPU µs per notification: backend {} · harness {}",
            d.target_per_sec,
            d.verified_per_sec,
            d.end_to_end_ms.p50,
            d.end_to_end_ms.p99,
            d.counts.lost,
            if d.reconciled { "reconciled" } else { "NOT reconciled" },
            us(d.cpu_us_per_notification.backend),
            us(d.cpu_us_per_notification.harness),
        );
    }
    let _ = writeln!(out, "checks");
    for check in &report.suite.checks {
        let _ = writeln!(out, "{}", console::line(check));
    }
    let _ = writeln!(
        out,
        "result    {} (exit {})",
        report.suite.verdict, report.suite.exit_code
    );
    out
}

fn pair(s: &LatencySummary) -> String {
    if s.count == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}/{:.1}", s.p50_ms, s.p99_ms)
    }
}
