//! Training objectives: next-token cross-entropy (SFT) and logit distillation against a
//! teacher's top-k log-probabilities, α·KL(teacher‖student at T)·T² + (1−α)·CE; plus the
//! validation figures (KL, top-1 / top-5 agreement with the teacher).
//!
//! The teacher is kept as its k most likely tokens per position (computed once, cached): its
//! distribution at temperature T is the softmax of those k log-probs divided by T. The KL sums
//! over those k tokens against the student's full-vocabulary log-probs, so it is ≥ 0 and zero
//! only when the student puts the teacher's mass on exactly those tokens.

use crate::Result;
use candle_core::{DType, Device, Tensor, D};
use serde::{Deserialize, Serialize};

/// The teacher's top-k log-probs of a batch's positions, row-major [positions, k].
pub struct TopK<'a> {
    pub k: usize,
    pub ids: &'a [u32],
    pub logp: &'a [f32],
}

/// Distillation weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// Weight of the KL term; 1 − alpha goes to cross-entropy on the data.
    #[serde(default = "one")]
    pub alpha: f64,
    #[serde(default = "one")]
    pub temperature: f64,
    /// Teacher log-probs kept per position.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
}

fn one() -> f64 {
    1.0
}
fn default_top_k() -> usize {
    64
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            alpha: one(),
            temperature: one(),
            top_k: default_top_k(),
        }
    }
}

/// Mean cross-entropy of predicting each next token inside each of `batch` sequences.
pub fn cross_entropy(logits: &Tensor, tokens: &[u32], batch: usize) -> Result<Tensor> {
    let seq = tokens.len() / batch;
    let (rows, targets): (Vec<u32>, Vec<u32>) = (0..tokens.len())
        .filter(|r| r % seq != seq - 1)
        .map(|r| (r as u32, tokens[r + 1]))
        .unzip();
    let dev = Device::Cpu;
    let picked = logits.index_select(&Tensor::new(rows.as_slice(), &dev)?, 0)?;
    let logp = candle_nn::ops::log_softmax(&picked, D::Minus1)?;
    let n = targets.len();
    let t = Tensor::from_vec(targets, (n, 1), &dev)?;
    Ok(logp.gather(&t, 1)?.mean_all()?.neg()?)
}

/// Mean over positions of KL(teacher_T ‖ student_T), teacher renormalised over its top k.
pub fn kl_topk(logits: &Tensor, teacher: &TopK, temperature: f64) -> Result<Tensor> {
    let (n, _) = logits.dims2()?;
    let dev = Device::Cpu;
    let logp = candle_nn::ops::log_softmax(&(logits / temperature)?, D::Minus1)?;
    let ids = Tensor::from_slice(teacher.ids, (n, teacher.k), &dev)?;
    let student = logp.gather(&ids, 1)?;
    let q = teacher_probs(teacher, temperature)?.to_dtype(logits.dtype())?;
    let logq = q.clamp(1e-30, 1.0)?.log()?;
    let kl = (&q * (logq - student)?)?.sum(1)?;
    Ok(kl.mean_all()?)
}

/// softmax(teacher log-probs / T) over each row's k entries, f64 then as a tensor.
fn teacher_probs(t: &TopK, temperature: f64) -> Result<Tensor> {
    let mut q = Vec::with_capacity(t.logp.len());
    for row in t.logp.chunks_exact(t.k) {
        let m = row
            .iter()
            .fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64 / temperature));
        let e: Vec<f64> = row
            .iter()
            .map(|&v| (v as f64 / temperature - m).exp())
            .collect();
        let s: f64 = e.iter().sum();
        q.extend(e.iter().map(|v| v / s));
    }
    Ok(Tensor::from_vec(
        q,
        (t.logp.len() / t.k, t.k),
        &Device::Cpu,
    )?)
}

/// α·T²·KL + (1−α)·CE; either term is skipped when its weight is zero.
pub fn distill_loss(
    logits: &Tensor,
    tokens: &[u32],
    batch: usize,
    teacher: &TopK,
    c: &DistillConfig,
) -> Result<Tensor> {
    let t2 = c.temperature * c.temperature;
    let kl =
        || -> Result<Tensor> { Ok((kl_topk(logits, teacher, c.temperature)? * (c.alpha * t2))?) };
    let ce =
        || -> Result<Tensor> { Ok((cross_entropy(logits, tokens, batch)? * (1.0 - c.alpha))?) };
    if c.alpha >= 1.0 {
        kl()
    } else if c.alpha <= 0.0 {
        ce()
    } else {
        Ok((kl()? + ce()?)?)
    }
}

/// Validation sums over positions (divide by `n`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalSums {
    pub n: usize,
    /// KL(teacher ‖ student) at T = 1 over the teacher's top k.
    pub kl: f64,
    /// Student's top token = teacher's top token.
    pub top1: usize,
    /// Teacher's top token among the student's 5 most likely.
    pub top5: usize,
}

impl EvalSums {
    pub fn add(&mut self, logits: &Tensor, teacher: &TopK) -> Result<()> {
        let n = logits.dims2()?.0;
        let kl = kl_topk(logits, teacher, 1.0)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        self.kl += kl * n as f64;
        let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        for (i, r) in rows.iter().enumerate() {
            let want = teacher.ids[i * teacher.k];
            let mine = r[want as usize];
            let above = r.iter().filter(|&&v| v > mine).count();
            self.top1 += usize::from(above == 0);
            self.top5 += usize::from(above < 5);
        }
        self.n += n;
        Ok(())
    }

    /// (kl, top1, top5) as means.
    pub fn means(&self) -> (f64, f64, f64) {
        let n = self.n.max(1) as f64;
        (self.kl / n, self.top1 as f64 / n, self.top5 as f64 / n)
    }
}
