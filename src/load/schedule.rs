//! When each notification is due: the arrival plan of an open-model run.
//!
//! The offered rate is a piecewise-linear function of time ([`Profile`]:
//! a constant `--rate R --duration D`, or k6-style `--stages 30s:1000,…`
//! where each stage moves the rate linearly from the previous target to
//! its own). Arrivals are placed by inverting the cumulative rate Λ(t):
//! the n-th arrival of a constant plan is at Λ⁻¹(n); a Poisson plan puts
//! them at Λ⁻¹(E₁+…+Eₙ) with unit exponential gaps drawn from the run's
//! seeded generator (the time-rescaling theorem), so a ramp stays Poisson
//! at every instant.
//!
//! A shard `i` of `N` takes every N-th arrival of a constant plan (offset
//! `i`), or its own Poisson stream of rate λ/N from a generator seeded by
//! the run seed and `i`; the union of the shards is the whole plan. Within
//! a process, lanes split a shard's arrivals the same way (`k ≡ j mod L`).
//! Every instant is computed, never waited for: the driver sleeps until
//! the next one, so a slow answer never delays a later send.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha12Rng;

/// One stage: the rate moves linearly to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    /// Notifications per second at the end of the stage.
    pub target: f64,
}

/// Constant spacing or a Poisson process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    #[default]
    Constant,
    Poisson,
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
        })
    }
}

impl FromStr for Arrival {
    type Err = String;
    fn from_str(s: &str) -> Result<Arrival, String> {
        match s {
            "constant" => Ok(Arrival::Constant),
            "poisson" => Ok(Arrival::Poisson),
            _ => Err(format!("{s:?} is neither constant nor poisson")),
        }
    }
}

/// The offered rate over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The rate at time 0.
    pub start: f64,
    pub stages: Vec<Stage>,
}

/// Why a rate plan is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Highest rate a plan may offer (a typo guard, far above any one machine).
pub const MAX_RATE: f64 = 10_000_000.0;

impl Profile {
    /// `rate` per second for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Result<Profile, PlanError> {
        let profile = Profile {
            start: rate,
            stages: vec![Stage {
                duration,
                target: rate,
            }],
        };
        profile.validate()?;
        Ok(profile)
    }

    /// `30s:1000,60s:5000`: from 0, linearly to each target in turn.
    pub fn parse_stages(text: &str) -> Result<Profile, PlanError> {
        let mut stages = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (duration, target) = part.split_once(':').ok_or_else(|| {
                PlanError(format!(
                    "stage {part:?} is not DURATION:RATE (e.g. 30s:1000)"
                ))
            })?;
            let duration =
                parse_duration(duration).map_err(|e| PlanError(format!("stage {part:?}: {e}")))?;
            let target: f64 = target.trim().parse().map_err(|_| {
                PlanError(format!(
                    "stage {part:?}: {target:?} is not a rate per second"
                ))
            })?;
            stages.push(Stage { duration, target });
        }
        let profile = Profile { start: 0.0, stages };
        profile.validate()?;
        Ok(profile)
    }

    fn validate(&self) -> Result<(), PlanError> {
        if self.stages.is_empty() {
            return Err(PlanError("a plan needs at least one stage".to_owned()));
        }
        let rates = std::iter::once(self.start).chain(self.stages.iter().map(|s| s.target));
        for rate in rates {
            if !(rate.is_finite() && (0.0..=MAX_RATE).contains(&rate)) {
                return Err(PlanError(format!(
                    "rate {rate} is not in 0..={MAX_RATE} per second"
                )));
            }
        }
        if self.stages.iter().any(|s| s.duration.is_zero()) {
            return Err(PlanError("a stage must last longer than 0 s".to_owned()));
        }
        if self.total_notifications() < 1.0 {
            return Err(PlanError(
                "the plan offers no notification at all".to_owned(),
            ));
        }
        Ok(())
    }

    /// How long the plan lasts.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The highest rate offered at any point.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start, f64::max)
    }

    /// Λ at the end: the expected number of arrivals.
    pub fn total_notifications(&self) -> f64 {
        let mut from = self.start;
        self.stages
            .iter()
            .map(|s| {
                let area = (from + s.target) / 2.0 * s.duration.as_secs_f64();
                from = s.target;
                area
            })
            .sum()
    }

    /// The rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        let mut from = self.start;
        let mut begin = 0.0;
        for s in &self.stages {
            let d = s.duration.as_secs_f64();
            if t < begin + d {
                return from + (s.target - from) * (t - begin) / d;
            }
            begin += d;
            from = s.target;
        }
        from
    }

    /// Λ⁻¹(x): the time (seconds) by which `x` arrivals are expected, or
    /// `None` past the end of the plan.
    pub fn inverse(&self, x: f64) -> Option<f64> {
        let mut from = self.start;
        let mut begin = 0.0;
        let mut before = 0.0;
        for s in &self.stages {
            let d = s.duration.as_secs_f64();
            let area = (from + s.target) / 2.0 * d;
            if x < before + area {
                let y = x - before;
                let slope = (s.target - from) / d;
                // y = from·τ + slope·τ²/2, solved for τ in [0, d].
                let tau = if slope.abs() < 1e-12 {
                    y / from
                } else {
                    let disc = (from * from + 2.0 * slope * y).max(0.0);
                    // The numerically stable root of the quadratic.
                    2.0 * y / (from + disc.sqrt())
                };
                return Some(begin + tau.clamp(0.0, d));
            }
            before += area;
            begin += d;
            from = s.target;
        }
        None
    }
}

