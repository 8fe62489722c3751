//! AVX2 / AVX512-VNNI kernels over the 8-row interleaved layout (see `pack.rs`). Lane r of
//! every 256-bit vector belongs to output row r of the group, so a block's 8 row sums come
//! out of the integer dot products without horizontal adds. `MR` activation rows share each
//! decoded weight block: a tile reads the group's weights once for `MR` output rows.
//!
//! The integer dot product `dot` is `vpdpbusd` (unsigned weight codes × signed activations)
//! with AVX512-VNNI, else `vpmaddubsw` + `vpmaddwd`; every code fed to it is at most 63 (or
//! |q8| with the sign trick), so the 16-bit pair sums of the AVX2 path cannot saturate. The
//! AVX2 path of the 4-, 5- and 6-bit types adds several pair sums in 16 bits before one
//! `vpmaddwd` widens them (by the sub-block scale, for k-quants): as many as the code width
//! allows without overflow, so results stay exact and equal to the VNNI path's.

// Tiles index several arrays (accumulators, activation rows) by the same row number.
#![allow(clippy::needless_range_loop)]

use super::act::{ActKind, Acts};
use super::pack::{Kind, Packed, ROWS};
use half::f16;
use std::arch::x86_64::*;

/// Activation rows per tile.
const MR: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx2,
    Vnni,
    /// AVX512-VNNI plus AMX tiles for 16 or more rows of the 32-element types (`amx.rs`).
    Amx,
}

impl Isa {
    pub(crate) fn detect() -> Option<Isa> {
        let base = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        if !base {
            return None;
        }
        if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") {
            // For comparisons: TRADEOFF_KERNELS=vnni leaves the AMX tiles unused.
            let no_amx = std::env::var("TRADEOFF_KERNELS").is_ok_and(|v| v == "vnni");
            Some(if !no_amx && super::amx::available() {
                Isa::Amx
            } else {
                Isa::Vnni
            })
        } else {
            Some(Isa::Avx2)
        }
    }
}

/// Output for activation rows `rows`, row groups `groups`: `out[i * ldo + 8 * (g - g0) + r]`
/// for the rows of the group that exist (`r < n - 8g`).
pub(crate) struct Job<'a> {
    pub(crate) w: &'a Packed,
    pub(crate) a: &'a Acts,
    pub(crate) rows: std::ops::Range<usize>,
    pub(crate) groups: std::ops::Range<usize>,
    pub(crate) out: *mut f32,
    pub(crate) ldo: usize,
}

/// # Safety
/// `isa` must have been detected on this CPU, `job.out` must be valid for the writes
/// described on `Job` and not written by anyone else meanwhile.
pub(crate) unsafe fn run(isa: Isa, job: &Job<'_>) {
    match isa {
        Isa::Amx => super::amx::run(job),
        Isa::Vnni => run_vnni(job),
        Isa::Avx2 => run_avx2(job),
    }
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
pub(super) unsafe fn run_vnni(job: &Job<'_>) {
    run_generic::<true>(job)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn run_avx2(job: &Job<'_>) {
    run_generic::<false>(job)
}

#[inline(always)]
unsafe fn run_generic<const VNNI: bool>(job: &Job<'_>) {
    let w = job.w;
    let gsz = w.kind.group_bytes();
    let nb = w.k / w.kind.block();
    for g in job.groups.clone() {
        let wg = w.data.as_ptr().add(g * nb * gsz);
        let cols = (w.n - g * ROWS).min(ROWS);
        let col0 = (g - job.groups.start) * ROWS;
        let mut i = job.rows.start;
        while i < job.rows.end {
            let mr = (job.rows.end - i).min(MR);
            let mut acc = [_mm256_setzero_ps(); MR];
            match mr {
                4 => tile::<4, VNNI>(w.kind, wg, nb, job.a, i, &mut acc),
                3 => tile::<3, VNNI>(w.kind, wg, nb, job.a, i, &mut acc),
                2 => tile::<2, VNNI>(w.kind, wg, nb, job.a, i, &mut acc),
                _ => tile::<1, VNNI>(w.kind, wg, nb, job.a, i, &mut acc),
            }
            for (t, v) in acc.iter().take(mr).enumerate() {
                let dst = job.out.add((i + t) * job.ldo + col0);
                if cols == ROWS {
                    _mm256_storeu_ps(dst, *v);
                } else {
                    let mut tmp = [0f32; ROWS];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), *v);
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
                }
            }
            i += mr;
        }
    }
}

