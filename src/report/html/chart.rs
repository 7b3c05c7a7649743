//! Inline SVG charts from plain data, for the HTML reports: no script is
//! needed to see them, and they open offline like the rest of the page.
//!
//! Build a [`Chart`] (or use one of the shapes below) and [`render`] it to
//! [`Markup`] that goes anywhere in a page, e.g. inside
//! [`super::page`]:
//!
//! ```
//! use pushproof::report::html::{self, chart::{self, Series}};
//!
//! let throughput = chart::over_time(
//!     "Throughput",
//!     "notifications per second",
//!     vec![
//!         Series::new("sent", vec![(0.0, 980.0), (1.0, 1010.0), (2.0, 995.0)]),
//!         Series::new("verified", vec![(0.0, 970.0), (1.0, 1002.0), (2.0, 990.0)]),
//!     ],
//! );
//! let page = html::page("pushproof load", &throughput);
//! assert!(page.contains("<svg"));
//! ```
//!
//! The shapes issue 9's load report needs:
//! - [`over_time`]: several series against seconds since the start
//!   (throughput per second; latency p50/p90/p99 per second);
//! - [`latency_distribution`]: the percentile spectrum, from `(percentile,
//!   value_ms)` points as an HDR histogram's percentile iterator yields
//!   them, on a log-ish x axis (`-log10(1 - p/100)`: 0 %, 90 %, 99 %,
//!   99.9 % … equally spaced) so the tail is readable; the axis ends at
//!   the decade of the last percentile below 100, and the 100th (the
//!   maximum) is drawn at its right edge;
//! - [`find_max`]: offered rate against achieved rate (left axis) and p99
//!   (right axis), one marker per step.
//!
//! Axes get "nice" ticks (1, 2, 2.5, 5 × 10ⁿ) with compact labels (`12k`,
//! `1.5M`), a legend names each series, colours come from the Okabe–Ito
//! palette (distinguishable with colour-blindness) and each series also
//! has its own dash pattern. Non-finite points are left out; a chart with
//! no data says so. Every text is escaped.

use std::fmt::Write;

use super::markup::Markup;
use crate::report::escape::{push_attr, push_text};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 360.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 52.0;
const LEFT: f64 = 68.0;
const RIGHT_SINGLE: f64 = 40.0;
const RIGHT_DUAL: f64 = 68.0;
const COLOURS: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
];
const DASHES: [&str; 4] = ["", "7 4", "2 3", "9 3 2 3"];
/// The percentile scale stops here (six nines): p = 100 has no place on it.
const MAX_NINES: f64 = 6.0;

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Percentiles 0–100 on `-log10(1 - p/100)`.
    Percentile,
}

/// Which y axis a series is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YAxis {
    #[default]
    Left,
    Right,
}

#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
}

impl Axis {
    pub fn linear(label: &str) -> Axis {
        Axis {
            label: label.to_owned(),
            scale: Scale::Linear,
        }
    }
}

/// One named line: `(x, y)` points in drawing order.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub axis: YAxis,
}

impl Series {
    pub fn new(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.to_owned(),
            points,
            axis: YAxis::Left,
        }
    }

    /// The same series, read on the right-hand axis.
    pub fn on_right(mut self) -> Series {
        self.axis = YAxis::Right;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    /// The right-hand axis, for series with [`YAxis::Right`].
    pub y2: Option<Axis>,
    pub series: Vec<Series>,
    /// Draw a marker at every point (few points, e.g. find-max steps).
    pub markers: bool,
}

/// Series against seconds since the start of the run.
pub fn over_time(title: &str, y_label: &str, series: Vec<Series>) -> Markup {
    render(&Chart {
        title: title.to_owned(),
        x: Axis::linear("seconds since start"),
        y: Axis::linear(y_label),
        y2: None,
        series,
        markers: false,
    })
}

/// Latency against percentile; each series holds `(percentile, value_ms)`
/// points (percentile 0–100), e.g. one per stage.
pub fn latency_distribution(title: &str, series: Vec<Series>) -> Markup {
    render(&Chart {
        title: title.to_owned(),
        x: Axis {
            label: "percentile".to_owned(),
            scale: Scale::Percentile,
        },
        y: Axis::linear("latency (ms)"),
        y2: None,
        series,
        markers: false,
    })
}

