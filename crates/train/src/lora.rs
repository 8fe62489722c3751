//! LoRA adapters: y = x Wᵀ + (α/r)·(drop(x) Aᵀ) Bᵀ on the chosen linears, A [r, in] and
//! B [out, r] trainable, W frozen. B starts at zero so training starts from the base model.

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A linear layer LoRA can adapt, named as in PEFT (`q_proj`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Target {
    #[serde(rename = "q_proj")]
    Q,
    #[serde(rename = "k_proj")]
    K,
    #[serde(rename = "v_proj")]
    V,
    #[serde(rename = "o_proj")]
    O,
    #[serde(rename = "gate_proj")]
    Gate,
    #[serde(rename = "up_proj")]
    Up,
    #[serde(rename = "down_proj")]
    Down,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// The GGUF tensor name part (`attn_q`, ...).
    pub fn gguf(self) -> &'static str {
        tradeoff_engine::model::LINEARS[self as usize]
    }

    /// The PEFT / Hugging Face module name (`q_proj`, ...).
    pub fn peft(self) -> &'static str {
        [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ][self as usize]
    }

    /// The module path under `model.layers.{i}.` in Hugging Face models.
    pub fn hf_module(self) -> String {
        let group = if (self as usize) < 4 {
            "self_attn"
        } else {
            "mlp"
        };
        format!("{group}.{}", self.peft())
    }
}

/// LoRA hyper-parameters. The defaults are PEFT's `LoraConfig` for llama and qwen2
/// (r = 8, lora_alpha = 8, lora_dropout = 0, target_modules = q_proj, v_proj).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    #[serde(default = "default_r")]
    pub r: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default = "default_targets")]
    pub targets: Vec<Target>,
}

fn default_r() -> usize {
    8
}
fn default_alpha() -> f64 {
    8.0
}
fn default_targets() -> Vec<Target> {
    vec![Target::Q, Target::V]
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: default_r(),
            alpha: default_alpha(),
            dropout: 0.0,
            targets: default_targets(),
        }
    }
}

impl LoraConfig {
    /// Rank `r` and `alpha` on all seven linears, no dropout.
    pub fn every_linear(r: usize, alpha: f64) -> Self {
        Self {
            r,
            alpha,
            dropout: 0.0,
            targets: Target::ALL.to_vec(),
        }
    }

    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    pub fn validate(&self) -> Result<()> {
        if self.r == 0 || self.targets.is_empty() || !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Config(
                "key `lora`: r ≥ 1, at least one target, dropout in [0, 1)".into(),
            ));
        }
        Ok(())
    }
}

/// One adapted linear's trainable pair.
pub struct Adapter {
    pub a: Var,
    pub b: Var,
}

/// Every adapter of a model, keyed by (layer, target).
pub struct Adapters {
    pub cfg: LoraConfig,
    pub map: BTreeMap<(usize, Target), Adapter>,
}

impl Adapters {
    /// A from PEFT's initialisation (kaiming-uniform with a = √5, i.e. U(±1/√in)), seeded;
    /// B zero. `shape(layer, target)` gives the linear's (out, in).
    pub fn new(
        cfg: &LoraConfig,
        n_layer: usize,
        shape: impl Fn(usize, Target) -> (usize, usize),
        dtype: DType,
        seed: u64,
    ) -> Result<Self> {
        cfg.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut map = BTreeMap::new();
        for layer in 0..n_layer {
            for &t in &cfg.targets {
                let (out, inp) = shape(layer, t);
                let bound = 1.0 / (inp as f64).sqrt();
                let a: Vec<f64> = (0..cfg.r * inp)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect();
                let a = Tensor::from_vec(a, (cfg.r, inp), &Device::Cpu)?.to_dtype(dtype)?;
                let b = Tensor::zeros((out, cfg.r), dtype, &Device::Cpu)?;
                map.insert(
                    (layer, t),
                    Adapter {
                        a: Var::from_tensor(&a)?,
                        b: Var::from_tensor(&b)?,
                    },
                );
            }
        }
        Ok(Self {
            cfg: cfg.clone(),
            map,
        })
    }

    /// Every trainable tensor, in a fixed order (A then B of each adapter).
    pub fn vars(&self) -> Vec<&Var> {
        self.map.values().flat_map(|a| [&a.a, &a.b]).collect()
    }

    pub fn n_params(&self) -> usize {
        self.vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Tensors by stable name (`blk.{i}.{gguf}.lora_a`), for checkpoints.
    pub fn named(&self) -> Vec<(String, &Var)> {
        self.map
            .iter()
            .flat_map(|((l, t), ad)| {
                [
                    (format!("blk.{l}.{}.lora_a", t.gguf()), &ad.a),
                    (format!("blk.{l}.{}.lora_b", t.gguf()), &ad.b),
                ]
            })
            .collect()
    }

    /// The merged update (α/r)·B A, [out, in].
    pub fn delta(&self, layer: usize, t: Target) -> Result<Option<Tensor>> {
        let Some(ad) = self.map.get(&(layer, t)) else {
            return Ok(None);
        };
        let d = ad.b.as_tensor().matmul(ad.a.as_tensor())?;
        Ok(Some((d * self.cfg.scale())?))
    }
}
