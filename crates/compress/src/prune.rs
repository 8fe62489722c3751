//! Pruning by score without weight updates (magnitude, Wanda), and the mask helpers.

use crate::recipe::Sparsity;
use rayon::prelude::*;

/// The `k` indices of `range` with the lowest score; ties go to the lower index.
pub fn lowest(range: std::ops::Range<usize>, k: usize, score: impl Fn(usize) -> f32) -> Vec<usize> {
    let mut idx: Vec<usize> = range.collect();
    idx.sort_by(|&a, &b| score(a).total_cmp(&score(b)).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Zeroes W [rows, n] in place by score |W_ij|·col_scale_j (Wanda: ‖X_j‖₂; magnitude: 1).
/// Unstructured: exactly round(ratio·n) per output row. N:M: M−N per group of M.
pub fn prune_by_score(w: &mut [f32], n: usize, sp: Sparsity, col_scale: Option<&[f32]>) {
    w.par_chunks_mut(n).for_each(|row| {
        let score = |j: usize| row[j].abs() * col_scale.map_or(1.0, |c| c[j]);
        let zero: Vec<usize> = match sp {
            Sparsity::Ratio(r) => lowest(0..n, (r * n as f64).round() as usize, score),
            Sparsity::NofM(keep, m) => (0..n / m)
                .flat_map(|g| lowest(g * m..(g + 1) * m, m - keep, score))
                .collect(),
        };
        for j in zero {
            row[j] = 0.0;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_of_four_and_exact_ratio() {
        let n = 16;
        let mut w: Vec<f32> = (0..2 * n).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let mut v = w.clone();
        prune_by_score(&mut w, n, Sparsity::NofM(2, 4), None);
        for g in w.chunks(4) {
            assert_eq!(g.iter().filter(|x| **x == 0.0).count(), 2);
        }
        prune_by_score(&mut v, n, Sparsity::Ratio(0.25), None);
        for r in v.chunks(n) {
            assert!(r.iter().filter(|x| **x == 0.0).count() >= 4);
        }
    }
}