/// The find-max curve: `(offered, achieved)` per second on the left axis
/// and `(offered, p99_ms)` on the right, one marker per step.
pub fn find_max(title: &str, achieved: Vec<(f64, f64)>, p99_ms: Vec<(f64, f64)>) -> Markup {
    render(&Chart {
        title: title.to_owned(),
        x: Axis::linear("offered rate (per second)"),
        y: Axis::linear("achieved rate (per second)"),
        y2: Some(Axis::linear("p99 latency (ms)")),
        series: vec![
            Series::new("achieved rate", achieved),
            Series::new("p99 latency", p99_ms).on_right(),
        ],
        markers: true,
    })
}

/// Draws `chart` as an inline `<svg>`.
pub fn render(chart: &Chart) -> Markup {
    let right = if chart.y2.is_some() {
        RIGHT_DUAL
    } else {
        RIGHT_SINGLE
    };
    let plot = Plot {
        x0: LEFT,
        x1: WIDTH - right,
        y0: HEIGHT - BOTTOM,
        y1: TOP,
    };
    let finite = |axis: YAxis| {
        chart
            .series
            .iter()
            .filter(move |s| s.axis == axis)
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let all = || finite(YAxis::Left).chain(finite(YAxis::Right));
    let x_scale = Range::of(chart.x.scale, all().map(|p| p.0), false);
    let y_scale = Range::of(chart.y.scale, finite(YAxis::Left).map(|p| p.1), true);
    let y2_scale = chart
        .y2
        .as_ref()
        .map(|a| Range::of(a.scale, finite(YAxis::Right).map(|p| p.1), true));

    let mut out = String::with_capacity(8192);
    out.push_str("<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" ");
    let _ = write!(
        out,
        "viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" aria-label=\""
    );
    push_attr(&mut out, &chart.title);
    out.push_str("\" font-family=\"system-ui, sans-serif\" font-size=\"12\"><title>");
    push_text(&mut out, &chart.title);
    out.push_str("</title>");
    let _ = write!(
        out,
        "<text class=\"chart-title\" x=\"{LEFT}\" y=\"20\" font-size=\"15\" font-weight=\"bold\" fill=\"currentColor\">"
    );
    push_text(&mut out, &chart.title);
    out.push_str("</text>");

    // Grid and axes.
    out.push_str("<g class=\"axis x-axis\" fill=\"currentColor\">");
    for (value, label) in x_scale.ticks() {
        let x = plot.x(x_scale.unit(value));
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"currentColor\" stroke-opacity=\"0.15\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            plot.y1,
            plot.y0,
            plot.y0 + 16.0,
            label
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">",
        (plot.x0 + plot.x1) / 2.0,
        HEIGHT - 12.0
    );
    push_text(&mut out, &chart.x.label);
    out.push_str("</text></g>");
    y_axis(&mut out, &plot, &y_scale, &chart.y.label, false);
    if let (Some(axis), Some(scale)) = (&chart.y2, &y2_scale) {
        y_axis(&mut out, &plot, scale, &axis.label, true);
    }
    let _ = write!(
        out,
        "<path d=\"M{:.1} {:.1}V{:.1}H{:.1}\" fill=\"none\" stroke=\"currentColor\" stroke-opacity=\"0.6\"/>",
        plot.x0, plot.y1, plot.y0, plot.x1
    );

    // Series.
    let mut drawn = 0;
    for (i, series) in chart.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let dash = DASHES[i % DASHES.len()];
        let scale = match (series.axis, &y2_scale) {
            (YAxis::Right, Some(s)) => s,
            _ => &y_scale,
        };
        let points: Vec<(f64, f64, f64, f64)> = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| (plot.x(x_scale.unit(x)), plot.y(scale.unit(y)), x, y))
            .collect();
        if points.is_empty() {
            continue;
        }
        drawn += 1;
        out.push_str("<g class=\"series\" data-series=\"");
        push_attr(&mut out, &series.name);
        out.push_str("\">");
        if points.len() > 1 {
            let _ = write!(
                out,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-linejoin=\"round\""
            );
            if !dash.is_empty() {
                let _ = write!(out, " stroke-dasharray=\"{dash}\"");
            }
            out.push_str(" points=\"");
            for (px, py, _, _) in &points {
                let _ = write!(out, "{px:.1},{py:.1} ");
            }
            out.push_str("\"/>");
        }
        if chart.markers || points.len() == 1 {
            for (px, py, x, y) in &points {
                let _ = write!(
                    out,
                    "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3.5\" fill=\"{colour}\"><title>"
                );
                push_text(
                    &mut out,
                    &format!("{}: {} → {}", series.name, number(*x), number(*y)),
                );
                out.push_str("</title></circle>");
            }
        }
        out.push_str("</g>");
    }
    if drawn == 0 {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"currentColor\">no data</text>",
            (plot.x0 + plot.x1) / 2.0,
            (plot.y0 + plot.y1) / 2.0
        );
    }
    legend(&mut out, &chart.series);
    out.push_str("</svg></figure>");
    Markup::trusted(out)
}

