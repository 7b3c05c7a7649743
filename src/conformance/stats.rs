//! Two-sample statistics for the timing checks: the Mann–Whitney U test
//! (rank-based, so a few requests stalled by a busy machine move it little)
//! with the Vargha–Delaney effect size A, the probability that a draw from
//! the first sample exceeds one from the second (0.5: no difference). A
//! p-value alone would call a microsecond difference "significant" given
//! enough samples; the effect size says whether it is large enough to
//! matter.

/// The comparison of two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// Vargha–Delaney A: P(x > y) + P(x = y) / 2 for x from the first
    /// sample and y from the second.
    pub a: f64,
    /// The normal approximation's z (positive: the first sample larger).
    pub z: f64,
    /// Two-sided p-value of `z`.
    pub p: f64,
}

/// Compares samples `x` and `y` (each needs a few values; with fewer
/// than two in either, the result says "no difference").
pub fn mann_whitney(x: &[f64], y: &[f64]) -> MannWhitney {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    if x.len() < 2 || y.len() < 2 {
        return MannWhitney {
            a: 0.5,
            z: 0.0,
            p: 1.0,
        };
    }
    // Average ranks over the pooled sample, ties sharing theirs.
    let mut pooled: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let tied = (j - i + 1) as f64;
        tie_term += tied * tied * tied - tied;
        rank_sum_x += pooled[i..=j].iter().filter(|(_, from_x)| *from_x).count() as f64 * rank;
        i = j + 1;
    }
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    let z = if variance > 0.0 {
        (u - n1 * n2 / 2.0) / variance.sqrt()
    } else {
        0.0
    };
    MannWhitney {
        a: u / (n1 * n2),
        z,
        p: erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0),
    }
}

/// The median of a sample (0 for an empty one).
pub fn median(sample: &[f64]) -> f64 {
    if sample.is_empty() {
        return 0.0;
    }
    let mut sorted = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The complementary error function (Numerical Recipes' Chebyshev fit,
/// relative error below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * poly.exp();
    if x >= 0.0 {
        value
    } else {
        2.0 - value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.0, 1.0),
            (1.0, 0.157_299_2),
            (2.0, 0.004_677_735),
            (-1.0, 1.842_700_8),
        ] {
            assert!((erfc(x) - want).abs() < 1e-6, "erfc({x}) = {}", erfc(x));
        }
    }

    #[test]
    fn separated_samples_have_a_large_effect_and_a_tiny_p() {
        let x: Vec<f64> = (0..200).map(|i| 4.0 + f64::from(i % 7) * 0.1).collect();
        let y: Vec<f64> = (0..200).map(|i| 1.0 + f64::from(i % 7) * 0.1).collect();
        let r = mann_whitney(&x, &y);
        assert!((r.a - 1.0).abs() < 1e-9, "{r:?}");
        assert!(r.z > 10.0 && r.p < 1e-12, "{r:?}");
        let r = mann_whitney(&y, &x);
        assert!(r.a.abs() < 1e-9 && r.z < -10.0, "{r:?}");
    }

    #[test]
    fn samples_from_one_distribution_show_no_effect() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        for _ in 0..20 {
            // Heavy-tailed noise, like requests on a busy machine.
            let mut draw = || {
                let base: f64 = rng.gen_range(0.5..1.5);
                if rng.gen_bool(0.05) {
                    base + rng.gen_range(5.0..50.0)
                } else {
                    base
                }
            };
            let x: Vec<f64> = (0..200).map(|_| draw()).collect();
            let y: Vec<f64> = (0..200).map(|_| draw()).collect();
            let r = mann_whitney(&x, &y);
            assert!((r.a - 0.5).abs() < 0.12, "{r:?}");
        }
    }

    #[test]
    fn ties_and_tiny_samples() {
        let r = mann_whitney(&[1.0; 10], &[1.0; 10]);
        assert_eq!((r.a, r.z, r.p), (0.5, 0.0, 1.0));
        assert_eq!(mann_whitney(&[1.0], &[2.0, 3.0]).p, 1.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
