//! Activations quantized the way llama.cpp's CPU backend quantizes them before a quantized
//! matmul (Q8_0 for Q4_0/Q8_0 weights, Q8_1 for Q4_1, Q8_K for k-quants), so that tradeoff's
//! numbers and llama.cpp's differ only in summation order.

use half::f16;

/// Which of llama.cpp's "vec dot" activation types a weight type multiplies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActKind {
    Q8_0,
    Q8_1,
    Q8K,
}

impl ActKind {
    /// Elements sharing one scale.
    pub(crate) fn block(self) -> usize {
        match self {
            ActKind::Q8_0 | ActKind::Q8_1 => 32,
            ActKind::Q8K => 256,
        }
    }

    /// Elements per integer partial sum (`Acts::sums`).
    pub(crate) fn sum_block(self) -> usize {
        match self {
            ActKind::Q8_0 | ActKind::Q8_1 => 32,
            ActKind::Q8K => 16,
        }
    }
}

/// `m` rows of `k` quantized activations, row-major, with per-block scales and sums (then
/// zero rows up to a multiple of 16).
pub(crate) struct Acts {
    pub(crate) k: usize,
    pub(crate) qs: Vec<i8>,
    /// Scale per `block()` elements (already rounded through f16 where llama.cpp stores f16).
    pub(crate) d: Vec<f32>,
    /// Sum of the quantized values per `sum_block()` elements: the kernels use it for the
    /// constant offsets of unsigned weight codes and for k-quant minimums.
    pub(crate) sums: Vec<i32>,
    /// Q8_1 only: `d * sum` rounded through f16, per block, as llama.cpp stores it.
    pub(crate) s: Vec<f32>,
}

impl Acts {
    pub(crate) fn quantize(kind: ActKind, x: &[f32], k: usize) -> Acts {
        let mut a = Acts::zeroed(kind, x.len(), k);
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were just detected.
            unsafe { super::x86::quantize(kind, x, &mut a) };
            return a;
        }
        a.quantize_scalar(kind, x);
        a
    }

    /// Room for `len / k` rows, and zero rows up to a multiple of 16 after them: AMX tiles
    /// read 16 rows at a time.
    pub(super) fn zeroed(kind: ActKind, len: usize, k: usize) -> Acts {
        debug_assert_eq!(len % k, 0);
        debug_assert_eq!(k % kind.block(), 0);
        let len = (len / k).next_multiple_of(16) * k;
        Acts {
            k,
            qs: vec![0; len],
            d: vec![0.0; len / kind.block()],
            sums: vec![0; len / kind.sum_block()],
            s: if kind == ActKind::Q8_1 {
                vec![0.0; len / 32]
            } else {
                Vec::new()
            },
        }
    }

    /// The reference the SIMD version (`x86::quantize`) must equal bit for bit.
    pub(crate) fn quantize_scalar(&mut self, kind: ActKind, x: &[f32]) {
        let a = self;
        match kind {
            ActKind::Q8_0 | ActKind::Q8_1 => {
                for (b, (xb, qb)) in x
                    .chunks_exact(32)
                    .zip(a.qs.chunks_exact_mut(32))
                    .enumerate()
                {
                    // ggml's AVX2 quantize_row_q8_0/q8_1: id = 127/amax, round half to even.
                    let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let d = amax / 127.0;
                    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
                    let mut sum = 0i32;
                    for (q, &v) in qb.iter_mut().zip(xb) {
                        *q = (v * id).round_ties_even() as i8;
                        sum += *q as i32;
                    }
                    a.d[b] = f16::from_f32(d).to_f32();
                    a.sums[b] = sum;
                    if kind == ActKind::Q8_1 {
                        a.s[b] = f16::from_f32(d * sum as f32).to_f32();
                    }
                }
            }
            ActKind::Q8K => {
                for (b, (xb, qb)) in x
                    .chunks_exact(256)
                    .zip(a.qs.chunks_exact_mut(256))
                    .enumerate()
                {
                    // ggml's quantize_row_q8_K_ref: scale from the signed value of largest
                    // magnitude, -127/max, nearest_int (ties to even), capped at 127.
                    let (mut amax, mut max) = (0f32, 0f32);
                    for &v in xb {
                        if v.abs() > amax {
                            amax = v.abs();
                            max = v;
                        }
                    }
                    if amax == 0.0 {
                        continue;
                    }
                    let iscale = -127.0 / max;
                    for (q, &v) in qb.iter_mut().zip(xb) {
                        *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
                    }
                    for (j, s) in qb.chunks_exact(16).enumerate() {
                        a.sums[b * 16 + j] = s.iter().map(|&q| q as i32).sum();
                    }
                    a.d[b] = 1.0 / iscale;
                }
            }
        }
    }

    /// The activations as the kernels see them, dequantized (tests' reference).
    #[cfg(test)]
    pub(crate) fn dequantize(&self, kind: ActKind) -> Vec<f32> {
        let b = kind.block();
        self.qs
            .iter()
            .enumerate()
            .map(|(i, &q)| q as f32 * self.d[i / b])
            .collect()
    }
}
