//! Choosing each tensor's GGML type (llama.cpp's rules), rounding to nearest, and writing
//! symmetric 32-wide blocks (Q4_0, Q5_0, Q8_0) from integers chosen elsewhere (GPTQ,
//! importance-weighted search).

use crate::recipe::{Mix, Recipe, TypeSpec};
use crate::Result;
use candle_core::quantized::k_quants::{BlockQ4_0, BlockQ8_0, GgmlType};
use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType, QStorage, QTensor};
use candle_core::{Device, Tensor};
use half::f16;
use rayon::prelude::*;

/// What the planner knows about the model.
pub struct ModelShape {
    pub n_layer: usize,
    /// Query heads per KV head.
    pub n_gqa: usize,
    /// No `output.weight`: `token_embd` is also the output projection.
    pub tied: bool,
}

/// The type chosen for one tensor and, if its rows don't fit that type's blocks, what it was
/// meant to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// None: keep the stored tensor as it is.
    pub dtype: Option<GgmlDType>,
    pub wanted: Option<GgmlDType>,
}

/// Whether llama-quantize would quantize this tensor at all (2-D `*.weight`, not a norm).
pub fn quantizable(name: &str, rank: usize) -> bool {
    rank >= 2 && name.ends_with(".weight") && !name.contains("_norm.weight")
}

/// `blk.N.` → N.
pub fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// The linear kind of `blk.N.KIND.weight`.
pub fn kind_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("blk.")?;
    let (_, rest) = rest.split_once('.')?;
    rest.strip_suffix(".weight")
}

fn use_more_bits(i: usize, n: usize) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i as i64 - (n / 8) as i64).rem_euclid(3) == 2
}

/// The type llama-quantize would give `name` for this recipe (the default type, per-tensor
/// rules of the ftype, regex overrides, then a fallback when rows don't fill whole blocks).
pub fn choose(
    recipe: &Recipe,
    overrides: &[(regex::Regex, TypeSpec)],
    name: &str,
    dims: &[usize],
    m: &ModelShape,
    imatrix: bool,
) -> Choice {
    let keep = Choice {
        dtype: None,
        wanted: None,
    };
    if !quantizable(name, dims.len()) {
        return keep;
    }
    let (base, mix) = match recipe.type_spec() {
        TypeSpec::Source => (None, None),
        TypeSpec::Fixed(t) => (Some(t), None),
        TypeSpec::Mix(Mix::Q4KM) => (Some(GgmlDType::Q4K), Some(Mix::Q4KM)),
        TypeSpec::Mix(Mix::Q3KM) => (Some(GgmlDType::Q3K), Some(Mix::Q3KM)),
    };
    let manual = overrides.iter().find(|(re, _)| re.is_match(name));
    let mut t = match (manual, base) {
        (Some((_, TypeSpec::Fixed(t))), _) => *t,
        (Some(_), _) | (None, None) => return keep,
        (None, Some(b)) if recipe.pure || !is_quant(b) => b,
        (None, Some(b)) => rules(b, mix, name, dims, m, imatrix),
    };
    let ncols = *dims.last().expect("rank ≥ 2");
    let wanted = t;
    if !ncols.is_multiple_of(t.block_size()) {
        t = match t {
            GgmlDType::Q2K | GgmlDType::Q3K => GgmlDType::Q4_0,
            GgmlDType::Q4K => GgmlDType::Q5_0,
            GgmlDType::Q5K => GgmlDType::Q5_1,
            GgmlDType::Q6K => GgmlDType::Q8_0,
            other => other,
        };
        if !ncols.is_multiple_of(t.block_size()) {
            t = GgmlDType::F16;
        }
    }
    Choice {
        dtype: Some(t),
        wanted: (t != wanted).then_some(wanted),
    }
}