fn y_axis(out: &mut String, plot: &Plot, scale: &Range, label: &str, right: bool) {
    let _ = write!(
        out,
        "<g class=\"axis {}\" fill=\"currentColor\">",
        if right { "y2-axis" } else { "y-axis" }
    );
    for (value, text) in scale.ticks() {
        let y = plot.y(scale.unit(value));
        if right {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"start\">{text}</text>",
                plot.x1 + 6.0,
                y + 4.0
            );
        } else {
            let _ = write!(
                out,
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"currentColor\" stroke-opacity=\"0.15\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{text}</text>",
                plot.x0,
                plot.x1,
                plot.x0 - 6.0,
                y + 4.0
            );
        }
    }
    let (x, rotate) = if right {
        (WIDTH - 10.0, 90)
    } else {
        (14.0, -90)
    };
    let mid = (plot.y0 + plot.y1) / 2.0;
    let _ = write!(
        out,
        "<text class=\"axis-label\" x=\"{x:.1}\" y=\"{mid:.1}\" text-anchor=\"middle\" transform=\"rotate({rotate} {x:.1} {mid:.1})\">"
    );
    push_text(out, label);
    out.push_str("</text></g>");
}

fn legend(out: &mut String, series: &[Series]) {
    out.push_str("<g class=\"legend\" fill=\"currentColor\">");
    let mut x = LEFT;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let dash = DASHES[i % DASHES.len()];
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"38\" y2=\"38\" stroke=\"{colour}\" stroke-width=\"3\"",
            x + 22.0
        );
        if !dash.is_empty() {
            let _ = write!(out, " stroke-dasharray=\"{dash}\"");
        }
        let _ = write!(out, "/><text x=\"{:.1}\" y=\"42\">", x + 28.0);
        let name = if s.axis == YAxis::Right {
            format!("{} (right axis)", s.name)
        } else {
            s.name.clone()
        };
        push_text(out, &name);
        out.push_str("</text>");
        // About 7 px a character at 12 px.
        x += 40.0 + 7.0 * name.chars().count() as f64;
    }
    out.push_str("</g>");
}

/// The plotting area, in SVG user units (y grows downwards).
struct Plot {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Plot {
    fn x(&self, unit: f64) -> f64 {
        self.x0 + unit * (self.x1 - self.x0)
    }

    fn y(&self, unit: f64) -> f64 {
        self.y0 - unit * (self.y0 - self.y1)
    }
}

/// An axis's domain: values map to 0..1.
struct Range {
    scale: Scale,
    lo: f64,
    hi: f64,
    step: f64,
}

impl Range {
    fn of(scale: Scale, values: impl Iterator<Item = f64>, from_zero: bool) -> Range {
        if scale == Scale::Percentile {
            // The axis ends at the decade of the last percentile below 100
            // (the maximum is drawn at the right edge); rounding error must
            // not add a decade: 99.9 % is 3 nines, not 4.
            let top = (values
                .filter(|p| *p < 100.0)
                .map(nines)
                .fold(2.0_f64, f64::max)
                - 1e-9)
                .ceil();
            return Range {
                scale,
                lo: 0.0,
                hi: top.min(MAX_NINES),
                step: 1.0,
            };
        }
        let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if from_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            hi = lo + if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        }
        let step = nice_step((hi - lo) / 5.0);
        Range {
            scale,
            lo: (lo / step).floor() * step,
            hi: (hi / step).ceil() * step,
            step,
        }
    }

    fn unit(&self, value: f64) -> f64 {
        let v = match self.scale {
            Scale::Linear => value,
            Scale::Percentile => nines(value),
        };
        ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
    }

