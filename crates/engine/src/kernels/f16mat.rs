//! F16 weights (an F16 GGUF, e.g. a float baseline made with llama-quantize) multiplied in
//! place: each weight is read as 2 bytes and widened in registers (F16C), activations stay
//! f32, sums are f32. candle's path widens the whole matrix to f32 at load and reads 4 bytes
//! per weight on every decode step, which is what makes F16 decode memory-bound at half speed.
//!
//! A tile is `NR` weight rows × up to `MR` activation rows: each widened weight vector feeds
//! `MR` multiply-adds, and a weight row tile stays in cache while every activation row block
//! passes over it, so a call reads the matrix once.

// Tiles index accumulators and rows by the same numbers.
#![allow(clippy::needless_range_loop)]

use half::f16;

/// Weight rows per tile.
const NR: usize = 4;
/// Activation rows per tile.
const MR: usize = 4;

/// An [n, k] matrix of f16, row-major as GGUF stores it.
#[derive(Debug)]
pub struct Half {
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) data: Vec<f16>,
}

impl Half {
    /// From GGUF F16 bytes (little-endian).
    pub fn new(n: usize, k: usize, raw: &[u8]) -> crate::Result<Half> {
        if raw.len() != n * k * 2 {
            return Err(crate::Error::Request(format!(
                "an F16 matrix [{n}, {k}] needs {} bytes, not {}",
                n * k * 2,
                raw.len()
            )));
        }
        let data = raw
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]))
            .collect();
        Ok(Half { n, k, data })
    }

    pub fn row(&self, row: usize, out: &mut [f32]) {
        for (o, w) in out
            .iter_mut()
            .zip(&self.data[row * self.k..(row + 1) * self.k])
        {
            *o = w.to_f32();
        }
    }

    /// `y = x Wᵀ` for `m` rows of `x` ([m, k] row-major), [m, n] row-major.
    pub fn matmul(&self, x: &[f32], m: usize) -> crate::Result<Vec<f32>> {
        let mut y = super::output(x, m, self.n, self.k)?;
        if m == 0 {
            return Ok(y);
        }
        #[cfg(target_arch = "x86_64")]
        {
            let pool = super::pool::Pool::get();
            let tiles = self.n.div_ceil(NR);
            let chunks = if m * self.n * self.k < super::PAR_MIN_MACS {
                1
            } else {
                (4 * pool.threads()).min(tiles)
            };
            let out = super::OutPtr(y.as_mut_ptr());
            let job = |c: usize| {
                let (r0, r1) = (
                    (tiles * c / chunks * NR).min(self.n),
                    (tiles * (c + 1) / chunks * NR).min(self.n),
                );
                // SAFETY: chunk c writes only columns r0..r1 of rows 0..m of `y`, which
                // outlives the pool's run.
                unsafe { self.rows(x, m, r0, r1, out.at(r0), self.n) }
            };
            pool.run(chunks, &job);
        }
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: all of `y` is ours.
        unsafe {
            self.rows_scalar(x, m, 0, self.n, y.as_mut_ptr(), self.n)
        };
        Ok(y)
    }

    /// Output rows `r0..r1` for activation rows `0..m`: `y[i * ldy + j - r0]`.
    ///
    /// # Safety
    /// `y` must be valid for those writes, and no one else may write them meanwhile.
    #[cfg(target_arch = "x86_64")]
    unsafe fn rows(&self, x: &[f32], m: usize, r0: usize, r1: usize, y: *mut f32, ldy: usize) {
        match super::isa() {
            Some(super::x86::Isa::Vnni | super::x86::Isa::Amx) => {
                self.rows_512(x, m, r0, r1, y, ldy)
            }
            Some(super::x86::Isa::Avx2) => self.rows_256(x, m, r0, r1, y, ldy),
            None => self.rows_scalar(x, m, r0, r1, y, ldy),
        }
    }

    unsafe fn rows_scalar(
        &self,
        x: &[f32],
        m: usize,
        r0: usize,
        r1: usize,
        y: *mut f32,
        ldy: usize,
    ) {
        let k = self.k;
        for j in r0..r1 {
            let w = &self.data[j * k..(j + 1) * k];
            for i in 0..m {
                let xs = &x[i * k..(i + 1) * k];
                let s: f32 = w.iter().zip(xs).map(|(a, b)| a.to_f32() * b).sum();
                *y.add(i * ldy + j - r0) = s;
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,f16c,avx512f")]
    unsafe fn rows_512(&self, x: &[f32], m: usize, r0: usize, r1: usize, y: *mut f32, ldy: usize) {
        self.rows_simd::<simd::Z16>(x, m, r0, r1, y, ldy)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn rows_256(&self, x: &[f32], m: usize, r0: usize, r1: usize, y: *mut f32, ldy: usize) {
        self.rows_simd::<simd::Y8>(x, m, r0, r1, y, ldy)
    }

    /// The tiled loop for vectors of `V::LANES` floats; inlined into each width's
    /// `target_feature` function so the intrinsics compile with those features.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn rows_simd<V: simd::Vector>(
        &self,
        x: &[f32],
        m: usize,
        r0: usize,
        r1: usize,
        y: *mut f32,
        ldy: usize,
    ) {
        let k = self.k;
        let body = k - k % V::LANES;
        let w = self.data.as_ptr() as *const u16;
        let mut j = r0;
        while j < r1 {
            let nr = (r1 - j).min(NR);
            let mut i = 0;
            while i < m {
                let mr = (m - i).min(MR);
                let mut acc = [[V::zero(); MR]; NR];
                let mut kk = 0;
                while kk < body {
                    let mut wv = [V::zero(); NR];
                    for r in 0..nr {
                        wv[r] = V::widen(w.add((j + r) * k + kk));
                    }
                    for t in 0..mr {
                        let xv = V::load(x.as_ptr().add((i + t) * k + kk));
                        for r in 0..nr {
                            acc[r][t] = V::fmadd(wv[r], xv, acc[r][t]);
                        }
                    }
                    kk += V::LANES;
                }
                for r in 0..nr {
                    for t in 0..mr {
                        let mut s = V::sum(acc[r][t]);
                        s += self.tail(j + r, &x[(i + t) * k..(i + t + 1) * k], body);
                        *y.add((i + t) * ldy + j + r - r0) = s;
                    }
                }
                i += mr;
            }
            j += nr;
        }
    }

    /// The elements past the last full vector.
    fn tail(&self, row: usize, x: &[f32], from: usize) -> f32 {
        let w = &self.data[row * self.k + from..(row + 1) * self.k];
        w.iter().zip(&x[from..]).map(|(a, b)| a.to_f32() * b).sum()
    }
}

/// The two vector widths the tiled loop runs at.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// # Safety
    /// Callers run inside functions enabling the instructions each method uses.
    pub(super) trait Vector: Copy {
        const LANES: usize;
        unsafe fn zero() -> Self;
        /// `LANES` f16 at `p`, widened to f32.
        unsafe fn widen(p: *const u16) -> Self;
        unsafe fn load(p: *const f32) -> Self;
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
        unsafe fn sum(v: Self) -> f32;
    }

    /// AVX512F: 16 lanes.
    #[derive(Clone, Copy)]
    pub(super) struct Z16(__m512);

    /// AVX2 + F16C: 8 lanes.
    #[derive(Clone, Copy)]
    pub(super) struct Y8(__m256);

    impl Vector for Z16 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Z16(_mm512_setzero_ps())
        }
        #[inline(always)]
        unsafe fn widen(p: *const u16) -> Self {
            Z16(_mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Z16(_mm512_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            Z16(_mm512_fmadd_ps(a.0, b.0, c.0))
        }
        #[inline(always)]
        unsafe fn sum(v: Self) -> f32 {
            _mm512_reduce_add_ps(v.0)
        }
    }

    impl Vector for Y8 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Y8(_mm256_setzero_ps())
        }
        #[inline(always)]
        unsafe fn widen(p: *const u16) -> Self {
            Y8(_mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)))
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Y8(_mm256_loadu_ps(p))
        }
        #[inline(always)]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            Y8(_mm256_fmadd_ps(a.0, b.0, c.0))
        }
        #[inline(always)]
        unsafe fn sum(v: Self) -> f32 {
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), v.0);
            lanes.iter().sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = (i ^ seed).wrapping_mul(2_654_435_761).rotate_left(13) % 2001;
                h as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn check(f: impl Fn(&Half, &[f32], usize, *mut f32)) {
        for (n, k, m) in [(1, 16, 1), (5, 40, 3), (13, 896, 5), (8, 7, 9), (4, 64, 4)] {
            let w: Vec<f16> = values(n * k, 1).into_iter().map(f16::from_f32).collect();
            let raw: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
            let h = Half::new(n, k, &raw).unwrap();
            let x = values(m * k, 2);
            let mut y = vec![f32::NAN; m * n];
            f(&h, &x, m, y.as_mut_ptr());
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|e| w[j * k + e].to_f64() * x[i * k + e] as f64)
                        .sum();
                    let got = y[i * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "[{n}, {k}] × {m}: y[{i}][{j}] = {got}, want {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_path_matches_f64_sums() {
        check(|h, x, m, y| unsafe { h.rows_scalar(x, m, 0, h.n, y, h.n) });
        check(|h, x, m, y| {
            let got = h.matmul(x, m).unwrap();
            unsafe { std::ptr::copy_nonoverlapping(got.as_ptr(), y, got.len()) }
        });
        #[cfg(target_arch = "x86_64")]
        {
            let base = is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c");
            if base {
                check(|h, x, m, y| unsafe { h.rows_256(x, m, 0, h.n, y, h.n) });
            }
            if base && is_x86_feature_detected!("avx512f") {
                check(|h, x, m, y| unsafe { h.rows_512(x, m, 0, h.n, y, h.n) });
            }
        }
    }

    #[test]
    fn a_split_at_any_row_writes_only_its_columns() {
        let (n, k, m) = (11, 32, 3);
        let raw: Vec<u8> = values(n * k, 3)
            .into_iter()
            .flat_map(|v| f16::from_f32(v).to_le_bytes())
            .collect();
        let h = Half::new(n, k, &raw).unwrap();
        let x = values(m * k, 4);
        let whole = h.matmul(&x, m).unwrap();
        let mut y = vec![0f32; m * n];
        for (r0, r1) in [(0, 4), (4, 5), (5, 11)] {
            unsafe { h.rows_scalar(&x, m, r0, r1, y.as_mut_ptr().add(r0), n) };
        }
        for (a, b) in whole.iter().zip(&y) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!(Half::new(n, k, &raw[1..]).is_err());
    }
}