#[inline(always)]
unsafe fn tile<const M: usize, const VNNI: bool>(
    kind: Kind,
    w: *const u8,
    nb: usize,
    a: &Acts,
    i0: usize,
    acc: &mut [__m256; MR],
) {
    match kind {
        Kind::Q4_0 => q4_0::<M, VNNI>(w, nb, a, i0, acc),
        Kind::Q4_1 => q4_1::<M, VNNI>(w, nb, a, i0, acc),
        Kind::Q5_0 => q5_0::<M, VNNI>(w, nb, a, i0, acc),
        Kind::Q8_0 => q8_0::<M, VNNI>(w, nb, a, i0, acc),
        Kind::Q4K => q4k::<M, VNNI>(w, nb, a, i0, acc),
        Kind::Q6K => q6k::<M, VNNI>(w, nb, a, i0, acc),
    }
}

/// `acc + Σ u·s` over groups of 4 bytes per 32-bit lane (`u` unsigned, `s` signed).
#[inline(always)]
unsafe fn dot<const VNNI: bool>(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
    if VNNI {
        _mm256_dpbusd_epi32(acc, u, s)
    } else {
        let p = _mm256_maddubs_epi16(u, s);
        _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
    }
}

/// The 4 activation bytes at `p`, in every lane.
#[inline(always)]
unsafe fn bcast(p: *const i8) -> __m256i {
    _mm256_set1_epi32(std::ptr::read_unaligned(p as *const i32))
}

#[inline(always)]
pub(super) unsafe fn load(p: *const u8) -> __m256i {
    _mm256_loadu_si256(p as *const __m256i)
}

#[inline(always)]
pub(super) unsafe fn f16x8(p: *const u8) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
}

/// The 8 code vectors of a nibble chunk: `[lo g0..g3, hi g0..g3]`.
#[inline(always)]
pub(super) unsafe fn nibbles(p: *const u8) -> [__m256i; 8] {
    let m4 = _mm256_set1_epi8(15);
    let mut v = [_mm256_setzero_si256(); 8];
    for g in 0..4 {
        let x = load(p.add(32 * g));
        v[g] = _mm256_and_si256(x, m4);
        v[4 + g] = _mm256_and_si256(_mm256_srli_epi16::<4>(x), m4);
    }
    v
}

/// Σ over a 32-element chunk of codes `v` (from `nibbles`) × activations at `ap`; codes
/// have at most `BITS` bits (4 or 5).
#[inline(always)]
unsafe fn dot_chunk<const VNNI: bool, const BITS: u32>(
    init: __m256i,
    v: &[__m256i; 8],
    ap: *const i8,
) -> __m256i {
    if VNNI {
        let mut s = init;
        for g in 0..4 {
            s = dot::<VNNI>(s, v[g], bcast(ap.add(4 * g)));
            s = dot::<VNNI>(s, v[4 + g], bcast(ap.add(16 + 4 * g)));
        }
        return s;
    }
    let ones = _mm256_set1_epi16(1);
    if BITS == 4 {
        _mm256_add_epi32(init, _mm256_madd_epi16(pairs16(v, ap, 0..4), ones))
    } else {
        let lo = _mm256_madd_epi16(pairs16(v, ap, 0..2), ones);
        let hi = _mm256_madd_epi16(pairs16(v, ap, 2..4), ones);
        _mm256_add_epi32(init, _mm256_add_epi32(lo, hi))
    }
}

