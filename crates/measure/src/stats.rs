//! Bootstrap intervals over units (chunks of a corpus, requests of a workload).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 95% percentile interval of `stat` over resamples of `units` (with replacement).
pub fn bootstrap<T>(
    units: &[T],
    resamples: usize,
    seed: u64,
    stat: impl Fn(&[&T]) -> f64,
) -> Option<(f64, f64)> {
    if units.len() < 2 || resamples == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut vals: Vec<f64> = (0..resamples)
        .map(|_| {
            let pick: Vec<&T> = (0..units.len())
                .map(|_| &units[rng.random_range(0..units.len())])
                .collect();
            stat(&pick)
        })
        .collect();
    vals.sort_by(f64::total_cmp);
    Some((quantile(&vals, 0.025), quantile(&vals, 0.975)))
}

/// Linear interpolation between order statistics (numpy's default) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Quantile of unsorted values.
pub fn quantile_of(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    quantile(&s, q)
}
