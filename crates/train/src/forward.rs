//! A differentiable forward pass of the engine's architectures (llama, qwen2) on candle
//! autograd. Base weights are read from GGUF, dequantized and frozen (plain tensors, not
//! `Var`s, so backprop never computes their gradients). candle's fused softmax, rms_norm and
//! rope and its quantized matmul return no gradients, so every op here is a composed one:
//! rms_norm and rope written out, `candle_nn::ops::softmax`, dense matmuls.

use crate::lora::{Adapters, LoraConfig, Target};
use crate::Result;
use candle_core::{DType, Device, Tensor, D};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use tradeoff_engine::gguf::Gguf;
use tradeoff_engine::{Arch, Config};

/// A frozen linear layer. `mask` (1 where W ≠ 0) is set for pruned variants: the adapter's
/// update is masked the same way, so merging keeps the sparsity pattern.
pub struct Frozen {
    pub w: Tensor,
    pub b: Option<Tensor>,
    pub mask: Option<Tensor>,
}

pub struct BaseLayer {
    pub attn_norm: Tensor,
    pub ffn_norm: Tensor,
    /// Indexed by `Target as usize` (q, k, v, o, gate, up, down).
    pub lin: Vec<Frozen>,
}

/// The frozen model.
pub struct Base {
    pub cfg: Config,
    pub embed: Tensor,
    pub layers: Vec<BaseLayer>,
    pub norm: Tensor,
    /// `output.weight`; None when tied to the embeddings.
    pub output: Option<Tensor>,
    pub dtype: DType,
}

/// How the adapters take part in a forward pass.
pub struct Lora<'a> {
    pub adapters: &'a Adapters,
    /// Track gradients (training) or use detached copies (evaluation).
    pub grad: bool,
    /// Dropout on the adapters' input, with its random stream (training only).
    pub dropout: Option<&'a mut ChaCha8Rng>,
}

