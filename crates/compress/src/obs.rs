//! Optimal-brain-surgeon updates with a calibration Hessian: GPTQ (quantize a column, spread
//! its error over the columns not yet done) and SparseGPT (the same with zeros).
//!
//! GPTQ's blocked "lazy batch" updates only make the GPU version memory-friendly; every row
//! of W is independent given U = chol(H⁻¹)ᵀ, so here each row runs through its columns in
//! order, updating the rest of the row directly (the same arithmetic), rows in parallel.

use crate::quant::{quantize_one, rtn_scale, BLOCK};
use crate::recipe::Sparsity;
use crate::{Error, Result};
use candle_core::quantized::GgmlDType;
use rayon::prelude::*;

/// What to do to each row.
pub enum Target {
    /// Quantize onto a 32-wide symmetric GGML grid.
    Grid(GgmlDType),
    /// Set weights to zero; masks are chosen per `block` columns (unstructured) or per
    /// group of M (N:M), from the error-updated weights.
    Prune(Sparsity, usize),
}

/// The prepared inverse Hessian of one linear input.
pub struct HInv {
    pub n: usize,
    /// Upper triangular U with H⁻¹ = UᵀU, row-major, in processing order.
    pub u: Vec<f32>,
    /// Processing order of the columns (identity unless act-order).
    pub perm: Vec<usize>,
    /// Columns never active in calibration: their weights are zeroed, as in GPTQ.
    pub dead: Vec<bool>,
}

/// Damps H (λ = damp·mean diag), optionally orders columns by decreasing diagonal, and
/// factors H⁻¹. Retries with 10× the damping if H is not positive definite.
pub fn prepare(h: &[f64], n: usize, damp: f64, act_order: bool) -> Result<HInv> {
    let mut h = h.to_vec();
    let mut dead = vec![false; n];
    for i in 0..n {
        if h[i * n + i] <= 0.0 {
            dead[i] = true;
            h[i * n + i] = 1.0;
        }
    }
    let mut perm: Vec<usize> = (0..n).collect();
    if act_order {
        perm.sort_by(|&a, &b| h[b * n + b].total_cmp(&h[a * n + a]).then(a.cmp(&b)));
    }
    let hp: Vec<f64> = (0..n * n)
        .map(|k| h[perm[k / n] * n + perm[k % n]])
        .collect();
    let mean_diag = (0..n).map(|i| hp[i * n + i]).sum::<f64>() / n as f64;
    let mut lambda = damp.max(1e-6) * mean_diag;
    for _ in 0..6 {
        let mut a = hp.clone();
        for i in 0..n {
            a[i * n + i] += lambda;
        }
        if let Some(u) = inv_chol_upper(&a, n) {
            return Ok(HInv { n, u, perm, dead });
        }
        lambda *= 10.0;
    }
    Err(Error::Other(
        "Hessian is not positive definite even with heavy damping".into(),
    ))
}

/// U upper with A⁻¹ = UᵀU. Reversing the order of A turns its lower Cholesky factor L into
/// an upper factor R = JLJ with A = RRᵀ, so A⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ = J L⁻¹ J.
fn inv_chol_upper(a: &[f64], n: usize) -> Option<Vec<f32>> {
    let rev = |i: usize| n - 1 - i;
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s = dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
            let v = a[rev(i) * n + rev(j)] - s;
            if i == j {
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * n + i] = v.sqrt();
            } else {
                l[i * n + j] = v / l[j * n + j];
            }
        }
    }
    // L⁻¹ column by column (forward substitution), columns in parallel.
    let cols: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|c| {
            let mut x = vec![0f64; n];
            for i in c..n {
                let s = dot(&l[i * n + c..i * n + i], &x[c..i]);
                let e = if i == c { 1.0 } else { 0.0 };
                x[i] = (e - s) / l[i * n + i];
            }
            x
        })
        .collect();
    let mut u = vec![0f32; n * n];
    for (c, x) in cols.iter().enumerate() {
        for (i, &v) in x.iter().enumerate().skip(c) {
            // Linv[i][c] → U[rev i][rev c].
            u[rev(i) * n + rev(c)] = v as f32;
        }
    }
    Some(u)
}

