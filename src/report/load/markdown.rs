//! The load report as GitHub-flavoured Markdown, fit for
//! `$GITHUB_STEP_SUMMARY`: the headline figures, the counts and whether
//! they reconcile, every stage's percentiles, CPU per notification, and
//! the find-max curve.

use std::fmt::Write as _;

use super::{LoadReport, STAGES};
use crate::report::markdown::{cell, code_span};

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn us(v: Option<f64>) -> String {
    v.map_or_else(|| "not measured".to_owned(), |v| format!("{v:.1} µs"))
}

pub fn render(r: &LoadReport) -> String {
    let mut out = String::new();
    let c = &r.counts;
    let _ = writeln!(out, "# pushproof load — {}\n", cell(&r.target.description));
    let _ = writeln!(
        out,
        "**{:.0} verified notifications/s** at an offered {:.0}/s; p99 end to end **{} ms**; {} lost, {} duplicated; counts {}.\n",
        r.rate.verified_per_sec,
        r.rate.target_per_sec,
        ms(r.latency_ms.end_to_end.p99),
        c.lost,
        c.duplicated,
        if r.reconciliation.reconciled { "reconcile" } else { "**do not reconcile**" }
    );
    let _ = writeln!(out, "| run | |\n|---|---|");
    let rows = [
        ("run id", code_span(&r.run_id)),
        ("seed", code_span(&r.seed)),
        ("started", cell(&r.started_at)),
        (
            "target",
            cell(&format!("{} ({})", r.target.description, r.target.kind)),
        ),
        ("profile", cell(&r.profile)),
        ("mocks", cell(&r.mocks)),
        ("plan", cell(&r.plan.describe())),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    let _ = writeln!(out, "\n## Counts\n");
    let names: Vec<&str> = c.named().iter().map(|(n, _)| *n).collect();
    let values: Vec<String> = c.named().iter().map(|(_, v)| v.to_string()).collect();
    let _ = writeln!(out, "| {} |", names.join(" | "));
    let _ = writeln!(out, "|{}", "---:|".repeat(names.len()));
    let _ = writeln!(out, "| {} |", values.join(" | "));
    let f = &r.failures;
    let failures = [
        ("unsent", f.unsent),
        ("send 4xx", f.send_4xx),
        ("send 5xx", f.send_5xx),
        ("send timeout", f.send_timeout),
        ("send transport", f.send_transport),
        ("unreadable pushes", f.unreadable_pushes),
        ("duplicate pushes", f.duplicate_pushes),
        ("feed dropped", f.feed_dropped),
        ("fetch failed", f.fetch_failed),
        ("wrong content", f.wrong_content),
        ("duplicate content", f.duplicate_content),
        ("verified unacknowledged", f.verified_unacknowledged),
        ("late", f.late),
    ];
    let nonzero: Vec<String> = failures
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !nonzero.is_empty() {
        let _ = writeln!(out, "\nWhere the differences went: {}.", nonzero.join(", "));
    }
    for identity in r.reconciliation.checks.iter().filter(|i| !i.holds) {
        let _ = writeln!(
            out,
            "\n- ❌ {}: {} ≠ {}",
            code_span(&identity.rule),
            identity.left,
            identity.right
        );
    }
    let _ = writeln!(out, "\n## Latency from the planned instant (ms)\n");
    let _ = writeln!(out, "| stage | count | p50 | p90 | p99 | p99.9 | max |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, what) in STAGES {
        if let Some(p) = r.latency_ms.get(name) {
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} | {} | {} | {} | {} |",
                code_span(name),
                what,
                p.count,
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.p999),
                ms(p.max)
            );
        }
    }
    let lag = &r.generator.lag_ms;
    let _ = writeln!(
        out,
        "\nGenerator lag (sent − planned): p99 {} ms, max {} ms; at most {} sends in flight.",
        ms(lag.p99),
        ms(lag.max),
        r.generator.max_in_flight
    );
    let cpu = &r.cpu_us_per_notification;
    let _ = writeln!(out, "\n## CPU per notification\n");
    let _ = writeln!(out, "| backend | mocks | harness |\n|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} |",
        us(cpu.backend),
        us(cpu.mocks),
        us(cpu.harness)
    );
    if let Some(g) = &r.goose {
        let _ = writeln!(out, "\n## goose (closed model, beside the open model)\n");
        let _ = writeln!(
            out,
            "{} users, {} requests ({} failed) at {:.0}/s; goose's CPU per request {}, the open-model driver's {}.",
            g.users,
            g.requests,
            g.failures,
            g.requests_per_sec,
            us(g.cpu_us_per_request),
            us(g.open_model_cpu_us_per_request)
        );
    }
    if let Some(fm) = &r.find_max {
        let _ = writeln!(out, "\n## Find max ({})\n", code_span(&fm.slo));
        let _ = writeln!(
            out,
            "Highest rate that held: **{}**.\n",
            fm.max_rate_held
                .map_or_else(|| "none".to_owned(), |r| format!("{r:.0}/s"))
        );
        let _ = writeln!(
            out,
            "| offered /s | verified /s | p99 ms | errors % | SLO |\n|---:|---:|---:|---:|---|"
        );
        for s in &fm.steps {
            let _ = writeln!(
                out,
                "| {:.0} | {:.0} | {} | {:.3} | {} |",
                s.target_per_sec,
                s.verified_per_sec,
                ms(s.p99_ms),
                s.error_percent,
                if s.held { "held" } else { "broken" }
            );
        }
    }
    if !r.shards.is_empty() {
        let _ = writeln!(
            out,
            "\n## Shards\n\n| shard | run | verified | verified /s |\n|---|---|---:|---:|"
        );
        for s in &r.shards {
            let _ = writeln!(
                out,
                "| {}/{} | {} | {} | {:.0} |",
                s.shard.index,
                s.shard.count,
                code_span(&s.run_id),
                s.counts.verified,
                s.verified_per_sec
            );
        }
    }
    out
}