impl Base {
    /// Loads every tensor of a GGUF file as `dtype`. With `masks`, linears of which at least
    /// 1% are exact zeros (pruned variants) get a mask.
    pub fn load(path: &Path, dtype: DType, masks: bool) -> Result<Self> {
        let mut g = Gguf::open(path)?;
        let cfg = Config::from_gguf(&g)?;
        let dev = Device::Cpu;
        let tied = !g.has_tensor("output.weight");
        let mut get = |name: &str| -> Result<Tensor> {
            Ok(g.tensor(name, &dev)?.dequantize(&dev)?.to_dtype(dtype)?)
        };
        let embed = get("token_embd.weight")?;
        let norm = get("output_norm.weight")?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let mut lin = Vec::with_capacity(7);
            for t in Target::ALL {
                let w = get(&format!("blk.{i}.{}.weight", t.gguf()))?;
                let b = match (cfg.arch, t) {
                    (Arch::Qwen2, Target::Q | Target::K | Target::V) => {
                        Some(get(&format!("blk.{i}.{}.bias", t.gguf()))?)
                    }
                    _ => None,
                };
                let mask = if masks { zero_mask(&w)? } else { None };
                lin.push(Frozen { w, b, mask });
            }
            layers.push(BaseLayer {
                attn_norm: get(&format!("blk.{i}.attn_norm.weight"))?,
                ffn_norm: get(&format!("blk.{i}.ffn_norm.weight"))?,
                lin,
            });
        }
        let output = if tied {
            None
        } else {
            Some(get("output.weight")?)
        };
        Ok(Self {
            cfg,
            embed,
            layers,
            norm,
            output,
            dtype,
        })
    }

    /// (out, in) of a linear.
    pub fn shape(&self, layer: usize, t: Target) -> (usize, usize) {
        let d = self.layers[layer].lin[t as usize].w.dims();
        (d[0], d[1])
    }

    /// Fresh adapters for this model's linears, in its dtype.
    pub fn adapters(&self, cfg: &LoraConfig, seed: u64) -> Result<Adapters> {
        Adapters::new(
            cfg,
            self.layers.len(),
            |l, t| self.shape(l, t),
            self.dtype,
            seed,
        )
    }

    /// Logits [batch·seq, vocab] for `tokens` holding `batch` sequences of equal length.
    pub fn forward(&self, tokens: &[u32], batch: usize, mut lora: Option<Lora>) -> Result<Tensor> {
        let cfg = &self.cfg;
        let seq = tokens.len() / batch;
        let (hd, nh, nkv) = (cfg.head_dim, cfg.n_head, cfg.n_kv_head);
        let dev = Device::Cpu;
        let ids = Tensor::new(tokens, &dev)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let rope = RopeTables::new(cfg, seq, self.dtype)?;
        let causal = causal_mask(seq, self.dtype)?;
        for (li, layer) in self.layers.iter().enumerate() {
            let mut lin = |t: Target, x: &Tensor| linear(layer, li, t, x, lora.as_mut());
            let h = rms_norm(&x, &layer.attn_norm, cfg.rms_eps)?;
            let heads = |t: &Tensor, n: usize| -> Result<Tensor> {
                Ok(t.reshape((batch, seq, n, hd))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = rope.apply(&heads(&lin(Target::Q, &h)?, nh)?)?;
            let k = rope.apply(&heads(&lin(Target::K, &h)?, nkv)?)?;
            let v = heads(&lin(Target::V, &h)?, nkv)?;
            let (k, v) = (repeat_kv(&k, nh / nkv)?, repeat_kv(&v, nh / nkv)?);
            let scores = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?;
            let p = candle_nn::ops::softmax(&scores.broadcast_add(&causal)?, D::Minus1)?;
            let att = p
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((batch * seq, nh * hd))?;
            x = (x + lin(Target::O, &att)?)?;
            let h = rms_norm(&x, &layer.ffn_norm, cfg.rms_eps)?;
            let a = (candle_nn::ops::silu(&lin(Target::Gate, &h)?)? * lin(Target::Up, &h)?)?;
            x = (x + lin(Target::Down, &a)?)?;
        }
        let x = rms_norm(&x, &self.norm, cfg.rms_eps)?;
        let head = self.output.as_ref().unwrap_or(&self.embed);
        frozen_matmul(&x, head)
    }
}

/// x Wᵀ for a frozen W. candle's matmul backward also computes W's gradient (and keeps a
/// zero-initialised buffer for it) even when W is no variable: a third more matmul work and
/// a weight-sized buffer per linear. This op's backward returns only x's gradient, G W.
fn frozen_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if !x.track_op() {
        return Ok(x.matmul(&w.t()?)?);
    }
    Ok(x.contiguous()?.apply_op1(FrozenMatmul { w: w.clone() })?)
}

struct FrozenMatmul {
    w: Tensor,
}

impl candle_core::CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        s: &candle_core::CpuStorage,
        l: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let x = storage_tensor(s, l, "frozen-matmul")?;
        tensor_storage(&x.matmul(&self.w.t()?)?, "frozen-matmul")
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(g.matmul(&self.w)?))
    }
}

/// A tensor over a custom op's input storage (made contiguous by the caller).
fn storage_tensor(
    s: &candle_core::CpuStorage,
    l: &candle_core::Layout,
    op: &str,
) -> candle_core::Result<Tensor> {
    use candle_core::CpuStorage as C;
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: input is not contiguous")
    };
    match s {
        C::F32(v) => Tensor::from_slice(&v[a..b], l.shape(), &Device::Cpu),
        C::F64(v) => Tensor::from_slice(&v[a..b], l.shape(), &Device::Cpu),
        _ => candle_core::bail!("{op}: f32 or f64 only"),
    }
}

/// A custom op's result: the storage of a tensor computed on the CPU.
fn tensor_storage(
    y: &Tensor,
    op: &str,
) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
    let y = y.contiguous()?;
    let shape = y.shape().clone();
    let (st, _) = y.storage_and_layout();
    match &*st {
        candle_core::Storage::Cpu(c) => Ok((c.clone(), shape)),
        _ => candle_core::bail!("{op}: CPU only"),
    }
}

