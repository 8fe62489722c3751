//! tradeoff's own CPU kernels for quantized linear layers (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K,
//! Q6_K) and for F16 weights (`f16mat.rs`: read as 2 bytes, widened in registers).
//!
//! candle's quantized matmul computes every output element as an independent dot product
//! (each activation row re-reads the whole weight matrix) and its worker pool spins on a
//! barrier. Here weights are repacked once at load (`pack.rs`), activations are quantized
//! once per call as llama.cpp does (`act.rs`), and output row groups are split across
//! threads (`pool.rs`); each group's weights are read once per call and reused, from cache,
//! for all activation rows (`x86.rs`; with Intel AMX, 16 rows at a time in tiles: `amx.rs`).
//! CPUs without AVX2/FMA/F16C keep candle's kernels.

mod act;
#[cfg(target_arch = "x86_64")]
mod amx;
pub mod attn;
mod f16mat;
mod pack;
#[cfg(target_arch = "x86_64")]
mod pool;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use f16mat::Half;
pub use pack::{Kind, Packed};

use crate::Result;
use act::Acts;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use std::sync::Arc;

#[cfg(target_arch = "x86_64")]
fn isa() -> Option<x86::Isa> {
    use std::sync::OnceLock;
    static ISA: OnceLock<Option<x86::Isa>> = OnceLock::new();
    *ISA.get_or_init(|| {
        // For comparisons with candle's kernels: TRADEOFF_KERNELS=candle turns these off
        // (and TRADEOFF_KERNELS=vnni the AMX tiles only).
        if std::env::var("TRADEOFF_KERNELS").is_ok_and(|v| v == "candle") {
            return None;
        }
        x86::Isa::detect()
    })
}

/// Whether the AVX512 paths run here (attention scores; F16 and quantized matmuls).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    matches!(isa(), Some(x86::Isa::Vnni | x86::Isa::Amx))
}

/// Which matrix kernels run quantized weights here, for result records.
pub fn describe() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = isa() {
        return match isa {
            x86::Isa::Amx => "tradeoff kernels (AMX + AVX512-VNNI), candle for other types",
            x86::Isa::Vnni => "tradeoff kernels (AVX512-VNNI), candle for other types",
            x86::Isa::Avx2 => "tradeoff kernels (AVX2), candle for other types",
        };
    }
    "candle kernels"
}

/// The matrix-kernel path selected on this CPU, as a short stable name for cache keys:
/// "avx512-vnni" or "avx2" (tradeoff's kernels, candle for the types they do not cover), or
/// "candle" (candle's kernels only: another CPU or architecture, or `TRADEOFF_KERNELS=candle`).
/// A new path gets a new name, so results computed with another path are not reused. AMX
/// shares VNNI's name: its results are the same bit for bit (tested).
pub fn id() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = isa() {
        return match isa {
            x86::Isa::Vnni | x86::Isa::Amx => "avx512-vnni",
            x86::Isa::Avx2 => "avx2",
        };
    }
    "candle"
}

/// Whether the kernels run on this CPU (else every weight stays with candle).
pub fn enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    return isa().is_some();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// A linear layer's weight: repacked for tradeoff's kernels where they cover the type and
/// the CPU, else candle's `QMatMul` (float weights, other types, other CPUs and devices).
#[derive(Debug, Clone)]
pub enum Weight {
    Candle(QMatMul),
    Packed(Arc<Packed>),
    /// F16 weights kept as 2 bytes each (candle would widen them to f32 at load).
    F16(Arc<Half>),
}

impl Weight {
    /// Repacks `qt` when the kernels can run it on `device`, else wraps it for candle.
    pub fn from_qtensor(qt: QTensor, device: &Device) -> Result<Weight> {
        if let (Device::Cpu, Some(kind), [n, k]) =
            (device, Kind::from_ggml(qt.dtype()), qt.shape().dims())
        {
            if enabled() && k.is_multiple_of(kind.block()) {
                let (n, k) = (*n, *k);
                return Ok(Weight::Packed(Arc::new(Packed::new(
                    kind,
                    n,
                    k,
                    &qt.data()?,
                )?)));
            }
        }
        if let (Device::Cpu, GgmlDType::F16, [n, k], true) =
            (device, qt.dtype(), qt.shape().dims(), enabled())
        {
            return Ok(Weight::F16(Arc::new(Half::new(*n, *k, &qt.data()?)?)));
        }
        Ok(Weight::Candle(QMatMul::from_qtensor(qt)?))
    }

