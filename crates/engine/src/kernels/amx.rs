//! Intel AMX tiles for Q4_0, Q5_0, Q8_0, Q4_K and Q6_K once 16 or more activation rows come
//! together (batched decoding, prompts). One `tdpbssd` multiplies 16 activation rows by 16
//! weight rows (two packed groups) over a unit of 32 elements (16 for Q6_K) that shares one
//! scale per row: 8192 multiply-adds, where the VNNI path needs 32 instructions and as many
//! broadcasts. Each row group pair's blocks are decoded once per call into signed bytes in
//! the tiles' layout and reused by every 16-row tile of activations.
//!
//! Bit for bit the VNNI path's results: a block's integer sum is exact either way, and it is
//! scaled and added to the f32 accumulator with the same operations in the same block order.
//! So greedy output and result cache keys do not depend on which of the two runs. A last
//! partial tile of fewer than 8 rows, and Q4_1, go to the VNNI path.

// Tiles index several arrays (accumulators, sums, scales) by the same row number.
#![allow(clippy::needless_range_loop)]

use super::pack::{Kind, ROWS};
use super::x86::{self, f16x8, load, low16, nibbles, q5_0_codes, q6k_codes, Job};
use std::arch::asm;
use std::arch::x86_64::*;

/// Activation rows per tile, and weight rows per tile (two groups of `ROWS`).
const TILE: usize = 16;
/// Rows from which a partial tile goes to AMX rather than VNNI (a tile costs about as much as
/// 8 rows on VNNI).
const PARTIAL_MIN: usize = 8;

/// Whether this CPU has AMX-INT8 and the kernel lets this process use the tile data.
pub(super) fn available() -> bool {
    let ext = __cpuid_count(7, 0);
    let (tile, int8) = (ext.edx & (1 << 24) != 0, ext.edx & (1 << 25) != 0);
    tile && int8 && is_x86_feature_detected!("avx512bw") && request_tile_data()
}

/// Linux hands out the (large) tile state only on request: arch_prctl(ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA), once per process.
#[cfg(target_os = "linux")]
fn request_tile_data() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: a plain system call that changes no memory of ours.
    unsafe {
        asm!("syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _, lateout("r11") _,
            options(nostack));
    }
    ret == 0
}

#[cfg(not(target_os = "linux"))]
fn request_tile_data() -> bool {
    false
}

/// How a type's blocks split into tile products: `ku` activation bytes per product (a unit:
/// a whole 32-element block, a Q4_K sub-block of 32 or a Q6_K sub-block of 16, each with one
/// scale per weight row) and units per block.
fn units(kind: Kind) -> Option<(usize, usize)> {
    match kind {
        Kind::Q4_0 | Kind::Q5_0 | Kind::Q8_0 => Some((32, 1)),
        Kind::Q4K => Some((32, 8)),
        Kind::Q6K => Some((16, 16)),
        Kind::Q4_1 => None,
    }
}

