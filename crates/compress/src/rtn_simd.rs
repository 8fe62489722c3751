//! Round-to-nearest Q8_0 and Q4_0 with AVX2: the bytes candle's `from_float` (and ggml's
//! reference quantizers) write, computed with the same operations lane by lane; and Q5_0
//! dequantization (most tensors of the distributed Q4_K_M files), the values candle's
//! `to_float` gives. candle's scalar loops were the largest part of a requantization's time.

use candle_core::quantized::GgmlDType;
use half::f16;

/// Writes one block's GGML bytes from 32 values.
type BlockFn = unsafe fn(&[f32], &mut [u8]);

/// Writes the GGML blocks of `x` (whole 32-element blocks) as `dtype` into `out` (their
/// size); false where this CPU or type has no fast path (types other than Q8_0 and Q4_0).
pub(crate) fn quantize_into(dtype: GgmlDType, x: &[f32], out: &mut [u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if x.len().is_multiple_of(32) && is_x86_feature_detected!("avx2") {
        let (bytes, f): (usize, BlockFn) = match dtype {
            GgmlDType::Q8_0 => (34, x86::q8_0),
            GgmlDType::Q4_0 => (18, x86::q4_0),
            _ => return false,
        };
        assert_eq!(
            out.len(),
            x.len() / 32 * bytes,
            "one block of output per 32 values"
        );
        for (xb, ob) in x.chunks_exact(32).zip(out.chunks_exact_mut(bytes)) {
            // SAFETY: AVX2 was just detected; xb holds 32 values, ob one block.
            unsafe { f(xb, ob) };
        }
        return true;
    }
    let _ = (dtype, x, out);
    false
}

/// The f32 values of Q5_0 blocks `raw` into `out` (32 per block); false where this CPU has
/// no fast path.
pub(crate) fn dequantize_q5_0(raw: &[u8], out: &mut [f32]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        assert_eq!(
            raw.len() / 22 * 32,
            out.len(),
            "32 values per 22-byte block"
        );
        for (b, o) in raw.chunks_exact(22).zip(out.chunks_exact_mut(32)) {
            // SAFETY: AVX2 was just detected; b is one block, o holds its 32 values.
            unsafe { x86::q5_0_to_f32(b, o) };
        }
        return true;
    }
    let _ = (raw, out);
    false
}

