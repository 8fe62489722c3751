//! `tradeoff train heal | distill | sft`: LoRA adapters trained on a student (against a
//! teacher's distribution, or on reference answers), merged back into the student's GGUF.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use tradeoff_engine::{ChatMessage, GenParams};
use tradeoff_eval::{
    bench, BenchResult, Benchmark, EvalOptions, Evaluator, LoadOptions, Prompt, Style,
};
use tradeoff_train::data::Doc;
use tradeoff_train::{DocsOptions, HealManifest, HealOptions, HealRecipe};

#[derive(Subcommand)]
pub enum TrainCmd {
    /// Heal a compressed variant: the original model as teacher, LoRA on the variant (KL to
    /// the teacher's top-k log-probs), merged and requantized to the variant's types.
    Heal(HealArgs),
    /// Distill a larger model into a smaller one with the same tokenizer (LoRA, KL + CE)
    ///
    /// E.g. qwen2.5-coder-1.5b into qwen2.5-coder-0.5b: the teacher answers MBPP's training
    /// problems (task ids 511-974; the evaluated test split 11-510 is never seen), the answers
    /// that pass their tests plus stdlib text are the data, LoRA on the student learns the
    /// teacher's top-k log-probs; merged and requantized to the student's types.
    Distill(DistillArgs),
    /// Fine-tune a model on reference answers (LoRA, cross-entropy, no teacher)
    ///
    /// The data: MBPP's training problems (task ids 511-974) with their reference solutions,
    /// plus stdlib text; LoRA merged and requantized to the model's types.
    Sft(SftArgs),
}

#[derive(Args)]
pub struct SftArgs {
    /// The model trained: catalog name or GGUF file.
    #[arg(long, short)]
    pub model: String,
    /// `sft` (built-in defaults) or a TOML recipe file (keys as for heal, `distill.alpha = 0`).
    #[arg(long, short, default_value = "sft")]
    pub recipe: String,
    /// MBPP data file (mbpp.jsonl, 974 problems); default ../shared/data/mbpp/mbpp.jsonl.
    #[arg(long, env = "TRADEOFF_MBPP")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
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
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct DistillArgs {
    /// The larger model: catalog name or GGUF file (runs forward only, as stored).
    #[arg(long)]
    pub teacher: String,
    /// The model trained: catalog name or GGUF file.
    #[arg(long)]
    pub student: String,
    /// `distill` (built-in defaults) or a TOML recipe file (keys as for heal).
    #[arg(long, short, default_value = "distill")]
    pub recipe: String,
    /// Most tokens in each of the teacher's answers.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// MBPP data file (mbpp.jsonl, 974 problems); default ../shared/data/mbpp/mbpp.jsonl.
    #[arg(long, env = "TRADEOFF_MBPP")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct Common {
    /// Training tokens (overrides the recipe's `train.tokens`).
    #[arg(long)]
    pub tokens: Option<usize>,
    /// Output folder: model.gguf, manifest.json, adapter/, teacher caches, checkpoint (a
    /// rerun resumes and reuses what is there).
    #[arg(long, short)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl Common {
    fn recipe(&self, name: &str) -> Result<HealRecipe> {
        let mut recipe = HealRecipe::load(name)?;
        if let Some(t) = self.tokens {
            recipe.train.tokens = t;
        }
        Ok(recipe)
    }

    fn docs<'a>(
        &'a self,
        student: &'a str,
        docs: &'a [Doc],
        source: &'a str,
        recipe: &'a HealRecipe,
    ) -> DocsOptions<'a> {
        DocsOptions {
            student,
            docs,
            docs_source: source,
            recipe,
            out_dir: &self.out,
            seed: self.seed,
            progress: true,
        }
    }
}

pub fn run(c: TrainCmd, batch: Option<usize>, allow_weak: bool) -> Result<()> {
    let (m, recipe, out) = match c {
        TrainCmd::Heal(a) => {
            let recipe = a.common.recipe(&a.recipe)?;
            let m = tradeoff_train::heal(&HealOptions {
                teacher: &a.model,
                variant: &a.variant,
                recipe: &recipe,
                out_dir: &a.common.out,
                seed: a.common.seed,
                progress: true,
            })?;
            (m, recipe, a.common.out)
        }
        TrainCmd::Distill(a) => {
            let recipe = a.common.recipe(&a.recipe)?;
            let (docs, source) = teacher_docs(&a, batch, allow_weak)?;
            let o = a.common.docs(&a.student, &docs, &source, &recipe);
            let m = tradeoff_train::distill(&a.teacher, &o)?;
            (m, recipe, a.common.out)
        }
        TrainCmd::Sft(a) => {
            let recipe = a.common.recipe(&a.recipe)?;
            let (docs, n) = mbpp_docs(&a.model, &a.data, |bench, i| {
                bench.reference(i).map(|code| code.trim_end().to_string())
            })?;
            let source = format!(
                "MBPP task ids 511-974 with their reference solutions ({} of {n} problems)",
                docs.len()
            );
            let m = tradeoff_train::sft(&a.common.docs(&a.model, &docs, &source, &recipe))?;
            (m, recipe, a.common.out)
        }
    };
    summary(&m, &recipe, &out);
    Ok(())
}

/// MBPP splits whose problems become training documents (task ids 511-600 and 601-974).
const SPLITS: [&str; 2] = ["validation", "train"];

fn mbpp(split: &str, data: &Option<PathBuf>) -> Result<Box<dyn Benchmark>> {
    Ok(bench::load(
        "mbpp",
        &LoadOptions {
            cache_dir: tradeoff_assets::cache_dir(),
            data: data.clone(),
            split: Some(split.into()),
        },
    )?)
}