/// Tiles 0–3: two pairs of units' 16 × 16 i32 sums; 4–5: a pair's 16 activation rows × `ku`
/// bytes; 6–7: its weights, `ku / 4` rows of 16 weight rows × 4 bytes.
#[repr(C, align(64))]
struct Config {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

impl Config {
    fn new(ku: usize) -> Config {
        let mut colsb = [0u16; 16];
        let mut rows = [0u8; 16];
        for t in 0..8 {
            (colsb[t], rows[t]) = match t {
                0..4 => (64, TILE as u8),
                4 | 5 => (ku as u16, TILE as u8),
                _ => (64, (ku / 4) as u8),
            };
        }
        Config {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            colsb,
            rows,
        }
    }
}

#[repr(C, align(64))]
struct SavedConfig([u8; 64]);

#[repr(C, align(64))]
struct Sums([[i32; TILE * TILE]; 2]);

/// A pair of row groups decoded for the tiles: per unit, the weight tile (`16 · ku` bytes) and,
/// for k-quants, the 16 rows' integer sub-block scales (and Q4_K's mins); per block, the 16
/// rows' scales `d` (and Q4_K's `dmin`).
struct Decoded {
    b: Vec<u8>,
    sc: Vec<i32>,
    mn: Vec<i32>,
    dw: Vec<f32>,
    dmin: Vec<f32>,
}

/// `x86::run`'s contract for `Isa::Amx`.
///
/// # Safety
/// `available()` must have returned true in this process; otherwise as `x86::run`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn run(job: &Job<'_>) {
    // A last partial tile runs on AMX too (over the zero rows after the activations) when it
    // has enough rows that VNNI would take longer.
    let rows = job.rows.len();
    let padded = job.a.qs.len() / job.a.k;
    let full =
        if rows % TILE >= PARTIAL_MIN && job.rows.start + rows.next_multiple_of(TILE) <= padded {
            rows.next_multiple_of(TILE)
        } else {
            rows / TILE * TILE
        };
    let Some((ku, _)) = units(job.w.kind).filter(|_| full > 0) else {
        return x86::run_vnni(job);
    };
    let (k, nb) = (job.w.k, job.w.k / job.w.kind.block());
    let mut dec = Decoded {
        b: vec![0; k * TILE],
        sc: vec![0; k / ku * TILE],
        mn: vec![0; k / ku * TILE],
        dw: vec![0.0; nb * TILE],
        dmin: vec![0.0; nb * TILE],
    };
    // candle's own AMX kernels configure each thread's tiles once and keep them: its
    // configuration (or none) is put back afterwards.
    let mut theirs = SavedConfig([0; 64]);
    asm!("sttilecfg [{}]", in(reg) &mut theirs, options(nostack));
    let config = Config::new(ku);
    asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly));
    let mut g = job.groups.start;
    while g < job.groups.end {
        let pair = (job.groups.end - g).min(2);
        decode(job, g, pair, &mut dec);
        for i0 in (job.rows.start..job.rows.start + full).step_by(TILE) {
            let acc = if ku == job.w.kind.block() {
                blocks32(job, &dec, i0)
            } else {
                kquant(job, &dec, i0, ku)
            };
            store(job, &acc, g, pair, i0);
        }
        g += pair;
    }
    // An all-zero configuration (palette 0) releases the tiles, as `tilerelease` would.
    asm!("ldtilecfg [{}]", in(reg) &theirs, options(nostack, readonly));
    if full < rows {
        let rest = Job {
            w: job.w,
            a: job.a,
            rows: job.rows.start + full..job.rows.end,
            groups: job.groups.clone(),
            out: job.out,
            ldo: job.ldo,
        };
        x86::run_vnni(&rest);
    }
}

/// Groups `g..g + pair` as signed codes in the tiles' layout: weight tile row `j` holds
/// elements `4j..4j + 4` of the unit for the 16 weight rows (`nibbles`' vector `j` of each
/// group), followed by the scales. A missing second group decodes as zeros.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn decode(job: &Job<'_>, g: usize, pair: usize, dec: &mut Decoded) {
    let w = job.w;
    let Some((ku, upb)) = units(w.kind) else {
        return;
    };
    let (gsz, nb) = (w.kind.group_bytes(), w.k / w.kind.block());
    let z = _mm256_setzero_si256();
    for b in 0..nb {
        for h in 0..2 {
            if h >= pair {
                for unit in upb * b..upb * (b + 1) {
                    put_tile(dec, ku, unit, h, &[z; 8][..ku / 4]);
                    put8(&mut dec.sc, unit, h, z);
                    put8(&mut dec.mn, unit, h, z);
                }
                put8(&mut dec.dw, b, h, _mm256_setzero_ps());
                put8(&mut dec.dmin, b, h, _mm256_setzero_ps());
                continue;
            }
            let p = w.data.as_ptr().add(((g + h) * nb + b) * gsz);
            let u8s =
                |at: usize| _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(at) as *const __m128i));
            let i8s =
                |at: usize| _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(at) as *const __m128i));
            put8(&mut dec.dw, b, h, f16x8(p));
            match w.kind {
                Kind::Q4K => {
                    put8(&mut dec.dmin, b, h, f16x8(p.add(16)));
                    for c in 0..8 {
                        put_tile(dec, ku, 8 * b + c, h, &nibbles(p.add(160 + 128 * c)));
                        put8(&mut dec.sc, 8 * b + c, h, u8s(32 + 8 * c));
                        put8(&mut dec.mn, 8 * b + c, h, u8s(96 + 8 * c));
                    }
                }
                Kind::Q6K => {
                    for c in 0..8 {
                        let v = q6k_codes(p, c).map(|x| _mm256_sub_epi8(x, _mm256_set1_epi8(32)));
                        put_tile(dec, ku, 16 * b + 2 * c, h, &v[..4]);
                        put_tile(dec, ku, 16 * b + 2 * c + 1, h, &v[4..]);
                        put8(&mut dec.sc, 16 * b + 2 * c, h, i8s(16 + 16 * c));
                        put8(&mut dec.sc, 16 * b + 2 * c + 1, h, i8s(24 + 16 * c));
                    }
                }
                kind => put_tile(dec, ku, b, h, &signed_codes(kind, p)),
            }
        }
    }
}

