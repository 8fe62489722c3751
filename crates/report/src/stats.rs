//! The statistics behind the report: Pareto frontiers, the exact McNemar test with Holm's
//! correction, paired intervals of Δpass@1 (Newcombe's for one sample per problem, bootstrap
//! otherwise), Wilson intervals for rates, and the area under the cost–quality hull.

use serde::{Deserialize, Serialize};
pub use tradeoff_record::passk::wilson;
use tradeoff_record::passk::{mean, wilson_score};

/// Indices of the points no other point dominates, ordered by cost from best to worst.
/// A point dominates another when it is at least as good on both axes and strictly better on
/// one; equal points do not dominate each other, so ties are all on the frontier. Points with
/// a non-finite coordinate are never on it.
pub fn pareto_front(
    points: &[(f64, f64)],
    cost_higher_is_better: bool,
    quality_higher_is_better: bool,
) -> Vec<usize> {
    // Orient both axes so that smaller cost and larger quality are better.
    let oriented = |&(c, q): &(f64, f64)| {
        (
            if cost_higher_is_better { -c } else { c },
            if quality_higher_is_better { q } else { -q },
        )
    };
    let pts: Vec<(f64, f64)> = points.iter().map(oriented).collect();
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let mut front: Vec<usize> = (0..pts.len())
        .filter(|&i| finite(&pts[i]))
        .filter(|&i| {
            let (c, q) = pts[i];
            !pts.iter()
                .any(|o| finite(o) && o.0 <= c && o.1 >= q && (o.0 < c || o.1 > q))
        })
        .collect();
    front.sort_by(|&a, &b| {
        pts[a]
            .0
            .total_cmp(&pts[b].0)
            .then(pts[b].1.total_cmp(&pts[a].1))
    });
    front
}

/// The exact McNemar test on paired pass/fail outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Problems the baseline solved and the variant did not.
    pub only_baseline: usize,
    /// Problems the variant solved and the baseline did not.
    pub only_variant: usize,
    /// Paired problems in all.
    pub n: usize,
    /// Two-sided exact p-value: the binomial test of `only_variant` out of the discordant
    /// pairs against 1/2 (what scipy's `binomtest(k, n, 0.5)` gives).
    pub p_value: f64,
}

/// McNemar's exact test on (baseline passed, variant passed) per problem.
pub fn mcnemar_exact(pairs: impl IntoIterator<Item = (bool, bool)>) -> McNemar {
    let (mut b, mut c, mut n) = (0, 0, 0);
    for (base, var) in pairs {
        n += 1;
        match (base, var) {
            (true, false) => b += 1,
            (false, true) => c += 1,
            _ => {}
        }
    }
    McNemar {
        only_baseline: b,
        only_variant: c,
        n,
        p_value: binom_two_sided_half(b.min(c), b + c),
    }
}