/// x (W + s·(BA ⊙ M))ᵀ for the frozen W and mask M of a pruned linear, with the adapter's A
/// and B trained. Composed from candle ops, the graph would keep three weight-sized
/// temporaries per linear until the backward pass (the 0.5B's linears are 1.4 GB in f32);
/// this op rebuilds BA ⊙ M when it needs it and keeps only x, A and B.
struct MaskedLora {
    w: Tensor,
    mask: Tensor,
    scale: f64,
}

impl MaskedLora {
    /// s·(BA ⊙ M), weight-sized, for one use.
    fn delta(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        (b.matmul(a)? * self.scale)?.mul(&self.mask)
    }
}

impl candle_core::CustomOp3 for MaskedLora {
    fn name(&self) -> &'static str {
        "masked-lora"
    }

    fn cpu_fwd(
        &self,
        sx: &candle_core::CpuStorage,
        lx: &candle_core::Layout,
        sa: &candle_core::CpuStorage,
        la: &candle_core::Layout,
        sb: &candle_core::CpuStorage,
        lb: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let op = self.name();
        let (x, a, b) = (
            storage_tensor(sx, lx, op)?,
            storage_tensor(sa, la, op)?,
            storage_tensor(sb, lb, op)?,
        );
        let w = (&self.w + self.delta(&a, &b)?)?;
        tensor_storage(&x.matmul(&w.t()?)?, op)
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (x, a, b, g) = (x.detach(), a.detach(), b.detach(), g.detach());
        let gx = g.matmul(&(&self.w + self.delta(&a, &b)?)?)?;
        // d loss / d(BA) = s·(gᵀx ⊙ M), then through the product to B and A.
        let gd = (g.t()?.matmul(&x)?.mul(&self.mask)? * self.scale)?;
        let gb = gd.matmul(&a.t()?)?;
        let ga = b.t()?.matmul(&gd)?;
        Ok((Some(gx), Some(ga), Some(gb)))
    }
}

/// Mask of nonzero weights, only for linears pruned on purpose: quantized weights also hold
/// a few exact zeros by chance (a q4_1 variant had 182 of 210 linears with some), and masking
/// those would put them on the slower, weight-sized merged path for nothing.
fn zero_mask(w: &Tensor) -> Result<Option<Tensor>> {
    let m = w.ne(0.0)?.to_dtype(w.dtype())?;
    let kept = m.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((kept < w.elem_count() as f64 * (1.0 - MIN_PRUNED)).then_some(m))
}

/// Share of zeros from which a linear counts as pruned (pruning recipes remove 25% or more).
const MIN_PRUNED: f64 = 0.01;

/// One linear with its adapter (if any): the low-rank path x Aᵀ Bᵀ, or for masked weights
/// x (W + (α/r)·BA ⊙ M)ᵀ so that the update stays inside the sparsity pattern.
fn linear(
    layer: &BaseLayer,
    li: usize,
    t: Target,
    x: &Tensor,
    lora: Option<&mut Lora>,
) -> Result<Tensor> {
    let f = &layer.lin[t as usize];
    let ad = lora
        .as_ref()
        .and_then(|l| l.adapters.map.get(&(li, t)).map(|a| (a, l.grad)));
    let y = match (ad, lora) {
        (Some((ad, grad)), Some(l)) => {
            let (a, b) = if grad {
                (ad.a.as_tensor().clone(), ad.b.as_tensor().clone())
            } else {
                (ad.a.as_tensor().detach(), ad.b.as_tensor().detach())
            };
            let scale = l.adapters.cfg.scale();
            let xd = match l.dropout.as_deref_mut() {
                Some(rng) if l.adapters.cfg.dropout > 0.0 => {
                    dropout(x, l.adapters.cfg.dropout, rng)?
                }
                _ => x.clone(),
            };
            match &f.mask {
                Some(m) => {
                    // Dropout on a merged weight has no meaning: the masked path uses x.
                    let op = MaskedLora {
                        w: f.w.clone(),
                        mask: m.clone(),
                        scale,
                    };
                    x.contiguous()?
                        .apply_op3(&a.contiguous()?, &b.contiguous()?, op)?
                }
                None => {
                    let low = (xd.matmul(&a.t()?)?.matmul(&b.t()?)? * scale)?;
                    (frozen_matmul(x, &f.w)? + low)?
                }
            }
        }
        _ => frozen_matmul(x, &f.w)?,
    };
    Ok(match &f.b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// Inverted dropout with a seeded mask (candle's dropout draws from an unseeded generator).
fn dropout(x: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    let keep: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.random::<f64>() < p {
                0.0
            } else {
                (1.0 / (1.0 - p)) as f32
            }
        })
        .collect();
    let m = Tensor::from_vec(keep, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok(x.mul(&m)?)
}

/// x / √(mean x² + ε) · w, written out (candle's fused rms_norm has no backward).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)?)
}