/// Group `h`'s half of unit `unit`'s weight tile: row `j` is `rows[j]`.
#[inline(always)]
unsafe fn put_tile(dec: &mut Decoded, ku: usize, unit: usize, h: usize, rows: &[__m256i]) {
    let dst = dec.b.as_mut_ptr().add(16 * ku * unit + 32 * h);
    for (j, r) in rows.iter().enumerate() {
        _mm256_storeu_si256(dst.add(64 * j) as *mut __m256i, *r);
    }
}

/// Group `h`'s 8 of the 16 values of entry `at` (a unit's or a block's).
#[inline(always)]
unsafe fn put8<T, V>(v: &mut [T], at: usize, h: usize, x: V) {
    debug_assert_eq!(std::mem::size_of::<V>(), ROWS * std::mem::size_of::<T>());
    std::ptr::write_unaligned(v.as_mut_ptr().add(TILE * at + ROWS * h) as *mut V, x);
}

#[inline(always)]
unsafe fn signed_codes(kind: Kind, p: *const u8) -> [__m256i; 8] {
    let (mut v, offset) = match kind {
        Kind::Q4_0 => (nibbles(p.add(16)), 8),
        Kind::Q5_0 => (q5_0_codes(p), 16),
        _ => (std::array::from_fn(|j| load(p.add(16 + 32 * j))), 0),
    };
    if offset != 0 {
        for x in &mut v {
            *x = _mm256_sub_epi8(*x, _mm256_set1_epi8(offset));
        }
    }
    v
}

/// Two units' products: tiles `C0`, `C1` (zeroed, then the sums), `A0`, `A1` (16 activation
/// rows at `a` and `a + ku`, stride `lda`), `B0`, `B1` (the weight tiles at `b` and
/// `b + 16 ku`), stored to `s` and `s + 1024` bytes.
macro_rules! unit_pair {
    ($c0:literal, $c1:literal, $a:expr, $ku:expr, $lda:expr, $b:expr, $s:expr) => {
        asm!(
            concat!("tilezero tmm", $c0),
            concat!("tilezero tmm", $c1),
            "tileloadd tmm4, [{a} + {lda}*1]",
            "tileloadd tmm6, [{b} + {ldb}*1]",
            "tileloadd tmm5, [{a2} + {lda}*1]",
            "tileloadd tmm7, [{b2} + {ldb}*1]",
            concat!("tdpbssd tmm", $c0, ", tmm4, tmm6"),
            concat!("tdpbssd tmm", $c1, ", tmm5, tmm7"),
            concat!("tilestored [{s} + {ldb}*1], tmm", $c0),
            concat!("tilestored [{s2} + {ldb}*1], tmm", $c1),
            a = in(reg) $a,
            a2 = in(reg) $a.add($ku),
            lda = in(reg) $lda,
            b = in(reg) $b,
            b2 = in(reg) $b.add(16 * $ku),
            ldb = in(reg) 64usize,
            s = in(reg) $s,
            s2 = in(reg) $s.add(1),
            options(nostack),
        )
    };
}

/// Units `u`, `u + 1` (activation bytes from `ap`, weight tiles from `bp`) into `sums`, on
/// tiles 0–1 or 2–3 by `parity`: consecutive pairs alternate, so that one pair's products are
/// computed while the other's are stored and scaled.
#[inline(always)]
unsafe fn products(
    parity: usize,
    ap: *const i8,
    ku: usize,
    k: usize,
    bp: *const u8,
    sums: &mut Sums,
) {
    let sp = sums.0.as_mut_ptr();
    if parity == 0 {
        unit_pair!("0", "1", ap, ku, k, bp, sp);
    } else {
        unit_pair!("2", "3", ap, ku, k, bp, sp);
    }
}

/// Sum row `r` of a unit's products.
#[inline(always)]
unsafe fn row(s: &[i32; TILE * TILE], r: usize) -> __m512i {
    _mm512_loadu_si512(s.as_ptr().add(TILE * r) as *const _)
}

