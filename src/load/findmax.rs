//! `--find-max`: which rate to try next. The rate starts at `start` and is
//! multiplied by `factor` while the SLO holds; once a step breaks it, the
//! rate is bisected between the highest rate that held and the lowest
//! that broke, `refine` times or until they are within 5 % of each other.
//! The search is a pure function of the steps so far, so it is tested
//! without running anything.

use std::time::Duration;

use super::slo::Slo;

#[derive(Debug, Clone)]
pub struct Search {
    pub slo: Slo,
    pub start: f64,
    pub factor: f64,
    /// Never offered above this.
    pub max_rate: f64,
    /// Each step's length.
    pub step: Duration,
    /// Bisections after the first broken step.
    pub refine: u32,
}

/// The closest the bisection goes: `(broken - held) / broken`.
const RESOLUTION: f64 = 0.05;

impl Search {
    /// The rate of the next step after `steps` (`(rate, held)` in the order
    /// run), or `None` when the search is over.
    pub fn next(&self, steps: &[(f64, bool)]) -> Option<f64> {
        let Some(&(last, _)) = steps.last() else {
            return Some(self.start.min(self.max_rate));
        };
        let broken = steps
            .iter()
            .filter(|(_, held)| !held)
            .map(|(r, _)| *r)
            .fold(f64::INFINITY, f64::min);
        if broken.is_infinite() {
            if last >= self.max_rate {
                return None;
            }
            return Some((last * self.factor).min(self.max_rate));
        }
        let held = steps
            .iter()
            .filter(|(r, held)| *held && *r < broken)
            .map(|(r, _)| *r)
            .fold(0.0, f64::max);
        let first_broken = steps.iter().position(|(_, held)| !held).unwrap_or(0);
        let bisections = steps.len() - first_broken - 1;
        if bisections >= self.refine as usize || (broken - held) / broken <= RESOLUTION {
            return None;
        }
        Some((held + broken) / 2.0)
    }

    /// The highest rate that held below every broken one.
    pub fn max_held(steps: &[(f64, bool)]) -> Option<f64> {
        let broken = steps
            .iter()
            .filter(|(_, held)| !held)
            .map(|(r, _)| *r)
            .fold(f64::INFINITY, f64::min);
        steps
            .iter()
            .filter(|(r, held)| *held && *r < broken)
            .map(|(r, _)| *r)
            .reduce(f64::max)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn search() -> Search {
        Search {
            slo: "p99<=100ms".parse().unwrap(),
            start: 1000.0,
            factor: 2.0,
            max_rate: 100_000.0,
            step: Duration::from_secs(5),
            refine: 3,
        }
    }

    /// Runs the search against a system that holds up to `capacity`.
    fn against(capacity: f64) -> Vec<(f64, bool)> {
        let s = search();
        let mut steps = Vec::new();
        while let Some(rate) = s.next(&steps) {
            steps.push((rate, rate <= capacity));
            assert!(steps.len() < 50);
        }
        steps
    }

    #[test]
    fn it_doubles_until_broken_then_bisects_and_stops() {
        let steps = against(5000.0);
        let rates: Vec<f64> = steps.iter().map(|s| s.0).collect();
        assert_eq!(rates[..4], [1000.0, 2000.0, 4000.0, 8000.0]);
        assert_eq!(rates[4], 6000.0);
        assert_eq!(steps.len(), 7, "{steps:?}");
        let best = Search::max_held(&steps).unwrap();
        assert!((4000.0..=5000.0).contains(&best), "{best}");
    }

    #[test]
    fn it_stops_at_the_ceiling_and_when_nothing_holds() {
        let steps = against(f64::INFINITY);
        assert_eq!(steps.last().unwrap().0, 100_000.0);
        assert!(steps.iter().all(|s| s.1));
        let none = against(10.0);
        assert_eq!(none[0], (1000.0, false));
        assert_eq!(none.len(), 4);
        assert!(Search::max_held(&none).is_none());
    }
}