fn is_quant(t: GgmlDType) -> bool {
    !matches!(t, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// llama.cpp's per-tensor choices for the ftypes tradeoff builds (llama_tensor_get_type).
fn rules(
    base: GgmlDType,
    mix: Option<Mix>,
    name: &str,
    dims: &[usize],
    m: &ModelShape,
    imatrix: bool,
) -> GgmlDType {
    let nx = *dims.last().expect("rank ≥ 2");
    if name == "output.weight" || (m.tied && name == "token_embd.weight") {
        return if !nx.is_multiple_of(base.block_size()) {
            GgmlDType::Q8_0
        } else if base != GgmlDType::Q8_0 {
            GgmlDType::Q6K
        } else {
            base
        };
    }
    let (Some(kind), Some(i)) = (kind_of(name), layer_of(name)) else {
        return base;
    };
    let n = m.n_layer;
    match (kind, mix) {
        ("attn_v", Some(Mix::Q4KM)) if use_more_bits(i, n) => GgmlDType::Q6K,
        ("attn_v", Some(Mix::Q3KM)) => {
            if i < 2 {
                GgmlDType::Q5K
            } else {
                GgmlDType::Q4K
            }
        }
        ("attn_v", None) if base == GgmlDType::Q2K => {
            if m.n_gqa >= 4 {
                GgmlDType::Q4K
            } else {
                GgmlDType::Q3K
            }
        }
        ("ffn_down", Some(Mix::Q4KM)) if use_more_bits(i, n) => GgmlDType::Q6K,
        ("ffn_down", Some(Mix::Q3KM)) => {
            if i < n / 16 {
                GgmlDType::Q5K
            } else {
                GgmlDType::Q4K
            }
        }
        ("ffn_down", None) if base == GgmlDType::Q2K => GgmlDType::Q3K,
        // With an importance matrix, the first ffn_down layers of Q4_0/Q5_0 go to Q4_1/Q5_1.
        ("ffn_down", None) if imatrix && i < n / 8 && base == GgmlDType::Q4_0 => GgmlDType::Q4_1,
        ("ffn_down", None) if imatrix && i < n / 8 && base == GgmlDType::Q5_0 => GgmlDType::Q5_1,
        ("attn_output", Some(Mix::Q3KM)) => GgmlDType::Q4K,
        ("attn_output", None) if base == GgmlDType::Q2K => GgmlDType::Q3K,
        _ => base,
    }
}

/// llama.cpp's `general.file_type` for a recipe's default type.
pub fn file_type(spec: TypeSpec) -> Option<u32> {
    Some(match spec {
        TypeSpec::Source => return None,
        TypeSpec::Mix(Mix::Q4KM) => 15,
        TypeSpec::Mix(Mix::Q3KM) => 12,
        TypeSpec::Fixed(t) => match t {
            GgmlDType::F32 => 0,
            GgmlDType::F16 => 1,
            GgmlDType::Q4_0 => 2,
            GgmlDType::Q4_1 => 3,
            GgmlDType::Q8_0 => 7,
            GgmlDType::Q5_0 => 8,
            GgmlDType::Q5_1 => 9,
            GgmlDType::Q2K => 10,
            GgmlDType::Q3K => 11,
            GgmlDType::Q4K => 14,
            GgmlDType::Q5K => 16,
            GgmlDType::Q6K => 18,
            GgmlDType::BF16 => 32,
            _ => return None,
        },
    })
}

/// `qt` rounded to `dtype` (the same bytes as `rtn(qt.dequantize())`), row ranges in
/// parallel, each dequantized only while it is quantized: no f32 copy of the whole tensor.
pub fn requantize(qt: &QTensor, dtype: GgmlDType) -> Result<QTensor> {
    let src = qt.dtype();
    let (rows, k) = match qt.shape().dims() {
        [r, k] if k % dtype.block_size() == 0 && k % src.block_size() == 0 => (*r, *k),
        _ => return rtn(&qt.dequantize(&Device::Cpu)?, dtype),
    };
    let row_bytes = k / src.block_size() * src.type_size();
    let data = qt.data()?;
    by_row_ranges(rows, k, dtype, |r0, n| {
        let part = &data[r0 * row_bytes..(r0 + n) * row_bytes];
        if src == GgmlDType::Q5_0 {
            let mut w = vec![0f32; n * k];
            if crate::rtn_simd::dequantize_q5_0(part, &mut w) {
                return Ok(w);
            }
        }
        let w = qtensor_from_ggml(src, part, vec![n, k], &Device::Cpu)?;
        Ok(w.dequantize(&Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    })
}

/// Round to nearest, as llama.cpp's reference quantizers do.
pub fn rtn(w: &Tensor, dtype: GgmlDType) -> Result<QTensor> {
    let (rows, k) = match w.dims() {
        [r, k] if *r >= 64 && k % dtype.block_size() == 0 => (*r, *k),
        _ => return Ok(QTensor::quantize(w, dtype)?),
    };
    let v = w.flatten_all()?.to_vec1::<f32>()?;
    by_row_ranges(rows, k, dtype, |r0, n| Ok(v[r0 * k..(r0 + n) * k].to_vec()))
}

/// A [rows, k] tensor quantized to `dtype` a few rows at a time on all threads, `part(r0, n)`
/// giving rows r0..r0+n in f32; each range's GGML bytes are written in place (blocks never
/// span rows). Ranges hold under [`RANGE_BYTES`] of f32, so they stay in cache and their
/// buffers are reused: a whole tensor's f32 copy was page-faulted in and out. Q8_0 and
/// Q4_0 go through `rtn_simd` (the same bytes as candle's quantizers, tested).
fn by_row_ranges(
    rows: usize,
    k: usize,
    dtype: GgmlDType,
    part: impl Fn(usize, usize) -> Result<Vec<f32>> + Sync,
) -> Result<QTensor> {
    let row_bytes = k / dtype.block_size() * dtype.type_size();
    let step = (RANGE_BYTES / (4 * k)).max(1);
    let fill = |bytes: &mut [u8]| {
        bytes
            .par_chunks_mut(step * row_bytes)
            .enumerate()
            .try_for_each(|(i, out)| {
                let (r0, n) = (i * step, out.len() / row_bytes);
                let w = part(r0, n)?;
                if !crate::rtn_simd::quantize_into(dtype, &w, out) {
                    // A fresh tensor: candle's quantize reads a view's whole storage.
                    let w = Tensor::from_vec(w, (n, k), &Device::Cpu)?;
                    out.copy_from_slice(&QTensor::quantize(&w, dtype)?.data()?);
                }
                Ok::<(), crate::Error>(())
            })
    };
    match dtype {
        GgmlDType::Q8_0 => in_place::<BlockQ8_0>(rows, k, fill),
        GgmlDType::Q4_0 => in_place::<BlockQ4_0>(rows, k, fill),
        _ => {
            let mut bytes = vec![0u8; rows * row_bytes];
            fill(&mut bytes)?;
            Ok(qtensor_from_ggml(
                dtype,
                &bytes,
                vec![rows, k],
                &Device::Cpu,
            )?)
        }
    }
}

/// A [rows, k] tensor of `T` blocks that `fill` writes as GGML bytes where they will stay
/// (a byte buffer handed to candle would be copied once more).
fn in_place<T: GgmlType + 'static>(
    rows: usize,
    k: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<()>,
) -> Result<QTensor> {
    assert_eq!(
        std::mem::size_of::<T>(),
        T::DTYPE.type_size(),
        "GGML block layout"
    );
    let mut blocks = vec![T::zeros(); rows * k / T::BLCK_SIZE];
    let len = std::mem::size_of_val(blocks.as_slice());
    // SAFETY: candle's Q8_0 and Q4_0 blocks are repr(C) f16 and byte arrays without padding
    // (size checked above), valid for any bytes: candle reads files into them the same way.
    fill(unsafe { std::slice::from_raw_parts_mut(blocks.as_mut_ptr().cast::<u8>(), len) })?;
    Ok(QTensor::new(QStorage::Cpu(Box::new(blocks)), (rows, k))?)
}

/// f32 bytes per range of rows that [`by_row_ranges`] quantizes at a time: within glibc's
/// 128 KiB threshold for serving allocations from the heap rather than fresh pages.
const RANGE_BYTES: usize = 96 << 10;

/// The symmetric 32-wide formats whose grid GPTQ and the weighted search write directly.
pub fn grid_supported(t: GgmlDType) -> bool {
    matches!(t, GgmlDType::Q4_0 | GgmlDType::Q5_0 | GgmlDType::Q8_0)
}

pub const BLOCK: usize = 32;

/// Integer range of a grid type: q in [lo, hi], value = q·d.
pub fn qrange(t: GgmlDType) -> (i32, i32) {
    match t {
        GgmlDType::Q4_0 => (-8, 7),
        GgmlDType::Q5_0 => (-16, 15),
        _ => (-127, 127),
    }
}

/// The block scale ggml's reference quantizer picks, rounded to f16 as it is stored.
/// Q4_0/Q5_0: the value of largest magnitude maps to the most negative integer.
pub fn rtn_scale(t: GgmlDType, x: &[f32]) -> f32 {
    let (lo, hi) = qrange(t);
    let max = x
        .iter()
        .copied()
        .fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
    let d = if t == GgmlDType::Q8_0 {
        max.abs() / hi as f32
    } else {
        max / lo as f32
    };
    f16::from_f32(d).to_f32()
}

/// The integer for `x` on the grid of scale `d`.
#[inline]
pub fn quantize_one(t: GgmlDType, x: f32, d: f32) -> i32 {
    let (lo, hi) = qrange(t);
    if d == 0.0 {
        return 0;
    }
    ((x / d).round() as i32).clamp(lo, hi)
}

/// GGML bytes of a grid-type tensor from per-block scales (f16-exact) and integers.
pub fn encode(t: GgmlDType, dims: &[usize], d: &[f32], q: &[i8]) -> Result<QTensor> {
    let nb = q.len() / BLOCK;
    assert_eq!(d.len(), nb);
    let mut out = Vec::with_capacity(nb * t.type_size());
    for (b, qs) in q.chunks_exact(BLOCK).enumerate() {
        out.extend_from_slice(&f16::from_f32(d[b]).to_le_bytes());
        match t {
            GgmlDType::Q8_0 => out.extend(qs.iter().map(|&v| v as u8)),
            GgmlDType::Q4_0 => {
                // Low nibbles hold elements 0..16, high nibbles 16..32, offset by 8.
                for j in 0..16 {
                    let lo = (qs[j] + 8) as u8;
                    let hi = (qs[j + 16] + 8) as u8;
                    out.push(lo | (hi << 4));
                }
            }
            GgmlDType::Q5_0 => {
                // Offset by 16: 4 low bits in nibbles as Q4_0, the 5th bits in a u32.
                let u: Vec<u8> = qs.iter().map(|&v| (v as i32 + 16) as u8).collect();
                let mut qh = 0u32;
                for (j, &v) in u.iter().enumerate() {
                    qh |= ((v >> 4) as u32 & 1) << j;
                }
                out.extend_from_slice(&qh.to_le_bytes());
                for j in 0..16 {
                    out.push((u[j] & 0xF) | ((u[j + 16] & 0xF) << 4));
                }
            }
            _ => unreachable!("grid_supported checked"),
        }
    }
    Ok(qtensor_from_ggml(t, &out, dims.to_vec(), &Device::Cpu)?)
}

/// Importance-weighted rounding onto a grid type: per block, the scale minimising
/// Σ wᵢ(xᵢ − d·qᵢ)² among a sweep around the RTN scale (candle's weighted quantizers only
/// cover the k-quants).
pub fn weighted_grid(t: GgmlDType, w: &[f32], dims: &[usize], imp: &[f32]) -> Result<QTensor> {
    let cols = *dims.last().expect("rank ≥ 2");
    let nb = w.len() / BLOCK;
    let mut d = vec![0f32; nb];
    let mut q = vec![0i8; w.len()];
    for b in 0..nb {
        let x = &w[b * BLOCK..(b + 1) * BLOCK];
        let c0 = (b * BLOCK) % cols;
        // llama.cpp's weighting: importance × sqrt(σ² of the row + x²).
        let row = &w[(b * BLOCK / cols) * cols..][..cols];
        let sigma2 = row.iter().map(|v| v * v).sum::<f32>() / cols as f32;
        let wt: Vec<f32> = x
            .iter()
            .zip(&imp[c0..c0 + BLOCK])
            .map(|(v, k)| k * (sigma2 + v * v).sqrt())
            .collect();
        let err = |s: f32| -> f64 {
            x.iter()
                .zip(&wt)
                .map(|(&v, &k)| {
                    let e = v - quantize_one(t, v, s) as f32 * s;
                    k as f64 * (e as f64) * (e as f64)
                })
                .sum()
        };
        let base = rtn_scale(t, x);
        let mut best = (err(base), base);
        for k in -10..=10 {
            if k == 0 {
                continue;
            }
            let s = f16::from_f32(base * (1.0 + 0.02 * k as f32)).to_f32();
            // Closed-form refit of d for this assignment, then keep whichever is better.
            let (mut num, mut den) = (0f64, 0f64);
            for (&v, &kk) in x.iter().zip(&wt) {
                let qi = quantize_one(t, v, s) as f64;
                num += kk as f64 * v as f64 * qi;
                den += kk as f64 * qi * qi;
            }
            for cand in [
                s,
                if den > 0.0 {
                    f16::from_f64(num / den).to_f32()
                } else {
                    s
                },
            ] {
                let e = err(cand);
                if e < best.0 {
                    best = (e, cand);
                }
            }
        }
        d[b] = best.1;
        for (j, &v) in x.iter().enumerate() {
            q[b * BLOCK + j] = quantize_one(t, v, best.1) as i8;
        }
    }
    encode(t, dims, &d, &q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_roundtrips_through_candle() {
        for t in [GgmlDType::Q4_0, GgmlDType::Q5_0, GgmlDType::Q8_0] {
            let (lo, hi) = qrange(t);
            let q: Vec<i8> = (0..128)
                .map(|i| (lo + (i * 7) % (hi - lo + 1)) as i8)
                .collect();
            let d = vec![0.5, 0.25, 0.125, 1.5];
            let qt = encode(t, &[2, 64], &d, &q).unwrap();
            let back = qt.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
            let back = back.to_vec1::<f32>().unwrap();
            for (i, v) in back.iter().enumerate() {
                assert_eq!(*v, q[i] as f32 * d[i / 32], "{t:?} element {i}");
            }
        }
    }

    #[test]
    fn weighted_search_lowers_the_weighted_error() {
        let mut s = 3u64;
        let mut r = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32
        };
        let (rows, cols) = (16, 128);
        let w: Vec<f32> = (0..rows * cols).map(|_| r() * 2.0 - 1.0).collect();
        let imp: Vec<f32> = (0..cols).map(|_| r().powi(4) * 10.0 + 0.01).collect();
        let wt = Tensor::from_vec(w.clone(), (rows, cols), &Device::Cpu).unwrap();
        let err = |q: &QTensor| -> f64 {
            let b = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
            let b = b.to_vec1::<f32>().unwrap();
            b.iter()
                .zip(&w)
                .enumerate()
                .map(|(i, (x, y))| (imp[i % cols] * (x - y) * (x - y)) as f64)
                .sum()
        };
        for t in [GgmlDType::Q4_0, GgmlDType::Q5_0, GgmlDType::Q8_0] {
            let plain = err(&rtn(&wt, t).unwrap());
            let weighted = err(&weighted_grid(t, &w, &[rows, cols], &imp).unwrap());
            assert!(weighted < plain, "{t:?}: {weighted} vs {plain}");
        }
    }

    #[test]
    fn more_bits_layers_match_llama() {
        let n = 30;
        let picked: Vec<usize> = (0..n).filter(|&i| use_more_bits(i, n)).collect();
        assert_eq!(
            picked,
            vec![0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]
        );
    }
}