/// AVX2: the 16-bit pair sums of `vpmaddubsw` over vectors `g` and `4 + g` of a chunk, for `g`
/// in `gs`, added without widening. Activations lie in [-127, 127], so a pair of 4-bit codes is
/// at most 3810 and 8 of them fit i16 (30480); 5-bit codes allow 4, 6-bit codes 2. One
/// `vpmaddwd` then widens the lot, where widening each product took eight.
#[inline(always)]
unsafe fn pairs16(v: &[__m256i; 8], ap: *const i8, gs: std::ops::Range<usize>) -> __m256i {
    let mut s = _mm256_setzero_si256();
    for g in gs {
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v[g], bcast(ap.add(4 * g))));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(v[4 + g], bcast(ap.add(16 + 4 * g))));
    }
    s
}

/// Each 32-bit lane's value (which must fit i16) in both of its 16-bit halves, so that
/// `vpmaddwd` multiplies both pair sums of the lane by it.
#[inline(always)]
unsafe fn widen16(x: __m256i) -> __m256i {
    _mm256_blend_epi16::<0xAA>(x, _mm256_slli_epi32::<16>(x))
}

/// A 32-bit value whose low 16 bits hold `x` (which must fit i16) and high 16 bits zero:
/// `vpmaddwd` with zero-extended bytes then multiplies them by `x`.
#[inline(always)]
pub(super) fn low16(x: i32) -> i32 {
    x as i16 as u16 as i32
}

/// Adds block `b` of a row group stored as unsigned codes `q + offset` (scales `dw`) times
/// each of the M activation rows to `acc`; `offset · Σa` is subtracted up front.
#[inline(always)]
unsafe fn offset_block<const M: usize, const VNNI: bool, const BITS: u32>(
    v: &[__m256i; 8],
    offset: i32,
    dw: __m256,
    a: &Acts,
    i0: usize,
    b: usize,
    acc: &mut [__m256; MR],
) {
    let k = a.k;
    for t in 0..M {
        let i = i0 + t;
        let ap = a.qs.as_ptr().add(i * k + 32 * b);
        let init = _mm256_set1_epi32(-offset * a.sums[i * k / 32 + b]);
        let s = dot_chunk::<VNNI, BITS>(init, v, ap);
        let sc = _mm256_mul_ps(dw, _mm256_set1_ps(a.d[i * k / 32 + b]));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), sc, acc[t]);
    }
}

#[inline(always)]
unsafe fn q4_0<const M: usize, const VNNI: bool>(
    w: *const u8,
    nb: usize,
    a: &Acts,
    i0: usize,
    acc: &mut [__m256; MR],
) {
    for b in 0..nb {
        let p = w.add(b * 144);
        let dw = f16x8(p);
        let v = nibbles(p.add(16));
        // Codes are q + 8.
        offset_block::<M, VNNI, 4>(&v, 8, dw, a, i0, b, acc);
    }
}

#[inline(always)]
unsafe fn q4_1<const M: usize, const VNNI: bool>(
    w: *const u8,
    nb: usize,
    a: &Acts,
    i0: usize,
    acc: &mut [__m256; MR],
) {
    let k = a.k;
    for b in 0..nb {
        let p = w.add(b * 160);
        let dw = f16x8(p);
        let mw = f16x8(p.add(16));
        let v = nibbles(p.add(32));
        for t in 0..M {
            let i = i0 + t;
            let ap = a.qs.as_ptr().add(i * k + 32 * b);
            let s = dot_chunk::<VNNI, 4>(_mm256_setzero_si256(), &v, ap);
            let blk = i * k / 32 + b;
            let sc = _mm256_mul_ps(dw, _mm256_set1_ps(a.d[blk]));
            let x = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), sc, acc[t]);
            acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(a.s[blk]), x);
        }
    }
}

/// Bit `b` of every byte of `h` moved to bit 4, the rest cleared (epi16 shifts; the mask
/// drops what crossed a byte boundary).
#[inline(always)]
unsafe fn bit4(h: __m256i, b: usize) -> __m256i {
    let x = match b {
        0 => _mm256_slli_epi16::<4>(h),
        1 => _mm256_slli_epi16::<3>(h),
        2 => _mm256_slli_epi16::<2>(h),
        3 => _mm256_slli_epi16::<1>(h),
        4 => h,
        5 => _mm256_srli_epi16::<1>(h),
        6 => _mm256_srli_epi16::<2>(h),
        _ => _mm256_srli_epi16::<3>(h),
    };
    _mm256_and_si256(x, _mm256_set1_epi8(0x10))
}