/// P(X <= k or X >= n-k) for X ~ Binomial(n, 1/2), k <= n/2: the symmetric two-sided tail.
/// Summed in log space so that thousands of discordant pairs do not underflow.
pub fn binom_two_sided_half(k: usize, n: usize) -> f64 {
    if n == 0 || 2 * k >= n {
        return 1.0;
    }
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_c = 0.0; // ln C(n, 0)
    let mut terms = Vec::with_capacity(k + 1);
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_c + ln_half_n);
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max.exp() * terms.iter().map(|t| (t - max).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// Holm's (1979) step-down adjustment of the p-values of a family of tests: the j-th smallest
/// becomes `max over i <= j of min(1, (m - i + 1) p_(i))`. Returned in the input's order; a
/// test is rejected at level α iff its adjusted p-value is at most α, which is Holm's
/// procedure (compare the j-th smallest with α/(m − j + 1), stop at the first that fails).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![f64::NAN; m];
    let mut running = 0.0_f64;
    for (j, &i) in order.iter().enumerate() {
        running = running.max(((m - j) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Mean of `variant[i] - baseline[i]` and its paired-bootstrap 95% interval: problems are
/// resampled together, so what both got right or wrong cancels. Deterministic for a seed.
/// Where the bootstrap interval has zero width (the same difference on every problem, e.g.
/// both variants agree everywhere) [`paired_newcombe`]'s replaces it. None without problems
/// or resamples.
pub fn paired_delta(
    baseline: &[f64],
    variant: &[f64],
    resamples: usize,
    seed: u64,
) -> Option<(f64, (f64, f64))> {
    assert_eq!(baseline.len(), variant.len(), "paired samples");
    let d: Vec<f64> = variant.iter().zip(baseline).map(|(v, b)| v - b).collect();
    match tradeoff_record::passk::bootstrap_ci(&d, resamples, seed)? {
        (lo, hi) if lo == hi => paired_newcombe(baseline, variant),
        ci => Some((mean(&d), ci)),
    }
}

/// Mean of `variant[i] - baseline[i]` over per-problem pass fractions in [0, 1], with
/// [`newcombe_paired`]'s 95% interval of the table they make: problem `i` counts `min(b, v)`
/// as both passed, `v - b` (if positive) as only the variant, `b - v` (if positive) as only
/// the baseline, the rest as neither. With one sample per problem that is the usual 2×2 table
/// of paired pass/fail outcomes. None without problems.
pub fn paired_newcombe(baseline: &[f64], variant: &[f64]) -> Option<(f64, (f64, f64))> {
    assert_eq!(baseline.len(), variant.len(), "paired samples");
    let (mut both, mut only_v, mut only_b) = (0.0, 0.0, 0.0);
    for (&b, &v) in baseline.iter().zip(variant) {
        both += b.min(v);
        only_v += (v - b).max(0.0);
        only_b += (b - v).max(0.0);
    }
    let n = baseline.len() as f64;
    let neither = (n - both - only_v - only_b).max(0.0);
    let ci = newcombe_paired(both, only_v, only_b, neither)?;
    Some(((only_v - only_b) / n, ci))
}

/// Newcombe's (1998, method 10) 95% interval for the difference `p1 - p2` of paired
/// proportions, `p1 = (both + only_first) / n`, `p2 = (both + only_second) / n`: the two
/// Wilson score intervals combined by square-and-add, with the correlation of the pairs
/// estimated by Newcombe's corrected φ: `(AD − BC − n/2) / √(product of the row and column
/// totals)` when `AD − BC > n/2`, 0 when `0 ≤ AD − BC ≤ n/2`, `(AD − BC) / √(…)` when
/// negative, and 0 when a total is 0. Never of zero width when `n > 0`; None when `n` is 0.
pub fn newcombe_paired(
    both: f64,
    only_first: f64,
    only_second: f64,
    neither: f64,
) -> Option<(f64, f64)> {
    let nf = both + only_first + only_second + neither;
    let n = nf.round() as usize;
    if n == 0 {
        return None;
    }
    let (p1, p2) = ((both + only_first) / nf, (both + only_second) / nf);
    let (l1, u1) = wilson_score(p1, n)?;
    let (l2, u2) = wilson_score(p2, n)?;
    let totals = [
        both + only_first,
        only_second + neither,
        both + only_second,
        only_first + neither,
    ];
    let phi = if totals.iter().any(|&t| t <= 0.0) {
        0.0
    } else {
        let ad_bc = both * neither - only_first * only_second;
        let root = totals.iter().product::<f64>().sqrt();
        if ad_bc > nf / 2.0 {
            (ad_bc - nf / 2.0) / root
        } else if ad_bc >= 0.0 {
            0.0
        } else {
            ad_bc / root
        }
    };
    // x² − 2φxy + y² ≥ (x − y)² ≥ 0 as |φ| ≤ 1; the max only absorbs rounding.
    let spread = |x: f64, y: f64| (x * x - 2.0 * phi * x * y + y * y).max(0.0).sqrt();
    let d = p1 - p2;
    Some((
        (d - spread(p1 - l1, u2 - p2)).max(-1.0),
        (d + spread(u1 - p1, p2 - l2)).min(1.0),
    ))
}

/// RouterBench's AIQ: the area under the non-decreasing convex hull of the (cost, quality)
/// points, with cost rescaled to [0, 1] (so the area is a quality, in the quality's units).
/// Costs where higher is better (tok/s) are flipped first. With one distinct cost the area is
/// the best quality. `None` without finite points.
pub fn hull_auc(points: &[(f64, f64)], cost_higher_is_better: bool) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .map(|&(c, q)| (if cost_higher_is_better { -c } else { c }, q))
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    if pts.is_empty() {
        return None;
    }
    let lo = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let hi = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    if hi <= lo {
        return pts.iter().map(|p| p.1).reduce(f64::max);
    }
    for p in &mut pts {
        p.0 = (p.0 - lo) / (hi - lo);
    }
    // Upper hull (monotone chain), left to right; at equal cost the best quality first.
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut hull: Vec<(f64, f64)> = Vec::new();
    for p in pts {
        if hull.last().is_some_and(|l| l.0 == p.0) {
            continue;
        }
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop b unless it lies strictly above the chord a–p.
            if (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0) >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    // Rising up to the best point, flat after it: more budget never lowers the best quality.
    let peak = (0..hull.len())
        .max_by(|&a, &b| hull[a].1.total_cmp(&hull[b].1).then(b.cmp(&a)))
        .expect("non-empty hull");
    let rising: f64 = hull[..=peak]
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum();
    Some(rising + (1.0 - hull[peak].0) * hull[peak].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-300), "{a} vs {b}");
    }

    #[test]
    fn mcnemar_matches_scipy_binomtest() {
        // scipy 1.17.1: binomtest(min(b, c), b + c, 0.5).pvalue
        let pinned = [
            (0, 0, 1.0),
            (1, 0, 1.0),
            (5, 0, 0.0625),
            (3, 7, 0.34375),
            (10, 2, 0.03857421875),
            (25, 15, 0.1538599441628321),
            (6, 6, 1.0),
            (40, 60, 0.05688793364098089),
            (12, 30, 0.007915897334896727),
            (200, 260, 0.0058839224731039984),
            (800, 900, 0.016320682494448686),
        ];
        for (b, c, p) in pinned {
            let pairs = std::iter::repeat_n((true, false), b)
                .chain(std::iter::repeat_n((false, true), c))
                .chain(std::iter::repeat_n((true, true), 7));
            let m = mcnemar_exact(pairs);
            assert_eq!((m.only_baseline, m.only_variant, m.n), (b, c, b + c + 7));
            let got = m.p_value;
            assert!(
                (got - p).abs() <= 1e-12_f64.max(p * 1e-10),
                "b={b} c={c}: {got} vs {p}"
            );
        }
    }

    #[test]
    fn pareto_on_hand_made_points() {
        // (size, pass@1): c is dominated by b; d ties a exactly; e has the best quality.
        let pts = [
            (1.0, 0.5),
            (2.0, 0.6),
            (3.0, 0.55),
            (1.0, 0.5),
            (4.0, 0.7),
            (2.0, 0.4),
        ];
        assert_eq!(pareto_front(&pts, false, true), vec![0, 3, 1, 4]);
        // Same cost, different quality: only the better one.
        assert_eq!(
            pareto_front(&[(1.0, 0.5), (1.0, 0.6)], false, true),
            vec![1]
        );
        // Same quality, different cost: only the cheaper one.
        assert_eq!(
            pareto_front(&[(1.0, 0.5), (2.0, 0.5)], false, true),
            vec![0]
        );
        // Higher-is-better cost (tok/s): the fast point beats the slow one of equal quality,
        // best cost first.
        let tok_s = [(10.0, 0.5), (50.0, 0.5), (30.0, 0.7), (5.0, 0.2)];
        assert_eq!(pareto_front(&tok_s, true, true), vec![1, 2]);
        // Lower-is-better quality (perplexity) against size.
        let ppl = [(1.0, 12.0), (2.0, 9.0), (3.0, 10.0)];
        assert_eq!(pareto_front(&ppl, false, false), vec![0, 1]);
        // NaN is never on the frontier and dominates nothing.
        assert_eq!(
            pareto_front(&[(f64::NAN, 1.0), (1.0, 0.1)], false, true),
            vec![1]
        );
        assert!(pareto_front(&[], false, true).is_empty());
    }

    #[test]
    fn auc_on_known_hulls() {
        // A line from (0, 0) to (1, 1): the triangle's area.
        close(hull_auc(&[(0.0, 0.0), (10.0, 1.0)], false).unwrap(), 0.5);
        // A point below the chord is not on the hull; one above lifts it.
        close(
            hull_auc(&[(0.0, 0.0), (5.0, 0.2), (10.0, 1.0)], false).unwrap(),
            0.5,
        );
        // (0,0)-(0.5,0.8)-(1,1): 0.5*0.4 + 0.5*0.9 = 0.65
        close(
            hull_auc(&[(0.0, 0.0), (5.0, 0.8), (10.0, 1.0)], false).unwrap(),
            0.65,
        );
        // The best point is cheap: flat after it. (0,0.2)-(0.25,0.6) then 0.6 to the end.
        let a = hull_auc(&[(0.0, 0.2), (1.0, 0.6), (4.0, 0.3)], false).unwrap();
        close(a, 0.25 * 0.4 + 0.75 * 0.6);
        // Non-convex middle point below the hull between two others is skipped.
        let a = hull_auc(&[(0.0, 0.0), (2.0, 0.9), (3.0, 0.91), (4.0, 1.0)], false).unwrap();
        close(a, 0.5 * 0.45 + 0.5 * 0.95);
        // Higher-is-better cost: 100 tok/s (cheapest after flipping) at 0.2, 20 tok/s at 0.8.
        close(hull_auc(&[(100.0, 0.2), (20.0, 0.8)], true).unwrap(), 0.5);
        // One distinct cost: the best quality.
        close(hull_auc(&[(3.0, 0.4), (3.0, 0.7)], false).unwrap(), 0.7);
        assert!(hull_auc(&[(f64::NAN, 1.0)], false).is_none());
    }

    #[test]
    fn bootstrap_is_deterministic_for_a_seed() {
        let base = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0];
        let var = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let a = paired_delta(&base, &var, 1000, 7).unwrap();
        assert_eq!(a, paired_delta(&base, &var, 1000, 7).unwrap());
        close(a.0, -0.2);
        assert!(a.1 .0 < -0.2 && a.1 .1 > -0.2 && a.1 .1 <= 0.0, "{a:?}");
        assert_ne!(a.1, paired_delta(&base, &var, 1000, 8).unwrap().1);
        // Identical outcomes: the bootstrap collapses to [0, 0]; Newcombe's interval of the
        // table (7 both, 3 neither) replaces it.
        let (d, (lo, hi)) = paired_delta(&base, &base, 200, 1).unwrap();
        assert_eq!(d, 0.0);
        assert!(
            (hi - 0.200_192_888_950_248).abs() < 1e-12 && lo == -hi,
            "{lo} {hi}"
        );
        assert!(paired_delta(&[], &[], 100, 1).is_none());
    }

    #[test]
    fn wilson_interval() {
        // statsmodels proportion_confint(5, 10, method="wilson")
        let (lo, hi) = wilson(5, 10).unwrap();
        assert!((lo - 0.236_593_090_512_564_23).abs() < 1e-9, "{lo}");
        assert!((hi - 0.763_406_909_487_435_8).abs() < 1e-9, "{hi}");
        let (lo, hi) = wilson(0, 20).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.1 && hi < 0.2);
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn newcombe_paired_interval() {
        let near = |(lo, hi): (f64, f64), (a, b): (f64, f64)| {
            assert!(
                (lo - a).abs() < 1e-12 && (hi - b).abs() < 1e-12,
                "{lo} {hi}"
            );
        };
        // Cavo et al. 2012 in Fagerland, Lydersen & Laake, "Statistical Analysis of
        // Contingency Tables", ch. 8 (R contingencytables: Newcombe square-and-add, estimate
        // -0.0621, 95% CI -0.1186 to -0.0046); the digits from an independent Python
        // computation of method 10.
        near(
            newcombe_paired(59.0, 6.0, 16.0, 80.0).unwrap(),
            (-0.118_621_195_638_710, -0.004_625_113_933_050),
        );
        // Bentur et al. 2009, same book: AD − BC < 0, φ kept negative.
        near(
            newcombe_paired(1.0, 1.0, 7.0, 12.0).unwrap(),
            (-0.506_920_226_686_141, -0.025_559_124_164_860),
        );
        // AD − BC > n/2: the corrected φ.
        near(
            newcombe_paired(10.0, 15.0, 5.0, 20.0).unwrap(),
            (0.025_838_416_549_251, 0.356_936_571_659_193),
        );
        // Ten problems both fail (or both pass): not [0, 0] but ± Wilson's half-width.
        near(
            newcombe_paired(0.0, 0.0, 0.0, 10.0).unwrap(),
            (-0.277_532_799_862_889, 0.277_532_799_862_889),
        );
        near(
            newcombe_paired(10.0, 0.0, 0.0, 0.0).unwrap(),
            (-0.277_532_799_862_889, 0.277_532_799_862_889),
        );
        assert!(newcombe_paired(0.0, 0.0, 0.0, 0.0).is_none());
        // From per-problem outcomes: variant minus baseline.
        let (d, ci) = paired_newcombe(&[0.0, 1.0, 1.0, 0.0], &[1.0, 1.0, 0.0, 1.0]).unwrap();
        assert_eq!(d, 0.25);
        near(ci, newcombe_paired(1.0, 2.0, 1.0, 0.0).unwrap());
        let (d, ci) = paired_newcombe(&[0.0; 10], &[0.0; 10]).unwrap();
        assert_eq!(d, 0.0);
        near(ci, (-0.277_532_799_862_889, 0.277_532_799_862_889));
    }

    #[test]
    fn holm_step_down() {
        let p = [0.01, 0.04, 0.03, 0.005];
        let adj = holm(&p);
        for (a, want) in adj.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert!((a - want).abs() < 1e-15, "{adj:?}");
        }
        let reject: Vec<bool> = adj.iter().map(|&a| a <= 0.05).collect();
        assert_eq!(reject, [true, false, false, true]);
        // One test: unchanged; large ones cap at 1.
        assert_eq!(holm(&[0.2]), vec![0.2]);
        assert_eq!(holm(&[0.6, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }
}
