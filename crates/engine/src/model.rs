//! The transformer forward pass (llama and qwen2), built on candle ops for the matmuls and
//! norms, with attention and rotary embeddings written out here so that many sequences of
//! different lengths, each with its own KV cache, run through the weights in one pass.

use crate::config::{Arch, Config};
use crate::kernels::{self, Weight};
use crate::weights::Source;
use crate::Result;
use candle_core::{Device, Tensor, D};
use rayon::prelude::*;

/// A linear layer `y = x Wᵀ + b`; W stays in its stored (possibly quantized) format.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Weight,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.weight.forward(x)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// [`Linear::forward`] for `m` rows of `x` ([m, k] row-major): [m, n] row-major.
    pub fn forward_rows(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let mut y = self.weight.matmul(x, m)?;
        if let Some(b) = &self.bias {
            let b = b.to_vec1::<f32>()?;
            for row in y.chunks_exact_mut(b.len()) {
                add_to(row, &b);
            }
        }
        Ok(y)
    }
}

/// Where a hook sees the input of linear layers. Layers that share an input share a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Site {
    /// Input of attn_q, attn_k, attn_v (after the attention norm).
    AttnIn,
    /// Input of attn_output.
    AttnOut,
    /// Input of ffn_gate and ffn_up (after the ffn norm).
    MlpIn,
    /// Input of ffn_down.
    MlpDown,
}

impl Site {
    pub const ALL: [Site; 4] = [Site::AttnIn, Site::AttnOut, Site::MlpIn, Site::MlpDown];

    /// GGUF names (without `blk.N.` and `.weight`) of the linears reading this site.
    pub fn linears(self) -> &'static [&'static str] {
        match self {
            Site::AttnIn => &["attn_q", "attn_k", "attn_v"],
            Site::AttnOut => &["attn_output"],
            Site::MlpIn => &["ffn_gate", "ffn_up"],
            Site::MlpDown => &["ffn_down"],
        }
    }

    pub fn of_linear(name: &str) -> Option<Site> {
        Site::ALL.into_iter().find(|s| s.linears().contains(&name))
    }
}

/// Observes activations during a forward pass (calibration, layer-importance scores).
/// Layer numbers are the model's original ones, also after layers were removed.
pub trait Hook {
    /// `x` is [tokens, in_features], the input every linear at `site` multiplies.
    fn linear_input(&mut self, _layer: usize, _site: Site, _x: &Tensor) -> Result<()> {
        Ok(())
    }
    /// Hidden states entering and leaving a decoder layer, [tokens, hidden].
    fn layer_io(&mut self, _layer: usize, _input: &Tensor, _output: &Tensor) -> Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Layer {
    /// Index in the original model (names in GGUF files stay `blk.{id}`).
    pub id: usize,
    pub attn_norm: Tensor,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub ffn_norm: Tensor,
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
}

impl Layer {
    /// The linear named like its GGUF tensor (`attn_q`, ..., `ffn_down`).
    pub fn linear_mut(&mut self, name: &str) -> Option<&mut Linear> {
        Some(match name {
            "attn_q" => &mut self.q,
            "attn_k" => &mut self.k,
            "attn_v" => &mut self.v,
            "attn_output" => &mut self.o,
            "ffn_gate" => &mut self.gate,
            "ffn_up" => &mut self.up,
            "ffn_down" => &mut self.down,
            _ => return None,
        })
    }

    pub fn linear(&self, name: &str) -> Option<&Linear> {
        Some(match name {
            "attn_q" => &self.q,
            "attn_k" => &self.k,
            "attn_v" => &self.v,
            "attn_output" => &self.o,
            "ffn_gate" => &self.gate,
            "ffn_up" => &self.up,
            "ffn_down" => &self.down,
            _ => return None,
        })
    }
}

pub const LINEARS: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

/// Keys and values of one sequence, every layer, token-major: `[pos][kv_head][head_dim]`, so
/// appending a token never moves what is already cached.
#[derive(Debug, Clone)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    pub fn new(n_layer: usize) -> Self {
        Self {
            k: vec![Vec::new(); n_layer],
            v: vec![Vec::new(); n_layer],
            len: 0,
        }
    }

    /// Tokens cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the first `len` tokens' keys and values.
    pub fn prefix(&self, len: usize, kv_dim: usize) -> KvCache {
        let n = len.min(self.len);
        let cut = |l: &Vec<Vec<f32>>| l.iter().map(|x| x[..n * kv_dim].to_vec()).collect();
        KvCache {
            k: cut(&self.k),
            v: cut(&self.v),
            len: n,
        }
    }

    /// Drops everything after the first `len` tokens (to reuse a shared prefix).
    pub fn truncate(&mut self, len: usize, kv_dim: usize) {
        for l in self.k.iter_mut().chain(self.v.iter_mut()) {
            l.truncate(len * kv_dim);
        }
        self.len = self.len.min(len);
    }

    pub fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|l| l.len() * 4).sum()
    }
}