/// The 8 code vectors of a packed Q5_0 block at `p` (q + 16), in `nibbles`' order.
#[inline(always)]
pub(super) unsafe fn q5_0_codes(p: *const u8) -> [__m256i; 8] {
    let mut v = nibbles(p.add(16));
    let h = load(p.add(144));
    for g in 0..4 {
        v[g] = _mm256_or_si256(v[g], bit4(h, g));
        v[4 + g] = _mm256_or_si256(v[4 + g], bit4(h, 4 + g));
    }
    v
}

#[inline(always)]
unsafe fn q5_0<const M: usize, const VNNI: bool>(
    w: *const u8,
    nb: usize,
    a: &Acts,
    i0: usize,
    acc: &mut [__m256; MR],
) {
    for b in 0..nb {
        let p = w.add(b * 176);
        let dw = f16x8(p);
        let v = q5_0_codes(p);
        // Codes are q + 16.
        offset_block::<M, VNNI, 5>(&v, 16, dw, a, i0, b, acc);
    }
}

#[inline(always)]
unsafe fn q8_0<const M: usize, const VNNI: bool>(
    w: *const u8,
    nb: usize,
    a: &Acts,
    i0: usize,
    acc: &mut [__m256; MR],
) {
    let k = a.k;
    let flip = _mm256_set1_epi8(-128);
    for b in 0..nb {
        let p = w.add(b * 272);
        let dw = f16x8(p);
        let mut v = [_mm256_setzero_si256(); 8];
        let mut u = [_mm256_setzero_si256(); 8];
        for g in 0..8 {
            v[g] = load(p.add(16 + 32 * g));
            // VNNI: codes + 128 as unsigned (corrected with Σa); AVX2: |w| with sign moved
            // onto the activations, which keeps vpmaddubsw from saturating.
            u[g] = if VNNI {
                _mm256_xor_si256(v[g], flip)
            } else {
                _mm256_abs_epi8(v[g])
            };
        }
        for t in 0..M {
            let i = i0 + t;
            let ap = a.qs.as_ptr().add(i * k + 32 * b);
            let mut s = if VNNI {
                _mm256_set1_epi32(-128 * a.sums[i * k / 32 + b])
            } else {
                _mm256_setzero_si256()
            };
            for g in 0..8 {
                let x = bcast(ap.add(4 * g));
                let x = if VNNI { x } else { _mm256_sign_epi8(x, v[g]) };
                s = dot::<VNNI>(s, u[g], x);
            }
            let sc = _mm256_mul_ps(dw, _mm256_set1_ps(a.d[i * k / 32 + b]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), sc, acc[t]);
        }
    }
}

#[inline(always)]
unsafe fn q4k<const M: usize, const VNNI: bool>(
    w: *const u8,
    nb: usize,
    a: &Acts,
    i0: usize,
    acc: &mut [__m256; MR],
) {
    let k = a.k;
    for b in 0..nb {
        let p = w.add(b * 1184);
        let mut isum = [_mm256_setzero_si256(); MR];
        let mut msum = [_mm256_setzero_si256(); MR];
        for c in 0..8 {
            let v = nibbles(p.add(160 + 128 * c));
            let sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(32 + 8 * c) as *const __m128i));
            let mn = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(96 + 8 * c) as *const __m128i));
            let sc16 = widen16(sc);
            for t in 0..M {
                let i = i0 + t;
                let ap = a.qs.as_ptr().add(i * k + 256 * b + 32 * c);
                let s = if VNNI {
                    let s = dot_chunk::<VNNI, 4>(_mm256_setzero_si256(), &v, ap);
                    _mm256_mullo_epi32(s, sc)
                } else {
                    _mm256_madd_epi16(pairs16(&v, ap, 0..4), sc16)
                };
                isum[t] = _mm256_add_epi32(isum[t], s);
                let j = (i * k + 256 * b + 32 * c) / 16;
                let bs = _mm256_set1_epi32(low16(a.sums[j] + a.sums[j + 1]));
                msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(mn, bs));
            }
        }
        let dw = f16x8(p);
        let dmin = f16x8(p.add(16));
        for t in 0..M {
            let da = _mm256_set1_ps(a.d[(i0 + t) * k / 256 + b]);
            let x = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, da), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[t]), _mm256_mul_ps(dmin, da), x);
        }
    }
}

