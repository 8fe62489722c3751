//! `tradeoff train heal`: distill the original model into a compressed variant of itself.

use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tradeoff_train::{HealOptions, HealRecipe};

#[derive(Subcommand)]
pub enum TrainCmd {
    /// Heal a compressed variant: the original model as teacher, LoRA on the variant (KL to
    /// the teacher's top-k log-probs), merged and requantized to the variant's types.
    Heal(HealArgs),
}

#[derive(Args)]
pub struct HealArgs {
    /// The original model (teacher): catalog name or GGUF file.
    #[arg(long, short)]
    pub model: String,
    /// The variant's folder, as `tradeoff compress` wrote it (model.gguf + manifest.json).
    #[arg(long)]
    pub variant: PathBuf,
    /// `heal` (built-in defaults) or a TOML recipe file.
    #[arg(long, short, default_value = "heal")]
    pub recipe: String,
    /// Training tokens (overrides the recipe's `train.tokens`).
    #[arg(long)]
    pub tokens: Option<usize>,
    /// Output folder: model.gguf, manifest.json, teacher cache, checkpoint (a rerun resumes).
    #[arg(long, short)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(c: TrainCmd) -> Result<()> {
    let TrainCmd::Heal(a) = c;
    let mut recipe = HealRecipe::load(&a.recipe)?;
    if let Some(t) = a.tokens {
        recipe.train.tokens = t;
    }
    let m = tradeoff_train::heal(&HealOptions {
        teacher: &a.model,
        variant: &a.variant,
        recipe: &recipe,
        out_dir: &a.out,
        seed: a.seed,
        progress: true,
    })?;
    let first = m.history.evals.first();
    let last = m.history.evals.last();
    println!(
        "recipe      {} ({} steps, {} tokens)",
        recipe.name, m.steps, m.tokens_seen
    );
    if let (Some(f), Some(l)) = (first, last) {
        println!(
            "validation  KL {:.4} → {:.4}, top-1 {:.3} → {:.3}, top-5 {:.3} → {:.3}",
            f.kl, l.kl, f.top1, l.top1, f.top5, l.top5
        );
    }
    println!(
        "adapters    {} params ({:.1} MB f32), {} masked linears",
        m.adapter_params,
        m.adapter_bytes as f64 / 1e6,
        m.masked_linears
    );
    println!(
        "wall time   {:.1} s (teacher {:.1} s, training {:.1} s), peak RSS {}",
        m.wall_s,
        m.teacher_s,
        m.train_s,
        m.peak_rss_bytes
            .map_or("?".into(), |b| format!("{:.0} MB", b as f64 / 1e6))
    );
    println!("{}", a.out.join(&m.artifact).display());
    Ok(())
}