/// `30s`, `1.5m`, `250ms`, `2h` or bare seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 2m or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 7.0 * 86_400.0) {
        return Err(format!("{text:?} is not a duration in (0, 7 days]"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A deterministic share of the run: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Shard {
        Shard { index: 0, count: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    /// `i/N` with `0 <= i < N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not a shard i/N with 0 <= i < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count || count > 100_000 {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The devices of a fleet of `total` this shard owns: a contiguous
    /// range, the shards' ranges tiling `0..total`.
    pub fn devices(&self, total: usize) -> std::ops::Range<usize> {
        let share = |i: u64| (total as u64 * i / u64::from(self.count)) as usize;
        share(u64::from(self.index))..share(u64::from(self.index) + 1)
    }

    /// The run-wide number of this shard's `k`-th notification.
    pub fn global(&self, k: u64) -> u64 {
        k * u64::from(self.count) + u64::from(self.index)
    }

    /// The shard-local number of a run-wide one, if it is this shard's.
    pub fn local(&self, global: u64) -> Option<u64> {
        let n = u64::from(self.count);
        (global % n == u64::from(self.index)).then_some(global / n)
    }
}

/// One shard's arrivals, in order: `(k, seconds since start)`.
#[derive(Debug, Clone)]
pub struct Arrivals {
    profile: Profile,
    arrival: Arrival,
    shard: Shard,
    rng: ChaCha12Rng,
    next: u64,
    /// Poisson: the cumulative unit-exponential sum, in shard units.
    sum: f64,
}

impl Arrivals {
    pub fn new(profile: &Profile, arrival: Arrival, shard: Shard, seed: u64) -> Arrivals {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        // One stream per shard: shard i's generator is the run's, moved on
        // to stream i, so shards never share draws.
        rng.set_stream(u64::from(shard.index) + 1);
        Arrivals {
            profile: profile.clone(),
            arrival,
            shard,
            rng,
            next: 0,
            sum: 0.0,
        }
    }
}

impl Iterator for Arrivals {
    type Item = (u64, f64);

    fn next(&mut self) -> Option<(u64, f64)> {
        let n = f64::from(self.shard.count);
        let x = match self.arrival {
            Arrival::Constant => self.shard.global(self.next) as f64,
            Arrival::Poisson => {
                // 1 - u is in (0, 1]: its logarithm is finite.
                let u: f64 = self.rng.gen();
                // The first arrival comes after a gap too, as in a process
                // that was already running.
                self.sum += -(1.0 - u).ln();
                self.sum * n
            }
        };
        let at = self.profile.inverse(x)?;
        let k = self.next;
        self.next += 1;
        Some((k, at))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_constant_plan_spaces_arrivals_evenly_and_counts_exactly() {
        let p = Profile::constant(100.0, secs(2.0)).unwrap();
        let all: Vec<(u64, f64)> =
            Arrivals::new(&p, Arrival::Constant, Shard::default(), 1).collect();
        assert_eq!(all.len(), 200);
        assert!((all[1].1 - 0.01).abs() < 1e-9 && all[0].1 == 0.0);
        assert!(all.windows(2).all(|w| w[1].1 > w[0].1));
    }

    #[test]
    fn shards_tile_the_plan_and_the_devices() {
        let p = Profile::constant(1000.0, secs(1.0)).unwrap();
        let whole: Vec<f64> = Arrivals::new(&p, Arrival::Constant, Shard::default(), 1)
            .map(|(_, t)| t)
            .collect();
        let mut parts: Vec<(u64, f64)> = Vec::new();
        let mut devices = Vec::new();
        for index in 0..4 {
            let shard = Shard { index, count: 4 };
            parts.extend(
                Arrivals::new(&p, Arrival::Constant, shard, 1).map(|(k, t)| (shard.global(k), t)),
            );
            devices.extend(shard.devices(10));
            assert_eq!(shard.local(shard.global(7)), Some(7));
        }
        parts.sort_by_key(|(g, _)| *g);
        assert_eq!(parts.len(), whole.len());
        for (i, (g, t)) in parts.iter().enumerate() {
            assert_eq!(*g, i as u64);
            assert!((t - whole[i]).abs() < 1e-9);
        }
        assert_eq!(devices, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn poisson_arrivals_are_seeded_and_average_the_rate() {
        let p = Profile::constant(2000.0, secs(10.0)).unwrap();
        let a: Vec<f64> = Arrivals::new(&p, Arrival::Poisson, Shard::default(), 7)
            .map(|x| x.1)
            .collect();
        let b: Vec<f64> = Arrivals::new(&p, Arrival::Poisson, Shard::default(), 7)
            .map(|x| x.1)
            .collect();
        assert_eq!(a, b);
        // 20 000 expected; a Poisson count's sd is ~141.
        assert!((a.len() as f64 - 20_000.0).abs() < 1000.0, "{}", a.len());
        let other = Arrivals::new(&p, Arrival::Poisson, Shard { index: 1, count: 2 }, 7);
        let first_other: Vec<f64> = other.take(3).map(|x| x.1).collect();
        assert_ne!(first_other, a[..3].to_vec());
    }

    #[test]
    fn stages_ramp_linearly_from_zero() {
        let p = Profile::parse_stages("10s:1000, 10s:1000").unwrap();
        assert_eq!(p.duration(), secs(20.0));
        assert!((p.total_notifications() - 15_000.0).abs() < 1e-6);
        assert!((p.rate_at(5.0) - 500.0).abs() < 1e-9);
        // Half the ramp's 5000 arrivals come by t = 10/√2.
        assert!((p.inverse(2500.0).unwrap() - 10.0 / 2f64.sqrt()).abs() < 1e-9);
        assert!((p.inverse(10_000.0).unwrap() - 15.0).abs() < 1e-9);
        assert!(p.inverse(15_000.0).is_none());
        let n = Arrivals::new(&p, Arrival::Constant, Shard::default(), 1).count();
        assert_eq!(n, 15_000);
    }

    #[test]
    fn bad_plans_name_their_problem() {
        assert!(Profile::parse_stages("30s")
            .unwrap_err()
            .0
            .contains("DURATION:RATE"));
        assert!(Profile::parse_stages("30x:5").is_err());
        assert!(Profile::parse_stages("").is_err());
        assert!(Profile::parse_stages("1s:-3").is_err());
        assert!(Profile::constant(0.0, secs(5.0)).is_err());
        assert!(Profile::constant(f64::NAN, secs(5.0)).is_err());
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), secs(120.0));
        assert_eq!(parse_duration("3").unwrap(), secs(3.0));
        assert!(parse_duration("0s").is_err());
        for bad in ["4/4", "1/0", "x/2", "1-2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(
            "3/4".parse::<Shard>().unwrap(),
            Shard { index: 3, count: 4 }
        );
    }
}
