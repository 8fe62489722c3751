//! How good a router is, from the per-problem outcomes at each of its thresholds:
//!
//! - PGR, performance gap recovered (RouteLLM): (q − q_cheapest) / (q_last − q_cheapest);
//! - APGR: the area under PGR against the share of queries sent to the last (strongest) tier,
//!   over [0, 1], through the router's non-dominated points (RouteLLM's definition);
//! - CPT(x): the smallest share of calls to the last tier that recovers x of the gap;
//! - AIQ (RouterBench): area under the cost–quality hull of the router's points and the tiers
//!   themselves, cost rescaled to [0, 1];
//! - cost saved at 95%: 1 − (the least cost at which the router's non-dominated (cost, pass@1)
//!   points, joined by straight lines as CPT's are, reach 95% of the best tier's pass@1)
//!   / (the best tier's cost). Between two thresholds the line is reached by routing a share
//!   of queries with each.
//!
//! Each comes with a 95% percentile-bootstrap interval over problems: the problems are
//! resampled together for the router and the tiers, so the interval holds the router's
//! decisions fixed and asks how much the figure depends on which problems were drawn.

use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One operating point: what the router did on every problem at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub threshold: f64,
    #[serde(skip)]
    pub passed: Vec<bool>,
    #[serde(skip)]
    pub cost: Vec<f64>,
    /// Whether the query reached the last tier.
    #[serde(skip)]
    pub strong: Vec<bool>,
}

/// A point summed over a sample of problems.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub quality: f64,
    /// Mean seconds per query.
    pub cost: f64,
    /// Share of queries that reached the last tier.
    pub strong_share: f64,
}

impl Point {
    pub fn summary(&self, idx: &[usize]) -> Summary {
        let n = idx.len().max(1) as f64;
        Summary {
            quality: idx.iter().filter(|&&i| self.passed[i]).count() as f64 / n,
            cost: idx.iter().map(|&i| self.cost[i]).sum::<f64>() / n,
            strong_share: idx.iter().filter(|&&i| self.strong[i]).count() as f64 / n,
        }
    }
}

/// The figures of one router on one sample of problems.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Figures {
    pub apgr: f64,
    pub cpt50: f64,
    pub cpt80: f64,
    pub aiq: f64,
    pub saved95: f64,
}

/// A figure with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WithCi {
    pub value: f64,
    pub ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FiguresCi {
    pub apgr: WithCi,
    pub cpt50: WithCi,
    pub cpt80: WithCi,
    pub aiq: WithCi,
    pub saved95: WithCi,
}

/// The router's non-dominated (share, PGR) points, rising left to right.
fn frontier(mut pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    pts.retain(|p| p.0.is_finite() && p.1.is_finite());
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut out: Vec<(f64, f64)> = Vec::new();
    for p in pts {
        if out.last().is_none_or(|l| p.1 > l.1) {
            out.push(p);
        }
    }
    out
}

/// ∫₀¹ of the frontier (linear between points; nothing before the first; flat after the last).
fn area(front: &[(f64, f64)]) -> f64 {
    let Some(&last) = front.last() else {
        return f64::NAN;
    };
    let inner: f64 = front
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum();
    inner + (1.0 - last.0).max(0.0) * last.1
}

/// The smallest share at which the frontier reaches `target` (NaN: never).
fn share_to_reach(front: &[(f64, f64)], target: f64) -> f64 {
    if let Some(&(x, y)) = front.first() {
        if y >= target {
            return x;
        }
    }
    for w in front.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if y1 >= target {
            return x0 + (x1 - x0) * (target - y0) / (y1 - y0);
        }
    }
    f64::NAN
}

/// The tier with the highest pass@1 (the cheaper one on a tie).
pub(crate) fn best_tier(tiers: &[Summary]) -> Summary {
    tiers
        .iter()
        .copied()
        .max_by(|a, b| {
            a.quality
                .total_cmp(&b.quality)
                .then(b.cost.total_cmp(&a.cost))
        })
        .expect("tiers")
}

