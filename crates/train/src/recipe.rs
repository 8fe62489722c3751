//! Training recipes for `heal` (the original model as teacher, distilled into a compressed
//! variant of itself) and `distill` (a larger model into a smaller one): LoRA adapters, merged
//! and requantized to the student's types. Both share these keys and defaults.
//!
//! ```toml
//! name = "heal"
//! [lora]      # PEFT names; defaults here: r = 16, alpha = 32, every linear
//! r = 16
//! alpha = 32
//! targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
//! [optim]
//! lr = 1e-3
//! warmup = 2
//! [train]
//! tokens = 16384   # the budget
//! seq = 256
//! batch = 4
//! [distill]
//! alpha = 1.0      # weight of KL(teacher‖student); 1 − alpha on cross-entropy
//! temperature = 1.0
//! top_k = 64
//! ```

use crate::lora::LoraConfig;
use crate::objective::DistillConfig;
use crate::optim::OptimConfig;
use crate::trainer::TrainConfig;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Version of the training code: bump when the same recipe, variant and data would give a
/// different artifact.
pub const VERSION: u32 = 1;

/// Recipes known by name. `distill` mixes cross-entropy on the data (the teacher's own
/// answers) with the KL term, as DistillKit's default loss does, and trains on 24k tokens
/// (96 windows: 72 of answers, 24 of stdlib text), one window per micro-batch (a Qwen-sized
/// vocabulary makes a 4-window batch's logits 620 MB each; four are accumulated per step).
/// `sft` is the same run without a teacher: cross-entropy on reference answers, at half
/// the learning rate (the targets are one token, not a distribution).
pub const BUILTIN: [(&str, &str); 3] = [
    ("heal", "name = \"heal\"\n"),
    (
        "distill",
        "name = \"distill\"\n[distill]\nalpha = 0.5\n[train]\ntokens = 24576\nseq = 256\nbatch = 1\naccum = 4\neval_every = 6\ncheckpoint_every = 4\n",
    ),
    (
        "sft",
        "name = \"sft\"\n[distill]\nalpha = 0.0\n[optim]\nlr = 5e-4\nwarmup = 2\nmin_lr_ratio = 0.1\n[train]\ntokens = 24576\nseq = 256\nbatch = 1\naccum = 4\neval_every = 6\ncheckpoint_every = 4\n",
    ),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealRecipe {
    pub name: String,
    #[serde(default = "heal_lora")]
    pub lora: LoraConfig,
    #[serde(default = "heal_optim")]
    pub optim: OptimConfig,
    #[serde(default = "heal_train")]
    pub train: TrainConfig,
    #[serde(default)]
    pub distill: DistillConfig,
}

/// Healing re-learns what pruning or quantization took from every linear: all seven adapted,
/// with PEFT's common r = 16, α = 32 rather than its q/v-only default.
fn heal_lora() -> LoraConfig {
    LoraConfig::every_linear(16, 32.0)
}

fn heal_optim() -> OptimConfig {
    OptimConfig {
        lr: 1e-3,
        warmup: 2,
        min_lr_ratio: 0.1,
        ..Default::default()
    }
}

fn heal_train() -> TrainConfig {
    TrainConfig {
        tokens: 16_384,
        seq: 256,
        batch: 4,
        accum: 1,
        eval_every: 4,
        val_windows: 4,
        checkpoint_every: 4,
    }
}

impl HealRecipe {
    /// `heal` or `distill` (the defaults under that name) or a TOML file.
    pub fn load(name_or_path: &str) -> Result<Self> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::from_toml(text, name);
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| {
            Error::Config(format!(
                "recipe '{name_or_path}': not one of {} and not a readable file ({e})",
                BUILTIN.map(|(n, _)| n).join(", ")
            ))
        })?;
        Self::from_toml(&text, name_or_path)
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let r: HealRecipe = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().replace('\n', " ");
            Error::Config(match line {
                Some(n) => format!("{origin}, line {n}: {msg}"),
                None => format!("{origin}: {msg}"),
            })
        })?;
        r.lora.validate()?;
        r.train.validate()?;
        if !(0.0..=1.0).contains(&r.distill.alpha)
            || r.distill.temperature <= 0.0
            || r.distill.top_k == 0
        {
            return Err(Error::Config(format!(
                "{origin}: key `distill`: alpha in [0, 1], temperature > 0, top_k ≥ 1"
            )));
        }
        Ok(r)
    }

    /// Canonical TOML (stored in the manifest and the GGUF metadata).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a recipe always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lora::Target;

    #[test]
    fn builtin_round_trips_and_bad_keys_name_their_line() {
        let r = HealRecipe::load("heal").unwrap();
        assert_eq!(r.lora.targets.len(), 7);
        let d = HealRecipe::load("distill").unwrap();
        assert_eq!(
            (d.distill.alpha, d.train.tokens, d.lora.r),
            (0.5, 24576, 16)
        );
        let f = HealRecipe::load("sft").unwrap();
        assert_eq!((f.distill.alpha, f.optim.lr, f.train.accum), (0.0, 5e-4, 4));
        assert_eq!(HealRecipe::from_toml(&r.to_toml(), "x").unwrap(), r);
        let e = HealRecipe::from_toml("name = \"h\"\n[lora]\nrank = 4\n", "f.toml").unwrap_err();
        assert!(e.to_string().starts_with("f.toml, line 3"), "{e}");
        let e = HealRecipe::from_toml("name = \"h\"\n[lora]\nr = 0\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("r ≥ 1"), "{e}");
    }

    #[test]
    fn peft_defaults_for_plain_lora() {
        let c = LoraConfig::default();
        assert_eq!((c.r, c.alpha, c.dropout), (8, 8.0, 0.0));
        assert_eq!(c.targets, vec![Target::Q, Target::V]);
    }
}
