//! The dense linear algebra GPTQ and SparseGPT need, blocked so that nearly all of the O(n³)
//! work is matrix products (the `gemm` crate candle already builds on): XᵀX accumulation,
//! Cholesky factorization and the inverse of a triangular factor. Row-major storage.

use gemm::Parallelism;
use rayon::prelude::*;

/// Columns per block: the unblocked parts cost O(n·NB²), the products O(n³).
const NB: usize = 128;

fn threads() -> Parallelism {
    Parallelism::Rayon(rayon::current_num_threads())
}

/// `acc[n×n] += xᵀx` for `x` [t × n] row-major.
pub fn add_gram(acc: &mut [f32], x: &[f32], n: usize) {
    let t = x.len() / n;
    assert!(acc.len() == n * n && x.len() == t * n, "gram shapes");
    // SAFETY: dst is n×n with row stride n; lhs = xᵀ (element (a, r) at x[r·n + a]) is n×t;
    // rhs = x is t×n; every index stays inside the slices, which do not overlap.
    unsafe {
        gemm::gemm(
            n,
            n,
            t,
            acc.as_mut_ptr(),
            1,
            n as isize,
            true,
            x.as_ptr(),
            n as isize,
            1,
            x.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            threads(),
        )
    }
}

/// Cholesky factor of the symmetric positive definite `a` [n×n], in place: the lower
/// triangle becomes L with A = LLᵀ (the strict upper triangle is left undefined). False when
/// A is not positive definite.
pub fn cholesky_lower(a: &mut [f64], n: usize) -> bool {
    assert_eq!(a.len(), n * n, "cholesky shape");
    for k0 in (0..n).step_by(NB) {
        let b = NB.min(n - k0);
        // The diagonal block, already updated by every earlier block.
        for i in k0..k0 + b {
            for j in k0..=i {
                let s = dot(&a[i * n + k0..i * n + j], &a[j * n + k0..j * n + j]);
                let v = a[i * n + j] - s;
                if i == j {
                    if v <= 0.0 || !v.is_finite() {
                        return false;
                    }
                    a[i * n + i] = v.sqrt();
                } else {
                    a[i * n + j] = v / a[j * n + j];
                }
            }
        }
        let below = k0 + b;
        if below == n {
            break;
        }
        // The panel under it: L21 = A21 L11⁻ᵀ, row by row.
        let (top, bottom) = a.split_at_mut(below * n);
        let diag = &top[k0 * n..];
        bottom.par_chunks_mut(n).for_each(|row| {
            for j in 0..b {
                let lj = &diag[j * n + k0..j * n + k0 + j];
                let s = dot(&row[k0..k0 + j], lj);
                row[k0 + j] = (row[k0 + j] - s) / diag[j * n + k0 + j];
            }
        });
        // The trailing matrix: A22 -= L21 L21ᵀ.
        let m = n - below;
        let p = a.as_mut_ptr();
        // SAFETY: dst is the m×m block at (below, below); lhs is L21, the m×b block at
        // (below, k0), and rhs its transpose: disjoint columns of the same buffer, all inside it.
        unsafe {
            gemm::gemm(
                m,
                m,
                b,
                p.add(below * n + below),
                1,
                n as isize,
                true,
                p.add(below * n + k0),
                1,
                n as isize,
                p.add(below * n + k0),
                n as isize,
                1,
                1.0,
                -1.0,
                false,
                false,
                false,
                threads(),
            )
        }
    }
    true
}

/// L⁻¹ for the lower triangular `l` [n×n] (only its lower triangle is read), row-major with
/// zeros above the diagonal. Each block of columns is solved on its own (in parallel).
pub fn inverse_lower(l: &[f64], n: usize) -> Vec<f64> {
    let blocks: Vec<usize> = (0..n).step_by(NB).collect();
    let panels: Vec<Vec<f64>> = blocks
        .par_iter()
        .map(|&c0| inverse_panel(l, n, c0, NB.min(n - c0)))
        .collect();
    let mut x = vec![0f64; n * n];
    for (&c0, p) in blocks.iter().zip(&panels) {
        let bc = NB.min(n - c0);
        for (r, row) in p.chunks_exact(bc).enumerate() {
            let i = c0 + r;
            x[i * n + c0..i * n + c0 + bc].copy_from_slice(row);
        }
    }
    x
}