    /// `x Wᵀ` for x of shape [.., k].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Weight::Candle(q) => Ok(q.forward(x)?),
            Weight::Packed(p) => rows_through(x, p.n, |xs, m| p.matmul(xs, m)),
            Weight::F16(h) => rows_through(x, h.n, |xs, m| h.matmul(xs, m)),
        }
    }

    /// `x Wᵀ` for `m` rows of `x` ([m, k] row-major): [m, n] row-major.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        match self {
            Weight::Packed(p) => p.matmul(x, m),
            Weight::F16(h) => h.matmul(x, m),
            Weight::Candle(_) => {
                let mut y = Vec::new();
                self.matmul_into(x, m, &mut y)?;
                Ok(y)
            }
        }
    }

    /// `x Wᵀ` for `m` rows of `x` ([m, k] row-major) into `y`, resized to [m, n]; `y` keeps
    /// its memory from call to call, so a vocabulary-sized output is not allocated (and
    /// page-faulted in) afresh each decoding step.
    pub fn matmul_into(&self, x: &[f32], m: usize, y: &mut Vec<f32>) -> Result<()> {
        match self {
            Weight::Packed(p) => p.matmul_into(x, m, y),
            Weight::F16(h) => {
                *y = h.matmul(x, m)?;
                Ok(())
            }
            Weight::Candle(_) => {
                let k = x.len().checked_div(m).unwrap_or(0);
                let out = self.forward(&Tensor::from_slice(x, (m, k), &Device::Cpu)?)?;
                y.clear();
                y.extend(out.flatten_all()?.to_vec1::<f32>()?);
                Ok(())
            }
        }
    }

    /// Rows `ids` of the matrix, [ids, k] (embedding lookup).
    pub fn embedding(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Weight::Candle(q) => Ok(q.embedding(ids)?),
            Weight::Packed(p) => lookup(ids, p.n, p.k, |i, row| p.row(i, row)),
            Weight::F16(h) => lookup(ids, h.n, h.k, |i, row| h.row(i, row)),
        }
    }
}

/// `x` flattened to rows of its last dimension, multiplied by `mm`, shaped back with `n`
/// outputs per row.
fn rows_through(
    x: &Tensor,
    n: usize,
    mm: impl Fn(&[f32], usize) -> Result<Vec<f32>>,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let k = *dims.last().unwrap_or(&0);
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let m = xs.len().checked_div(k).unwrap_or(0);
    let y = mm(&xs, m)?;
    let mut out_dims = dims;
    if let Some(last) = out_dims.last_mut() {
        *last = n;
    }
    Ok(Tensor::from_vec(y, out_dims, x.device())?)
}

/// Rows `ids` of an [n, k] matrix, each written by `row`.
fn lookup(ids: &Tensor, n: usize, k: usize, row: impl Fn(usize, &mut [f32])) -> Result<Tensor> {
    let ids = ids.to_vec1::<u32>()?;
    if let Some(bad) = ids.iter().find(|&&i| i as usize >= n) {
        return Err(crate::Error::Request(format!(
            "row {bad} of a matrix with {n} rows"
        )));
    }
    let mut out = vec![0f32; ids.len() * k];
    for (r, &id) in out.chunks_exact_mut(k).zip(&ids) {
        row(id as usize, r);
    }
    Ok(Tensor::from_vec(out, (ids.len(), k), &Device::Cpu)?)
}