/// Bits 4-5 of every byte from bits `2g..2g + 2` of `h` (epi16 shifts; the mask drops
/// what crossed a byte boundary).
#[inline(always)]
unsafe fn high2(h: __m256i, g: usize) -> __m256i {
    let x = match g {
        0 => _mm256_slli_epi16::<4>(h),
        1 => _mm256_slli_epi16::<2>(h),
        2 => h,
        _ => _mm256_srli_epi16::<2>(h),
    };
    _mm256_and_si256(x, _mm256_set1_epi8(0x30))
}

/// The 8 code vectors of chunk `c` of a packed Q6_K block at `p` (q + 32), in `nibbles`'
/// order: vectors 0–3 the chunk's first 16-element sub-block, 4–7 its second.
#[inline(always)]
pub(super) unsafe fn q6k_codes(p: *const u8, c: usize) -> [__m256i; 8] {
    let mut v = nibbles(p.add(144 + 128 * c));
    let h0 = load(p.add(144 + 1024 + 64 * c));
    let h1 = load(p.add(144 + 1024 + 64 * c + 32));
    for g in 0..4 {
        v[g] = _mm256_or_si256(v[g], high2(h0, g));
        v[4 + g] = _mm256_or_si256(v[4 + g], high2(h1, g));
    }
    v
}

#[inline(always)]
unsafe fn q6k<const M: usize, const VNNI: bool>(
    w: *const u8,
    nb: usize,
    a: &Acts,
    i0: usize,
    acc: &mut [__m256; MR],
) {
    let k = a.k;
    for b in 0..nb {
        let p = w.add(b * 1680);
        let mut isum = [_mm256_setzero_si256(); MR];
        for c in 0..8 {
            let v = q6k_codes(p, c);
            let sc_lo = _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(16 + 16 * c) as *const __m128i));
            let sc_hi =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(16 + 16 * c + 8) as *const __m128i));
            // Lane r: row r's two sub-block scales as i16, for the offset term.
            let scp = _mm256_blend_epi16::<0xAA>(sc_lo, _mm256_slli_epi32::<16>(sc_hi));
            let (sl16, sh16) = (widen16(sc_lo), widen16(sc_hi));
            for t in 0..M {
                let i = i0 + t;
                let ap = a.qs.as_ptr().add(i * k + 256 * b + 32 * c);
                let j = (i * k + 256 * b + 32 * c) / 16;
                // Codes are q + 32: subtract 32 Σa per 16-element sub-block.
                let s = if VNNI {
                    let mut lo = _mm256_set1_epi32(-32 * a.sums[j]);
                    let mut hi = _mm256_set1_epi32(-32 * a.sums[j + 1]);
                    for g in 0..4 {
                        lo = dot::<VNNI>(lo, v[g], bcast(ap.add(4 * g)));
                        hi = dot::<VNNI>(hi, v[4 + g], bcast(ap.add(16 + 4 * g)));
                    }
                    _mm256_add_epi32(_mm256_mullo_epi32(lo, sc_lo), _mm256_mullo_epi32(hi, sc_hi))
                } else {
                    // Two 6-bit products fit i16 (2·2·63·127 = 32004): vectors g and g + 1
                    // of one 16-element half are added before widening.
                    let two = |g: usize, sc16: __m256i| {
                        let p = _mm256_add_epi16(
                            _mm256_maddubs_epi16(v[g], bcast(ap.add(4 * g))),
                            _mm256_maddubs_epi16(v[g + 1], bcast(ap.add(4 * g + 4))),
                        );
                        _mm256_madd_epi16(p, sc16)
                    };
                    let lo = _mm256_add_epi32(two(0, sl16), two(2, sl16));
                    let hi = _mm256_add_epi32(two(4, sh16), two(6, sh16));
                    let sp = _mm256_set1_epi32(low16(a.sums[j]) | (a.sums[j + 1] << 16));
                    let off = _mm256_slli_epi32::<5>(_mm256_madd_epi16(scp, sp));
                    _mm256_sub_epi32(_mm256_add_epi32(lo, hi), off)
                };
                isum[t] = _mm256_add_epi32(isum[t], s);
            }
        }
        let dw = f16x8(p);
        for t in 0..M {
            let da = _mm256_set1_ps(a.d[(i0 + t) * k / 256 + b]);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, da), acc[t]);
        }
    }
}