/// Documents of MBPP's training problems: each prompt as the benchmark asks it (chat,
/// answer opened with a code fence) and `answer`'s code for it, rendered as one conversation
/// with `model`'s chat template. Problems without an answer are left out; returns the
/// documents and the number of problems.
fn mbpp_docs(
    model: &str,
    data: &Option<PathBuf>,
    answer: impl Fn(&dyn Benchmark, usize) -> Option<String>,
) -> Result<(Vec<Doc>, usize)> {
    let engine = crate::load_engine(model, None)?;
    let (mut docs, mut problems) = (Vec::new(), 0);
    for split in SPLITS {
        let bench = mbpp(split, data)?;
        problems += bench.len();
        for i in 0..bench.len() {
            let Some(code) = answer(bench.as_ref(), i) else {
                continue;
            };
            let Prompt::Chat {
                mut messages,
                prefill,
                ..
            } = bench.prompt(i, Style::Instruct)
            else {
                bail!("MBPP's instruct prompt is a chat");
            };
            messages.push(ChatMessage::new(
                "assistant",
                format!("{prefill}{code}\n```"),
            ));
            docs.push(Doc {
                id: bench.task_id(i).to_string(),
                text: engine.render_chat(&messages, false)?,
            });
        }
    }
    Ok((docs, problems))
}

/// The teacher's greedy answers to MBPP's training problems, scored in the sandbox; those that
/// pass become documents. Each split's result is kept in the output folder and reused while
/// the teacher's weights and the token limit are the same.
fn teacher_docs(
    a: &DistillArgs,
    batch: Option<usize>,
    allow_weak: bool,
) -> Result<(Vec<Doc>, String)> {
    let teacher_path = match tradeoff_engine::resolve(&a.teacher)? {
        tradeoff_engine::ModelPath::Gguf(p) => p,
        tradeoff_engine::ModelPath::HfDir(p) => {
            bail!("{}: the teacher must be a GGUF file", p.display())
        }
    };
    let sha = tradeoff_assets::sha256_cached(&teacher_path)?;
    std::fs::create_dir_all(&a.common.out)
        .with_context(|| format!("creating {}", a.common.out.display()))?;
    let mut passed = std::collections::HashMap::new();
    for split in SPLITS {
        let path = a.common.out.join(format!("teacher-mbpp-{split}.json"));
        let result = match reusable(&path, &sha, a.max_new_tokens) {
            Some(r) => r,
            None => {
                let r = answer_split(a, split, batch, allow_weak)?;
                std::fs::write(&path, serde_json::to_string_pretty(&r)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                r
            }
        };
        for p in result.problems {
            if let Some(s) = p.samples.into_iter().find(|s| s.passed) {
                passed.insert(p.task_id, s.completion);
            }
        }
    }
    let (docs, n) = mbpp_docs(&a.student, &a.data, |bench, i| {
        let text = passed.get(bench.task_id(i))?;
        Some(text.trim_end().trim_end_matches('`').trim_end().to_string())
    })?;
    eprintln!(
        "teacher answers: {} of {n} MBPP training problems pass their tests",
        docs.len()
    );
    let source = format!(
        "MBPP task ids 511-974 answered by {} (greedy, ≤ {} tokens; the {} of {n} that pass their tests)",
        a.teacher,
        a.max_new_tokens,
        docs.len()
    );
    Ok((docs, source))
}

/// An earlier answer file for the same teacher weights and token limit.
fn reusable(path: &Path, sha: &str, max_new_tokens: usize) -> Option<BenchResult> {
    let r: BenchResult = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let same_model = r.model.as_ref()?.model_sha256.as_deref() == Some(sha);
    let g = r.generation.as_ref()?;
    (same_model && g.temperature == 0.0 && g.max_new_tokens == max_new_tokens).then_some(r)
}

fn answer_split(
    a: &DistillArgs,
    split: &str,
    batch: Option<usize>,
    allow_weak: bool,
) -> Result<BenchResult> {
    let bench = mbpp(split, &a.data)?;
    let exec = tradeoff_eval::Executor::new(crate::sandbox(allow_weak)?, Default::default());
    exec.prepare(bench.language())?;
    let mut engine = crate::load_engine(&a.teacher, batch)?;
    eprintln!(
        "teacher {}: answering MBPP {split} ({} problems)",
        a.teacher,
        bench.len()
    );
    let opts = EvalOptions {
        style: Style::Instruct,
        params: GenParams {
            max_new_tokens: a.max_new_tokens,
            ..GenParams::default()
        },
        progress: true,
        ..EvalOptions::default()
    };
    Ok(Evaluator::new(bench.as_ref(), &exec, opts).model(engine.as_mut())?)
}

fn summary(m: &HealManifest, recipe: &HealRecipe, out: &Path) {
    let first = m.history.evals.first();
    let last = m.history.evals.last();
    println!(
        "recipe      {} ({} steps, {} tokens)",
        recipe.name, m.steps, m.tokens_seen
    );
    if let (Some(f), Some(l)) = (first, last) {
        print!("validation  cross-entropy {:.4} → {:.4}", f.ce, l.ce);
        if let (Some(f), Some(l)) = (f.teacher, l.teacher) {
            print!(
                "; vs teacher KL {:.4} → {:.4}, top-1 {:.3} → {:.3}, top-5 {:.3} → {:.3}",
                f.kl, l.kl, f.top1, l.top1, f.top5, l.top5
            );
        }
        println!();
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
    println!("{}", out.join(&m.artifact).display());
}
