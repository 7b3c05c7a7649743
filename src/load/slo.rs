//! Service-level objectives for `--find-max`: `p99<=100ms,errors<=0.1%`.
//!
//! Each objective bounds one figure of a step: a latency percentile of a
//! stage (`p50`, `p90`, `p99`, `p999`, `max`, optionally `stage.p99`, the
//! end-to-end stage by default), the error share (everything planned that
//! did not end verified, as a percentage), or the share of the offered
//! rate that was verified (`throughput>=95%`). A step holds when every
//! objective does.

use std::fmt;
use std::str::FromStr;

pub use crate::report::load::Judged;

/// The stages a latency objective may name.
pub const STAGES: [&str; 5] = ["send", "gateway", "delivered", "fetched", "end_to_end"];

/// What one objective bounds.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A latency quantile (0..=1) of a stage, in milliseconds.
    Latency {
        stage: &'static str,
        quantile: f64,
        name: String,
    },
    /// Planned notifications that did not end verified, in percent.
    Errors,
    /// Verified per second as a percentage of the offered rate.
    Throughput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    AtMost,
    AtLeast,
}

/// One objective: `metric <= limit` or `metric >= limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub metric: Metric,
    pub bound: Bound,
    /// Milliseconds for latency, percent otherwise.
    pub limit: f64,
    /// As written, for reports.
    pub text: String,
}

/// Every objective of a `--slo`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub objectives: Vec<Objective>,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.objectives.iter().map(|o| o.text.as_str()).collect();
        f.write_str(&texts.join(","))
    }
}

/// The figures of one step an [`Slo`] is judged on.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// `(stage, quantile) → ms`, looked up by [`Figures::latency`].
    pub latency: Vec<(&'static str, f64, f64)>,
    pub error_percent: f64,
    pub throughput_percent: f64,
}

impl Figures {
    fn latency(&self, stage: &str, quantile: f64) -> Option<f64> {
        self.latency
            .iter()
            .find(|(s, q, _)| *s == stage && (q - quantile).abs() < 1e-12)
            .map(|(_, _, v)| *v)
    }
}

impl Slo {
    /// The latency quantiles this SLO needs, as `(stage, quantile)`.
    pub fn quantiles(&self) -> Vec<(&'static str, f64)> {
        self.objectives
            .iter()
            .filter_map(|o| match &o.metric {
                Metric::Latency {
                    stage, quantile, ..
                } => Some((*stage, *quantile)),
                _ => None,
            })
            .collect()
    }

    /// Each objective against `figures`.
    pub fn judge(&self, figures: &Figures) -> Vec<Judged> {
        self.objectives
            .iter()
            .map(|o| {
                let value = match &o.metric {
                    Metric::Latency {
                        stage, quantile, ..
                    } => figures.latency(stage, *quantile).unwrap_or(f64::INFINITY),
                    Metric::Errors => figures.error_percent,
                    Metric::Throughput => figures.throughput_percent,
                };
                let held = match o.bound {
                    Bound::AtMost => value <= o.limit,
                    Bound::AtLeast => value >= o.limit,
                };
                Judged {
                    objective: o.text.clone(),
                    value,
                    held,
                }
            })
            .collect()
    }
}

impl FromStr for Slo {
    type Err = String;

    fn from_str(text: &str) -> Result<Slo, String> {
        let objectives = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(objective)
            .collect::<Result<Vec<_>, _>>()?;
        if objectives.is_empty() {
            return Err(
                "an SLO needs at least one objective, e.g. p99<=100ms,errors<=0.1%".to_owned(),
            );
        }
        Ok(Slo { objectives })
    }
}

fn objective(text: &str) -> Result<Objective, String> {
    let (name, bound, value) = if let Some((n, v)) = text.split_once("<=") {
        (n, Bound::AtMost, v)
    } else if let Some((n, v)) = text.split_once(">=") {
        (n, Bound::AtLeast, v)
    } else {
        return Err(format!(
            "objective {text:?} is not NAME<=VALUE or NAME>=VALUE"
        ));
    };
    let name = name.trim();
    let value = value.trim();
    let metric = match name {
        "errors" => Metric::Errors,
        "throughput" => Metric::Throughput,
        _ => {
            let (stage, q) = match name.split_once('.') {
                Some((stage, q)) => (
                    STAGES
                        .iter()
                        .copied()
                        .find(|s| *s == stage)
                        .ok_or_else(|| {
                            format!(
                                "objective {text:?}: unknown stage {stage:?} (one of {})",
                                STAGES.join(", ")
                            )
                        })?,
                    q,
                ),
                None => ("end_to_end", name),
            };
            let quantile = match q {
                "p50" => 0.5,
                "p90" => 0.9,
                "p95" => 0.95,
                "p99" => 0.99,
                "p999" => 0.999,
                "p9999" => 0.9999,
                "max" => 1.0,
                _ => {
                    return Err(format!(
                        "objective {text:?}: {q:?} is not p50, p90, p95, p99, p999, p9999, max, errors or throughput"
                    ))
                }
            };
            Metric::Latency {
                stage,
                quantile,
                name: name.to_owned(),
            }
        }
    };
    let limit = match metric {
        Metric::Latency { .. } => {
            parse_ms(value).map_err(|e| format!("objective {text:?}: {e}"))?
        }
        _ => parse_percent(value).map_err(|e| format!("objective {text:?}: {e}"))?,
    };
    Ok(Objective {
        metric,
        bound,
        limit,
        text: text.replace(' ', ""),
    })
}

fn parse_ms(value: &str) -> Result<f64, String> {
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return Err(format!("{value:?} needs a unit: ms, s or us"));
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * scale),
        _ => Err(format!("{value:?} is not a latency")),
    }
}

fn parse_percent(value: &str) -> Result<f64, String> {
    let number = value
        .strip_suffix('%')
        .ok_or_else(|| format!("{value:?} needs a % sign"))?;
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("{value:?} is not a percentage 0..100")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_issue_example_parses_and_judges() {
        let slo: Slo = "p99<=100ms, errors<=0.1%".parse().unwrap();
        assert_eq!(slo.to_string(), "p99<=100ms,errors<=0.1%");
        assert_eq!(slo.quantiles(), [("end_to_end", 0.99)]);
        let mut figures = Figures {
            latency: vec![("end_to_end", 0.99, 80.0)],
            error_percent: 0.05,
            throughput_percent: 100.0,
        };
        assert!(slo.judge(&figures).iter().all(|j| j.held));
        figures.latency[0].2 = 120.0;
        let judged = slo.judge(&figures);
        assert!(!judged[0].held && judged[1].held);
    }

    #[test]
    fn stages_units_and_bounds() {
        let slo: Slo = "send.p999<=0.5s,fetched.max<=900us,throughput>=95%"
            .parse()
            .unwrap();
        assert_eq!(slo.objectives[0].limit, 500.0);
        assert!((slo.objectives[1].limit - 0.9).abs() < 1e-12);
        assert_eq!(slo.objectives[2].bound, Bound::AtLeast);
        let figures = Figures::default();
        // A figure never measured does not hold a latency bound.
        assert!(!slo.judge(&figures)[0].held);
    }

    #[test]
    fn bad_objectives_are_named() {
        for bad in [
            "p98<=1ms",
            "p99<100ms",
            "p99<=100",
            "errors<=5",
            "errors<=200%",
            "wire.p99<=1ms",
            "",
        ] {
            assert!(bad.parse::<Slo>().is_err(), "{bad}");
        }
    }
}
