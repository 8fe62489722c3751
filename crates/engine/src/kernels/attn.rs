//! Attention over cached keys and values. Scores `q·k` of one query head against many keys:
//! `dot` is the reference, 16 independent lanes, then the lanes added in order; the AVX512
//! path computes 16 keys' lane sums with the same operations, transposes them and adds the
//! lanes of all 16 keys at once, in the same order: the same bits, without one 16-add chain
//! per key. Weighted sums of values: the query heads that share a key-value head (grouped-query
//! attention) read each value row once, keeping their outputs in registers; each output
//! element still gets the same products added in the same order.

/// Dot product with independent lanes so the compiler keeps it in SIMD registers.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0f32; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..L {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// `out[j] = dot(q, key j) · scale` for `out.len()` keys, key `j` at `k[j * stride..]`.
pub fn scores(q: &[f32], k: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    let hd = q.len();
    let keys = out.len();
    assert!(keys == 0 || k.len() >= (keys - 1) * stride + hd);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if hd.is_multiple_of(16) && super::avx512() {
        // SAFETY: AVX512F was detected; the assert above bounds every key read.
        done = unsafe { scores16(q, k, stride, scale, out) };
    }
    for (j, s) in out.iter_mut().enumerate().skip(done) {
        *s = dot(q, &k[j * stride..j * stride + hd]) * scale;
    }
}

/// `out[h] = Σ_j w[h][j] · value j` (products added in key order) for the heads `h` of one
/// group, `w` and `out` row-major per head (`heads × keys`, `heads × hd`), value `j` at
/// `v[j * stride..][..hd]`.
pub fn weighted_sums(w: &[f32], v: &[f32], stride: usize, out: &mut [f32], hd: usize) {
    let heads = out.len() / hd;
    let keys = w.len().checked_div(heads).unwrap_or(0);
    assert!(out.len() == heads * hd && w.len() == heads * keys);
    assert!(keys == 0 || v.len() >= (keys - 1) * stride + hd);
    #[cfg(target_arch = "x86_64")]
    if hd == 64 && super::avx512() {
        let mut h = 0;
        while h < heads {
            let g = (heads - h).min(4);
            let (w, o) = (&w[h * keys..(h + g) * keys], &mut out[h * hd..(h + g) * hd]);
            // SAFETY: AVX512F was detected; the asserts above bound every read and write.
            unsafe {
                match g {
                    4 => sums64::<4>(w, v, stride, keys, o),
                    3 => sums64::<3>(w, v, stride, keys, o),
                    2 => sums64::<2>(w, v, stride, keys, o),
                    _ => sums64::<1>(w, v, stride, keys, o),
                }
            }
            h += g;
        }
        return;
    }
    weighted_sums_scalar(w, v, stride, out, hd);
}

/// The reference for `weighted_sums`, any head size `hd`.
pub fn weighted_sums_scalar(w: &[f32], v: &[f32], stride: usize, out: &mut [f32], hd: usize) {
    let keys = w.len() / (out.len() / hd).max(1);
    for (h, o) in out.chunks_exact_mut(hd).enumerate() {
        o.fill(0.0);
        for (j, &p) in w[h * keys..(h + 1) * keys].iter().enumerate() {
            for (oi, vi) in o.iter_mut().zip(&v[j * stride..j * stride + hd]) {
                *oi += p * vi;
            }
        }
    }
}

/// `weighted_sums` for `G` heads of 64.
///
/// # Safety
/// AVX512F must be available; `w` holds `G × keys`, `out` `G × 64` values and the values lie
/// inside `v`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sums64<const G: usize>(
    w: &[f32],
    v: &[f32],
    stride: usize,
    keys: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 4]; G];
    for j in 0..keys {
        let vj = v.as_ptr().add(j * stride);
        let x: [__m512; 4] = std::array::from_fn(|c| _mm512_loadu_ps(vj.add(16 * c)));
        for (g, a) in acc.iter_mut().enumerate() {
            let p = _mm512_set1_ps(*w.get_unchecked(g * keys + j));
            for (ac, xc) in a.iter_mut().zip(&x) {
                *ac = _mm512_add_ps(*ac, _mm512_mul_ps(p, *xc));
            }
        }
    }
    for (g, a) in acc.iter().enumerate() {
        for (c, ac) in a.iter().enumerate() {
            _mm512_storeu_ps(out.as_mut_ptr().add(64 * g + 16 * c), *ac);
        }
    }
}