    /// `(value, label)` pairs, values in the axis's own terms.
    fn ticks(&self) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Percentile => {
                let mut ticks = vec![(0.0, "0%".to_owned()), (50.0, "50%".to_owned())];
                let mut n = 1.0;
                while n <= self.hi + 1e-9 {
                    let p = 100.0 * (1.0 - 10f64.powf(-n));
                    ticks.push((p, format!("{}%", trim(p, 6))));
                    n += 1.0;
                }
                ticks
            }
            Scale::Linear => {
                let count = ((self.hi - self.lo) / self.step).round() as usize;
                (0..=count)
                    .map(|i| {
                        let v = self.lo + i as f64 * self.step;
                        (v, label(v, self.step))
                    })
                    .collect()
            }
        }
    }
}

/// `-log10(1 - p/100)`: 90 % → 1, 99 % → 2, 99.9 % → 3.
fn nines(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(10f64.powf(-MAX_NINES));
    -rest.log10()
}

/// The smallest of 1, 2, 2.5, 5, 10 × 10ⁿ at least `rough`.
fn nice_step(rough: f64) -> f64 {
    let rough = if rough > 0.0 && rough.is_finite() {
        rough
    } else {
        1.0
    };
    let magnitude = 10f64.powf(rough.log10().floor());
    let norm = rough / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|n| norm <= *n + 1e-9)
        .unwrap_or(10.0);
    nice * magnitude
}

/// A tick label as precise as the step needs: `1.5M`, `12k`, `0.25`.
fn label(value: f64, step: f64) -> String {
    let abs = value.abs();
    if abs >= 1e6 && step >= 1e5 {
        format!("{}M", trim(value / 1e6, 2))
    } else if abs >= 1e3 && step >= 100.0 {
        format!("{}k", trim(value / 1e3, 2))
    } else {
        let decimals = if step >= 1.0 {
            0
        } else {
            (-step.log10().floor()) as usize + 1
        };
        trim(value, decimals)
    }
}

/// A figure for a tooltip.
fn number(value: f64) -> String {
    trim(value, 3)
}

/// `value` with at most `decimals` digits after the point, trailing zeros
/// dropped.
fn trim(value: f64, decimals: usize) -> String {
    let s = format!("{value:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" {
        "0".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_labels_are_nice() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(2.2), 2.5);
        assert_eq!(nice_step(3100.0), 5000.0);
        assert_eq!(label(12_000.0, 2_000.0), "12k");
        assert_eq!(label(1_500_000.0, 500_000.0), "1.5M");
        assert_eq!(label(0.25, 0.05), "0.25");
        assert_eq!(label(40.0, 10.0), "40");
    }

    #[test]
    fn linear_ranges_cover_the_data_from_zero() {
        let r = Range::of(Scale::Linear, [3.0, 97.0].into_iter(), true);
        assert_eq!((r.lo, r.hi, r.step), (0.0, 100.0, 20.0));
        let ticks: Vec<String> = r.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0", "20", "40", "60", "80", "100"]);
        let flat = Range::of(Scale::Linear, [5.0, 5.0].into_iter(), false);
        assert!(flat.hi > flat.lo);
    }

    #[test]
    fn percentiles_spread_the_tail() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0), MAX_NINES);
        let r = Range::of(
            Scale::Percentile,
            [50.0, 99.0, 99.9, 100.0].into_iter(),
            false,
        );
        assert_eq!(r.unit(100.0), 1.0, "the maximum at the right edge");
        let labels: Vec<String> = r.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0%", "50%", "90%", "99%", "99.9%"]);
    }

    #[test]
    fn charts_draw_every_series_and_escape_names() {
        let svg = find_max(
            "find <max>",
            vec![(1000.0, 990.0), (2000.0, 1980.0)],
            vec![(1000.0, 12.0), (2000.0, 40.0)],
        );
        let s = svg.as_str();
        assert_eq!(s.matches("<polyline").count(), 2);
        assert_eq!(s.matches("<circle").count(), 4);
        assert!(
            s.contains("find &lt;max&gt;") && !s.contains("<max>"),
            "{s}"
        );
        assert!(s.contains("y2-axis") && s.contains("p99 latency (right axis)"));
        let empty = over_time("none", "y", vec![Series::new("a", vec![(f64::NAN, 1.0)])]);
        assert!(empty.as_str().contains("no data"));
    }
}