/// The least x at which the frontier reaches `target`, interpolating between points.
fn cost_at(front: &[(f64, f64)], target: f64) -> f64 {
    let x = share_to_reach(front, target);
    if x.is_nan() {
        f64::INFINITY
    } else {
        x
    }
}

/// The figures of a router's points against the tiers' own points, on one sample.
pub fn figures(points: &[Summary], tiers: &[Summary]) -> Figures {
    let (w, s) = (tiers[0], tiers[tiers.len() - 1]);
    let gap = s.quality - w.quality;
    let (apgr, cpt50, cpt80) = if gap > 0.0 {
        let front = frontier(
            points
                .iter()
                .map(|p| (p.strong_share, (p.quality - w.quality) / gap))
                .collect(),
        );
        (
            area(&front),
            share_to_reach(&front, 0.5),
            share_to_reach(&front, 0.8),
        )
    } else {
        (f64::NAN, f64::NAN, f64::NAN)
    };
    let mut cq: Vec<(f64, f64)> = points.iter().map(|p| (p.cost, p.quality)).collect();
    cq.extend(tiers.iter().map(|t| (t.cost, t.quality)));
    let aiq = tradeoff_report::stats::hull_auc(&cq, false).unwrap_or(f64::NAN);
    let best = best_tier(tiers);
    let cost_front = frontier(
        points
            .iter()
            .chain(std::iter::once(&best))
            .map(|p| (p.cost, p.quality))
            .collect(),
    );
    let cheapest = cost_at(&cost_front, 0.95 * best.quality).min(best.cost);
    Figures {
        apgr,
        cpt50,
        cpt80,
        aiq,
        saved95: 1.0 - cheapest / best.cost,
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub(crate) fn ci(mut xs: Vec<f64>) -> Option<(f64, f64)> {
    xs.retain(|x| x.is_finite());
    if xs.len() < 20 {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    Some((percentile(&xs, 0.025), percentile(&xs, 0.975)))
}

/// `at` on all `n` problems, and on each of `resamples` bootstrap draws of them (the same draws
/// for the same seed, so figures computed with one seed are paired).
pub(crate) fn bootstrap<T>(
    n: usize,
    resamples: usize,
    seed: u64,
    at: impl Fn(&[usize]) -> T,
) -> (T, Vec<T>) {
    let all: Vec<usize> = (0..n).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let draws = (0..resamples)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            at(&idx)
        })
        .collect();
    (at(&all), draws)
}

/// The figures on all problems, with percentile-bootstrap intervals from `resamples` draws.
pub fn figures_ci(points: &[Point], tiers: &[Point], resamples: usize, seed: u64) -> FiguresCi {
    let (full, draws) = bootstrap(tiers[0].passed.len(), resamples, seed, |idx| {
        let p: Vec<Summary> = points.iter().map(|p| p.summary(idx)).collect();
        let t: Vec<Summary> = tiers.iter().map(|t| t.summary(idx)).collect();
        figures(&p, &t)
    });
    let with = |value: f64, f: fn(&Figures) -> f64| WithCi {
        value,
        ci95: ci(draws.iter().map(f).collect()),
    };
    FiguresCi {
        apgr: with(full.apgr, |f| f.apgr),
        cpt50: with(full.cpt50, |f| f.cpt50),
        cpt80: with(full.cpt80, |f| f.cpt80),
        aiq: with(full.aiq, |f| f.aiq),
        saved95: with(full.saved95, |f| f.saved95),
    }
}

/// `a`'s APGR minus `b`'s on the same test problems, with a paired percentile-bootstrap
/// interval: both routers are judged on every resample, so the interval is about their
/// difference, which two marginal intervals that overlap cannot settle.
pub fn apgr_delta(
    a: &[Point],
    b: &[Point],
    tiers: &[Point],
    resamples: usize,
    seed: u64,
) -> WithCi {
    let (value, draws) = bootstrap(tiers[0].passed.len(), resamples, seed, |idx| {
        let t: Vec<Summary> = tiers.iter().map(|t| t.summary(idx)).collect();
        let apgr = |pts: &[Point]| {
            let s: Vec<Summary> = pts.iter().map(|p| p.summary(idx)).collect();
            figures(&s, &t).apgr
        };
        apgr(a) - apgr(b)
    });
    WithCi {
        value,
        ci95: ci(draws),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(quality: f64, cost: f64, strong_share: f64) -> Summary {
        Summary {
            quality,
            cost,
            strong_share,
        }
    }

    #[test]
    fn random_mixing_has_apgr_one_half_and_the_oracle_more() {
        let tiers = [s(0.5, 1.0, 0.0), s(0.7, 3.0, 1.0)];
        // Mixing the two tiers at random: PGR = share.
        let random: Vec<Summary> = (0..=10)
            .map(|i| {
                let x = i as f64 / 10.0;
                s(0.5 + 0.2 * x, 1.0 + 2.0 * x, x)
            })
            .collect();
        let f = figures(&random, &tiers);
        assert!((f.apgr - 0.5).abs() < 1e-12, "{f:?}");
        assert!((f.cpt50 - 0.5).abs() < 1e-12);
        assert!((f.cpt80 - 0.8).abs() < 1e-12);
        // 95% of 0.7 is 0.665: reached at share 0.825, cost 2.65 of 3.
        assert!((f.saved95 - (1.0 - 2.65 / 3.0)).abs() < 1e-9, "{f:?}");
        // A router that recovers the whole gap with 20% of the calls.
        let good = [s(0.5, 1.0, 0.0), s(0.7, 1.4, 0.2), s(0.7, 3.0, 1.0)];
        let g = figures(&good, &tiers);
        assert!((g.apgr - (0.2 * 0.5 + 0.8)).abs() < 1e-12, "{g:?}");
        assert!((g.cpt50 - 0.1).abs() < 1e-12);
        assert!(g.aiq > f.aiq);
        // 0.665 is 82.5% of the way from (1.0, 0.5) to (1.4, 0.7): cost 1.33.
        assert!((g.saved95 - (1.0 - 1.33 / 3.0)).abs() < 1e-9, "{g:?}");
    }

    #[test]
    fn no_gap_means_no_apgr_and_bootstrap_intervals_bracket_the_value() {
        let tiers = [s(0.7, 1.0, 0.0), s(0.7, 3.0, 1.0)];
        assert!(figures(&tiers, &tiers).apgr.is_nan());
        let n = 200;
        let mk = |f: &dyn Fn(usize) -> (bool, f64, bool)| Point {
            threshold: 0.0,
            passed: (0..n).map(|i| f(i).0).collect(),
            cost: (0..n).map(|i| f(i).1).collect(),
            strong: (0..n).map(|i| f(i).2).collect(),
        };
        let small = mk(&|i| (i % 2 == 0, 1.0, false));
        let large = mk(&|i| (i % 4 != 3, 3.0, true));
        let oracle = mk(&|i| {
            (
                i % 2 == 0 || i % 4 != 3,
                if i % 2 == 0 { 1.0 } else { 4.0 },
                i % 2 == 1,
            )
        });
        let f = figures_ci(
            &[small.clone(), oracle.clone(), large.clone()],
            &[small.clone(), large.clone()],
            200,
            7,
        );
        let (lo, hi) = f.apgr.ci95.unwrap();
        assert!(lo <= f.apgr.value && f.apgr.value <= hi, "{f:?}");
        assert!(lo < hi);
        // Adding the oracle's point to the tiers' line: a difference whose paired interval is
        // above zero; a router against itself: exactly zero on every resample.
        let tiers = [small.clone(), large.clone()];
        let with_oracle = [small.clone(), oracle.clone(), large.clone()];
        let d = apgr_delta(&with_oracle, &tiers, &tiers, 200, 7);
        assert!(d.ci95.unwrap().0 > 0.0, "{d:?}");
        let same = apgr_delta(
            std::slice::from_ref(&oracle),
            std::slice::from_ref(&oracle),
            &tiers,
            200,
            7,
        );
        assert_eq!((same.value, same.ci95), (0.0, Some((0.0, 0.0))));
    }
}