/// One sequence's share of a forward pass: new tokens appended after what its cache holds.
pub struct Segment<'a> {
    pub tokens: &'a [u32],
    pub cache: &'a mut KvCache,
    /// Return logits for every new token (perplexity, KL divergence), not just the last.
    pub all_logits: bool,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub cfg: Config,
    pub device: Device,
    pub embed: Weight,
    pub layers: Vec<Layer>,
    pub norm: Tensor,
    pub lm_head: Linear,
    /// The output projection is the embedding matrix (no `output.weight` stored).
    pub tied: bool,
    rope: Rope,
}

#[derive(Debug, Clone)]
struct Rope {
    inv_freq: Vec<f32>,
    interleaved: bool,
}

impl Rope {
    fn new(cfg: &Config) -> Self {
        let half = cfg.head_dim / 2;
        let inv_freq = (0..half)
            .map(|i| 1.0 / cfg.rope_theta.powf(2.0 * i as f32 / cfg.head_dim as f32))
            .collect();
        Self {
            inv_freq,
            interleaved: cfg.rope_interleaved,
        }
    }

    /// Rotates every head of `row` ([heads * head_dim]) for position `pos`.
    fn apply(&self, row: &mut [f32], head_dim: usize, pos: usize) {
        let half = head_dim / 2;
        let (mut cs, mut sn) = ([0f32; 256], [0f32; 256]);
        for i in 0..half {
            let t = pos as f32 * self.inv_freq[i];
            cs[i] = t.cos();
            sn[i] = t.sin();
        }
        for head in row.chunks_exact_mut(head_dim) {
            for i in 0..half {
                let (a, b) = if self.interleaved {
                    (2 * i, 2 * i + 1)
                } else {
                    (i, i + half)
                };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * cs[i] - x1 * sn[i];
                head[b] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

impl Model {
    pub(crate) fn load(
        src: &mut Source,
        cfg: Config,
        device: &Device,
        dequantize: bool,
    ) -> Result<Self> {
        if cfg.head_dim / 2 > 256 {
            return Err(crate::Error::model(
                src.path(),
                format!("head dim {} is larger than supported (512)", cfg.head_dim),
            ));
        }
        let embed = src.matrix("token_embd.weight", device, dequantize)?;
        let tied = !src.has("output.weight");
        let lm_head = Linear {
            weight: if tied {
                embed.clone()
            } else {
                src.matrix("output.weight", device, dequantize)?
            },
            bias: None,
        };
        let norm = src.dense("output_norm.weight", device)?;
        let bias = cfg.arch == Arch::Qwen2;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let mut lin = |name: &str, with_bias: bool| -> Result<Linear> {
                let w = src.matrix(&format!("blk.{i}.{name}.weight"), device, dequantize)?;
                let b = if with_bias {
                    Some(src.dense(&format!("blk.{i}.{name}.bias"), device)?)
                } else {
                    None
                };
                Ok(Linear { weight: w, bias: b })
            };
            let q = lin("attn_q", bias)?;
            let k = lin("attn_k", bias)?;
            let v = lin("attn_v", bias)?;
            let o = lin("attn_output", false)?;
            let gate = lin("ffn_gate", false)?;
            let up = lin("ffn_up", false)?;
            let down = lin("ffn_down", false)?;
            layers.push(Layer {
                id: i,
                attn_norm: src.dense(&format!("blk.{i}.attn_norm.weight"), device)?,
                q,
                k,
                v,
                o,
                ffn_norm: src.dense(&format!("blk.{i}.ffn_norm.weight"), device)?,
                gate,
                up,
                down,
            });
        }
        let rope = Rope::new(&cfg);
        Ok(Self {
            cfg,
            device: device.clone(),
            embed,
            layers,
            norm,
            lm_head,
            tied,
            rope,
        })
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    pub(crate) fn kv_dim(&self) -> usize {
        self.cfg.n_kv_head * self.cfg.head_dim
    }

    /// Removes decoder layers by original id (depth pruning). Caches made before are invalid.
    pub fn remove_layers(&mut self, ids: &[usize]) {
        self.layers.retain(|l| !ids.contains(&l.id));
    }

    /// Logits for every token of `tokens`, from an empty cache: [tokens, vocab].
    pub fn logits_all(&self, tokens: &[u32], hook: Option<&mut dyn Hook>) -> Result<Tensor> {
        let mut cache = self.new_cache();
        self.forward(
            &mut [Segment {
                tokens,
                cache: &mut cache,
                all_logits: true,
            }],
            hook,
        )
    }

    /// Runs the new tokens of every segment through the model, appending to their caches.
    /// Returns logits rows, segment by segment: every new token's where `all_logits`, else
    /// the last one's. Rows of one segment do not depend on the other segments.
    pub fn forward(&self, segs: &mut [Segment<'_>], hook: Option<&mut dyn Hook>) -> Result<Tensor> {
        let (x, rows) = self.final_hidden(segs, hook)?;
        let y = self.lm_head.forward_rows(&x, rows)?;
        let n = y.len() / rows;
        Ok(Tensor::from_vec(y, (rows, n), &self.device)?)
    }

    /// [`Model::forward`]'s logits written into `logits` ([rows, vocab], row-major), which
    /// keeps its memory from pass to pass; returns the number of rows.
    pub fn forward_into(&self, segs: &mut [Segment<'_>], logits: &mut Vec<f32>) -> Result<usize> {
        let (x, rows) = self.final_hidden(segs, None)?;
        match &self.lm_head.bias {
            None => self.lm_head.weight.matmul_into(&x, rows, logits)?,
            Some(_) => *logits = self.lm_head.forward_rows(&x, rows)?,
        }
        Ok(rows)
    }

    /// The final-normed hidden states of the rows whose logits `segs` want ([rows, hidden]
    /// row-major), and their number.
    fn final_hidden(
        &self,
        segs: &mut [Segment<'_>],
        mut hook: Option<&mut dyn Hook>,
    ) -> Result<(Vec<f32>, usize)> {
        let cfg = &self.cfg;
        // Row r of the batch belongs to segment rows[r].0 at position rows[r].1.
        let mut rows: Vec<(usize, usize)> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for (s, seg) in segs.iter().enumerate() {
            let start = seg.cache.len;
            if start + seg.tokens.len() > cfg.context_length {
                return Err(crate::Error::PromptTooLong {
                    prompt: start + seg.tokens.len(),
                    context: cfg.context_length,
                });
            }
            for (i, &t) in seg.tokens.iter().enumerate() {
                rows.push((s, start + i));
                ids.push(t);
            }
        }
        if rows.is_empty() {
            return Err(crate::Error::Request("forward pass with no tokens".into()));
        }
        let mut x = to_rows(&self.embed_tokens(&ids)?)?;
        let lens: Vec<usize> = segs.iter().map(|s| s.tokens.len()).collect();
        {
            let mut caches: Vec<&mut KvCache> = segs.iter_mut().map(|s| &mut *s.cache).collect();
            for li in 0..self.layers.len() {
                x = self.layer_rows(li, x, &rows, &lens, &mut caches, hook.as_deref_mut())?;
            }
        }
        for seg in segs.iter_mut() {
            seg.cache.len += seg.tokens.len();
        }
        // Only the rows whose logits are wanted go through the (vocab-sized) output layer.
        let hidden = cfg.hidden_size;
        let mut kept = Vec::with_capacity(x.len());
        let mut r0 = 0;
        for seg in segs.iter() {
            let n = seg.tokens.len();
            let first = if seg.all_logits { r0 } else { r0 + n - 1 };
            kept.extend_from_slice(&x[first * hidden..(r0 + n) * hidden]);
            r0 += n;
        }
        let n_kept = kept.len() / hidden;
        Ok((rms_norm(&kept, &self.norm, cfg.rms_eps as f32)?, n_kept))
    }

    /// Hidden states entering the first decoder layer for `tokens`: [tokens, hidden].
    pub fn embed_tokens(&self, tokens: &[u32]) -> Result<Tensor> {
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.cfg.vocab_size) {
            return Err(crate::Error::Request(format!(
                "token id {bad} is outside the vocabulary ({})",
                self.cfg.vocab_size
            )));
        }
        self.embed.embedding(&Tensor::new(tokens, &self.device)?)
    }

    /// Runs decoder layer `li` alone over one sequence starting at position 0: hidden states
    /// [tokens, hidden] in, [tokens, hidden] out. Calibration goes layer by layer with it, so
    /// that a layer can be calibrated on its compressed predecessors' outputs.
    pub fn layer_alone(&self, li: usize, x: Tensor, hook: Option<&mut dyn Hook>) -> Result<Tensor> {
        let dims = x.dims2()?;
        let rows: Vec<(usize, usize)> = (0..dims.0).map(|p| (0, p)).collect();
        let mut cache = self.new_cache();
        let y = self.layer_rows(li, to_rows(&x)?, &rows, &[dims.0], &mut [&mut cache], hook)?;
        Ok(Tensor::from_vec(y, dims, &self.device)?)
    }

    /// One decoder layer over the batch: row r of `x` ([rows, hidden] row-major) belongs to
    /// sequence rows[r].0 at position rows[r].1; sequence s has lens[s] new rows, appended to
    /// caches[s]. The norms and element-wise steps are candle's, written out on rows (same
    /// operations in the same order, so the same bits) without a tensor per step.
    fn layer_rows<'h>(
        &self,
        li: usize,
        mut x: Vec<f32>,
        rows: &[(usize, usize)],
        lens: &[usize],
        caches: &mut [&mut KvCache],
        mut hook: Option<&mut (dyn Hook + 'h)>,
    ) -> Result<Vec<f32>> {
        let cfg = &self.cfg;
        let (hd, nh) = (cfg.head_dim, cfg.n_head);
        let kv_dim = self.kv_dim();
        let n_rows = rows.len();
        let eps = cfg.rms_eps as f32;
        let layer = &self.layers[li];
        let x_in = hook.is_some().then(|| x.clone());
        let h = rms_norm(&x, &layer.attn_norm, eps)?;
        self.show(&mut hook, layer.id, Site::AttnIn, &h, n_rows)?;
        let mut q = layer.q.forward_rows(&h, n_rows)?;
        let mut k = layer.k.forward_rows(&h, n_rows)?;
        let v = layer.v.forward_rows(&h, n_rows)?;
        q.par_chunks_mut(nh * hd)
            .zip(k.par_chunks_mut(kv_dim))
            .zip(rows.par_iter())
            .for_each(|((qr, kr), &(_, pos))| {
                self.rope.apply(qr, hd, pos);
                self.rope.apply(kr, hd, pos);
            });
        let mut r0 = 0;
        for (cache, &n) in caches.iter_mut().zip(lens) {
            cache.k[li].extend_from_slice(&k[r0 * kv_dim..(r0 + n) * kv_dim]);
            cache.v[li].extend_from_slice(&v[r0 * kv_dim..(r0 + n) * kv_dim]);
            r0 += n;
        }
        let att = self.attention(li, &q, rows, caches);
        self.show(&mut hook, layer.id, Site::AttnOut, &att, n_rows)?;
        add_to(&mut x, &layer.o.forward_rows(&att, n_rows)?);
        let h = rms_norm(&x, &layer.ffn_norm, eps)?;
        self.show(&mut hook, layer.id, Site::MlpIn, &h, n_rows)?;
        let mut a = layer.gate.forward_rows(&h, n_rows)?;
        silu_mul(&mut a, &layer.up.forward_rows(&h, n_rows)?);
        self.show(&mut hook, layer.id, Site::MlpDown, &a, n_rows)?;
        add_to(&mut x, &layer.down.forward_rows(&a, n_rows)?);
        if let (Some(hk), Some(x_in)) = (hook, x_in) {
            let dims = (n_rows, cfg.hidden_size);
            let x_in = Tensor::from_vec(x_in, dims, &self.device)?;
            hk.layer_io(
                layer.id,
                &x_in,
                &Tensor::from_slice(&x, dims, &self.device)?,
            )?;
        }
        Ok(x)
    }

    /// Causal attention of every row's query (all heads) over its sequence's cache.
    fn attention(
        &self,
        li: usize,
        q: &[f32],
        rows: &[(usize, usize)],
        caches: &[&mut KvCache],
    ) -> Vec<f32> {
        let cfg = &self.cfg;
        let (hd, nh, nkv) = (cfg.head_dim, cfg.n_head, cfg.n_kv_head);
        let mut att = vec![0f32; rows.len() * nh * hd];
        let scale = 1.0 / (hd as f32).sqrt();
        att.par_chunks_mut(nh * hd)
            .zip(q.par_chunks(nh * hd))
            .zip(rows.par_iter())
            .for_each(|((out, qr), &(s, pos))| {
                let c = &caches[s];
                attend(out, qr, &c.k[li], &c.v[li], pos + 1, nh, nkv, hd, scale);
            });
        att
    }

    /// Shows a hook the input of the linears at `site`, as a [rows, features] tensor.
    fn show(
        &self,
        hook: &mut Option<&mut (dyn Hook + '_)>,
        layer: usize,
        site: Site,
        x: &[f32],
        rows: usize,
    ) -> Result<()> {
        match hook {
            Some(hk) => {
                let t = Tensor::from_slice(x, (rows, x.len() / rows), &self.device)?;
                hk.linear_input(layer, site, &t)
            }
            None => Ok(()),
        }
    }
}

/// Rows below which the element-wise steps stay on the calling thread (as in candle).
const PAR_ROWS: usize = 32;

/// candle's RMS norm of each row of `x` scaled by `w`: sum of squares in f32, in order.
fn rms_norm(x: &[f32], w: &Tensor, eps: f32) -> Result<Vec<f32>> {
    let w = w.to_vec1::<f32>()?;
    let n = w.len();
    let mut y = vec![0f32; x.len()];
    let row = |(src, dst): (&[f32], &mut [f32])| {
        let sum2 = src.iter().map(|&v| v * v).sum::<f32>();
        let m = (sum2 / n as f32 + eps).sqrt();
        for ((d, s), a) in dst.iter_mut().zip(src).zip(&w) {
            *d = *s / m * *a;
        }
    };
    if x.len() / n <= PAR_ROWS {
        x.chunks_exact(n).zip(y.chunks_exact_mut(n)).for_each(row);
    } else {
        x.par_chunks_exact(n)
            .zip(y.par_chunks_exact_mut(n))
            .for_each(row);
    }
    Ok(y)
}

/// `x += y`, element by element.
fn add_to(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// `g = silu(g) * u` with candle's silu, `v / (1 + e^-v)`.
fn silu_mul(g: &mut [f32], u: &[f32]) {
    const CHUNK: usize = 4096;
    let f = |(g, u): (&mut [f32], &[f32])| {
        for (a, b) in g.iter_mut().zip(u) {
            *a = *a / (1.0 + (-*a).exp()) * b;
        }
    };
    if g.len() <= CHUNK {
        f((g, u));
    } else {
        g.par_chunks_mut(CHUNK).zip(u.par_chunks(CHUNK)).for_each(f);
    }
}

fn to_rows(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// Causal attention of one query row (all heads) over the first `len` cached positions.
#[allow(clippy::too_many_arguments)]
fn attend(
    out: &mut [f32],
    q: &[f32],
    k: &[f32],
    v: &[f32],
    len: usize,
    nh: usize,
    nkv: usize,
    hd: usize,
    scale: f32,
) {
    let group = nh / nkv;
    let kv_dim = nkv * hd;
    // Softmax weights of the group of query heads that share one key-value head.
    let mut w = vec![0f32; group * len];
    for kvh in 0..nkv {
        for (i, wh) in w.chunks_exact_mut(len).enumerate() {
            let h = kvh * group + i;
            let qh = &q[h * hd..(h + 1) * hd];
            kernels::attn::scores(qh, &k[kvh * hd..], kv_dim, scale, wh);
            let max = wh.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
            let mut sum = 0f32;
            for s in wh.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            for s in wh.iter_mut() {
                *s /= sum;
            }
        }
        let o = &mut out[kvh * group * hd..(kvh + 1) * group * hd];
        kernels::attn::weighted_sums(&w, &v[kvh * hd..], kv_dim, o, hd);
    }
}

/// Log-softmax over the last dimension, in f32.
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::ops::log_softmax(logits, D::Minus1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// llama.cpp's Q8_0 product: activations rounded per 32 values (f16 scale), exact sums.
    fn q8_0_reference(w: &[f32], x: &[f32], k: usize) -> Vec<f32> {
        let xq: Vec<f32> = x
            .chunks_exact(32)
            .flat_map(|b| {
                let amax = b.iter().fold(0f32, |a, v| a.max(v.abs()));
                let id = if amax > 0.0 { 127.0 / amax } else { 0.0 };
                let d = half::f16::from_f32(amax / 127.0).to_f32();
                b.iter().map(move |v| (v * id).round() * d)
            })
            .collect();
        xq.chunks_exact(k)
            .flat_map(|row| {
                w.chunks_exact(k)
                    .map(|col| {
                        col.iter()
                            .zip(row)
                            .map(|(a, b)| *a as f64 * *b as f64)
                            .sum::<f64>() as f32
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn q8_0_linear_rounds_activations_per_32_like_llama_cpp() {
        use candle_core::quantized::{GgmlDType, QTensor};
        let (m, k, n) = (5, 512, 48);
        let w = Tensor::randn(0f32, 0.1, (n, k), &Device::Cpu).unwrap();
        let mut x: Vec<f32> = Tensor::randn(0f32, 1.0, (m * k,), &Device::Cpu)
            .unwrap()
            .to_vec1()
            .unwrap();
        // One outlier channel, as in real MLP activations: with one scale per 256 values it
        // flattens its neighbours, with one per 32 it does not.
        for r in 0..m {
            x[r * k + 40] = 60.0;
        }
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let wd = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let lin = Linear {
            weight: Weight::from_qtensor(q, &Device::Cpu).unwrap(),
            bias: None,
        };
        let xt = Tensor::from_vec(x.clone(), (1, m, k), &Device::Cpu).unwrap();
        let got = lin.forward(&xt).unwrap();
        assert_eq!(got.dims(), &[1, m, n]);
        let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let want = q8_0_reference(&wd, &x, k);
        let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!(
            close(&got, &want) < 1e-4 * scale,
            "{} vs scale {scale}",
            close(&got, &want)
        );
    }

    /// [1, heads, pos, hd] as [pos][head * hd] rows, flattened.
    fn pos_major(t: &Tensor) -> Vec<f32> {
        let t = t.squeeze(0).unwrap().transpose(0, 1).unwrap();
        t.contiguous()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn rope_matches_candle_both_layouts() {
        let (nh, t, hd) = (3, 5, 8);
        let x = Tensor::randn(0f32, 1.0, (1, nh, t, hd), &Device::Cpu).unwrap();
        for interleaved in [true, false] {
            let rope = Rope {
                inv_freq: (0..hd / 2)
                    .map(|i| 1.0 / 10_000f32.powf(2.0 * i as f32 / hd as f32))
                    .collect(),
                interleaved,
            };
            let pos: Vec<f32> = (0..t).map(|p| p as f32).collect();
            let freqs: Vec<f32> = pos
                .iter()
                .flat_map(|&p| rope.inv_freq.iter().map(move |f| p * f))
                .collect();
            let freqs = Tensor::from_vec(freqs, (t, hd / 2), &Device::Cpu).unwrap();
            let (cos, sin) = (freqs.cos().unwrap(), freqs.sin().unwrap());
            let want = if interleaved {
                candle_nn::rotary_emb::rope_i(&x, &cos, &sin).unwrap()
            } else {
                candle_nn::rotary_emb::rope(&x, &cos, &sin).unwrap()
            };
            // Ours works on [pos][head * hd] rows.
            let mut rows = pos_major(&x);
            for (p, row) in rows.chunks_mut(nh * hd).enumerate() {
                rope.apply(row, hd, p);
            }
            let want = pos_major(&want);
            assert!(close(&rows, &want) < 1e-5, "interleaved={interleaved}");
        }
    }

    #[test]
    fn attention_matches_softmax_reference() {
        let (nh, nkv, hd, len) = (4, 2, 8, 6);
        let q = Tensor::randn(0f32, 1.0, (nh, hd), &Device::Cpu).unwrap();
        let k = Tensor::randn(0f32, 1.0, (len, nkv, hd), &Device::Cpu).unwrap();
        let v = Tensor::randn(0f32, 1.0, (len, nkv, hd), &Device::Cpu).unwrap();
        let mut out = vec![0f32; nh * hd];
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let scale = 1.0 / (hd as f32).sqrt();
        attend(
            &mut out,
            &flat(&q),
            &flat(&k),
            &flat(&v),
            len,
            nh,
            nkv,
            hd,
            scale,
        );
        for h in 0..nh {
            let kh = k.narrow(1, h / 2, 1).unwrap().squeeze(1).unwrap();
            let vh = v.narrow(1, h / 2, 1).unwrap().squeeze(1).unwrap();
            let s = (q
                .get(h)
                .unwrap()
                .unsqueeze(0)
                .unwrap()
                .matmul(&kh.t().unwrap())
                .unwrap()
                * scale as f64)
                .unwrap();
            let p = candle_nn::ops::softmax_last_dim(&s).unwrap();
            let o = flat(&p.matmul(&vh).unwrap());
            assert!(close(&out[h * hd..(h + 1) * hd], &o) < 1e-5, "head {h}");
        }
    }
}