/// Dot product in independent lanes: a single running sum is a dependency chain the compiler
/// may not reorder, and the factorization is O(n³) of these (n = 4864 for Qwen's ffn_down).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    const L: usize = 8;
    let mut acc = [0f64; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f64 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// Result of a GPTQ pass: per-block scales and integers, in the original column order.
pub struct Quantized {
    pub d: Vec<f32>,
    pub q: Vec<i8>,
}

/// Runs GPTQ (Target::Grid) or SparseGPT (Target::Prune) over W [rows, n] in place: on return
/// W holds the values written (grid values, or the pruned and compensated weights).
pub fn run(
    w: &mut [f32],
    hi: &HInv,
    target: &Target,
    act_order: bool,
) -> Result<Option<Quantized>> {
    let n = hi.n;
    if !w.len().is_multiple_of(n) {
        return Err(Error::Other(
            "weight width does not match the Hessian".into(),
        ));
    }
    let rows = w.len() / n;
    // Prune targets use no scales; keep one slot per row so the row chunks stay aligned.
    let nb = (n / BLOCK).max(1);
    let mut d = vec![0f32; rows * nb];
    let mut q = vec![0i8; w.len()];
    w.par_chunks_mut(n)
        .zip(d.par_chunks_mut(nb))
        .zip(q.par_chunks_mut(n))
        .for_each(|((row, drow), qrow)| {
            for (j, &dead) in hi.dead.iter().enumerate() {
                if dead {
                    row[j] = 0.0;
                }
            }
            // With act-order every block's scale must be fixed before any of its columns
            // is quantized: take it from the original weights.
            if let (Target::Grid(t), true) = (target, act_order) {
                for (b, s) in drow.iter_mut().enumerate() {
                    *s = rtn_scale(*t, &row[b * BLOCK..(b + 1) * BLOCK]);
                }
            }
            let mut x: Vec<f32> = hi.perm.iter().map(|&p| row[p]).collect();
            let mut prune = vec![false; n];
            for i in 0..n {
                let orig = hi.perm[i];
                let ui = &hi.u[i * n..(i + 1) * n];
                let v = match target {
                    Target::Grid(t) => {
                        if !act_order && orig.is_multiple_of(BLOCK) {
                            drow[orig / BLOCK] = rtn_scale(*t, &x[i..i + BLOCK]);
                        }
                        let s = drow[orig / BLOCK];
                        let qi = quantize_one(*t, x[i], s);
                        qrow[orig] = qi as i8;
                        qi as f32 * s
                    }
                    Target::Prune(sp, block) => {
                        choose_mask(sp, *block, i, &x, hi, &mut prune);
                        if prune[i] {
                            0.0
                        } else {
                            x[i]
                        }
                    }
                };
                let err = (x[i] - v) / ui[i];
                x[i] = v;
                for (xj, &uj) in x[i + 1..].iter_mut().zip(&ui[i + 1..]) {
                    *xj -= err * uj;
                }
            }
            for (i, &p) in hi.perm.iter().enumerate() {
                row[p] = x[i];
            }
        });
    Ok(match target {
        Target::Grid(_) => Some(Quantized { d, q }),
        Target::Prune(..) => None,
    })
}

/// At the start of a mask block, marks the columns to zero: the lowest w²/U_jj² (the OBS
/// saliency) of the current, error-updated row.
fn choose_mask(sp: &Sparsity, block: usize, i: usize, x: &[f32], hi: &HInv, prune: &mut [bool]) {
    let n = x.len();
    let (start, end, k) = match *sp {
        Sparsity::Ratio(r) if i.is_multiple_of(block) => {
            let end = (i + block).min(n);
            let k = (r * end as f64).round() as usize - (r * i as f64).round() as usize;
            (i, end, k)
        }
        Sparsity::NofM(keep, m) if i.is_multiple_of(m) && i + m <= n => (i, i + m, m - keep),
        _ => return,
    };
    let score = |j: usize| {
        let u = hi.u[j * n + j];
        x[j] * x[j] / (u * u)
    };
    for j in crate::prune::lowest(start..end, k, score) {
        prune[j] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(s: &mut u64) -> f32 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    }

    #[test]
    fn inverse_factor_is_upper_and_inverts() {
        let n = 37;
        let mut s = 7u64;
        let b: Vec<f64> = (0..n * n).map(|_| xorshift(&mut s) as f64).collect();
        // A = BᵀB + I is symmetric positive definite.
        let a: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                (0..n).map(|r| b[r * n + i] * b[r * n + j]).sum::<f64>() + f64::from(i == j)
            })
            .collect();
        let u = inv_chol_upper(&a, n).expect("A is positive definite");
        for i in 0..n {
            assert!((0..i).all(|j| u[i * n + j] == 0.0), "row {i} is not upper");
        }
        // UᵀU A = I.
        let mut worst = 0f64;
        for i in 0..n {
            for j in 0..n {
                let inv_ik = |k: usize| {
                    (0..n)
                        .map(|r| (u[r * n + i] * u[r * n + k]) as f64)
                        .sum::<f64>()
                };
                let v: f64 = (0..n).map(|k| inv_ik(k) * a[k * n + j]).sum();
                worst = worst.max((v - f64::from(i == j)).abs());
            }
        }
        assert!(worst < 1e-3, "UᵀU·A is off the identity by {worst}");
    }

    /// Correlated inputs X [t, n] (so H is far from diagonal) and weights W [rows, n].
    fn problem(t: usize, n: usize, rows: usize) -> (Vec<f32>, Vec<f32>, Vec<f64>) {
        let mut s = 99u64;
        let base: Vec<f32> = (0..t * 8).map(|_| xorshift(&mut s)).collect();
        let mix: Vec<f32> = (0..8 * n).map(|_| xorshift(&mut s)).collect();
        let x: Vec<f32> = (0..t * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                (0..8)
                    .map(|c| base[i * 8 + c] * mix[c * n + j])
                    .sum::<f32>()
                    + 0.1 * xorshift(&mut s)
            })
            .collect();
        let w: Vec<f32> = (0..rows * n).map(|_| xorshift(&mut s) * 0.1).collect();
        let mut h = vec![0f64; n * n];
        for i in 0..t {
            for a in 0..n {
                for b in 0..n {
                    h[a * n + b] += 2.0 * (x[i * n + a] * x[i * n + b]) as f64 / t as f64;
                }
            }
        }
        (x, w, h)
    }

    fn out_err(x: &[f32], w: &[f32], wq: &[f32], n: usize) -> f64 {
        let rows = w.len() / n;
        let mut e = 0f64;
        for xi in x.chunks(n) {
            for r in 0..rows {
                let d: f32 = (0..n).map(|j| xi[j] * (w[r * n + j] - wq[r * n + j])).sum();
                e += (d * d) as f64;
            }
        }
        e
    }

    /// A quantized tensor's values, flattened.
    fn values(qt: &candle_core::quantized::QTensor) -> Vec<f32> {
        let t = qt.dequantize(&candle_core::Device::Cpu).unwrap();
        t.flatten_all().unwrap().to_vec1().unwrap()
    }
    #[test]
    fn gptq_beats_rtn_and_lands_on_the_grid() {
        let (t, n, rows) = (256, 128, 16);
        let (x, w, h) = problem(t, n, rows);
        for (ty, act) in [
            (GgmlDType::Q4_0, false),
            (GgmlDType::Q4_0, true),
            (GgmlDType::Q8_0, false),
        ] {
            let hi = prepare(&h, n, 0.01, act).unwrap();
            let mut wg = w.clone();
            let qz = run(&mut wg, &hi, &Target::Grid(ty), act).unwrap().unwrap();
            let qt = crate::quant::encode(ty, &[rows, n], &qz.d, &qz.q).unwrap();
            let back = values(&qt);
            assert_eq!(
                back, wg,
                "{ty:?}: written blocks give back exactly what GPTQ used"
            );
            let wt = candle_core::Tensor::from_vec(w.clone(), (rows, n), &candle_core::Device::Cpu)
                .unwrap();
            let rtn = values(&crate::quant::rtn(&wt, ty).unwrap());
            let (eg, er) = (out_err(&x, &w, &wg, n), out_err(&x, &w, &rtn, n));
            assert!(eg < er, "{ty:?} act_order={act}: GPTQ {eg} vs RTN {er}");
        }
    }

    #[test]
    fn sparsegpt_two_of_four_beats_magnitude() {
        let (t, n, rows) = (256, 128, 16);
        let (x, w, h) = problem(t, n, rows);
        let hi = prepare(&h, n, 0.01, false).unwrap();
        let mut ws = w.clone();
        run(
            &mut ws,
            &hi,
            &Target::Prune(Sparsity::NofM(2, 4), 128),
            false,
        )
        .unwrap();
        for g in ws.chunks(4) {
            assert!(g.iter().filter(|v| **v == 0.0).count() >= 2);
        }
        let mut wm = w.clone();
        crate::prune::prune_by_score(&mut wm, n, Sparsity::NofM(2, 4), None);
        assert!(out_err(&x, &w, &ws, n) < out_err(&x, &w, &wm, n));
        let mut wu = w.clone();
        run(
            &mut wu,
            &hi,
            &Target::Prune(Sparsity::Ratio(0.5), 128),
            false,
        )
        .unwrap();
        for r in wu.chunks(n) {
            assert_eq!(r.iter().filter(|v| **v == 0.0).count(), n / 2);
        }
    }
}
