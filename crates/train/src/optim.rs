//! AdamW with decoupled weight decay, a linear-warmup + cosine learning-rate schedule, global
//! gradient-norm clipping and gradient accumulation. Own rather than `candle_nn::AdamW` so
//! that the moments can be saved in checkpoints and restored after a kill.

use crate::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Steps of linear warmup from 0 to `lr`; then cosine decay to `min_lr_ratio · lr`.
    #[serde(default)]
    pub warmup: usize,
    #[serde(default)]
    pub min_lr_ratio: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Global gradient-norm limit (0: no clipping).
    #[serde(default = "default_clip")]
    pub clip: f64,
}

fn default_lr() -> f64 {
    1e-3
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_clip() -> f64 {
    1.0
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: default_lr(),
            warmup: 0,
            min_lr_ratio: 0.0,
            weight_decay: 0.0,
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            clip: default_clip(),
        }
    }
}

impl OptimConfig {
    /// Learning rate at `step` (0-based) of `total`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = total.saturating_sub(self.warmup).max(1) as f64;
        let done = ((step - self.warmup) as f64 / span).min(1.0);
        let min = self.lr * self.min_lr_ratio;
        min + (self.lr - min) * 0.5 * (1.0 + (std::f64::consts::PI * done).cos())
    }
}

/// Sums gradients over micro-batches.
pub struct Accumulator {
    sums: Vec<Option<Tensor>>,
    count: usize,
}

impl Accumulator {
    pub fn new(n: usize) -> Self {
        Self {
            sums: vec![None; n],
            count: 0,
        }
    }

    pub fn add(&mut self, vars: &[&Var], grads: &GradStore) -> Result<()> {
        for (s, v) in self.sums.iter_mut().zip(vars) {
            if let Some(g) = grads.get(v) {
                *s = Some(match s.take() {
                    Some(acc) => (acc + g)?,
                    None => g.clone(),
                });
            }
        }
        self.count += 1;
        Ok(())
    }

    /// The mean gradients (zeros for variables no micro-batch reached); resets.
    pub fn take(&mut self, vars: &[&Var]) -> Result<Vec<Tensor>> {
        let n = self.count.max(1) as f64;
        let out = self
            .sums
            .iter_mut()
            .zip(vars)
            .map(|(s, v)| match s.take() {
                Some(g) => Ok((g / n)?),
                None => Ok(v.zeros_like()?),
            })
            .collect();
        self.count = 0;
        out
    }
}

/// Scales `grads` so their global L2 norm is at most `max` (0: leaves them). Returns the
/// norm before clipping.
pub fn clip_global_norm(grads: &mut [Tensor], max: f64) -> Result<f64> {
    let mut sq = 0f64;
    for g in grads.iter() {
        sq += g
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
    }
    let norm = sq.sqrt();
    if max > 0.0 && norm > max {
        let f = max / (norm + 1e-12);
        for g in grads.iter_mut() {
            *g = (&*g * f)?;
        }
    }
    Ok(norm)
}

/// AdamW state: first and second moments per variable, and the step count.
pub struct AdamW {
    pub cfg: OptimConfig,
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
    pub t: usize,
}

impl AdamW {
    pub fn new(cfg: &OptimConfig, vars: &[&Var]) -> Result<Self> {
        let zeros =
            || -> Result<Vec<Tensor>> { vars.iter().map(|v| Ok(v.zeros_like()?)).collect() };
        Ok(Self {
            cfg: cfg.clone(),
            m: zeros()?,
            v: zeros()?,
            t: 0,
        })
    }

    /// One update of every variable with learning rate `lr`.
    pub fn step(&mut self, vars: &[&Var], grads: &[Tensor], lr: f64) -> Result<()> {
        self.t += 1;
        let c = &self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        for (i, (var, g)) in vars.iter().zip(grads).enumerate() {
            self.m[i] = ((&self.m[i] * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            self.v[i] = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let mhat = (&self.m[i] / bc1)?;
            let vhat = (&self.v[i] / bc2)?;
            let update = mhat.div(&(vhat.sqrt()? + c.eps)?)?;
            let decayed = (var.as_tensor() * (1.0 - lr * c.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let c = OptimConfig {
            lr: 1.0,
            warmup: 4,
            min_lr_ratio: 0.1,
            ..Default::default()
        };
        assert_eq!(c.lr_at(0, 20), 0.25);
        assert_eq!(c.lr_at(3, 20), 1.0);
        assert!((c.lr_at(4, 20) - 1.0).abs() < 1e-12);
        assert!((c.lr_at(12, 20) - 0.55).abs() < 1e-12);
        assert!((c.lr_at(20, 20) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let d = Device::Cpu;
        let mut g = vec![
            Tensor::new(&[3f32, 0.0], &d).unwrap(),
            Tensor::new(&[4f32], &d).unwrap(),
        ];
        assert_eq!(clip_global_norm(&mut g, 1.0).unwrap(), 5.0);
        let after = clip_global_norm(&mut g, 0.0).unwrap();
        assert!((after - 1.0).abs() < 1e-6, "{after}");
    }

    #[test]
    fn adamw_minimises_a_quadratic_and_accumulates_means() {
        let x = Var::new(&[2f32, -3.0], &Device::Cpu).unwrap();
        let c = OptimConfig {
            lr: 0.1,
            ..Default::default()
        };
        let mut opt = AdamW::new(&c, &[&x]).unwrap();
        let mut acc = Accumulator::new(1);
        for _ in 0..300 {
            // Two micro-batches of the same loss: the mean gradient equals one's gradient.
            for _ in 0..2 {
                let l = x.as_tensor().sqr().unwrap().sum_all().unwrap();
                acc.add(&[&x], &l.backward().unwrap()).unwrap();
            }
            let g = acc.take(&[&x]).unwrap();
            opt.step(&[&x], &g, c.lr).unwrap();
        }
        let v = x.as_tensor().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|v| v.abs() < 0.05), "{v:?}");
    }
}