/// Columns c0..c0+bc of L⁻¹, rows c0..n (those above are zero): [n−c0 × bc]. Block forward
/// substitution: X_i = L_ii⁻¹ (E_i − L_i,<i X_<i), the sum a matrix product.
fn inverse_panel(l: &[f64], n: usize, c0: usize, bc: usize) -> Vec<f64> {
    let h = n - c0;
    let mut p = vec![0f64; h * bc];
    for r0 in (c0..n).step_by(NB) {
        let br = NB.min(n - r0);
        let off = (r0 - c0) * bc;
        // The identity's part: only the first block row, which starts on the diagonal.
        if r0 == c0 {
            for i in 0..br.min(bc) {
                p[i * bc + i] = 1.0;
            }
        }
        if r0 > c0 {
            let k = r0 - c0;
            let (done, rest) = p.split_at_mut(off);
            // SAFETY: dst is the br×bc block at rows r0.. of the panel; lhs the br×k block of
            // L at (r0, c0); rhs the panel's first k rows: all in bounds, dst apart from rhs.
            unsafe {
                gemm::gemm(
                    br,
                    bc,
                    k,
                    rest.as_mut_ptr(),
                    1,
                    bc as isize,
                    true,
                    l.as_ptr().add(r0 * n + c0),
                    1,
                    n as isize,
                    done.as_ptr(),
                    1,
                    bc as isize,
                    1.0,
                    -1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                )
            }
        }
        // The diagonal block's own substitution, row by row.
        for i in 0..br {
            let lrow = &l[(r0 + i) * n + r0..(r0 + i) * n + r0 + i];
            let (prev, cur) = p[off..].split_at_mut(i * bc);
            let cur = &mut cur[..bc];
            for (j, &lij) in lrow.iter().enumerate() {
                let pj = &prev[j * bc..(j + 1) * bc];
                cur.iter_mut().zip(pj).for_each(|(c, &v)| *c -= lij * v);
            }
            let d = l[(r0 + i) * n + r0 + i];
            cur.iter_mut().for_each(|c| *c /= d);
        }
    }
    p
}

/// Dot product in independent lanes: a single running sum is a dependency chain the compiler
/// may not reorder.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let b: Vec<f64> = (0..n * n).map(|_| next()).collect();
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|r| b[r * n + i] * b[r * n + j]).sum::<f64>()
                    + if i == j { 0.5 } else { 0.0 };
            }
        }
        a
    }

    /// Sizes around the block edges: one partial block, exact blocks, a ragged last block.
    #[test]
    fn blocked_cholesky_and_inverse_match_the_definitions() {
        for n in [5, 128, 300] {
            let a = spd(n, 11 + n as u64);
            let mut l = a.clone();
            assert!(cholesky_lower(&mut l, n));
            for i in 0..n {
                for j in 0..=i {
                    let v: f64 = (0..=j).map(|k| l[i * n + k] * l[j * n + k]).sum();
                    assert!(
                        (v - a[i * n + j]).abs() < 1e-9 * n as f64,
                        "LLᵀ ≠ A at n={n}"
                    );
                }
            }
            let x = inverse_lower(&l, n);
            for i in 0..n {
                for j in 0..n {
                    let lij = |r: usize, c: usize| if c <= r { l[r * n + c] } else { 0.0 };
                    let v: f64 = (0..n).map(|k| lij(i, k) * x[k * n + j]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((v - want).abs() < 1e-8, "L·L⁻¹ ≠ I at n={n} ({i},{j}): {v}");
                    if j > i {
                        assert_eq!(x[i * n + j], 0.0);
                    }
                }
            }
        }
        let mut not_pd = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_lower(&mut not_pd, 2));
    }

    #[test]
    fn gram_accumulates() {
        let (t, n) = (7, 5);
        let x: Vec<f32> = (0..t * n).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut acc = vec![1f32; n * n];
        add_gram(&mut acc, &x, n);
        for a in 0..n {
            for b in 0..n {
                let want: f32 = 1.0 + (0..t).map(|r| x[r * n + a] * x[r * n + b]).sum::<f32>();
                assert!((acc[a * n + b] - want).abs() < 1e-5);
            }
        }
    }
}