/// Output pointer shared by the tasks of one call; each writes its own columns.
#[cfg(target_arch = "x86_64")]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint column ranges of the buffer, which outlives the parallel
// loop (see `Packed::matmul`).
#[cfg(target_arch = "x86_64")]
unsafe impl Send for OutPtr {}
#[cfg(target_arch = "x86_64")]
unsafe impl Sync for OutPtr {}

#[cfg(target_arch = "x86_64")]
impl OutPtr {
    // A method, so closures capture the whole (Sync) wrapper rather than its raw field.
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// The zeroed [m, n] result of `m` rows of `x` times an [n, k] matrix, or why `x` does not fit.
fn output(x: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f32>> {
    check(x, m, n, k)?;
    Ok(vec![0f32; m * n])
}

/// Whether `x` holds `m` rows for an [n, k] matrix.
fn check(x: &[f32], m: usize, n: usize, k: usize) -> Result<()> {
    if x.len() != m * k {
        return Err(crate::Error::Request(format!(
            "matmul of {} values by a [{n}, {k}] matrix",
            x.len()
        )));
    }
    Ok(())
}

/// Below this many multiply-adds a call runs on one thread: waking the pool costs more.
#[cfg(target_arch = "x86_64")]
const PAR_MIN_MACS: usize = 1 << 18;

impl Packed {
    /// `y = x Wᵀ` for `m` rows of `x` ([m, k] row-major), [m, n] row-major.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let mut y = output(x, m, self.n, self.k)?;
        if m == 0 {
            return Ok(y);
        }
        let a = Acts::quantize(self.kind.act(), x, self.k);
        self.run(&a, m, &mut y);
        Ok(y)
    }

    /// [`Packed::matmul`] into `y`, resized to [m, n]. Not zeroed first: the kernels store
    /// every output, they do not add to it.
    pub fn matmul_into(&self, x: &[f32], m: usize, y: &mut Vec<f32>) -> Result<()> {
        check(x, m, self.n, self.k)?;
        y.resize(m * self.n, 0.0);
        if m > 0 {
            let a = Acts::quantize(self.kind.act(), x, self.k);
            self.run(&a, m, y);
        }
        Ok(())
    }

    #[cfg(target_arch = "x86_64")]
    fn run(&self, a: &Acts, m: usize, y: &mut [f32]) {
        use pack::ROWS;
        let isa = isa().expect("Packed weights exist only where the kernels run");
        let groups = self.n.div_ceil(ROWS);
        let pool = pool::Pool::get();
        // Several chunks per thread, so a thread that starts late still gets a share.
        let chunks = if m * self.n * self.k < PAR_MIN_MACS {
            1
        } else {
            (4 * pool.threads()).min(groups)
        };
        let out = OutPtr(y.as_mut_ptr());
        let job = |c: usize| {
            let (g0, g1) = (groups * c / chunks, groups * (c + 1) / chunks);
            let job = x86::Job {
                w: self,
                a,
                rows: 0..m,
                groups: g0..g1,
                out: out.at(g0 * ROWS),
                ldo: self.n,
            };
            // SAFETY: `isa` was detected on this CPU; chunk c writes only columns
            // 8·g0..8·g1 (clipped to n) of rows 0..m of `y`, which the caller holds.
            unsafe { x86::run(isa, &job) }
        };
        if chunks == 1 {
            job(0);
        } else {
            pool.run(chunks, &job);
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn run(&self, _a: &Acts, _m: usize, _y: &mut [f32]) {
        unreachable!("Packed weights exist only where the kernels run")
    }
}

// The tests drive the x86 kernels directly, both instruction sets.
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use candle_core::quantized::GgmlDType;
    use pack::ROWS;

    const TYPES: [GgmlDType; 6] = [
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q8_0,
        GgmlDType::Q4K,
        GgmlDType::Q6K,
    ];

    #[test]
    fn id_names_the_selected_path() {
        assert_eq!(id() != "candle", enabled());
        assert!(["avx512-vnni", "avx2", "candle"].contains(&id()));
    }

    fn randn(n: usize, seed: u64) -> Vec<f32> {
        // Box-Muller on a small LCG: deterministic without another dependency.
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut u = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| ((-2.0 * u().ln()).sqrt() * (2.0 * std::f64::consts::PI * u()).cos()) as f32)
            .collect()
    }

    fn weights(t: GgmlDType, n: usize, k: usize) -> (QTensor, Packed, Vec<f32>) {
        let w = Tensor::from_vec(randn(n * k, (n * 131 + k) as u64), (n, k), &Device::Cpu).unwrap();
        let qt = QTensor::quantize(&w, t).unwrap();
        let deq = qt.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
        let p = Packed::new(Kind::from_ggml(t).unwrap(), n, k, &qt.data().unwrap()).unwrap();
        (qt, p, deq.to_vec1().unwrap())
    }

    /// Σ dequantized weights × dequantized activations, in f64: what the kernels compute up
    /// to f32 rounding.
    fn reference(p: &Packed, wdeq: &[f32], x: &[f32], m: usize) -> Vec<f32> {
        let (n, k) = (p.n, p.k);
        let acts = Acts::quantize(p.kind.act(), x, k);
        let a = acts.dequantize(p.kind.act());
        let mut y = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s: f64 = (0..k)
                    .map(|e| wdeq[j * k + e] as f64 * a[i * k + e] as f64)
                    .sum();
                if p.kind == Kind::Q4_1 {
                    // llama.cpp's Q8_1 keeps d·Σq rounded to f16 for the minimum's term.
                    let nb = k / 32;
                    for b in 0..nb {
                        let at = ((j / ROWS) * nb + b) * 160 + 16 + 2 * (j % ROWS);
                        let mw = half::f16::from_le_bytes([p.data[at], p.data[at + 1]]).to_f32();
                        let blk = i * nb + b;
                        let exact = acts.d[blk] as f64 * acts.sums[blk] as f64;
                        s += mw as f64 * (acts.s[blk] as f64 - exact);
                    }
                }
                y[i * n + j] = s as f32;
            }
        }
        y
    }

    fn max_rel(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        got.iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0, f32::max)
    }

    #[test]
    fn simd_activation_quantization_equals_scalar() {
        for kind in [act::ActKind::Q8_0, act::ActKind::Q8_1, act::ActKind::Q8K] {
            let k = 768;
            let mut x = randn(3 * k, 5);
            // A zero block, and ties at .5 after scaling, exercise the edge cases.
            x[256..512].fill(0.0);
            x[512] = 2.0;
            x[513] = -2.0;
            x[514] = 0.5 * 2.0 / 127.0;
            let simd = Acts::quantize(kind, &x, k);
            let mut scalar = Acts::zeroed(kind, x.len(), k);
            scalar.quantize_scalar(kind, &x);
            assert_eq!(simd.qs, scalar.qs, "{kind:?}");
            assert_eq!(simd.d, scalar.d, "{kind:?}");
            assert_eq!(simd.sums, scalar.sums, "{kind:?}");
            assert_eq!(simd.s, scalar.s, "{kind:?}");
        }
    }

    #[test]
    fn packed_rows_dequantize_like_candle() {
        for t in TYPES {
            let (n, k) = (13, 512);
            let (_, p, deq) = weights(t, n, k);
            let mut row = vec![0f32; k];
            for r in 0..n {
                p.row(r, &mut row);
                let want = &deq[r * k..(r + 1) * k];
                let err = max_rel(&row, want);
                assert!(err < 1e-6, "{t:?} row {r}: {err}");
            }
        }
    }

    /// The instruction sets this CPU runs: AVX2 (the engine's x86 build requires it), then
    /// VNNI and AMX where detected.
    fn isas() -> Vec<x86::Isa> {
        let mut isas = vec![x86::Isa::Avx2];
        match x86::Isa::detect() {
            Some(x86::Isa::Vnni) => isas.push(x86::Isa::Vnni),
            Some(x86::Isa::Amx) => isas.extend([x86::Isa::Vnni, x86::Isa::Amx]),
            _ => {}
        }
        isas
    }

    /// `m` rows of `a` times `p` on `isa` alone (all row groups), [m, n].
    fn run_on(isa: x86::Isa, p: &Packed, a: &Acts, m: usize) -> Vec<f32> {
        let mut y = vec![f32::NAN; m * p.n];
        let job = x86::Job {
            w: p,
            a,
            rows: 0..m,
            groups: 0..p.n.div_ceil(ROWS),
            out: y.as_mut_ptr(),
            ldo: p.n,
        };
        // SAFETY: callers pass what `isas` lists for this CPU; y holds m × n values.
        unsafe { x86::run(isa, &job) };
        y
    }

    /// candle 0.11 runs Q4_K products of 32+ rows on AMX tiles that it configures once per
    /// thread; ours must leave that configuration as they found it (else: SIGILL).
    #[test]
    fn amx_tiles_and_candles_share_a_thread() {
        let (n, k, m) = (32, 512, 32);
        let (qt, p, _) = weights(GgmlDType::Q4K, n, k);
        let qmm = QMatMul::from_qtensor(qt).unwrap();
        let x = randn(m * k, 3);
        let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
        let a = Acts::quantize(p.kind.act(), &x, k);
        for _ in 0..3 {
            let theirs = qmm.forward(&xt).unwrap();
            let ours: Vec<Vec<f32>> = isas().into_iter().map(|i| run_on(i, &p, &a, m)).collect();
            let theirs: Vec<f32> = theirs.flatten_all().unwrap().to_vec1().unwrap();
            for y in &ours {
                assert!(max_rel(y, &theirs) < 2e-3);
            }
        }
    }

    #[test]
    fn kernels_match_quantized_reference_and_candle() {
        for t in TYPES {
            // (21, 96): an odd number of blocks and of row groups, for the AMX block pairs.
            for (n, k) in [(8, 256), (37, 768), (3, 512), (21, 96)] {
                if k % Kind::from_ggml(t).unwrap().block() != 0 {
                    continue;
                }
                let (qt, p, deq) = weights(t, n, k);
                let qmm = QMatMul::from_qtensor(qt).unwrap();
                for m in [1, 3, 12, 16, 17, 27, 33, 64] {
                    let x = randn(m * k, (m * 7 + n) as u64);
                    let want = reference(&p, &deq, &x, m);
                    let a = Acts::quantize(p.kind.act(), &x, k);
                    let mut first: Option<Vec<f32>> = None;
                    for isa in isas() {
                        let y = run_on(isa, &p, &a, m);
                        let err = max_rel(&y, &want);
                        assert!(err < 2e-6, "{t:?} {isa:?} m={m} n={n} k={k}: {err}");
                        // Every path gives the same bits (results are cached under one id).
                        match &first {
                            None => first = Some(y),
                            Some(f) => assert!(
                                f.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
                                "{t:?} {isa:?} m={m} n={n} k={k} differs from AVX2"
                            ),
                        }
                    }
                    // Through the public path (threads split the row groups).
                    let y = p.matmul(&x, m).unwrap();
                    assert!(max_rel(&y, &want) < 2e-6, "{t:?} matmul m={m} n={n} k={k}");
                    // candle's Q4_1 kernel wants an even number of blocks.
                    if (k / 32) % 2 == 0 {
                        let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
                        let c: Vec<f32> = qmm
                            .forward(&xt)
                            .unwrap()
                            .flatten_all()
                            .unwrap()
                            .to_vec1()
                            .unwrap();
                        let err = max_rel(&y, &c);
                        assert!(err < 2e-3, "{t:?} vs candle m={m} n={n} k={k}: {err}");
                    }
                    // And against f32 activations: only activation rounding apart.
                    let xf: Vec<f32> = (0..m * n)
                        .map(|ij| {
                            let (i, j) = (ij / n, ij % n);
                            (0..k).map(|e| deq[j * k + e] * x[i * k + e]).sum()
                        })
                        .collect();
                    let err = max_rel(&y, &xf);
                    assert!(err < 2e-2, "{t:?} vs f32 m={m} n={n} k={k}: {err}");
                }
            }
        }
    }
}