/// Activation rows `i0..i0 + 16` times the decoded pair, for the 32-element block types.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
unsafe fn blocks32(job: &Job<'_>, dec: &Decoded, i0: usize) -> [__m512; TILE] {
    let (a, k) = (job.a, job.a.k);
    let nb = k / 32;
    let mut acc = [_mm512_setzero_ps(); TILE];
    let mut sums = [Sums([[0; TILE * TILE]; 2]), Sums([[0; TILE * TILE]; 2])];
    let mut b = 0;
    while b < nb {
        // An odd last block pairs with the one before it; only the last is scaled below.
        let first = usize::from(b + 1 == nb);
        let parity = (b / 2) % 2;
        let ap = a.qs.as_ptr().add(i0 * k + 32 * (b - first));
        let bp = dec.b.as_ptr().add(512 * (b - first));
        products(parity, ap, 32, k, bp, &mut sums[parity]);
        for (h, s) in sums[parity].0.iter().enumerate().skip(first) {
            let blk = b + h - first;
            let dw = _mm512_loadu_ps(dec.dw.as_ptr().add(TILE * blk));
            for r in 0..TILE {
                // As the VNNI path: (dw · da) first, then one fused multiply-add.
                let sc = _mm512_mul_ps(dw, _mm512_set1_ps(a.d[(i0 + r) * nb + blk]));
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(row(s, r)), sc, acc[r]);
            }
        }
        b += 2 - first;
    }
    acc
}

/// The same for Q4_K and Q6_K: each unit's integer sums times its integer sub-block scales
/// are added up over the block in integers (exact, so in any order), then scaled once per
/// block as the VNNI path does; Q4_K's minimums likewise.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn kquant(job: &Job<'_>, dec: &Decoded, i0: usize, ku: usize) -> [__m512; TILE] {
    let (a, k) = (job.a, job.a.k);
    let (nb, upb) = (k / 256, 256 / ku);
    let mut acc = [_mm512_setzero_ps(); TILE];
    let mut sums = [Sums([[0; TILE * TILE]; 2]), Sums([[0; TILE * TILE]; 2])];
    for b in 0..nb {
        let mut isum = [_mm512_setzero_si512(); TILE];
        for u in (0..upb).step_by(2) {
            let unit = upb * b + u;
            let parity = (u / 2) % 2;
            let ap = a.qs.as_ptr().add(i0 * k + 256 * b + ku * u);
            let bp = dec.b.as_ptr().add(16 * ku * unit);
            products(parity, ap, ku, k, bp, &mut sums[parity]);
            for (h, s) in sums[parity].0.iter().enumerate() {
                let sc = _mm512_loadu_si512(dec.sc.as_ptr().add(TILE * (unit + h)) as *const _);
                for r in 0..TILE {
                    isum[r] = _mm512_add_epi32(isum[r], _mm512_mullo_epi32(row(s, r), sc));
                }
            }
        }
        let dw = _mm512_loadu_ps(dec.dw.as_ptr().add(TILE * b));
        let dmin = _mm512_loadu_ps(dec.dmin.as_ptr().add(TILE * b));
        for r in 0..TILE {
            let i = i0 + r;
            let da = _mm512_set1_ps(a.d[i * nb + b]);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_mul_ps(dw, da), acc[r]);
            if job.w.kind == Kind::Q4K {
                let mut msum = _mm512_setzero_si512();
                for c in 0..8 {
                    let j = (i * k + 256 * b + 32 * c) / 16;
                    let bs = _mm512_set1_epi32(low16(a.sums[j] + a.sums[j + 1]));
                    let mn =
                        _mm512_loadu_si512(dec.mn.as_ptr().add(TILE * (8 * b + c)) as *const _);
                    msum = _mm512_add_epi32(msum, _mm512_madd_epi16(mn, bs));
                }
                let x = _mm512_cvtepi32_ps(msum);
                acc[r] = _mm512_fnmadd_ps(x, _mm512_mul_ps(dmin, da), acc[r]);
            }
        }
    }
    acc
}

/// Rows `i0..i0 + 16` of the output for groups `g..g + pair`.
#[target_feature(enable = "avx512f")]
unsafe fn store(job: &Job<'_>, acc: &[__m512; TILE], g: usize, pair: usize, i0: usize) {
    let cols = (job.w.n - g * ROWS).min(pair * ROWS);
    let mask: __mmask16 = ((1u32 << cols) - 1) as __mmask16;
    let col0 = (g - job.groups.start) * ROWS;
    for (r, v) in acc.iter().enumerate().take(job.rows.end - i0) {
        _mm512_mask_storeu_ps(job.out.add((i0 + r) * job.ldo + col0), mask, *v);
    }
}