/// The first `16 ⌊keys / 16⌋` scores; returns how many.
///
/// # Safety
/// AVX512F must be available, `q.len()` a multiple of 16 and the keys inside `k`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scores16(q: &[f32], k: &[f32], stride: usize, scale: f32, out: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    let hd = q.len();
    let blocks = out.len() / 16;
    for blk in 0..blocks {
        let mut acc = [_mm512_setzero_ps(); 16];
        for (j, a) in acc.iter_mut().enumerate() {
            let kj = k.as_ptr().add((16 * blk + j) * stride);
            for c in 0..hd / 16 {
                let x = _mm512_loadu_ps(q.as_ptr().add(16 * c));
                let y = _mm512_loadu_ps(kj.add(16 * c));
                *a = _mm512_add_ps(*a, _mm512_mul_ps(x, y));
            }
        }
        let t = transpose(acc);
        // `dot` adds its lanes to -0.0 first, which leaves every value as it is.
        let mut s = t[0];
        for v in &t[1..] {
            s = _mm512_add_ps(s, *v);
        }
        let s = _mm512_mul_ps(s, _mm512_set1_ps(scale));
        _mm512_storeu_ps(out.as_mut_ptr().add(16 * blk), s);
    }
    16 * blocks
}

/// The 16 × 16 transpose: lane `j` of result `i` is lane `i` of `r[j]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose(r: [std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    // Per 128-bit lane L: t[2p] = [r2p[4L], r2p+1[4L], r2p[4L+1], r2p+1[4L+1]], t[2p+1] the
    // same for elements 4L+2, 4L+3.
    let t: [__m512; 16] = std::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_ps(a, b)
        } else {
            _mm512_unpackhi_ps(a, b)
        }
    });
    // u[4g + e], lane L: rows 4g..4g + 4, element 4L + e.
    let u: [__m512; 16] = std::array::from_fn(|i| {
        let (g, e) = (i / 4, i % 4);
        let (a, b) = (
            _mm512_castps_pd(t[4 * g + (e / 2)]),
            _mm512_castps_pd(t[4 * g + 2 + (e / 2)]),
        );
        _mm512_castpd_ps(if e % 2 == 0 {
            _mm512_unpacklo_pd(a, b)
        } else {
            _mm512_unpackhi_pd(a, b)
        })
    });
    // Result 4L + e: lane L of u[e], u[4 + e], u[8 + e], u[12 + e].
    let mut out = [_mm512_setzero_ps(); 16];
    for e in 0..4 {
        let x0 = _mm512_shuffle_f32x4::<0x88>(u[e], u[4 + e]);
        let x1 = _mm512_shuffle_f32x4::<0xDD>(u[e], u[4 + e]);
        let x2 = _mm512_shuffle_f32x4::<0x88>(u[8 + e], u[12 + e]);
        let x3 = _mm512_shuffle_f32x4::<0xDD>(u[8 + e], u[12 + e]);
        out[e] = _mm512_shuffle_f32x4::<0x88>(x0, x2);
        out[8 + e] = _mm512_shuffle_f32x4::<0xDD>(x0, x2);
        out[4 + e] = _mm512_shuffle_f32x4::<0x88>(x1, x3);
        out[12 + e] = _mm512_shuffle_f32x4::<0xDD>(x1, x3);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform values in [-width/2, width/2) from a small LCG, reproducible per seed.
    fn uniform(seed: u64, width: f32) -> impl FnMut() -> f32 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * width
        }
    }

    #[test]
    fn weighted_sums_equal_the_scalar_loop_bit_for_bit() {
        let mut rnd = uniform(11, 4.0);
        for heads in [1, 2, 5, 7] {
            for keys in [0, 1, 9, 40] {
                let stride = 128;
                let w: Vec<f32> = (0..heads * keys).map(|_| rnd()).collect();
                let v: Vec<f32> = (0..keys * stride).map(|_| rnd()).collect();
                let (mut got, mut want) = (vec![f32::NAN; heads * 64], vec![f32::NAN; heads * 64]);
                weighted_sums(&w, &v, stride, &mut got, 64);
                weighted_sums_scalar(&w, &v, stride, &mut want, 64);
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "heads {heads} keys {keys}");
            }
        }
    }

    #[test]
    fn scores_equal_dot_bit_for_bit() {
        let mut rnd = uniform(7, 8.0);
        for (hd, stride) in [(64, 128), (64, 64), (128, 256), (40, 80)] {
            for keys in [0, 1, 15, 16, 17, 33, 70] {
                let q: Vec<f32> = (0..hd).map(|_| rnd()).collect();
                let k: Vec<f32> = (0..keys * stride).map(|_| rnd()).collect();
                let mut got = vec![f32::NAN; keys];
                scores(&q, &k, stride, 0.125, &mut got);
                for (j, g) in got.iter().enumerate() {
                    let want = dot(&q, &k[j * stride..j * stride + hd]) * 0.125;
                    assert_eq!(g.to_bits(), want.to_bits(), "hd {hd} keys {keys} key {j}");
                }
            }
        }
    }
}