/// `Acts::quantize_scalar` with AVX2, the same results bit for bit (ggml's AVX2
/// quantize_row_q8_0 / q8_1 and quantize_row_q8_K_ref).
///
/// # Safety
/// AVX2 and FMA must be available; `a` must be sized for `x` (`Acts::zeroed`).
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn quantize(kind: ActKind, x: &[f32], a: &mut Acts) {
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let amax32 = |p: *const f32| -> f32 {
        let mut m = _mm256_setzero_ps();
        for j in 0..4 {
            m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(p.add(8 * j)), abs_mask));
        }
        let h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
        let h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps::<1>(h, h)))
    };
    match kind {
        ActKind::Q8_0 | ActKind::Q8_1 => {
            for b in 0..x.len() / 32 {
                let p = x.as_ptr().add(32 * b);
                let amax = amax32(p);
                let d = amax / 127.0;
                let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
                let (lo, hi) = q8_32(p, id, i32::MAX, a.qs.as_mut_ptr().add(32 * b));
                let sum = lo + hi;
                a.d[b] = f16::from_f32(d).to_f32();
                a.sums[b] = sum;
                if kind == ActKind::Q8_1 {
                    a.s[b] = f16::from_f32(d * sum as f32).to_f32();
                }
            }
        }
        ActKind::Q8K => {
            for b in 0..x.len() / 256 {
                let p = x.as_ptr().add(256 * b);
                let amax = (0..8).map(|j| amax32(p.add(32 * j))).fold(0f32, f32::max);
                if amax == 0.0 {
                    continue;
                }
                // The signed value of the first element of largest magnitude, as the scalar
                // loop finds it.
                let xb = std::slice::from_raw_parts(p, 256);
                let max = *xb.iter().find(|v| v.abs() == amax).unwrap_or(&amax);
                let iscale = -127.0 / max;
                for j in 0..8 {
                    let q = a.qs.as_mut_ptr().add(256 * b + 32 * j);
                    let (lo, hi) = q8_32(p.add(32 * j), iscale, 127, q);
                    a.sums[16 * b + 2 * j] = lo;
                    a.sums[16 * b + 2 * j + 1] = hi;
                }
                a.d[b] = 1.0 / iscale;
            }
        }
    }
}

/// Rounds 32 values × `scale` to even, caps them at `cap`, stores them as bytes at `q` and
/// returns the sums of the first and the last 16.
#[inline(always)]
unsafe fn q8_32(p: *const f32, scale: f32, cap: i32, q: *mut i8) -> (i32, i32) {
    let m = _mm256_set1_ps(scale);
    let cap = _mm256_set1_epi32(cap);
    let mut v = [_mm256_setzero_si256(); 4];
    for j in 0..4 {
        let x = _mm256_mul_ps(_mm256_loadu_ps(p.add(8 * j)), m);
        let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
        v[j] = _mm256_min_epi32(_mm256_cvtps_epi32(r), cap);
    }
    let hsum = |x: __m256i| {
        let h = _mm_add_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256::<1>(x));
        let h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
        _mm_cvtsi128_si32(_mm_add_epi32(h, _mm_shuffle_epi32::<1>(h)))
    };
    let lo = hsum(_mm256_add_epi32(v[0], v[1]));
    let hi = hsum(_mm256_add_epi32(v[2], v[3]));
    // packs work per 128-bit lane: the permutation puts the 8-byte runs back in order.
    let p01 = _mm256_packs_epi32(v[0], v[1]);
    let p23 = _mm256_packs_epi32(v[2], v[3]);
    let b = _mm256_packs_epi16(p01, p23);
    let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(q as *mut __m256i, b);
    (lo, hi)
}