/// [b, kv, t, d] → [b, kv·n, t, d], each kv head repeated for its n query heads.
fn repeat_kv(x: &Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, kv, n, t, d))?
        .contiguous()?
        .reshape((b, kv * n, t, d))?)
}

/// 0 on and below the diagonal, −∞ above: [t, t].
fn causal_mask(t: usize, dtype: DType) -> Result<Tensor> {
    let m: Vec<f32> = (0..t * t)
        .map(|i| {
            if i % t > i / t {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Ok(Tensor::from_vec(m, (t, t), &Device::Cpu)?.to_dtype(dtype)?)
}

/// cos/sin per (position, frequency), and which pairs rotate together.
struct RopeTables {
    cos: Tensor,
    sin: Tensor,
    interleaved: bool,
}

impl RopeTables {
    fn new(cfg: &Config, seq: usize, dtype: DType) -> Result<Self> {
        let half = cfg.head_dim / 2;
        // Same f32 arithmetic as the engine's rope, so both give the same angles.
        let inv: Vec<f32> = (0..half)
            .map(|i| 1.0 / cfg.rope_theta.powf(2.0 * i as f32 / cfg.head_dim as f32))
            .collect();
        let t: Vec<f32> = (0..seq)
            .flat_map(|p| inv.iter().map(move |f| p as f32 * f))
            .collect();
        let dev = Device::Cpu;
        let cos: Vec<f32> = t.iter().map(|v| v.cos()).collect();
        let sin: Vec<f32> = t.iter().map(|v| v.sin()).collect();
        let il = cfg.rope_interleaved;
        let mk = |v: Vec<f32>| -> Result<Tensor> {
            let t = Tensor::from_vec(v, (seq, half), &dev)?.to_dtype(dtype)?;
            // Interleaved pairs are split on a trailing axis of 2: [seq, half, 1] broadcasts.
            Ok(if il { t.unsqueeze(2)? } else { t })
        };
        Ok(Self {
            cos: mk(cos)?,
            sin: mk(sin)?,
            interleaved: il,
        })
    }

    /// Rotates x [b, heads, t, d]: pairs (2i, 2i+1) when interleaved (GGUF llama), else
    /// (i, i + d/2) (rotate-half, every qwen2).
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (b, h, t, d) = x.dims4()?;
        let rot = |x0: &Tensor, x1: &Tensor| -> Result<(Tensor, Tensor)> {
            let r0 = (x0.broadcast_mul(&self.cos)? - x1.broadcast_mul(&self.sin)?)?;
            let r1 = (x0.broadcast_mul(&self.sin)? + x1.broadcast_mul(&self.cos)?)?;
            Ok((r0, r1))
        };
        if self.interleaved {
            let p = x.reshape((b, h, t, d / 2, 2))?;
            let (r0, r1) = rot(&p.narrow(4, 0, 1)?, &p.narrow(4, 1, 1)?)?;
            Ok(Tensor::cat(&[r0, r1], 4)?.reshape((b, h, t, d))?)
        } else {
            let (r0, r1) = rot(&x.narrow(3, 0, d / 2)?, &x.narrow(3, d / 2, d / 2)?)?;
            Ok(Tensor::cat(&[r0, r1], 3)?)
        }
    }
}