fn put_f16(out: &mut [u8], d: f32) {
    out[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::put_f16;
    use half::f16;
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn load(x: &[f32]) -> [__m256; 4] {
        std::array::from_fn(|j| _mm256_loadu_ps(x.as_ptr().add(8 * j)))
    }

    #[inline(always)]
    unsafe fn abs(x: __m256) -> __m256 {
        _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff)))
    }

    /// max |x| over the block (NaN ignored as f32::max does: `_mm256_max_ps` returns its
    /// second operand when the first is NaN, and no NaN reaches the second).
    #[inline(always)]
    unsafe fn amax(v: &[__m256; 4]) -> f32 {
        let mut m = _mm256_setzero_ps();
        for x in v {
            m = _mm256_max_ps(abs(*x), m);
        }
        let h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps::<1>(h, h)))
    }

    /// Index of the first element whose magnitude is `amax` (one exists).
    #[inline(always)]
    unsafe fn first_at(v: &[__m256; 4], amax: f32) -> usize {
        let target = _mm256_set1_ps(amax);
        let mut bits = 0u32;
        for (j, x) in v.iter().enumerate() {
            let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(abs(*x), target);
            bits |= (_mm256_movemask_ps(eq) as u32) << (8 * j);
        }
        bits.trailing_zeros() as usize
    }

    /// Bytes of 32 i32 lanes, in order: each within i8 (`signed`) or u8.
    #[inline(always)]
    unsafe fn bytes(q: [__m256i; 4], signed: bool) -> __m256i {
        let b = if signed {
            let p01 = _mm256_packs_epi32(q[0], q[1]);
            let p23 = _mm256_packs_epi32(q[2], q[3]);
            _mm256_packs_epi16(p01, p23)
        } else {
            let p01 = _mm256_packus_epi32(q[0], q[1]);
            let p23 = _mm256_packus_epi32(q[2], q[3]);
            _mm256_packus_epi16(p01, p23)
        };
        // Packing works per 128-bit lane: the permutation puts the 4-byte runs back in order.
        _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }

    /// candle's `BlockQ8_0::from_float`: d = amax / 127, q = round(x / d), halves away from 0.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn q8_0(x: &[f32], out: &mut [u8]) {
        let v = load(x);
        let d = amax(&v) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(out, d);
        let sign = _mm256_set1_ps(-0.0);
        let (half, one) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
        let q = v.map(|x| {
            let y = _mm256_mul_ps(x, _mm256_set1_ps(id));
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
            // y - t is exact; a fraction of at least one half moves one away from zero.
            let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(y, t));
            let away = _mm256_or_ps(_mm256_and_ps(y, sign), one);
            let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(frac, half), away);
            _mm256_cvtps_epi32(_mm256_add_ps(t, up))
        });
        _mm256_storeu_si256(out.as_mut_ptr().add(2) as *mut __m256i, bytes(q, true));
    }

    /// candle's `BlockQ5_0::to_float`: element j is the low nibble of qs[j] with bit j of qh
    /// as its fifth bit, less 16; element 16 + j the high nibble with bit 16 + j; each times d
    /// (exact integers converted and multiplied once, as there).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn q5_0_to_f32(b: &[u8], out: &mut [f32]) {
        let d = _mm256_set1_ps(f16::from_le_bytes([b[0], b[1]]).to_f32());
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let qs = _mm_loadu_si128(b.as_ptr().add(6) as *const __m128i);
        let lo = _mm_and_si128(qs, _mm_set1_epi8(0x0f));
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(qs), _mm_set1_epi8(0x0f));
        let nibbles = _mm256_set_m128i(hi, lo);
        // Byte j of the spread is 0xff where bit j of qh is set (ggml's bytes_from_bits_32).
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(qh as i32),
            _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            ),
        );
        let bits = _mm256_cmpeq_epi8(
            _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe)),
            _mm256_set1_epi64x(-1),
        );
        let q = _mm256_sub_epi8(
            _mm256_or_si256(nibbles, _mm256_and_si256(bits, _mm256_set1_epi8(0x10))),
            _mm256_set1_epi8(16),
        );
        let halves = [_mm256_castsi256_si128(q), _mm256_extracti128_si256::<1>(q)];
        for (h, half) in halves.into_iter().enumerate() {
            for (e, eights) in [half, _mm_srli_si128::<8>(half)].into_iter().enumerate() {
                let v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eights));
                let at = out.as_mut_ptr().add(16 * h + 8 * e);
                _mm256_storeu_ps(at, _mm256_mul_ps(v, d));
            }
        }
    }

    /// candle's `BlockQ4_0::from_float`: d = (the value of largest magnitude, first one) / -8,
    /// q = min(15, trunc(x / d + 8.5)), element j in the low nibble of byte j, 16 + j in the high.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn q4_0(x: &[f32], out: &mut [u8]) {
        let v = load(x);
        let amax = amax(&v);
        // candle keeps the first value of largest magnitude; none (so +0) when all are zero.
        let max = if amax > 0.0 {
            x[first_at(&v, amax)]
        } else {
            0.0
        };
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(out, d);
        let q = v.map(|x| {
            let y = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(id)), _mm256_set1_ps(8.5));
            let t = _mm256_max_epi32(_mm256_cvttps_epi32(y), _mm256_setzero_si256());
            _mm256_min_epi32(t, _mm256_set1_epi32(15))
        });
        let lo = [q[0], q[1]];
        let hi = [q[2], q[3]];
        let packed: [__m256i; 2] =
            std::array::from_fn(|j| _mm256_or_si256(lo[j], _mm256_slli_epi32::<4>(hi[j])));
        let zero = _mm256_setzero_si256();
        let b = bytes([packed[0], packed[1], zero, zero], false);
        _mm_storeu_si128(
            out.as_mut_ptr().add(2) as *mut __m128i,
            _mm256_castsi256_si128(b),
        );
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    #[test]
    fn bytes_equal_candles_quantizers() {
        let mut s = 3u64;
        let mut x: Vec<f32> = (0..32 * 400)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0
            })
            .collect();
        // A zero block, one of negative zeros, exact halves after scaling, a repeated maximum
        // of both signs, and an outlier.
        x[..32].fill(0.0);
        x[32..64].fill(-0.0);
        for (j, v) in x[64..96].iter_mut().enumerate() {
            *v = (j as f32 - 16.0) * 0.5;
        }
        x[96] = -2.0;
        x[100] = 2.0;
        x[130] = 40.0;
        for t in [GgmlDType::Q8_0, GgmlDType::Q4_0] {
            let w = Tensor::from_slice(&x, (400, 32), &Device::Cpu).unwrap();
            let want = QTensor::quantize(&w, t)
                .unwrap()
                .data()
                .unwrap()
                .into_owned();
            let mut got = vec![0u8; want.len()];
            assert!(
                super::quantize_into(t, &x, &mut got),
                "AVX2 on the test machines"
            );
            assert_eq!(got, want, "{t:?}");
        }
    }

    #[test]
    fn q5_0_values_equal_candles() {
        // Pseudo-random blocks: every high-bit and nibble pattern, finite scales.
        let n = 256;
        let mut raw: Vec<u8> = (0..n * 22)
            .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for b in raw.chunks_exact_mut(22) {
            b[1] &= 0x3f; // a finite f16 scale
        }
        let want = candle_core::quantized::ggml_file::qtensor_from_ggml(
            GgmlDType::Q5_0,
            &raw,
            vec![n, 32],
            &Device::Cpu,
        )
        .unwrap()
        .dequantize(&Device::Cpu)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
        let mut got = vec![0f32; n * 32];
        assert!(
            super::dequantize_q5_0(&raw, &mut got),
            "AVX2 on the test machines"
        );
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
    }
}
